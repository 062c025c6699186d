"""`audiokit train`'s defaults for unseen speakers and players: the validation protocol (group-aware
with enough groups, a share of every group with too few), the default kind per store, augmentation,
the refit on all training items, the fold ensemble of ``--folds K --no-refit`` and per-item
normalisation.

Data: timbre tones (helpers.make_tones) from five "speakers", featurized as 32 × 32 log-mels and
as mfcc-stats vectors; constructed vector stores for the split cases.
"""

from __future__ import annotations

import json
import logging
import re

import numpy as np
import pytest

from audiokit.features import FeatureConfig
from audiokit.store import StoreWriter, open_store
from audiokit.training import splits

from helpers import TONE_CLASSES, Cli, make_tones  # noqa: E402

GROUPS = ["--group-regex", r"^(spk\d+)_"]
LOGMEL = ["--sr", "8000", "--n-fft", "256", "--hop-length", "128", "--n-mels", "32", "--duration", "0.5", *GROUPS]
MFCC_STATS = ["--features", "mfcc-stats", "--sr", "8000", "--n-fft", "256", "--n-mels", "32", *GROUPS]
#: A short deep run: tiny batches, no checkpoint file.
QUICK = ["--batch-size", "8", "--checkpoint", "none"]
N = 40  # 4 classes × 10 tones, 2 per class per speaker


pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]


@pytest.fixture(scope="module")
def tones5(tmp_path_factory):
    """(audio directory, logmel store, mfcc-stats store), five speakers as groups."""
    root = tmp_path_factory.mktemp("tones5")
    audio = make_tones(root / "audio", per_class=10, speakers=5, seed=3)
    cli = Cli()
    cli("featurize", audio, *LOGMEL, "-o", root / "logmel.h5", "-q")
    cli("featurize", audio, *MFCC_STATS, "-o", root / "mfcc-stats.h5", "-q")
    return audio, root / "logmel.h5", root / "mfcc-stats.h5"


def vector_store(path, X, labels, groups=None, *, kind="mfcc-stats") -> str:
    with StoreWriter(str(path), FeatureConfig(kind=kind)) as w:
        for i, x in enumerate(X):
            w.add(np.asarray(x, np.float32), label=str(labels[i]), path=f"item{i:04d}.wav",
                  group=None if groups is None else str(groups[i]))
    return str(path)


def separable(n_per_class=20, classes=3, dim=4, seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(classes), n_per_class)
    return rng.normal(size=(len(y), dim)) + 3 * np.eye(dim)[y], np.array([f"c{v}" for v in y])


def train(cli, store, out, *args, expect=0):
    """Run ``train`` and return (result, its report JSON)."""
    res = cli("train", store, "-o", out, *args, expect=expect)
    report = out.with_suffix(".report.json")
    return res, (json.loads(report.read_text()) if expect == 0 else None)


def first_line(res) -> str:
    return res.stdout.splitlines()[0]


# -- the validation protocol -----------------------------------------------------------------------------

@pytest.mark.parametrize("n_groups", [2, 3])
def test_too_few_groups_validate_on_a_share_of_every_group(cli, tmp_path, n_groups):
    X, y = separable()
    groups = np.array([f"s{i % n_groups}" for i in range(len(y))])
    res, rep = train(cli, vector_store(tmp_path / "s.h5", X, y, groups), tmp_path / "m.h5", "--model", "logreg")
    warning = [ln for ln in res.stderr.splitlines() if "too few" in ln]
    assert warning == [f"audiokit: train: {n_groups} group(s) are too few for a group-aware 0.2 validation split "
                       "(it needs 5); validating on 0.2 of the items of every group instead, so its groups are "
                       "not unseen"]
    val = rep["validation"]
    p = val["protocol"]
    # a stratified 20 % of the 60 items: every group on both sides, none unseen
    assert (p["items"], p["train_items"]) == (12, 48) == (val["n"], val["train"])
    assert (p["groups"], p["train_groups"], p["total_groups"]) == (n_groups,) * 3
    assert (p["shared_groups"], p["unseen_groups"]) == (n_groups, 0)
    assert p["text"] == f"validation on 12 items of {n_groups} groups also in training (trained on 48 items)"
    assert f"{p['text']}: accuracy {100 * val['accuracy']:.1f} %" in res.stdout
    tr, va = splits.train_val_split(np.unique(y, return_inverse=True)[1], groups, val_fraction=0.2, seed=0)
    assert set(groups[tr]) == set(groups[va]) == set(groups)
    assert np.bincount(np.unique(y, return_inverse=True)[1][va]).tolist() == [4, 4, 4]  # stratified


def test_five_groups_keep_the_group_aware_split(cli, tmp_path):
    X, y = separable()
    groups = np.array([f"s{i % 5}" for i in range(len(y))])
    res, rep = train(cli, vector_store(tmp_path / "s.h5", X, y, groups), tmp_path / "m.h5", "--model", "logreg")
    assert "too few" not in res.stderr and "instead" not in res.stderr
    p = rep["validation"]["protocol"]
    assert (p["groups"], p["unseen_groups"], p["shared_groups"], p["train_groups"], p["total_groups"]) == (1, 1, 0, 4, 5)
    assert (p["items"], p["train_items"]) == (12, 48)
    assert p["text"] == "validation on 1 unseen group of 5 (12 items; trained on 48 items of 4 groups)"
    assert p["text"] in res.stdout
    tr, va = splits.train_val_split(np.unique(y, return_inverse=True)[1], groups, val_fraction=0.2, seed=0)
    assert len(va) == 12 and not set(groups[tr]) & set(groups[va])


class _Records(logging.Handler):
    """The messages of the "audiokit" logger (it need not propagate to the root, where caplog listens)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_a_class_left_without_training_items_falls_back_too(cli, tmp_path):
    """Five groups, but class c is sung in one group only: when the held-out group is that one,
    the split falls back to a share of every group rather than train without class c."""
    cells = [("g0", "a", 8), ("g1", "b", 2), ("g2", "a", 4), ("g3", "c", 8), ("g4", "b", 2), ("g4", "a", 4)]
    groups = np.array([g for g, _, n in cells for _ in range(n)])
    y = np.array([c for _, c, n in cells for _ in range(n)])
    yi = np.unique(y, return_inverse=True)[1]
    fell_back, logger, records = [], logging.getLogger("audiokit"), _Records()
    logger.addHandler(records)
    try:
        for seed in range(10):
            records.messages.clear()
            tr, va = splits.train_val_split(yi, groups, val_fraction=0.2, seed=seed, class_names=["a", "b", "c"])
            assert set(y[tr]) == {"a", "b", "c"}, seed  # whatever the seed, every class trains
            if any("leaves no training item of class c" in m for m in records.messages):
                fell_back.append(seed)
                assert "c" in set(y[va])
            else:
                assert not set(groups[tr]) & set(groups[va]) and not records.messages
    finally:
        logger.removeHandler(records)
    assert fell_back, "no seed put class c's only group into validation"
    X = np.random.default_rng(1).normal(size=(len(y), 3)) + 3 * np.eye(3)[yi]
    res, rep = train(cli, vector_store(tmp_path / "s.h5", X, y, groups), tmp_path / "m.h5", "--model", "logreg",
                     "--seed", str(fell_back[0]))
    assert "a group-aware validation split leaves no training item of class c" in res.stderr
    assert rep["validation"]["protocol"]["unseen_groups"] == 0
    assert "groups also in training" in rep["validation"]["protocol"]["text"]


# -- the default kind ----------------------------------------------------------------------------------------

def test_default_kind_follows_the_store_and_the_flags_given(cli, tmp_path, tones5):
    _, logmel, mfcc = tones5
    res, rep = train(cli, logmel, tmp_path / "d.h5", *QUICK, "--epochs", "1", "--val-split", "0")
    assert rep["model"] == "specresnet" and rep["params"]["frontend"] == "standardize"  # --normalize dataset
    assert first_line(res).startswith(
        f"specresnet (the default for 2-D logmel items; --model chooses another) on {N} items, 4 classes")
    res, rep = train(cli, mfcc, tmp_path / "v.h5")
    assert rep["model"] == "logreg"
    assert first_line(res).startswith(f"logreg (the default for mfcc-stats vectors; --model chooses another) on {N} items")
    for flags, kind in ((["--k", "3"], "knn"), (["--metric", "cosine"], "knn"), (["--hidden", "16"], "mlp")):
        res, rep = train(cli, mfcc, tmp_path / f"{kind}.h5", *flags)
        assert rep["model"] == kind
        assert first_line(res).startswith(f"{kind} ({kind} settings given; --model chooses another) on {N} items")
    res, rep = train(cli, mfcc, tmp_path / "given.h5", "--model", "logreg")
    assert first_line(res).startswith(f"logreg on {N} items") and "--model chooses another" not in res.stdout
    # f0-range pairs: the KNN paper's model
    rng = np.random.default_rng(0)
    pairs = np.column_stack([rng.normal(50, 3, 40), rng.normal(70, 3, 40)]) + np.repeat([0, 8], 20)[:, None]
    f0 = vector_store(tmp_path / "f0.h5", pairs, np.repeat(["low", "high"], 20), kind="f0-range")
    res, rep = train(cli, f0, tmp_path / "f0m.h5")
    assert rep["model"] == "knn"
    assert first_line(res).startswith("knn (the KNN paper's model for f0-range pairs; --model chooses another)")


# -- augmentation ----------------------------------------------------------------------------------------------

def test_augmentation_is_on_by_default_and_no_augment_turns_it_off(cli, tmp_path, tones5):
    _, logmel, _ = tones5
    runs = {}
    for name, flags in {"default": [], "off": ["--no-augment"], "spec": ["--no-augment", "--specaugment"]}.items():
        runs[name] = train(cli, logmel, tmp_path / f"{name}.h5", "--model", "specresnet", *QUICK, "--epochs", "1",
                           "--val-split", "0", "--seed", "3", *flags)
    aug = {name: rep["engine"]["augment"] for name, (_, rep) in runs.items()}
    keys = ("specaugment", "time_shift", "freq_warp", "eq")
    assert [aug["default"][k] for k in keys] == [True, 0.1, 0.1, 6.0]
    assert [aug["off"][k] for k in keys] == [False, 0.0, 0.0, 0.0]
    assert [aug["spec"][k] for k in keys] == [True, 0.0, 0.0, 0.0]  # given: kept
    said = {name: next(ln for ln in rep["summary"] if "augmentation:" in ln) for name, (_, rep) in runs.items()}
    assert "time-shift ±10 %" in said["default"] and "specaugment 2×F≤8 2×T≤10" in said["default"]
    assert "freq-warp ±10 %" in said["default"] and "eq ±6 dB" in said["default"]
    assert said["off"].endswith("augmentation: none")
    assert "specaugment" in said["spec"] and "time-shift" not in said["spec"]
    # and it is applied, not only reported: with one seed, the training losses differ
    loss = {name: rep["history"]["rows"][0]["train_loss"] for name, (_, rep) in runs.items()}
    assert len({loss["default"], loss["off"], loss["spec"]}) == 3, loss
    from audiokit.modelfile import load_model

    assert load_model(str(tmp_path / "off.h5")).training["engine"]["augment"] == aug["off"]


# -- refit -------------------------------------------------------------------------------------------------------

def test_classic_refit_trains_the_saved_model_on_every_item(cli, tmp_path, tones5):
    from audiokit import models
    from audiokit.modelfile import load_model

    _, _, mfcc = tones5
    res, rep = train(cli, mfcc, tmp_path / "refit.h5", "--model", "svm", "--seed", "2")
    assert rep["validation"]["protocol"]["unseen_groups"] == 1 and rep["validation"]["train"] == 32
    assert rep["refit"]["items"] == N and f"refit on all {N} training items" in res.stdout
    tr = load_model(str(tmp_path / "refit.h5")).training
    assert tr["trained_on"] == N and tr["refit"] is True
    # the refit model is the one --val-split 0 trains on all items with the same seed
    train(cli, mfcc, tmp_path / "all.h5", "--model", "svm", "--seed", "2", "--val-split", "0")
    with open_store(str(mfcc)) as s:
        X = s.load_features()
    p_refit = models.load(str(tmp_path / "refit.h5")).predict_proba(X)
    assert np.array_equal(p_refit, models.load(str(tmp_path / "all.h5")).predict_proba(X))

    res, rep = train(cli, mfcc, tmp_path / "val.h5", "--model", "svm", "--seed", "2", "--no-refit")
    assert "refit" not in rep and "refit on all" not in res.stdout
    tr = load_model(str(tmp_path / "val.h5")).training
    assert tr["trained_on"] == rep["validation"]["train"] == 32 and tr["refit"] is False
    assert not np.array_equal(models.load(str(tmp_path / "val.h5")).predict_proba(X), p_refit)


def test_deep_refit_runs_for_the_validated_runs_kept_epochs(cli, tmp_path, tones5):
    from audiokit.modelfile import load_model

    _, logmel, _ = tones5
    res, rep = train(cli, logmel, tmp_path / "r.h5", "--model", "specresnet", *QUICK, "--epochs", "2",
                     "--val-split", "0.2")
    assert [(r["run"], r["epoch"]) for r in rep["history"]["rows"]] == [("main", 1), ("main", 2), ("refit", 1),
                                                                         ("refit", 2)]
    assert rep["validation"]["best_epoch"] == 2  # no early stopping: the last epoch is kept
    assert (rep["refit"]["items"], rep["refit"]["epochs"]) == (N, 2)
    assert f"refit on all {N} training items of 5 groups for 2 epochs" in res.stdout
    tr = load_model(str(tmp_path / "r.h5")).training
    assert tr["trained_on"] == N and tr["refit"] is True

    # under early stopping, the refit runs as long as the validated run's best epoch
    res, rep = train(cli, logmel, tmp_path / "es.h5", "--model", "specresnet", *QUICK, "--epochs", "4",
                     "--patience", "1", "--scheduler", "plateau", "--val-split", "0.2")
    best = rep["validation"]["best_epoch"]
    assert rep["refit"]["epochs"] == best
    assert [r["epoch"] for r in rep["history"]["rows"] if r["run"] == "refit"] == list(range(1, best + 1))

    res, rep = train(cli, logmel, tmp_path / "v.h5", "--model", "specresnet", *QUICK, "--epochs", "2",
                     "--val-split", "0.2", "--no-refit")
    assert {r["run"] for r in rep["history"]["rows"]} == {"main"} and "refit" not in rep
    assert f"the saved model is the validated one, trained on {rep['validation']['train']} items" in res.stdout
    tr = load_model(str(tmp_path / "v.h5")).training
    assert tr["trained_on"] == rep["validation"]["train"] == 32 and tr["refit"] is False



def test_deep_default_trains_once_on_every_item(cli, tmp_path, tones5):
    """A deep kind's default is one training on all items (a validation split would only add the refit:
    docs/deep-training.md, "How the defaults were chosen"); a classic kind still validates on held-out groups."""
    from audiokit.modelfile import load_model

    _, logmel, mfcc = tones5
    res, rep = train(cli, logmel, tmp_path / "d.h5", "--model", "specresnet", *QUICK, "--epochs", "2")
    assert [(r["run"], r["epoch"]) for r in rep["history"]["rows"]] == [("main", 1), ("main", 2)]
    assert "validation" not in rep and "refit" not in rep and rep["settings"]["val_split"] == 0.0
    assert f"no validation split: trained on all {N} items of 5 groups for 2 epochs" in res.stdout
    # the closing line gives the wall time since the process started
    assert re.search(r"^model → \S+d\.h5 \(report: .*\) in \d+\.\d s$", res.stdout.strip().splitlines()[-1])
    assert load_model(str(tmp_path / "d.h5")).training["trained_on"] == N
    res, rep = train(cli, mfcc, tmp_path / "c.h5", "--model", "logreg")
    assert rep["validation"]["grouped"] and rep["refit"]["items"] == N

    # early stopping without held-out items is refused, naming the flag
    res = cli("train", logmel, "-o", tmp_path / "p.h5", "--model", "specresnet", "--patience", "2", expect=2)
    assert "--patience (early stopping) needs held-out items" in res.stderr and "validation split" in res.stderr
    assert not (tmp_path / "p.h5").exists()


# -- the fold ensemble ----------------------------------------------------------------------------------------

def _check_ensemble(cli, path, store, audio, n_folds, *, folds=True):
    from audiokit import models
    from audiokit.modelfile import load_model, save_model
    from audiokit.models.ensemble import Ensemble, member_files

    mf = load_model(str(path))
    assert mf.params["ensemble"] == n_folds and len(mf.params["members"]) == n_folds
    # its members together trained on every item; it is no refit
    assert (mf.training["trained_on"], mf.training["refit"], mf.training["folds"]) == (N, False, n_folds if folds
                                                                                       else None)
    assert {k.split("/")[0] for k in mf.arrays} == {f"member{i}" for i in range(n_folds)}
    info = json.loads(cli("info", path, "--json").stdout)
    assert info["type"] == "model" and info["params"]["ensemble"] == n_folds
    assert f"ensemble={n_folds}" in cli("info", path).stdout

    with open_store(str(store)) as s:
        X, paths = s.load_features(), list(s.paths)
    ens = models.load(str(path), device="cpu")
    assert isinstance(ens, Ensemble) and len(ens.members) == n_folds and ens.kind == mf.kind
    rebuilt = [models.get(m.kind).from_modelfile(m, device="cpu") for m in member_files(mf)]
    each = [m.predict_proba(X) for m in rebuilt]
    assert not np.allclose(each[0], each[1])  # the fold models differ, so the mean is a real check
    p = ens.predict_proba(X)
    assert p.shape == (len(X), len(TONE_CLASSES)) and np.allclose(p, np.mean(each, axis=0), atol=1e-6)
    again = path.with_name("again.h5")
    save_model(str(again), ens.to_modelfile())
    assert np.array_equal(models.load(str(again), device="cpu").predict_proba(X), p)

    ev = json.loads(cli("eval", path, store, "--json").stdout)
    assert ev["accuracy"] == pytest.approx(np.mean(p.argmax(axis=1) == s.labels))
    rows = [json.loads(x) for x in cli("predict", path, audio, "--format", "jsonl", "--workers", "1")
            .stdout.splitlines()]
    assert len(rows) == len(X)
    want = {path_: ens.class_names[i] for path_, i in zip(paths, p.argmax(axis=1))}
    assert {r["path"]: r["label"] for r in rows} == want


def test_classic_folds_without_refit_save_the_fold_models_as_an_ensemble(cli, tmp_path, tones5):
    audio, _, mfcc = tones5
    out = tmp_path / "ens.h5"
    res, rep = train(cli, mfcc, out, "--model", "logreg", "--folds", "3", "--no-refit")
    assert rep["ensemble"]["members"] == 3 and "refit" not in rep
    assert "the saved model: the 3 fold models as an ensemble" in res.stdout
    _check_ensemble(cli, out, mfcc, audio, 3)


def test_deep_folds_without_refit_save_the_fold_models_as_an_ensemble(cli, tmp_path, tones5):
    audio, logmel, _ = tones5
    out = tmp_path / "ens.h5"
    # no --batch-size: the default 32 is more than a fold trains on, so it shrinks, with a warning
    res, rep = train(cli, logmel, out, "--model", "specresnet", "--epochs", "1", "--folds", "3", "--no-refit")
    assert rep["ensemble"]["members"] == 3 and "refit" not in rep
    assert rep["cv"]["inner_validation"] is None  # no early stopping: the folds train on all their items
    assert [r["run"] for r in rep["history"]["rows"]] == ["fold1", "fold2", "fold3"]
    assert "the default batch of 32 is more than the" in res.stderr and rep["engine"]["batch_size"] == 16
    assert "the saved model: the 3 fold models as an ensemble" in res.stdout
    assert not list(tmp_path.glob("*.member*.h5"))  # the fold files beside the checkpoint are gone
    _check_ensemble(cli, out, logmel, audio, 3)


def test_ensemble_trains_the_saved_model_once_per_seed_and_averages_them(cli, tmp_path, tones5):
    from audiokit import models

    audio, logmel, _ = tones5
    out = tmp_path / "seeds.h5"
    quick = ["--model", "specresnet", "--epochs", "1", "--batch-size", "16"]
    res, rep = train(cli, logmel, out, *quick, "--ensemble", "2", "--seed", "3")
    assert (rep["ensemble"]["members"], rep["ensemble"]["of"]) == (2, "seeds") and "refit" not in rep
    assert "seeds 3..4" in rep["ensemble"]["note"] and rep["settings"]["ensemble"] == 2
    assert [r["run"] for r in rep["history"]["rows"]] == ["member1", "member2"]
    assert "member 2/2  epoch 1/1" in res.stderr
    assert "the saved model: 2 networks, seeds 3..4, their probabilities averaged" in res.stdout
    assert not list(tmp_path.glob("*.member*.h5"))  # the members waiting beside the checkpoint are gone
    _check_ensemble(cli, out, logmel, audio, 2, folds=False)
    # member 1 is the single model of seed 3, bit for bit; member 2 is another network
    one = tmp_path / "one.h5"
    train(cli, logmel, one, *quick, "--seed", "3")
    ens, single = models.load(str(out), device="cpu"), models.load(str(one), device="cpu")
    a, b, c = (m.net.state_dict() for m in (*ens.members, single))
    assert all(torch_equal(a[k], c[k]) for k in a) and not all(torch_equal(a[k], b[k]) for k in a)


def test_ensemble_after_a_validation_split_refits_each_member(cli, tmp_path, tones5):
    _, logmel, _ = tones5
    out = tmp_path / "val.h5"
    res, rep = train(cli, logmel, out, "--model", "specresnet", "--epochs", "1", *QUICK, "--val-split", "0.4",
                     "--ensemble", "2")
    assert [r["run"] for r in rep["history"]["rows"]] == ["main", "refit1", "refit2"]
    assert "validation" in rep and rep["refit"]["epochs"] == 1 and rep["ensemble"]["members"] == 2


@pytest.mark.parametrize("extra, reason", [
    (["--folds", "3"], "cannot be combined with folds"),
    (["--val-split", "0.4", "--no-refit"], "needs the refit"),
    (["--ensemble", "0"], "must be at least 1"),
])
def test_ensemble_refuses_what_it_cannot_do(cli, tmp_path, tones5, extra, reason):
    _, logmel, _ = tones5
    out = tmp_path / "bad.h5"
    res = cli("train", logmel, "-o", out, "--model", "specresnet", "--ensemble", "2", *extra, expect=2)
    assert "--ensemble" in res.stderr and reason in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not out.exists()


def torch_equal(a, b) -> bool:
    import torch

    return bool(torch.equal(a, b))


# -- per-item normalisation --------------------------------------------------------------------------------------

def test_item_normalisation_ignores_a_level_offset_and_dataset_does_not(cli, tmp_path, tones5):
    from audiokit import models
    from audiokit.modelfile import load_model

    _, logmel, _ = tones5
    with open_store(str(logmel)) as s:
        X = s.load_features()
    probs = {}
    for mode, frontend in (("item", "item"), ("dataset", "standardize")):
        out = tmp_path / f"{mode}.h5"
        train(cli, logmel, out, "--model", "specresnet", *QUICK, "--epochs", "2", "--val-split", "0",
              "--normalize", mode)
        assert load_model(str(out)).params["frontend"] == frontend
        m = models.load(str(out), device="cpu")
        probs[mode] = m.predict_proba(X), m.predict_proba(X + 10.0)  # every item 10 dB louder
    assert np.allclose(*probs["item"], atol=1e-4)
    assert np.abs(probs["dataset"][0] - probs["dataset"][1]).max() > 0.01


# -- predefined folds ------------------------------------------------------------------------------------

def test_folds_store_uses_the_manifest_fold_column(cli, tmp_path, tones5):
    """The ESC-50 / UrbanSound8K protocol: --folds store scores each manifest fold with a model
    trained on the others; a store without folds, or an item without one, is refused."""
    audio, _, _ = tones5
    files = sorted(p for p in audio.rglob("*.wav"))
    manifest = tmp_path / "list.csv"
    # fold = speaker number + 1: five folds, each one speaker
    manifest.write_text("path,label,fold\n" + "".join(
        f"{p},{p.parent.name},{int(p.name[3]) + 1}\n" for p in files))
    store = tmp_path / "folds.h5"
    cli("featurize", "--manifest", manifest, *MFCC_STATS[:-2], "-o", store, "-q")
    res, report = train(cli, store, tmp_path / "m.h5", "--model", "logreg", "--folds", "store")
    assert report["cv"]["k"] == 5 and [f["n"] for f in report["cv"]["folds"]] == [8] * 5
    assert "5-fold CV" in res.stdout
    # the same folds by hand
    with open_store(str(store)) as s:
        folds, paths = s.folds, list(s.paths)
    for f, (tr, va) in zip(range(1, 6), splits.store_folds(folds)):
        assert {f"spk{f - 1}_" in p.rsplit("/", 1)[1] for p in np.asarray(paths)[va]} == {True}
        assert set(folds[tr]) == set(range(1, 6)) - {f}
    no_folds = vector_store(tmp_path / "nofolds.h5", *separable())
    res = cli("train", no_folds, "-o", tmp_path / "x.h5", "--folds", "store", expect=2)
    assert "has no folds" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    res = cli("train", store, "-o", tmp_path / "x.h5", "--folds", "three", expect=2)
    assert "--folds must be a number of folds or 'store'" in res.stderr


def test_freq_warp_moves_bands_and_keeps_the_lowest_one():
    """--freq-warp stretches or squeezes the mel axis per item, anchored at band 0."""
    import torch

    from audiokit.training.augment import Augment

    x = torch.full((64, 16, 4), -80.0)
    x[:, 0, :] = 0.0   # the lowest band
    x[:, 8, :] = 0.0   # a band in the middle
    y = Augment(freq_warp=0.2)(x, torch.Generator().manual_seed(0), fill=-80.0)
    assert torch.allclose(y[:, 0, 0], torch.zeros(64), atol=1e-4)   # anchored
    peak = y[:, 1:, 0].argmax(dim=1) + 1
    assert set(peak.tolist()) > {8} and min(peak.tolist()) >= 6 and max(peak.tolist()) <= 10   # 8 · (1 ± 0.2)
    assert (y[:, :, 0] >= -80.0 - 1e-4).all()   # nothing below the fill


def test_freq_warp_flag_reaches_the_engine(cli, tmp_path, tones5):
    _, logmel, _ = tones5
    _, report = train(cli, logmel, tmp_path / "w.h5", "--epochs", "1", "--freq-warp", "0.05", *QUICK)
    assert report["engine"]["augment"]["freq_warp"] == 0.05
    res = cli("train", logmel, "-o", tmp_path / "x.h5", "--freq-warp", "1.5", *QUICK, expect=2)
    assert "--freq-warp" in res.stderr


def test_eq_adds_one_smooth_gain_curve_per_item():
    """--eq DB: each item gets its own gain over the bands, the same in every frame, bounded by
    DB · (1 + 1/2 + 1/3), smooth (three cosines), and nothing else changes."""
    import torch

    from audiokit.training.augment import Augment

    x = torch.randn(32, 64, 10) * 10 - 40
    y = Augment(eq=6.0)(x, torch.Generator().manual_seed(0), fill=-40.0)
    gain = y - x
    assert torch.allclose(gain, gain[:, :, :1].expand_as(gain), atol=1e-4)  # one curve per item, every frame
    curves = gain[:, :, 0]
    assert curves.abs().max() <= 6.0 * (1 + 1 / 2 + 1 / 3) + 1e-4 and curves.abs().max() > 1.0
    assert len({tuple(c.round(decimals=3).tolist()) for c in curves}) == 32  # items differ
    assert (curves[:, 1:] - curves[:, :-1]).abs().max() < 6.0 * 0.3  # smooth: small steps between bands
    assert Augment(eq=6.0).describe() == "eq ±6 dB" and Augment().active is False


def test_eq_flag_reaches_the_engine(cli, tmp_path, tones5):
    _, logmel, _ = tones5
    _, report = train(cli, logmel, tmp_path / "e.h5", "--epochs", "1", "--eq", "6", *QUICK)
    assert report["engine"]["augment"]["eq"] == 6.0 and "eq ±6 dB" in "\n".join(report["summary"])
    res = cli("train", logmel, "-o", tmp_path / "x.h5", "--eq", "-1", *QUICK, expect=2)
    assert "--eq" in res.stderr


def test_crop_keeps_a_random_window_of_each_item():
    """--crop F: each item becomes a window of (1 - F) of its frames, unchanged inside, at its
    own place; the bands are untouched."""
    import torch

    from audiokit.training.augment import Augment

    x = torch.arange(16 * 3 * 50, dtype=torch.float32).reshape(16, 3, 50)
    y = Augment(crop=0.2)(x, torch.Generator().manual_seed(0), fill=0.0)
    assert y.shape == (16, 3, 40)
    starts = []
    for i in range(16):
        s = int((y[i, 0, 0] - x[i, 0, 0]).item())
        assert 0 <= s <= 10 and torch.equal(y[i], x[i, :, s:s + 40])
        starts.append(s)
    assert len(set(starts)) > 4  # the windows move
    assert Augment(crop=0.2).describe() == "crop 80 % of the frames" and Augment(crop=0.2).active


def test_crop_flag_reaches_the_engine_and_the_model_sees_whole_items(cli, tmp_path, tones5):
    from audiokit import models

    _, logmel, _ = tones5
    out = tmp_path / "c.h5"
    _, report = train(cli, logmel, out, "--epochs", "1", "--crop", "0.25", *QUICK)
    assert report["engine"]["augment"]["crop"] == 0.25 and "crop 75 % of the frames" in "\n".join(report["summary"])
    with open_store(str(logmel)) as s:
        X = s.load_features()
    assert models.load(str(out), device="cpu").predict_proba(X).shape == (len(X), 4)  # full-width items
    for bad in ("1", "-0.1"):
        res = cli("train", logmel, "-o", tmp_path / "x.h5", "--crop", bad, *QUICK, expect=2)
        assert "--crop" in res.stderr
