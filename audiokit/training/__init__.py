"""Training: one run for every model kind, its settings, splits and reports, and the PyTorch engine.

Modules
-------
:mod:`audiokit.training.run`       the run: hold-out → split/CV → fit → score → report → save
:mod:`audiokit.training.settings`  the settings dataclasses (every default, once)
:mod:`audiokit.training.splits`    stratified, seeded, group-aware train/validation/CV/test splits
:mod:`audiokit.training.report`    fold scores, mean ± std, the report JSON beside the model
:mod:`audiokit.training.classic`   the scikit-learn kinds' fitter (and the KNN k sweep)
:mod:`audiokit.training.deep`      the PyTorch kinds' fitter (checkpoints, resume, history, DDP)

``audiokit.training.train(store, output, settings)`` is :func:`audiokit.training.run.train`.
Nothing heavy is imported here: the CLI reads the settings classes at start-up.
"""

from __future__ import annotations


def __getattr__(name: str):
    if name == "train":
        from audiokit.training.run import train

        return train
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
