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

from audiokit.errors import AudiokitError

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


def _raise_interrupt(signum, frame):
    if os.getpid() != _COMMAND_PID:
        # A child forked by the command (a pool worker) that has not installed its own handler
        # yet: end quietly instead of printing a KeyboardInterrupt traceback from the child.
        os._exit(128 + signum)
    raise KeyboardInterrupt


def _redeliver_interrupt(unraisable) -> None:
    """sys.unraisablehook: a Ctrl-C/SIGTERM that lands in a finaliser (a ``__del__`` or a
    weakref callback, e.g. llvmlite's) is swallowed there by Python with an "Exception ignored
    ... KeyboardInterrupt" traceback, and the run goes on as if never interrupted. Deliver it
    again once the hook has returned, so the main thread raises it outside the finaliser and
    the error boundary turns it into exit 130.

    Re-tripping the signal from the hook itself would be handled at the hook's next bytecode
    check and swallowed again, so a helper thread trips it only after the hook's last
    statement (a plain store: no bytecode after it lets another thread take the GIL)."""
    if issubclass(unraisable.exc_type, KeyboardInterrupt) and os.getpid() == _COMMAND_PID:
        sig = next((s for s in (signal.SIGINT, signal.SIGTERM) if callable(signal.getsignal(s))), None)
        if sig is not None:
            import _thread
            import threading
            import time

            returned = [False]

            def redeliver():
                while not returned[0]:
                    time.sleep(0.001)
                _thread.interrupt_main(sig)  # that signal's handler raises KeyboardInterrupt

            threading.Thread(target=redeliver, name="audiokit-interrupt", daemon=True).start()
            returned[0] = True
            return
    sys.__unraisablehook__(unraisable)


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
        if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None, _raise_interrupt):
            global _COMMAND_PID
            _COMMAND_PID = os.getpid()
            signal.signal(signal.SIGTERM, _raise_interrupt)
            # Ctrl-C too: Python's own SIGINT handler raises KeyboardInterrupt in a pool worker
            # forked a moment before, inside threading's after-fork hook, where Python prints an
            # "Exception ignored" traceback (CI, tests/test_hardening_interrupt.py). Ours ends such a
            # child quietly and raises KeyboardInterrupt in the command's own process as before.
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
            _error_line(str(exc))
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

    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")
    sys.stdout.flush()


def _json_default(o):
    try:
        import numpy as np

        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:
        pass
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def stdout_console():
    from rich.console import Console

    return Console(soft_wrap=True)
