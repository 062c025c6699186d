"""A flag typed equal to its default is a typed flag: ``--batch-size 32`` is not shrunk for small
data, and ``--resume`` keeps a typed setting rather than the checkpoint's. A recipe's values stay
defaults."""

from __future__ import annotations

import json

import numpy as np
import pytest

from audiokit.errors import ParameterError
from audiokit.models import get

from test_train_classic import synth_store

pytestmark = pytest.mark.usefixtures("one_torch_thread")

N = 20  # fewer than the default batch of 32
QUICK = ["--model", "specresnet", "--val-split", "0", "--epochs", "1", "--no-augment"]


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    """A small store of 16 × 16 log-mel-like frames, two separable classes."""
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], N // 2)
    X = rng.normal(size=(N, 16, 16)) + 2 * y[:, None, None]
    return synth_store(tmp_path_factory.mktemp("frames") / "f.h5", X, np.array(["a", "b"])[y], kind="logmel")


def _report(path) -> dict:
    return json.loads(open(str(path).replace(".h5", ".report.json")).read())


def test_settings_know_what_was_given():
    cls = get("specresnet").settings
    assert cls().given == frozenset() and cls(batch_size=32).given == {"batch_size"}
    assert cls(batch_size=32).replace(lr=0.1).given == {"batch_size", "lr"}
    assert cls().replace(batch_size=16).batch_size == 16


def test_a_typed_batch_size_equal_to_the_default_is_not_shrunk(cli, tmp_path, frames):
    recipe = tmp_path / "r.toml"
    recipe.write_text("batch_size = 32\n")
    # the default (also when a recipe states it) shrinks for 20 items...
    r = cli("train", frames, "-o", tmp_path / "a.h5", *QUICK, "--recipe", recipe, "--checkpoint", "none")
    assert "the default batch of 32 is more than the 20 items" in r.stderr
    assert _report(tmp_path / "a.h5")["engine"]["batch_size"] == 16
    # ...a typed --batch-size 32 is kept, and refused as larger than the training set
    r = cli("train", frames, "-o", tmp_path / "b.h5", *QUICK, "--batch-size", "32", expect=2)
    assert "--batch-size 32 is more than the 20 training items" in r.stderr and "default batch" not in r.stderr
    assert not (tmp_path / "b.h5").exists()
    # the library alike: a value passed is a value given
    from audiokit.training import train

    with pytest.raises(ParameterError, match="^batch_size 32 is more than"):
        train(str(frames), str(tmp_path / "c.h5"), get("specresnet").settings(batch_size=32, val_split=0, epochs=1))


def test_resume_keeps_a_typed_setting_equal_to_the_default(cli, tmp_path, frames):
    ckpt = tmp_path / "m.ckpt"
    cli("train", frames, "-o", tmp_path / "m.h5", *QUICK, "--lr", "0.01", "--no-amp", "--checkpoint", ckpt)
    # lr typed at its default: the checkpoint's lr stays (it cannot change), and the run says so;
    # amp typed at its default: resume may change it, so it applies
    r = cli("train", frames, "-o", tmp_path / "r.h5", *QUICK, "--resume", ckpt, "--lr", "0.001", "--amp",
            "--checkpoint", tmp_path / "r.ckpt")
    assert "resume continues with the checkpoint's settings: lr 0.01" in r.stderr
    s = _report(tmp_path / "r.h5")["settings"]
    assert (s["lr"], s["amp"]) == (0.01, True)
    # not typed: the checkpoint's values, silently
    r = cli("train", frames, "-o", tmp_path / "s.h5", *QUICK, "--resume", ckpt, "--checkpoint", tmp_path / "s.ckpt")
    assert "continues with the checkpoint's settings" not in r.stderr
    s = _report(tmp_path / "s.h5")["settings"]
    assert (s["lr"], s["amp"]) == (0.01, False)
