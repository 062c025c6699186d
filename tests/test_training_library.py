"""The training library speaks in parameter names: no command-line flag in its messages (the CLI
turns a ParameterError's name into its flag)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import audiokit

ROOT = Path(audiokit.__file__).parent
#: Flags of other programs a message may name.
OTHERS = {"--nproc_per_node"}  # torchrun's


def _strings(tree: ast.AST):
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.lineno, node.value


def test_training_and_models_messages_name_no_flags():
    found = []
    for path in sorted([*(ROOT / "training").rglob("*.py"), *(ROOT / "models").rglob("*.py")]):
        for line, text in _strings(ast.parse(path.read_text(encoding="utf-8"))):
            flags = set(re.findall(r"(?<![\w-])--[a-z][\w-]*", text)) - OTHERS
            if flags:
                found.append(f"{path.relative_to(ROOT)}:{line}: {sorted(flags)}")
    assert not found, "flags in library messages:\n" + "\n".join(found)


def test_the_run_settings_drive_every_augmentation_the_transform_has():
    """DeepSettings holds a run's augmentation defaults; Augment's own defaults are the identity."""
    import dataclasses

    from audiokit.training.augment import Augment
    from audiokit.training.settings import DeepSettings

    geometry = {"freq_masks", "freq_width", "time_masks", "time_width"}  # SpecAugment's fixed shape
    on = DeepSettings().augmentation()
    assert set(on) == {f.name for f in dataclasses.fields(Augment)} - geometry
    assert Augment(**on).active and Augment(**on).specaugment and Augment(**on).time_shift == 0.1
    off = DeepSettings(augment=False).augmentation()
    assert Augment(**off) == Augment() and not Augment().active


def test_the_resnet_architectures_are_the_registered_ones():
    from audiokit.models import names
    from audiokit.models.resnet import archs, imagenet_weights

    assert archs() == tuple(n for n in names("PyTorch") if n.startswith("resnet"))
    assert all(imagenet_weights(a).url.endswith(".pth") for a in archs())
