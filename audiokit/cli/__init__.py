"""The ``audiokit`` command line: one thin module per command.

Each module registers its command on :data:`app`. Modules import only typer and the
standard library at the top; the library (numpy, librosa, h5py, torch) is imported
inside each command, so ``audiokit --help`` and ``audiokit pitch`` start fast.
"""

from __future__ import annotations

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


_register()


def main() -> None:
    """Console-script entry point."""
    app(prog_name="audiokit")
