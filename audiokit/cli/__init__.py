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


def _register() -> None:
    from audiokit.cli import featurize, info

    for module in (featurize, info):
        module.register(app)
    # Commands that other issues add register themselves the same way when present.
    import importlib

    for name in ("pitch", "train", "eval", "predict"):
        try:
            mod = importlib.import_module(f"audiokit.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"audiokit.cli.{name}":
                raise
            continue
        mod.register(app)
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
    exit 0, wherever the write failed: inside a command (:func:`guarded`), in click's own output
    (``--help``, ``--version``: click exits 1 and wraps stdout), in a rich Console (rich points
    stdout at /dev/null and exits 1), or in the final flush of buffered output at exit (which
    Python would report as "Exception ignored … BrokenPipeError", exit 120).
    """
    import os
    import sys

    stdout_was_devnull = _is_devnull(1)
    try:
        try:
            app(prog_name="audiokit")
            code = 0
        except SystemExit as exc:
            code = exc.code
        finally:
            _default_signals()
    except KeyboardInterrupt:  # Ctrl-C while typer builds the command (before guarded()), or just after it
        _default_signals()
        sys.stderr.write("audiokit: error: interrupted\n")
        code = 130
    if type(sys.stdout).__name__ == "PacifyFlushWrapper" or (not stdout_was_devnull and _is_devnull(1)):
        code = 0  # the failed write was to a closed pipe on stdout, nothing else
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    store = sys.modules.get("audiokit.store")
    if store is not None and getattr(store, "HDF5_WRITE_FAILED", False):
        # libhdf5 crashes closing a file whose write failed (a full disk), also in the
        # interpreter's teardown: the error is reported and the temporary file removed, so end here.
        try:
            sys.stderr.flush()
        except Exception:
            pass
        os._exit(code if isinstance(code, int) else 1)
    sys.exit(code)


def _default_signals() -> None:
    """The command has ended (its output is complete or cleaned up): from here a Ctrl-C or SIGTERM
    ends the process quietly by the signal's default action, as it would a C tool, instead of
    raising KeyboardInterrupt in the exit code below or in the interpreter's teardown."""
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
