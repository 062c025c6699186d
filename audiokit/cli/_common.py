"""What every command shares: option spellings, logging, progress, and the error boundary.

This module is imported at start-up, so it imports nothing heavy (no numpy, librosa,
torch, h5py): commands import the library inside their functions.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import sys
import traceback
from typing import Annotated, Iterable, Iterator, Optional, TypeVar

import typer

from audiokit.errors import AudiokitError, ParameterError

log = logging.getLogger("audiokit")
T = TypeVar("T")

# -- shell completion of option values (typer's ``autocompletion=``; called only at <Tab>) --------
# Each returns the choices from the module that defines them, so completion cannot drift.


def complete_model_kinds() -> list[str]:
    """``--model`` of train: every kind in the model registry."""
    from audiokit.models import KINDS

    return list(KINDS)


def complete_feature_kinds() -> list[str]:
    """``--features`` of featurize."""
    from audiokit.features import KINDS

    return list(KINDS)


def complete_stats() -> list[str]:
    """``--stats`` of featurize."""
    from audiokit.features import STATS

    return list(STATS)


def complete_pad_modes() -> list[str]:
    """``--pad-mode`` of featurize."""
    from audiokit.features import PAD_MODES

    return list(PAD_MODES)


def complete_crops() -> list[str]:
    """``--crop`` of featurize."""
    from audiokit.features import CROP_MODES

    return list(CROP_MODES)


def complete_pitch_methods() -> list[str]:
    """``--method`` of pitch and ``--f0-method`` of featurize."""
    from audiokit.pitch import METHODS

    return list(METHODS)


def complete_device() -> list[str]:
    """``--device``: the spellings it takes (cuda:N for the N-th visible GPU)."""
    return ["auto", "cpu", "cuda", "cuda:0"]


# -- option spellings shared by every command (one place, so they cannot drift) ----------------
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print only errors on stderr.")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="More detail on stderr; tracebacks on errors.")]
Json = Annotated[bool, typer.Option("--json", help="Write machine-readable JSON to stdout instead of a table.")]
Threads = Annotated[
    Optional[int],
    typer.Option("--threads", min=1, metavar="N",
                 help="Threads of the numeric libraries (BLAS, OpenMP, PyTorch) in this process. Default: the "
                      "CPUs it may use (CPU affinity, cgroup quota, OMP_NUM_THREADS).")]
Workers = Annotated[
    Optional[int],
    typer.Option("--workers", "-j", min=1, help="Parallel worker processes (default: number of CPU cores)."),
]
Device = Annotated[
    str, typer.Option("--device", help="auto | cpu | cuda | cuda:N (auto picks a GPU when one is present).",
                      autocompletion=complete_device)
]
Seed = Annotated[int, typer.Option("--seed", help="Random seed; the same seed repeats a run on the same device.")]
SkipErrors = Annotated[
    bool,
    typer.Option("--skip-errors", help="Warn about inputs that cannot be used, leave them out, and exit 0."),
]


def setup_logging(quiet: bool = False, verbose: bool = False) -> None:
    """Log lines to stderr: warnings by default, errors only with --quiet, debug with --verbose."""
    level = logging.ERROR if quiet else (logging.DEBUG if verbose else logging.INFO)
    root = logging.getLogger("audiokit")
    root.handlers.clear()
    h = logging.StreamHandler(sys.stderr)
    h.setFormatter(logging.Formatter("audiokit: %(message)s"))
    root.addHandler(h)
    root.setLevel(level)
    root.propagate = False


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def progress(items: Iterable[T], *, total: int | None, desc: str, unit: str = "files",
             quiet: bool = False) -> Iterator[T]:
    """Wrap an iterable in a rich progress bar on stderr, only when stderr is a terminal."""
    if quiet or not sys.stderr.isatty():
        yield from items
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    class Rate(TextColumn):
        def render(self, task):  # files/s, the figure people compare
            speed = task.finished_speed or task.speed
            from rich.text import Text

            return Text(f"{speed:.1f} {unit}/s" if speed else f"- {unit}/s")

    cols = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), Rate(""), TimeRemainingColumn()]
    with Progress(*cols, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(desc, total=total)
        for x in items:
            yield x
            bar.advance(task)


_COMMAND_PID = os.getpid()
_LAST_SIGNAL: int | None = None  # the signal behind the last KeyboardInterrupt raised here


def _raise_interrupt(signum, frame):
    """SIGINT/SIGTERM: KeyboardInterrupt in the main thread; guarded() turns it into exit 130."""
    if os.getpid() != _COMMAND_PID:
        # A just-forked worker that has not set its own handlers yet: end quietly, no traceback.
        os._exit(128 + signum)
    global _LAST_SIGNAL
    _LAST_SIGNAL = signum
    raise KeyboardInterrupt


def _redeliver_interrupt(unraisable) -> None:
    """sys.unraisablehook: an interrupt raised while a finaliser ran (a ``__del__``, a weakref
    callback) is swallowed by Python and the run would go on. Send the signal again a moment
    later (os.kill from a timer thread), once the finaliser has returned; should it land in one
    again, this hook runs again. Once interrupted, other finaliser errors are not reported: they
    come from objects the interrupt left half-built (llvmlite's, seen under stress)."""
    sig = _LAST_SIGNAL or signal.SIGINT
    if (issubclass(unraisable.exc_type, KeyboardInterrupt) and os.getpid() == _COMMAND_PID
            and callable(signal.getsignal(sig))):
        import threading

        timer = threading.Timer(0.01, os.kill, (os.getpid(), sig))
        timer.daemon = True
        timer.start()
        return
    if _LAST_SIGNAL is None or os.getpid() != _COMMAND_PID:
        sys.__unraisablehook__(unraisable)


def _size_thread_pools(threads: int | None) -> None:
    """``--threads N``, else the CPUs this process may use (:mod:`audiokit.threads`) when that is
    fewer than the host's cores (taskset, a CPU quota, OMP_NUM_THREADS); otherwise the libraries'
    own defaults stand."""
    from audiokit.threads import available_cpus, set_threads

    # OpenMP threads that wait for a partner descheduled by another job spin and burn its CPU: on 2
    # cores a training beside another ran 5.4x slower with spinning waits (docs/shell.md, "Threads").
    # Read when PyTorch loads its OpenMP, which the commands import after this.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if threads is None and available_cpus() >= (os.cpu_count() or 1):
        return
    n = set_threads(threads)
    log.debug(f"threads: {n} for BLAS, OpenMP and PyTorch (of {os.cpu_count()} cores on the host)")


def guarded(fn):
    """The error boundary of a command.

    :class:`AudiokitError` → one line ``audiokit: PATH: REASON`` and its exit status (1 or 2);
    Ctrl-C or SIGTERM → cleanup runs (temporary files are removed) and exit 130;
    anything unexpected → one line, exit 1 (``--verbose`` adds the traceback).
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        verbose = bool(kwargs.get("verbose"))
        setup_logging(bool(kwargs.get("quiet")), verbose)
        if "threads" in kwargs:
            _size_thread_pools(kwargs["threads"])
        if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None, _raise_interrupt):
            global _COMMAND_PID
            _COMMAND_PID = os.getpid()
            signal.signal(signal.SIGTERM, _raise_interrupt)
            # Ctrl-C too, so that a worker forked a moment before ends quietly (docs/reliability.md).
            if signal.getsignal(signal.SIGINT) in (signal.default_int_handler, signal.SIG_DFL):
                signal.signal(signal.SIGINT, _raise_interrupt)
            sys.unraisablehook = _redeliver_interrupt
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except AudiokitError as exc:
            if verbose:
                traceback.print_exc()
            _error_line(exc.for_cli() if isinstance(exc, ParameterError) else str(exc))
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            _error_line("interrupted")
            raise typer.Exit(130) from None
        except BrokenPipeError:
            _quiet_broken_pipe()
        except OSError as exc:
            if verbose:
                traceback.print_exc()
            if exc.errno is None:  # not the system's refusal: a bug, reported as one
                _error_line(f"internal error: {type(exc).__name__}: {exc} (run with --verbose for details)")
            else:  # a full disk, a quota, a read-only file system: one line, the file and why
                from audiokit.errors import os_reason

                _error_line(f"{exc.filename}: {os_reason(exc)}" if exc.filename else os_reason(exc))
            raise typer.Exit(1) from None
        except MemoryError:
            _error_line("out of memory")
            raise typer.Exit(1) from None
        except Exception as exc:  # the last resort: never a bare traceback
            if verbose:
                traceback.print_exc()
            _error_line(f"internal error: {type(exc).__name__}: {exc} (run with --verbose for details)")
            raise typer.Exit(1) from None

    return wrapper


def _error_line(msg: str) -> None:
    try:
        sys.stderr.write(f"audiokit: error: {msg}\n")
        sys.stderr.flush()
    except Exception:
        pass


def _quiet_broken_pipe() -> None:
    """A reader downstream (``| head``) went away: stop quietly, like ``cat`` does."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except Exception:
        pass
    raise typer.Exit(0)


def fail(message: str, *, path: str | None = None, code: int = 2) -> None:
    """Raise the error for a usage problem found while parsing flags."""
    from audiokit.errors import UsageError

    err = UsageError(message, path=path)
    err.exit_code = code
    raise err


def write_json(obj) -> None:
    import json

    from audiokit.io import json_default

    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=False, default=json_default) + "\n")
    sys.stdout.flush()


def stdout_console():
    """The console commands print tables and lines on (stdout).

    On a terminal: rich's Console, as wide as the terminal. Anywhere else (a pipe, a file,
    ``| grep``): lines as long as their content, never wrapped at 80 columns (or $COLUMNS) and
    never padded with trailing spaces, so a path stays whole on its row and ``grep``/``cut``
    see what a person sees.
    """
    from rich.console import Console

    return console_for(sys.stdout)


def console_for(stream):
    """:func:`stdout_console` for any text stream (``predict -o FILE --format table``)."""
    from rich.console import Console

    if getattr(stream, "isatty", lambda: False)():
        return Console(file=stream, soft_wrap=True)
    return PlainConsole(stream)


class PlainConsole:
    """A rich Console for stdout when it is not a terminal: no wrapping, no trailing spaces.

    Renders into a buffer as wide as the longest line could be (``WIDTH`` columns: more than
    any path), then writes each line with its right-hand padding stripped.
    """

    WIDTH = 1 << 14

    def __init__(self, file=None):
        import io

        from rich.console import Console

        self._file = file
        self._buf = io.StringIO()
        self._console = Console(file=self._buf, width=self.WIDTH, soft_wrap=True, color_system=None,
                                force_terminal=False, force_jupyter=False, legacy_windows=False)

    def print(self, *objects, **kwargs) -> None:
        self._console.print(*objects, **kwargs)
        text = self._buf.getvalue()
        self._buf.seek(0)
        self._buf.truncate()
        out = self._file or sys.stdout
        out.write("\n".join(line.rstrip() for line in text.split("\n")))
        out.flush()


# -- --device: one check for every command that takes it ---------------------------------------

_DEVICE_SPELLING = r"auto|cpu|cuda(:\d+)?"


def check_device(spec: str) -> str:
    """``--device`` spelled as one of auto | cpu | cuda | cuda:N (case-insensitive), else a usage
    error (exit 2) before any work. Imports nothing: whether a GPU is there is known only to
    PyTorch, which is asked when a deep model is used (``audiokit.models.deep.resolve_device``)."""
    import re

    from audiokit.errors import UsageError

    s = (spec or "auto").strip().lower()
    if not re.fullmatch(_DEVICE_SPELLING, s):
        raise UsageError(f"--device must be auto, cpu, cuda or cuda:N, got {spec!r}")
    return s


def check_device_for_kind(device: str, kind: str) -> None:
    """A classic (scikit-learn) model runs on the CPU: ``--device cuda``/``cuda:N`` with one is a
    usage error (exit 2) rather than silently ignored, and is decided without importing torch.
    Deep kinds resolve the device themselves (a missing GPU is an error there too)."""
    from audiokit.errors import UsageError
    from audiokit.models import CLASSIC_KINDS

    if kind in CLASSIC_KINDS and device.startswith("cuda"):
        raise UsageError(f"--device {device}: {kind} models run on the CPU (scikit-learn); "
                         "use --device cpu or auto (cuda is for the deep kinds)")


# -- help: placeholders people read -------------------------------------------------------------
# typer prints Python types where click prints metavars ('{store}', 'INPUT... <list[str]>',
# '--output <str>'). Every command is built with AudiokitCommand (cli/__init__.py sets it), whose
# arguments show their metavar (or NAME in capitals) the way click and man pages do, and whose
# options without a metavar get one from their type or name (N for a number of things, else the
# last word of the flag: --label-regex REGEX). --help, man pages and error messages all use these.

from typer.core import TyperArgument, TyperCommand, TyperOption  # noqa: E402  (typer is imported anyway)


class _Argument(TyperArgument):
    def _metavar(self) -> str:
        name = self.metavar or (self.name or "arg").upper()
        return name if self.nargs == 1 or name.endswith("...") else name + "..."

    def _rich_display_name(self) -> str:
        return self._metavar()

    def _usage_display_name(self) -> str:
        return self._metavar() if self.required else f"[{self._metavar()}]"

    def display_type_rich(self, ctx) -> None:
        return None


#: Placeholders by flag, for options that do not set a metavar themselves.
METAVARS = {"--output": "FILE", "--plot": "PNG", "--group-by": "GROUPS", "--val-split": "FRACTION",
            "--test-split": "SPEC", "--resume": "CKPT", "--checkpoint": "CKPT", "--history": "CSV",
            "--manifest": "CSV", "--pretrained": "WEIGHTS", "--hidden": "SIZES", "--features": "KIND",
            "--duration": "SEC", "--device": "DEVICE", "--fmin": "HZ", "--fmax": "HZ", "--f0-fmin": "HZ",
            "--f0-fmax": "HZ", "--rotate": "DEGREES", "--flip": "P"}


class _Option(TyperOption):
    def display_type_rich(self, ctx) -> str | None:
        if self.metavar is not None:
            return self.metavar
        long = max((o for o in self.opts if o.startswith("--")), key=len, default="--" + (self.name or "value"))
        if long in METAVARS:
            return METAVARS[long]
        if self.type_descriptor.annotation is int:
            return "N"
        return long.lstrip("-").split("-")[-1].upper()


class AudiokitCommand(TyperCommand):
    """typer's command, with click's help placeholders (see above), and its options in the
    sections their ``rich_help_panel`` names (typer shows panels only in rich help, which the
    CLI turns off for plain, pipe-friendly output)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for p in self.params:
            if type(p) is TyperArgument:
                p.__class__ = _Argument
            elif type(p) is TyperOption:
                p.__class__ = _Option

    def format_options(self, ctx, formatter) -> None:
        sections = option_sections(self, ctx)
        width = min(30, max((len(term) for rows in sections.values() for term, _ in rows), default=0))
        for title, rows in sections.items():  # one width for every section, so they line up
            with formatter.section(title):
                formatter.write_dl([(term.ljust(width), text) for term, text in rows])


def option_sections(cmd, ctx) -> dict[str, list[tuple[str, str]]]:
    """``{section title: [(flags, help), ...]}``: the arguments, the options without a panel
    ("Options"), then each ``rich_help_panel`` in the order of its first option."""
    sections: dict[str, list] = {"Arguments": [], "Options": []}
    for p in cmd.get_params(ctx):
        rec = p.get_help_record(ctx)
        if rec is not None:
            title = "Arguments" if p.param_type_name == "argument" else getattr(p, "rich_help_panel", None) or "Options"
            sections.setdefault(title, []).append(rec)
    return {title: rows for title, rows in sections.items() if rows}


def choice(value: str | None, flag: str, choices) -> str | None:
    """A choice flag's value, case-insensitive (``--voice Male`` is ``male``); anything else is a
    usage error naming the choices (exit 2)."""
    from audiokit.errors import UsageError

    if value is None:
        return None
    v = value.strip().lower()
    if v not in choices:
        raise UsageError(f"{flag} must be {_or(choices)} (got {value!r})")
    return v


def _or(choices) -> str:
    c = list(choices)
    return c[0] if len(c) == 1 else ", ".join(c[:-1]) + " or " + c[-1]


def check_output_path(path: str | None, flag: str = "-o") -> None:
    """An output file's directory must exist: one error line naming it, exit 1 (README: "a file
    could not be written"), checked before any work so a long run does not fail at its end."""
    from audiokit.errors import AudiokitError

    if path in (None, "-"):
        return
    real = os.path.realpath(path) if os.path.islink(path) else path
    d = os.path.dirname(os.path.abspath(real))
    if not os.path.isdir(d):
        raise AudiokitError(f"output directory does not exist (for {flag} {path})", path=d)


def refuse_binary_to_terminal(output: str | None, what: str, example: str) -> None:
    """``-o -`` with stdout on a terminal: HDF5 bytes would garble the screen; a usage error (exit 2)."""
    from audiokit.errors import UsageError

    if output == "-" and sys.stdout.isatty():
        raise UsageError(f"refusing to write a binary HDF5 {what} to a terminal; redirect or pipe it ({example})")
