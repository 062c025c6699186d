"""The model registry: one call builds or loads any kind of classifier.

Classic kinds (scikit-learn, CPU) live in :mod:`audiokit.models.classic`; deep kinds
(torchvision ResNets, Spec-ResNet) in :mod:`audiokit.models.deep`. Both implement the
:class:`Classifier` protocol, so ``eval`` and ``predict`` treat every kind alike.

Examples
--------
>>> from audiokit.models import KINDS
>>> "knn" in KINDS and "resnet18" in KINDS
True
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np

    from audiokit.features import FeatureConfig
    from audiokit.modelfile import ModelFile

CLASSIC_KINDS = ("knn", "svm", "mlp", "logreg")
DEEP_KINDS = ("resnet18", "resnet34", "resnet50", "specresnet")
KINDS = CLASSIC_KINDS + DEEP_KINDS


class Classifier(Protocol):
    """What every trained model offers."""

    kind: str
    class_names: list[str]
    feature_config: "FeatureConfig"

    def predict_proba(self, X: "np.ndarray") -> "np.ndarray":
        """Class probabilities ``(n, n_classes)`` for items ``X`` of the store's item shape ``(n, ...)``."""

    def to_modelfile(self) -> "ModelFile":
        """Everything needed to rebuild this model, as plain arrays and JSON."""


def module_for(kind: str):
    """The module that implements ``kind`` (imported only when needed: torch is heavy)."""
    from audiokit.errors import ModelFileError

    if kind in CLASSIC_KINDS:
        return importlib.import_module("audiokit.models.classic")
    if kind in DEEP_KINDS:
        return importlib.import_module("audiokit.models.deep")
    raise ModelFileError(f"unknown model kind {kind!r}; this audiokit knows {', '.join(KINDS)}")


def from_modelfile(mf: "ModelFile", *, device: str = "auto") -> Classifier:
    """Rebuild a classifier from a loaded model file (no code from the file is executed)."""
    from audiokit.models.ensemble import Ensemble, is_ensemble, member_files

    if is_ensemble(mf):
        members = [module_for(m.kind).from_modelfile(m, device=device) for m in member_files(mf)]
        return Ensemble(members, training=mf.training, metrics=mf.metrics)
    return module_for(mf.kind).from_modelfile(mf, device=device)


def load(path: str, *, device: str = "auto") -> Classifier:
    """Load a model file and rebuild its classifier."""
    from audiokit.modelfile import load_model

    return from_modelfile(load_model(path), device=device)
