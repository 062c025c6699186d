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


#: The kind ``train`` uses for a store of vectors when none is given (docs/training.md, "Default kind").
VECTOR_DEFAULT = "logreg"
#: ... and for a store of 2-D items (log-mel or MFCC frames).
SPECTROGRAM_DEFAULT = "specresnet"


def default_kind(item_shape, feature_kind: str) -> tuple[str, str]:
    """The model kind for a store when none is given, and why: the kinds that won on unseen
    speakers and players (docs/deep-training.md, "How the defaults were chosen").

    >>> default_kind((64, 101), "logmel")
    ('specresnet', 'the default for 2-D logmel items')
    >>> default_kind((2,), "f0-range")
    ('knn', "the KNN paper's model for f0-range pairs")
    >>> default_kind((94,), "mfcc-stats")[0]
    'logreg'
    """
    if feature_kind == "f0-range":
        return "knn", "the KNN paper's model for f0-range pairs"
    if len(tuple(item_shape)) == 2:
        return SPECTROGRAM_DEFAULT, f"the default for 2-D {feature_kind} items"
    return VECTOR_DEFAULT, f"the default for {feature_kind} vectors"
