"""The settings of a ``train`` run: one typed dataclass per model kind, the single source of
every default, type, allowed value and help line.

Each kind's class (registered in :mod:`audiokit.models`) inherits the groups it uses: the
run settings every kind has (:class:`RunSettings`), then its own (``KnnSettings``...) or the
deep ones (:class:`DeepSettings`: optimisation, augmentation, engine). A field's metadata
holds its help line and, where they apply, its allowed values (``choices``), its lower
bound (``min``, ``above``: strictly greater), and a flag name when the CLI's differs from
``--`` plus the name with dashes. ``train``'s flags are generated from these fields
(:mod:`audiokit.cli.train`), a recipe is a TOML table of them, and the report JSON of a run
records them under ``settings``.

Nothing heavy is imported here (the CLI builds its flags from this module at start-up).

Examples
--------
>>> s = DeepSettings(lr=3e-4)
>>> s.lr, s.epochs
(0.0003, 30)
>>> DeepSettings(optimizer="rmsprop").check()
Traceback (most recent call last):
...
audiokit.errors.ParameterError: optimizer must be one of adamw, adam, sgd, got 'rmsprop'
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

from audiokit.errors import ParameterError, UsageError


def setting(default: Any, help: str, **meta) -> Any:
    """A settings field: its default and metadata (``help``, ``choices``, ``min``, ``above``,
    ``flag``, ``metavar``, ``when_augment``)."""
    return field(default=default, metadata={"help": help, **meta})


def redefault(cls, name: str, default: Any) -> Any:
    """Field ``name`` of ``cls`` with another default, for a subclass: its help, bounds and help
    group stay those of ``cls``, stated once."""
    return field(default=default, metadata={**cls.__dataclass_fields__[name].metadata, "group": group_of(cls, name)})


def fields_of(cls) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(cls) if not f.name.startswith("_")]


def group_of(cls, name: str) -> str:
    """The help group of field ``name``: its own ``group``, else the ``GROUP`` of the class that declares it."""
    f = cls.__dataclass_fields__[name]
    if "group" in f.metadata:
        return f.metadata["group"]
    for klass in cls.__mro__:
        if name in klass.__dict__.get("__annotations__", {}):
            return klass.__dict__.get("GROUP", klass.__name__)
    raise KeyError(name)


def owner_of(cls, name: str) -> type:
    """The class that declares field ``name`` (the most general settings class having it)."""
    for klass in reversed(cls.__mro__):
        if name in klass.__dict__.get("__annotations__", {}):
            return klass
    raise KeyError(name)


def _choice_text(choices) -> str:
    c = [str(x) for x in choices]
    return f"{c[0]} or {c[1]}" if len(c) == 2 else f"one of {', '.join(c)}"


@dataclass
class Settings:
    """Base of every settings class: validation from the fields' metadata, dict round trip.

    A settings object knows which fields were given (passed to the constructor, set by a
    recipe or a flag) rather than left at their default, in :attr:`given`: a value given
    equal to the default is still given (``batch_size=32`` is not shrunk for small data;
    ``resume`` keeps it rather than the checkpoint's).

    >>> s = DeepSettings(batch_size=32)
    >>> sorted(s.given), s.replace(lr=0.1).given == {"batch_size", "lr"}
    (['batch_size'], True)
    """

    #: The help group of the fields a class declares.
    GROUP: ClassVar[str] = "Run"
    #: How errors name the kinds of a class ("the deep kinds").
    LABEL: ClassVar[str] = ""

    def __new__(cls, *args, **kwargs):
        # The dataclass __init__ cannot tell a value given from its default; its arguments arrive here too.
        self = super().__new__(cls)
        names = [f.name for f in dataclasses.fields(cls) if f.init]
        self._given = frozenset(names[:len(args)]) | frozenset(kwargs)
        return self

    @property
    def given(self) -> frozenset:
        """The names of the fields given rather than left at their default."""
        return self.__dict__.get("_given", frozenset())

    def replace(self, **changes) -> "Settings":
        """A copy with ``changes`` (given too); the fields given before stay given."""
        out = dataclasses.replace(self, **changes)
        out._given = self.given | frozenset(changes)
        return out

    def check(self) -> "Settings":
        """Refuse values outside a field's choices or bounds (:class:`ParameterError`)."""
        for f in fields_of(type(self)):
            v, m = getattr(self, f.name), f.metadata
            if v is None:
                continue
            if "choices" in m and v not in m["choices"]:
                raise ParameterError(f.name, f"must be {_choice_text(m['choices'])}, got {v!r}")
            if "min" in m and not v >= m["min"]:
                raise ParameterError(f.name, f"must be at least {m['min']}, got {v}")
            if "above" in m and not (v > m["above"] and math.isfinite(v)):
                raise ParameterError(f.name, f"must be a number above {m['above']}, got {v}")
            if "below" in m and not v < m["below"]:
                raise ParameterError(f.name, f"must be below {m['below']}, got {v}")
        return self

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields_of(type(self))}

    @classmethod
    def from_dict(cls, values: dict, *, source: str | None = None) -> "Settings":
        """The settings with ``values`` over the defaults; an unknown name is an error naming it."""
        known = {f.name for f in fields_of(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise UsageError(f"unknown setting {unknown[0]!r} for {cls.__name__}; known: {', '.join(sorted(known))}",
                             path=source)
        return cls(**values)

    @classmethod
    def default(cls, name: str):
        return next(f.default for f in fields_of(cls) if f.name == name)


@dataclass
class RunSettings(Settings):
    """What every ``train`` run has, whatever the kind."""

    GROUP: ClassVar[str] = "Run (every kind)"

    val_split: float = setting(0.2, "Fraction held out for validation (stratified, group-aware); 0 = none. Not "
                                    "used with folds.", min=0.0, below=1.0)
    folds: str | int | None = setting(None, "K-fold cross-validation (group K-fold with groups), or 'store': the "
                                            "folds of the featurize manifest's fold column (ESC-50, UrbanSound8K); "
                                            "per-fold and mean ± std scores.", metavar="K")
    group_by: str = setting("auto", "Groups kept on one side of every split: auto (the store's groups, if any) | "
                                    "none | a regex whose first capture group on the file name is the group.")
    test_split: str | None = setting(None, "Hold out a test set first: store fold number(s) like 3 or 3,4 (from "
                                           "a manifest's fold column), or a fraction like 0.2; scored once at the end.")
    seed: int = setting(0, "Random seed; the same seed repeats a run on the same device.", shared=True)
    device: str = setting("auto", "auto | cpu | cuda | cuda:N (auto picks a GPU when one is present).",
                          shared=True)
    refit: bool = setting(True, "After validation or CV, train the saved model again on all training items "
                                "(deep: for the validated runs' epochs), so it knows every group; off saves the "
                                "validated model, or with folds the fold models as an ensemble (probabilities "
                                "averaged).")
    plot: str | None = setting(None, "Write a PNG: KNN with a k range, accuracy vs k; deep kinds, loss/accuracy "
                                     "curves.", metavar="PNG")

    def check(self) -> "RunSettings":
        super().check()
        if self.folds is not None and self.folds != "store":
            try:
                self.folds = int(self.folds)
            except (TypeError, ValueError):
                raise ParameterError("folds", f"must be a number of folds or 'store' (the store's fold column), "
                                     f"got {self.folds!r}") from None
        return self

    @property
    def validation(self) -> float | None:
        """The validation fraction this run uses: none with folds or 0."""
        return None if self.folds is not None or not self.val_split else float(self.val_split)

    @property
    def members(self) -> int:
        """Models the saved model averages, each trained with its own seed (the deep kinds' ``ensemble``)."""
        return 1


# -- scikit-learn kinds ----------------------------------------------------------------------------------

@dataclass
class ClassicSettings(RunSettings):
    """The scikit-learn kinds: standardised vectors, CPU."""

    LABEL: ClassVar[str] = "the classic kinds"
    #: What every kind of this family registers with (:func:`audiokit.models.register_model`).
    FAMILY: ClassVar[str] = "scikit-learn"
    FITTER: ClassVar[str] = "audiokit.training.classic:ClassicFitter"
    LOADER: ClassVar[str] = "audiokit.models.classic:from_modelfile"

    def model_params(self) -> dict:
        """The estimator's settings as the model file records them."""
        run = {f.name for f in fields_of(RunSettings)}
        return {k: v for k, v in self.to_dict().items() if k not in run}


# -- PyTorch kinds ---------------------------------------------------------------------------------------

@dataclass
class DeepSettings(RunSettings):
    """The PyTorch kinds: optimisation, augmentation and engine settings.

    The defaults are the recipe that won on unseen speakers and players (docs/deep-training.md,
    "How the defaults were chosen"): 30 epochs under the plateau schedule (on the training
    loss when nothing is held out), no early stopping, the last epoch kept. The papers'
    settings ship as recipes (``train --recipe resnet-paper``).
    """

    GROUP: ClassVar[str] = "Deep: optimisation"
    LABEL: ClassVar[str] = "the deep kinds"
    FAMILY: ClassVar[str] = "PyTorch"
    FITTER: ClassVar[str] = "audiokit.training.deep:DeepFitter"
    LOADER: ClassVar[str] = "audiokit.models.deep:from_modelfile"

    # One training by default: with a fixed schedule a validation split changes nothing in the saved
    # model, only adds a second training (the refit); docs/deep-training.md, "How the defaults were chosen".
    val_split: float = redefault(RunSettings, "val_split", 0.0)
    optimizer: str = setting("adamw", "Optimiser.", choices=("adamw", "adam", "sgd"))
    lr: float = setting(1e-3, "Learning rate (the start of plateau, the peak of onecycle).", above=0.0)
    weight_decay: float = setting(1e-2, "Weight decay.", min=0.0)
    batch_size: int = setting(32, "Global batch size, split over torchrun processes (the default shrinks when a "
                                  "model trains on fewer items).", min=2)
    epochs: int = setting(30, "Epochs (a maximum under early stopping).", min=1)
    ensemble: int = setting(1, "Train N networks on the same items with seeds seed, seed+1, ... and save them as "
                               "one model that averages their probabilities (N trainings' time).", min=1, metavar="N")
    scheduler: str = setting("plateau", "plateau (x0.2 after 2 epochs without a lower validation loss, or training "
                                        "loss without a validation split) | onecycle (per step, peak lr) | cosine | "
                                        "none.",
                             choices=("plateau", "onecycle", "cosine", "none"))
    patience: int = setting(0, "Early stopping after this many epochs without a lower validation loss, keeping "
                               "the best epoch (0 = off: every epoch runs, the last is kept).", min=0)
    label_smoothing: float = setting(0.0, "Cross-entropy label smoothing.", min=0.0, below=1.0)
    class_weights: str = setting("none", "Loss weights: none | balanced | one number per class.")
    normalize: str = setting("dataset", "Input normalisation: dataset (the training items' mean and std) | item "
                                        "(each item's own mean and std).", choices=("item", "dataset"))
    input_size: str = setting("auto", "Resize items: auto (ResNets scale sides under 128 up to 128; specresnet "
                                      "native) | none | N | HxW | N/M (resize to N, centre-crop M, e.g. 256/224).",
                                 group="Deep: ResNet input")

    augment: bool = setting(True, "The default augmentation: SpecAugment, a time shift, a frequency warp and a random "
                                  "EQ (flags given explicitly still apply).", group="Deep: augmentation")
    specaugment: bool | None = setting(None, "SpecAugment time and frequency masking.", when_augment=True,
                                       group="Deep: augmentation")
    time_shift: float | None = setting(None, "Random circular time shift by up to this fraction of the frames.",
                                       when_augment=0.1, min=0.0, below=1.0, group="Deep: augmentation")
    mixup: float = setting(0.0, "Mixup with lambda ~ Beta(ALPHA, ALPHA), e.g. 0.2 (0 = off).", min=0.0,
                           group="Deep: augmentation")
    flip: float = setting(0.0, "Probability of a horizontal (time) flip.", min=0.0, group="Deep: augmentation")
    freq_warp: float | None = setting(None, "Stretch or squeeze the frequency axis by up to this fraction, anchored "
                                            "at the lowest band (vocal tract length perturbation).", when_augment=0.1,
                                      min=0.0, below=1.0, group="Deep: augmentation")
    rotate: float = setting(0.0, "Random rotation within +-DEGREES.", min=0.0, group="Deep: augmentation")
    crop: float = setting(0.0, "Train on a random window of (1 - F) of each item's frames, at a random place per "
                               "item (eval and predict see whole items), e.g. 0.2.", min=0.0, below=1.0, metavar="F",
                          group="Deep: augmentation")
    eq: float | None = setting(None, "A random smooth gain curve over the frequency bands of up to this many dB "
                                     "(another microphone, room or instrument body).", when_augment=6.0, min=0.0,
                               metavar="DB", group="Deep: augmentation")

    amp: bool = setting(True, "Mixed precision on CUDA, bf16 where supported else fp16.", group="Deep: engine")
    compile: bool = setting(False, "torch.compile the model.", group="Deep: engine")
    loader_workers: int | None = setting(None, "DataLoader workers when the store does not fit in GPU memory "
                                               "(none: min(4, cores/2)).", min=0, group="Deep: engine")
    checkpoint: str | None = setting(None, "Checkpoint written every epoch (none given: beside the model, "
                                           "model.ckpt; 'none' = off).", group="Deep: engine")
    history: str | None = setting(None, "Per-epoch CSV (none given: beside the model, model.history.csv; 'none' = "
                                        "off).", group="Deep: engine")
    resume: str | None = setting(None, "Continue the run saved in this checkpoint, with its settings.",
                                 group="Deep: engine")

    #: What ``resume`` may change; everything else comes from the checkpoint.
    RESUME_MAY_CHANGE: ClassVar[tuple] = ("epochs", "compile", "loader_workers", "resume", "checkpoint", "history",
                                          "amp", "device", "plot")

    def check(self) -> "DeepSettings":
        super().check()
        if self.flip > 1:
            raise ParameterError("flip", f"is a probability in [0, 1], got {self.flip}")
        if self.rotate > 180:
            raise ParameterError("rotate", f"is in degrees, 0..180, got {self.rotate}")
        if self.patience and self.validation is None and self.folds is None and not self.resume:
            raise ParameterError("patience", "(early stopping) needs held-out items to stop on: a validation "
                                             "split (e.g. 0.2) or folds")
        if self.ensemble > 1 and self.folds is not None:
            raise ParameterError("ensemble", "cannot be combined with folds: the fold models are kept as an "
                                             "ensemble when the refit is off")
        if self.ensemble > 1 and self.validation is not None and not self.refit:
            raise ParameterError("ensemble", "trains the saved model's members: with a validation split it needs "
                                             "the refit on all items")
        return self

    @property
    def members(self) -> int:
        return int(self.ensemble)

    def augmentation(self) -> dict:
        """The augmentation this run uses: ``augment`` sets the fields left as None."""
        out = {}
        for f in fields_of(DeepSettings):
            if group_of(DeepSettings, f.name) == "Deep: augmentation" and f.name != "augment":
                v = getattr(self, f.name)
                if v is None:
                    v = f.metadata["when_augment"] if self.augment else type(f.metadata["when_augment"])(0)
                out[f.name] = v
        return out


def resolve(cls: type, layers: list[tuple[dict, str | None]], *, given=None) -> RunSettings:
    """``cls`` with the values of each layer over the previous (a recipe, then the flags given).

    Each layer is ``(values, source)``; an unknown name is an error naming the source.
    ``given``: the names that count as given (:attr:`Settings.given`; the flags typed, not a
    recipe's defaults); None: every name of the layers.
    """
    values: dict = {}
    for layer, source in layers:
        cls.from_dict(layer, source=source)  # refuses unknown names, naming the file
        values.update(layer)
    out = cls(**values)
    if given is not None:
        out._given = frozenset(given)
    return out.check()


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
