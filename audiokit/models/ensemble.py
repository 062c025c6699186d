"""An ensemble of models of one kind: the K fold models of ``train --folds K --no-refit``.

Its probabilities are the mean of its members' probabilities. In the model file it is the
members' kind with ``params = {"ensemble": K, "members": [params of each]}`` and each
member's arrays under ``member{i}/``; training settings and metrics are the ensemble's.

Examples
--------
>>> import numpy as np
>>> from audiokit.features import FeatureConfig
>>> from audiokit.models import classic
>>> X = np.array([[0.0, 0.0], [0.1, 0.0], [1.0, 1.0], [1.1, 1.0]]); y = np.array([0, 0, 1, 1])
>>> cfg = FeatureConfig(kind="mfcc-stats")
>>> a = classic.fit("logreg", X, y, class_names=["a", "b"], feature_config=cfg)
>>> b = classic.fit("knn", X, y, class_names=["a", "b"], feature_config=cfg, params={"k": 1})
>>> b.predict_proba(X[:1]).tolist()
[[1.0, 0.0]]
>>> bool(np.allclose(Ensemble([a, b]).predict_proba(X[:1]), (a.predict_proba(X[:1]) + [[1.0, 0.0]]) / 2))
True
"""

from __future__ import annotations

import numpy as np

from audiokit.errors import ModelFileError

PREFIX = "member"


class Ensemble:
    """Members of one kind, classes and feature settings; predicts the mean of their probabilities."""

    def __init__(self, members, *, training: dict | None = None, metrics: dict | None = None):
        if not members:
            raise ValueError("an ensemble needs at least one member")
        first = members[0]
        for m in members[1:]:
            if list(m.class_names) != list(first.class_names) or m.feature_config != first.feature_config:
                raise ValueError("ensemble members must share their classes and feature settings")
        self.members = list(members)
        self.kind = first.kind
        self.class_names = list(first.class_names)
        self.feature_config = first.feature_config
        self.params = {"ensemble": len(members), "members": [getattr(m, "params", {}) for m in members]}
        self.training = training if training is not None else {}
        self.metrics = metrics if metrics is not None else {}

    def __getattr__(self, name):
        # What is not the ensemble's own (item_shape, device, ...) is the members' (they share it).
        if name == "members":
            raise AttributeError(name)
        return getattr(self.members[0], name)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return np.mean([m.predict_proba(X) for m in self.members], axis=0)

    def to_modelfile(self):
        from audiokit.modelfile import ModelFile

        files = [m.to_modelfile() for m in self.members]
        arrays = {f"{PREFIX}{i}/{k}": v for i, f in enumerate(files) for k, v in f.arrays.items()}
        return ModelFile(kind=self.kind, class_names=self.class_names, feature_config=self.feature_config,
                         arrays=arrays, params={"ensemble": len(files), "members": [f.params for f in files]},
                         training=self.training, metrics=self.metrics)


def is_ensemble(mf) -> bool:
    return isinstance(mf.params, dict) and "members" in mf.params


def member_files(mf) -> list:
    """The members of an ensemble model file, each as a model file of its own."""
    import dataclasses

    members = mf.params.get("members")
    if not isinstance(members, list) or not members or mf.params.get("ensemble") != len(members):
        raise ModelFileError("ensemble model without a consistent member list", path=mf.path or None)
    out = []
    for i, p in enumerate(members):
        head = f"{PREFIX}{i}/"
        arrays = {k[len(head):]: v for k, v in mf.arrays.items() if k.startswith(head)}
        if not arrays:
            raise ModelFileError(f"ensemble member {i} has no arrays", path=mf.path or None)
        out.append(dataclasses.replace(mf, arrays=arrays, params=p if isinstance(p, dict) else {}))
    return out
