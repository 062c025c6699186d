"""The model registry: one registration per kind gives its settings, fitter and model-file loader.

Each module of :mod:`audiokit.models.kinds` registers its kinds with :func:`register_model`
on their settings class; the modules are found with :mod:`pkgutil`, so adding a kind is
one new module there. Kind modules import neither torch nor scikit-learn: the fitter and
the loader are named as ``"module:attribute"`` and imported when used, so ``predict`` with
a KNN never imports torch and a deep model never imports scikit-learn.

Every classifier implements the :class:`Classifier` protocol, so ``eval`` and ``predict``
treat every kind alike.

Examples
--------
>>> "knn" in names() and "resnet18" in names()
True
>>> get("resnet50").settings.__name__, get("resnet50").family
('ResNetSettings', 'PyTorch')
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np

    from audiokit.features import FeatureConfig
    from audiokit.modelfile import ModelFile


class Classifier(Protocol):
    """What every trained model offers."""

    kind: str
    class_names: list[str]
    feature_config: "FeatureConfig"

    def predict_proba(self, X: "np.ndarray") -> "np.ndarray":
        """Class probabilities ``(n, n_classes)`` for items ``X`` of the store's item shape ``(n, ...)``."""

    def to_modelfile(self) -> "ModelFile":
        """Everything needed to rebuild this model, as plain arrays and JSON (how it is saved)."""


@dataclass(frozen=True)
class Kind:
    """A registered model kind."""

    name: str
    #: Its settings dataclass (defaults, help, validation).
    settings: type
    #: "scikit-learn" or "PyTorch" (what ``train --help`` groups by).
    family: str
    #: ``"module:Class"`` of its fitter (:mod:`audiokit.training.run`).
    fitter: str
    #: ``"module:function"`` that rebuilds a classifier from a model file; saving is the
    #: classifier's own ``to_modelfile``.
    load: str
    #: One line for ``train --help``.
    help: str = ""
    #: Sort key of the kind in lists (registration order within a family otherwise).
    order: int = 0

    def resolve(self, dotted: str):
        module, attr = dotted.split(":")
        return getattr(importlib.import_module(module), attr)

    def make_fitter(self, *args, **kwargs):
        return self.resolve(self.fitter)(*args, **kwargs)

    def from_modelfile(self, mf, *, device: str = "auto"):
        return self.resolve(self.load)(mf, device=device)


_REGISTRY: dict[str, Kind] = {}
_DISCOVERED = False


def register_model(name: str, *, help: str = "", order: int = 0):
    """Class decorator: register the settings class as the settings of kind ``name``. The
    family, fitter and loader come from the class (its ``FAMILY``, ``FITTER`` and ``LOADER``,
    set once by ``ClassicSettings`` and ``DeepSettings``)."""

    def deco(settings_cls):
        if name in _REGISTRY and _REGISTRY[name].settings is not settings_cls:
            raise ValueError(f"model kind {name!r} registered twice")
        _REGISTRY[name] = Kind(name, settings_cls, settings_cls.FAMILY, settings_cls.FITTER, settings_cls.LOADER,
                               help, order)
        return settings_cls

    return deco


def _discover() -> None:
    global _DISCOVERED
    if _DISCOVERED:
        return
    package = importlib.import_module("audiokit.models.kinds")

    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{info.name}")
    _DISCOVERED = True


def registry() -> list[Kind]:
    """Every registered kind, in list order."""
    _discover()
    return sorted(_REGISTRY.values(), key=lambda k: k.order)


def names(family: str | None = None) -> tuple[str, ...]:
    """The names of the registered kinds (of one ``family``: "scikit-learn" or "PyTorch")."""
    return tuple(k.name for k in registry() if family is None or k.family == family)


def get(name: str) -> Kind:
    """The registration of kind ``name``; an unknown kind is a :class:`audiokit.errors.ParameterError`."""
    _discover()
    if name not in _REGISTRY:
        from audiokit.errors import ParameterError

        raise ParameterError("model", f"must be one of {', '.join(names())}, got {name!r}")
    return _REGISTRY[name]


def check_kind(mf):
    """Refuse a model file whose kind this audiokit does not know; returns ``mf``."""
    _discover()
    if mf.kind not in _REGISTRY:
        from audiokit.errors import ModelFileError

        raise ModelFileError(f"unknown model kind {mf.kind!r}; this audiokit knows {', '.join(names())}",
                             path=mf.path or None)
    return mf


def from_modelfile(mf: "ModelFile", *, device: str = "auto") -> Classifier:
    """Rebuild a classifier from a loaded model file (no code from the file is executed)."""
    from audiokit.models.ensemble import Ensemble, is_ensemble, member_files

    check_kind(mf)
    if is_ensemble(mf):
        members = [get(m.kind).from_modelfile(m, device=device) for m in member_files(mf)]
        return Ensemble(members, training=mf.training, metrics=mf.metrics)
    return get(mf.kind).from_modelfile(mf, device=device)


def load(path: str, *, device: str = "auto") -> Classifier:
    """Load a model file and rebuild its classifier."""
    from audiokit.modelfile import load_model

    return from_modelfile(load_model(path), device=device)


def __getattr__(name: str):
    # The kind lists as attributes, computed from the registry.
    lists = {"KINDS": None, "CLASSIC_KINDS": "scikit-learn", "DEEP_KINDS": "PyTorch"}
    if name in lists:
        return names(lists[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
