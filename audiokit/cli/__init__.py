"""The ``audiokit`` command line: one thin module per command.

Each module registers its command on :data:`app`. Modules import only typer and the
standard library at the top; the library (numpy, librosa, h5py, torch) is imported
inside each command, so ``audiokit --help`` and ``audiokit pitch`` start fast.
"""


from typing import Annotated, Optional

import typer

from audiokit import __version__

app = typer.Typer(
    name="audiokit",
    help="Composable Unix-style commands for audio classification.\n\n"
    "  featurize → store.h5 → train → model.h5 → eval / predict;  pitch low.wav high.wav\n\n"
    "Run 'audiokit COMMAND --help' for a command's options and examples.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    add_completion=True,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"audiokit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        Optional[bool],
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = None,
) -> None:
    """Composable Unix-style commands for audio classification."""


#: The commands, in the order ``audiokit --help`` lists them; each is ``audiokit/cli/NAME.py``
#: with a ``register(app)`` function.
COMMANDS = ("featurize", "info", "pitch", "train", "eval", "predict")


def _register() -> None:
    import importlib

    for name in COMMANDS:
        importlib.import_module(f"audiokit.cli.{name}").register(app)
    from audiokit.cli._common import AudiokitCommand

    for info in app.registered_commands:
        info.epilog = _verbatim_blocks(info.epilog)
        if info.cls in (None, typer.core.TyperCommand):  # click's help placeholders (FILE..., --output FILE)
            info.cls = AudiokitCommand


def _verbatim_blocks(epilog: str | None) -> str | None:
    """Keep the indented blocks of an epilog (the examples) as written in ``--help``.

    click rewraps every epilog paragraph into running text unless the paragraph opens with a
    line holding only ``\\b``; each command writes its examples as an indented block, so mark those.
    """
    if not epilog:
        return epilog
    paras = epilog.split("\n\n")
    return "\n\n".join("\b\n" + p if p.startswith(" ") else p for p in paras)


_register()


def main() -> None:
    """Console-script entry point.

    A reader that went away downstream (``audiokit … | head -1``) ends the command quietly with
    exit 0, wherever the write failed (docs/reliability.md lists the places).
    """
    import os
    import sys

    stdout_was_devnull = _is_devnull(1)
    try:
        try:
            app(prog_name="audiokit")
            code = 0
        except SystemExit as exc:
            # click (--help, --version) and rich exit 1 when a write to stdout met a closed pipe
            code = 0 if _closed_pipe(exc.__context__) else exc.code
        except BrokenPipeError:
            code = 0
        finally:
            _default_signals()
    except KeyboardInterrupt:  # Ctrl-C while typer builds the command (before guarded()), or just after it
        _default_signals()
        sys.stderr.write("audiokit: error: interrupted\n")
        code = 130
    if not stdout_was_devnull and _is_devnull(1):
        code = 0  # stdout was pointed at /dev/null after a write to it met a closed pipe
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    store = sys.modules.get("audiokit.store")
    if store is not None and getattr(store, "HDF5_WRITE_FAILED", False):
        # libhdf5 crashes closing a file whose write failed, also in the interpreter's teardown:
        # the error is reported and the temporary file removed, so end here.
        try:
            sys.stderr.flush()
        except Exception:
            pass
        os._exit(code if isinstance(code, int) else 1)
    sys.exit(code)


def _closed_pipe(exc: BaseException | None) -> bool:
    """Whether ``exc`` is a write to a pipe whose reader has gone (EPIPE)."""
    import errno

    return isinstance(exc, OSError) and exc.errno == errno.EPIPE


def _default_signals() -> None:
    """The command has ended (its output complete or cleaned up): from here a Ctrl-C or SIGTERM
    ends the process by the signal's default action, as it would a C tool, not by a traceback."""
    import signal

    from audiokit.cli._common import _raise_interrupt

    for s in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(s) is _raise_interrupt:
            signal.signal(s, signal.SIG_DFL)


def _is_devnull(fd: int) -> bool:
    import os

    try:
        a, b = os.fstat(fd), os.stat(os.devnull)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
