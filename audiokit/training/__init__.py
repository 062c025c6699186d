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
    #: Validation fraction (None: none, e.g. with --folds).
    val_split: float | None = 0.2
    #: K of (group) K-fold cross-validation (None: no CV).
    folds: int | None = None
    #: 'auto' (the store's groups), 'none', or a regex on file names.
    group_by: str = "auto"
    #: Store fold number(s) or a fraction held out as a test set (None: none).
    test_split: str | None = None
    seed: int = 0
    device: str = "auto"
    #: PNG path for the kind's plot (KNN: accuracy vs k; deep: loss/accuracy curves).
    plot: str | None = None
    quiet: bool = False
    verbose: bool = False
    #: The command line, recorded in the model file.
    argv: list[str] = field(default_factory=list)
