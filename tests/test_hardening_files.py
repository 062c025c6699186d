"""Hostile and damaged stores, model files, checkpoints and weight files (tests/corpus/hostile.py):
refused by every command that reads them with one line naming the file and the reason, never
running a pickle's code (a payload that would create a marker file), never allocating memory in
proportion to what a file claims (peak RSS measured), and never failing with anything but
audiokit's own errors on random damage (truncation, bit flips, random bytes).
"""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest
import soundfile as sf

import corpus
from helpers import AUDIOKIT, Cli, run
from corpus import hostile


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """A good mfcc-stats store, a KNN trained on it, and a clip, from two classes of tones."""
    d = tmp_path_factory.mktemp("good")
    for c, f0 in (("low", 150.0), ("high", 600.0)):
        (d / "audio" / c).mkdir(parents=True)
        for i in range(6):
            sf.write(str(d / "audio" / c / f"{i}.wav"), corpus.tone(8000, seconds=0.4, f0=f0 * (1 + 0.02 * i)), 8000)
    cli = Cli()
    cli("featurize", d / "audio", "-f", "mfcc-stats", "-o", d / "s.h5", "-j", "1", "-q")
    cli("train", d / "s.h5", "-o", d / "knn.h5", "--k", "3", "-q")
    return d


def _one_error_line(res, path, reason=None):
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith(f"audiokit: error: {path}: "), lines[0]
    assert "internal error" not in lines[0]
    if reason is not None:
        assert reason in lines[0], lines[0]
    return lines[0]


def test_the_payload_would_run_if_unpickled(tmp_path):
    """The marker check below means something: unpickling the payload does create the file."""
    import pickle

    marker = tmp_path / "ran"
    pickle.loads(hostile.payload(marker))
    assert marker.exists()


def test_hostile_stores_are_refused_by_every_reader(cli, good, tmp_path):
    marker = tmp_path / "pwned"
    variants = hostile.stores(good / "s.h5", tmp_path / "stores", marker)
    model = good / "knn.h5"
    for name, (p, reason) in variants.items():
        _one_error_line(cli("info", p, expect=1), p, reason)
        out = tmp_path / f"{name}-model.h5"
        _one_error_line(cli("train", p, "-o", out, "-q", expect=1), p, reason)
        assert not out.exists()
        _one_error_line(cli("eval", model, p, expect=1), p, reason)
        res = cli("predict", model, p, "-q", expect=1)
        if p.read_bytes()[:8] == b"\x89HDF\r\n\x1a\n":
            _one_error_line(res, p, reason)
        else:  # not HDF5 at all: predict takes it for an audio file, and says why it is not one
            assert f"audiokit: error: {p}: " in res.stderr and ("not readable as audio" in res.stderr
                                                                  or "empty file" in res.stderr), res.stderr
        # --append onto it refuses too, leaving it as it was
        before = p.read_bytes()
        cli("featurize", good / "audio", "-f", "mfcc-stats", "-o", p, "--append", "-q", expect=1)
        assert p.read_bytes() == before, name
    assert not marker.exists()


def test_hostile_models_are_refused_by_every_reader(cli, good, tmp_path):
    marker = tmp_path / "pwned"
    variants = hostile.models(good / "knn.h5", tmp_path / "models", marker)
    clip = good / "audio" / "low" / "0.wav"
    for name, (p, reason) in variants.items():
        _one_error_line(cli("info", p, expect=1), p, reason)
        _one_error_line(cli("eval", p, good / "s.h5", expect=1), p, reason)
        _one_error_line(cli("predict", p, clip, expect=1), p, reason)
        _one_error_line(cli("pitch", clip, good / "audio" / "high" / "0.wav", "--model", p, expect=1), p, reason)
    assert not marker.exists()


def test_torch_files_with_pickles_never_run(cli, good, tmp_path):
    """Checkpoints (--resume) and weight files (--pretrained) are read with weights_only=True."""
    torch = pytest.importorskip("torch")
    marker = tmp_path / "pwned"
    evil = hostile._Payload(str(marker))
    ckpt = tmp_path / "evil.ckpt"
    torch.save({"format": "audiokit-checkpoint", "format_version": 1, "meta": "{}", "model": {"w": evil}}, ckpt)
    weights = tmp_path / "evil.pth"
    torch.save({"conv1.weight": evil}, weights)
    store = tmp_path / "lm.h5"
    cli("featurize", good / "audio", "-o", store, "--duration", "0.4", "--n-mels", "32", "-j", "1", "-q")
    res = cli("train", store, "-o", tmp_path / "m.h5", "--model", "specresnet", "--resume", ckpt, "--device", "cpu",
              expect=1)
    _one_error_line(res, ckpt, "holds objects other than tensors")
    res = cli("train", store, "-o", tmp_path / "m.h5", "--model", "resnet18", "--pretrained", weights,
              "--device", "cpu", "--epochs", "1", expect=1)
    line = _one_error_line(res, weights, "holds objects other than tensors")
    assert "weights_only=False" not in line and "weights_only` set to `False" not in line
    assert not marker.exists() and not (tmp_path / "m.h5").exists()


def test_absurd_claims_cost_no_absurd_memory(good, tmp_path):
    """20 KB files claiming 3e9 items or a 4 TB array: refused before anything is read (the
    store once took 22 GB and was OOM-killed)."""
    marker = tmp_path / "pwned"
    stores = hostile.stores(good / "s.h5", tmp_path / "stores", marker)
    models = hostile.models(good / "knn.h5", tmp_path / "models", marker)
    runs = {
        "info absurd_items": ["info", stores["absurd_items"][0]],
        "train absurd_features": ["train", stores["absurd_features"][0], "-o", tmp_path / "m.h5"],
        "predict absurd_shape": ["predict", models["absurd_shape"][0], good / "audio"],
    }
    for what, args in runs.items():
        r, mb = corpus.measure(AUDIOKIT + [str(a) for a in args], timeout=120)
        assert r.returncode == 1, (what, r.stderr.decode())
        assert "claims more" in r.stderr.decode() or "more than the file can hold" in r.stderr.decode()
        assert mb < 400, f"{what}: peak RSS {mb:.0f} MiB"


# -- random damage: seeded, each read in a forked child with a deadline ------------------------------

def read_in_child(fn, *, timeout: float = 20.0) -> str:
    """Run ``fn()`` in a forked child: "ok", "refused" (an AudiokitError), "crash: ..." (any
    other exception or a signal) or "hang" (past ``timeout``; libhdf5 can loop for ever on a
    crafted file, see docs/security.md)."""
    import select
    import time

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no pytest clean-up, no atexit, just the outcome
        os.close(r)
        try:
            fn()
            msg = "ok"
        except Exception as exc:
            from audiokit.errors import AudiokitError

            msg = "refused" if isinstance(exc, AudiokitError) else f"crash: {type(exc).__name__}: {exc}"
        os.write(w, msg.encode()[:4000])
        os._exit(0)
    os.close(w)
    deadline = time.monotonic() + timeout
    try:
        ready, _, _ = select.select([r], [], [], timeout)
        if not ready:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "hang"
        msg = os.read(r, 4000).decode() or "crash: no outcome"
        _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status):
            return f"crash: signal {os.WTERMSIG(status)}"
        assert time.monotonic() <= deadline + 1
        return msg
    finally:
        os.close(r)


def _read_store(path):
    from audiokit.store import open_store

    with open_store(str(path)) as s:
        x = s.X
        s.class_counts()
        s.load_features(np.arange(len(s))[::-1])
        assert x.shape[0] == len(s)


def _read_model(path):
    from audiokit import models

    clf = models.load(str(path), device="cpu")
    clf.predict_proba(np.zeros((2, *clf_shape(clf)), np.float32))


def clf_shape(clf):
    n = clf.to_modelfile().params.get("n_features", 40)
    return (int(n),)


@pytest.mark.parametrize("what", ["store", "model"])
@pytest.mark.slow
def test_random_damage_is_refused_or_read(good, tmp_path, what):
    src = (good / ("s.h5" if what == "store" else "knn.h5")).read_bytes()
    reader = _read_store if what == "store" else _read_model
    rng = np.random.default_rng(7 if what == "store" else 11)
    outcomes: dict[str, int] = {}
    for i in range(40):
        p = tmp_path / f"damaged{i}.h5"
        p.write_bytes(hostile.damaged(src, rng))
        out = read_in_child(lambda: reader(p))
        outcomes[out] = outcomes.get(out, 0) + 1
        assert out in ("ok", "refused"), (p, out)
    assert outcomes.get("refused", 0) >= 10, outcomes


# -- data stored elsewhere: virtual datasets, a linked group (found by tests/test_fuzz.py) -------------

def _virtual(h, key: str, source: str) -> None:
    """Replace ``key`` with a virtual dataset mapping ``source``'s ``key`` (``"."``: this same file,
    so reading it would read itself)."""
    import h5py

    shape, dtype = h[key].shape, h[key].dtype
    layout = h5py.VirtualLayout(shape=shape, dtype=dtype)
    layout[...] = h5py.VirtualSource(source, key, shape=shape)
    del h[key]
    h.create_virtual_dataset(key, layout)


def _edited(src, dst, edit):
    import h5py

    dst.write_bytes(src.read_bytes())
    with h5py.File(dst, "a") as h:
        edit(h)
    return dst


@pytest.mark.slow
def test_data_stored_in_other_files_is_refused(cli, good, tmp_path):
    """Virtual datasets read other files (any HDF5 file the user can read) and a self-referencing
    one crashed libhdf5 (SIGSEGV) in the model reader; an 'arrays' group that is an external link
    made the model reader take another file's arrays. All are refused before any data is read."""
    import h5py

    other_store = tmp_path / "other-store.h5"
    other_store.write_bytes((good / "s.h5").read_bytes())
    other_model = tmp_path / "other-model.h5"
    other_model.write_bytes((good / "knn.h5").read_bytes())
    store_vds = _edited(good / "s.h5", tmp_path / "store-vds.h5", lambda h: _virtual(h, "features", str(other_store)))
    store_self = _edited(good / "s.h5", tmp_path / "store-self.h5", lambda h: _virtual(h, "labels", "."))
    for p in (store_vds, store_self):
        _one_error_line(cli("info", p, expect=1), p, "its data lives in other files")
        _one_error_line(cli("train", p, "-o", tmp_path / "m.h5", "-q", expect=1), p, "its data lives in other files")
        _one_error_line(cli("eval", good / "knn.h5", p, expect=1), p, "its data lives in other files")
    model_vds = _edited(good / "knn.h5", tmp_path / "model-vds.h5",
                        lambda h: _virtual(h, "arrays/fit_X", str(other_model)))
    model_self = _edited(good / "knn.h5", tmp_path / "model-self.h5", lambda h: _virtual(h, "arrays/fit_X", "."))

    def linked(h):
        del h["arrays"]
        h["arrays"] = h5py.ExternalLink(str(other_model), "/arrays")

    model_link = _edited(good / "knn.h5", tmp_path / "model-link.h5", linked)
    clip = good / "audio" / "low" / "0.wav"
    for p, reason in ((model_vds, "lives in an external file"), (model_self, "lives in an external file"),
                      (model_link, "refusing link arrays")):
        # real processes: a regression here is a libhdf5 crash, which must not take pytest down
        for args in (["info", p], ["eval", p, good / "s.h5"], ["predict", p, clip]):
            r = run(args)
            assert r.returncode == 1, (args, r.returncode, r.stderr.decode())
            _one_error_line(_Decoded(r), p, reason)
    assert not (tmp_path / "m.h5").exists()


class _Decoded:
    def __init__(self, r):
        self.stderr = r.stderr.decode("utf-8", "replace")
