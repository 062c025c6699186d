"""Training: validation splits and run reports shared by every kind, the scikit-learn trainer,
and the PyTorch engine.

Modules
-------
:mod:`audiokit.training.splits`   stratified, seeded, group-aware train/validation/CV/test splits
:mod:`audiokit.training.report`   fold scores, mean ± std, the report JSON beside the model
:mod:`audiokit.training.classic`  ``train --model knn|svm|mlp|logreg`` (scikit-learn)
:mod:`audiokit.training.deep`     ``train --model resnet18|…|specresnet`` (PyTorch engine)

Nothing heavy is imported here: the deep engine pulls in torch only when used.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TrainRun:
    """The settings every ``train`` run has, whatever the model kind (the shared flags).

    Kind-specific settings (k, C, hidden sizes; optimiser, epochs...) travel beside it as a
    plain ``options`` dict that the kind's trainer reads.
    """

    #: The store to train on ('-': stdin).
    store: str
    #: Where the model file goes ('-': stdout); the report JSON goes beside it.
    output: str
    #: The model kind (audiokit.models.KINDS).
    model: str
    #: Why this kind, when it was chosen for the store rather than given (said in the summary).
    model_reason: str = ""
    #: Validation fraction (None: none, e.g. with --folds).
    val_split: float | None = 0.2
    #: K of (group) K-fold cross-validation, or "store" for the store's own folds (None: no CV).
    folds: int | str | None = None
    #: 'auto' (the store's groups), 'none', or a regex on file names.
    group_by: str = "auto"
    #: Store fold number(s) or a fraction held out as a test set (None: none).
    test_split: str | None = None
    seed: int = 0
    device: str = "auto"
    #: Refit the saved model on all training items after validation or CV (None: the default, True); False
    #: keeps the validated model, or after CV the fold models as an ensemble.
    refit: bool | None = None
    #: PNG path for the kind's plot (KNN: accuracy vs k; deep: loss/accuracy curves).
    plot: str | None = None
    quiet: bool = False
    verbose: bool = False
    #: The command line, recorded in the model file.
    argv: list[str] = field(default_factory=list)
    #: A seekable copy of stdin when ``store`` is '-' and it was already read (to choose the kind).
    stdin: object = field(default=None, repr=False, compare=False)


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
