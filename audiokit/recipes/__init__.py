"""Recipes: named or file sets of ``train`` settings (TOML), under the flags given.

A recipe is a flat TOML table of settings names (those of :mod:`audiokit.training.settings`
and the kinds' settings classes) and, optionally, ``model``, the kind. The named ones ship
here as ``NAME.toml``; a model's report JSON (``MODEL.report.json``) is a recipe too: its
``model`` and resolved ``settings`` repeat that run.

Examples
--------
>>> r = load("specresnet-paper")
>>> r.model, r.values["optimizer"], r.values["patience"]
('specresnet', 'adam', 5)
>>> "resnet-paper" in names()
True
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, field
from importlib import resources

from audiokit.errors import UsageError


@dataclass
class Recipe:
    #: Where it came from (a name or a file path), for errors.
    source: str
    model: str | None = None
    values: dict = field(default_factory=dict)


def names() -> list[str]:
    """The named recipes that ship with audiokit."""
    return sorted(p.name[:-5] for p in resources.files(__name__).iterdir() if p.name.endswith(".toml"))


def describe(name: str) -> str:
    """The first comment line of a named recipe: its one-line summary (for ``train --help``)."""
    text = resources.files(__name__).joinpath(f"{name}.toml").read_text(encoding="utf-8")
    first = next((ln for ln in text.splitlines() if ln.startswith("#")), "# ")
    return first[1:].strip()


def load(spec: str) -> Recipe:
    """A named recipe, a TOML file, or a model's report JSON."""
    if spec in names():
        text = resources.files(__name__).joinpath(f"{spec}.toml").read_text(encoding="utf-8")
        return _from_table(_toml(text, spec), spec)
    if not os.path.exists(spec):
        raise UsageError(f"no such recipe: give one of {', '.join(names())}, a .toml file or a model's "
                         "report.json", path=spec)
    try:
        with open(spec, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise UsageError(f"cannot read the recipe ({exc.strerror})", path=spec) from None
    if spec.lower().endswith(".json"):
        try:
            report = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise UsageError(f"not a JSON report ({exc})", path=spec) from None
        if not isinstance(report, dict) or not isinstance(report.get("settings"), dict):
            raise UsageError("not the report of a train run (it has no settings)", path=spec)
        values = {k: v for k, v in report["settings"].items() if k not in ("resume", "checkpoint", "history")}
        return Recipe(spec, report.get("model"), values)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError("not a TOML recipe (not UTF-8 text)", path=spec) from None
    return _from_table(_toml(text, spec), spec)


def _toml(text: str, source: str) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"not a TOML recipe ({exc})", path=source) from None


def _from_table(table: dict, source: str) -> Recipe:
    values = dict(table)
    model = values.pop("model", None)
    for key, value in values.items():
        if isinstance(value, (dict, list)):
            raise UsageError(f"recipe key {key!r} must be a plain value, not a table or list", path=source)
    if model is not None and not isinstance(model, str):
        raise UsageError("recipe key 'model' must be a kind name", path=source)
    return Recipe(source, model, values)
