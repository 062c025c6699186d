"""Deep training end to end on real generated audio: learning, the CLI chain, resume, seeds, SIGINT, DDP.

The data: four classes of half-second tones with different timbres (sine, odd harmonics,
all harmonics, band noise) at random pitches and levels with background noise, from four
"speakers" each (the groups); featurized as 32 × 32 log-mels. Four speakers are fewer than the
five a group-aware 20 % split needs, so a default run validates on a share of every speaker's
items (and says so); ``--val-split 0.25`` holds out one speaker whole.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf

torch = pytest.importorskip("torch")

from helpers import AUDIOKIT, make_tones, run  # noqa: E402
from helpers import TONE_CLASSES as CLASSES  # noqa: E402

FEATURE_FLAGS = ["--sr", "8000", "--n-fft", "256", "--hop-length", "128", "--n-mels", "32", "--duration", "0.5",
                 "--group-regex", r"^(spk\d+)_"]
#: Subprocesses use one OpenMP thread: the suite runs two tests per core.
ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]


@pytest.fixture(scope="session")
def tones(tmp_path_factory):
    """(audio directory, its 32×32 logmel store with speaker groups)."""
    from typer.testing import CliRunner

    from audiokit.cli import app

    root = tmp_path_factory.mktemp("deep")
    audio = make_tones(root / "tones")
    store = root / "tones.h5"
    res = CliRunner().invoke(app, ["featurize", str(audio), *FEATURE_FLAGS, "-o", str(store), "-q"])
    assert res.exit_code == 0, res.stderr
    return audio, store


def _json(stdout: bytes | str) -> dict:
    return json.loads(stdout)


# -- learning, the CLI chain ---------------------------------------------------------------------------------

def test_specresnet_learns_through_the_whole_cli_chain(tones, tmp_path, cli):
    audio, store = tones
    model = tmp_path / "spec.h5"
    r = run(f"audiokit featurize {audio} {' '.join(FEATURE_FLAGS[:-1])} '{FEATURE_FLAGS[-1]}' -o - -q "
            f"| audiokit train - -o {model} --model specresnet --epochs 4 --batch-size 8 --val-split 0.2 --plot {tmp_path / 'c.png'} "
            "--json", shell=True, env=ENV)
    assert r.returncode == 0, r.stderr.decode()
    rep = _json(r.stdout)
    val = rep["validation"]
    assert not val["grouped"] and rep["n_groups"] == 4  # not group-aware: the fall-back below
    # 4 speakers < 5: validated on a share of every speaker's items, said in a warning
    assert val["protocol"]["shared_groups"] == 4 and val["protocol"]["unseen_groups"] == 0
    assert "too few for a group-aware 0.2 validation split" in r.stderr.decode()
    assert val["accuracy"] >= 0.9, rep["history"]["rows"]  # within 4 epochs
    assert rep["n_parameters"] > 1_000_000 and rep["params"]["widths"] == [64, 96, 128, 256]
    assert rep["params"]["input_size"] is None  # --input-size auto keeps Spec-ResNet's items native
    # the validated run (4 epochs, the last kept), then the refit on all 128 items for as many
    rows = rep["history"]["rows"]
    assert [(row["run"], row["epoch"]) for row in rows] == [("main", e) for e in (1, 2, 3, 4)] + [
        ("refit", e) for e in (1, 2, 3, 4)]
    assert val["best_epoch"] == 4 and (rep["refit"]["items"], rep["refit"]["epochs"]) == (128, 4)
    epoch_lines = [ln for ln in r.stderr.decode().splitlines() if " epoch " in f" {ln}" and "samples/s" in ln]
    assert len(epoch_lines) == len(rows) and "val acc" in epoch_lines[0]
    assert all("refit" in ln and "val acc" not in ln for ln in epoch_lines[4:])
    hist = (tmp_path / "spec.history.csv").read_text().splitlines()
    assert hist[0].startswith("run,epoch,train_loss,val_loss,val_acc,lr,samples_per_s,seconds")
    assert len(hist) == 1 + len(rows)
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "spec.report.json").exists() and (tmp_path / "spec.ckpt").exists()

    assert _json(cli("eval", model, store, "--json").stdout)["accuracy"] >= 0.9

    long = tmp_path / "long_saw.wav"  # 2 s: predicted as windows of the training duration
    y, sr = sf.read(str(next((audio / "saw").glob("*.wav"))))
    sf.write(str(long), np.tile(y, 4), sr)
    r = cli("predict", model, audio / "sine", long, "--format", "jsonl", "--workers", "1")
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert len(rows) == 33
    assert sum(row["label"] == "sine" for row in rows[:32]) >= 29
    assert rows[-1]["path"].endswith("long_saw.wav") and rows[-1]["label"] == "saw"


def test_resnet18_from_scratch_learns(tones, tmp_path, cli):
    _, store = tones
    out = tmp_path / "r18.h5"
    # native 32×32 to keep the test fast; the default (auto) upsampling is tested below. No augmentation:
    # SpecAugment's default masks (2×8 of 32 bands, 2×10 of 32 frames) leave 3 epochs too little to learn from.
    res = cli("train", store, "-o", out, "--model", "resnet18", "--pretrained", "none", "--epochs", "3",
              "--batch-size", "8", "--checkpoint", "none", "--input-size", "none", "--no-augment", "--val-split", "0.2",
              "--json")
    rep = _json(res.stdout)
    assert rep["validation"]["accuracy"] >= 0.9, rep["history"]["rows"]
    assert not rep["engine"]["augment"]["specaugment"] and rep["engine"]["augment"]["time_shift"] == 0
    assert rep["params"]["stem"] == "sum" and rep["params"]["pretrained"] == "none"
    assert not (tmp_path / "r18.ckpt").exists()
    from audiokit import models

    clf = models.load(str(out), device="cpu")
    assert clf.kind == "resnet18" and clf.class_names == sorted(CLASSES)


def test_the_mixed_precision_path_trains_evaluates_and_predicts(tones, tmp_path, cli, monkeypatch):
    """CI has no GPU, so the autocast code (on by default on CUDA) is run on the CPU in bf16:
    training with SpecAugment and mixup, precise BN, validation, eval and windowed predict."""
    import audiokit.models.deep as dm

    calls = []

    def bf16(device):
        calls.append(device.type)
        return torch.bfloat16

    monkeypatch.setattr(dm, "amp_dtype", bf16)
    audio, store = tones
    out = tmp_path / "amp.h5"
    rep = _json(cli("train", store, "-o", out, "--model", "specresnet", "--epochs", "3", "--batch-size", "8",
                    "--specaugment", "--mixup", "0.2", "--checkpoint", "none", "--val-split", "0.2",
                    "--json").stdout)
    assert calls and rep["validation"]["accuracy"] >= 0.9, rep["history"]["rows"]
    n_train = len(calls)
    assert _json(cli("eval", out, store, "--json").stdout)["accuracy"] >= 0.9
    rows = [json.loads(x) for x in cli("predict", out, audio / "saw", "--format", "jsonl", "--workers", "1")
            .stdout.splitlines()]
    assert len(calls) > n_train  # eval and predict ran under autocast too
    assert len(rows) == 32 and sum(r["label"] == "saw" for r in rows) >= 29
    from audiokit.modelfile import load_model

    floats = [a.dtype for a in load_model(str(out)).arrays.values() if a.dtype.kind == "f"]
    assert floats and set(floats) == {np.dtype(np.float32)}  # autocast leaves the saved weights fp32


def test_resnet_input_size_defaults_to_auto_upsampling(tones, tmp_path, cli):
    """Items under 128 on a side reach a ResNet scaled up to 128 by default; the model file keeps
    the resize, so eval and predict apply it too."""
    _, store = tones
    out = tmp_path / "r18.h5"
    res = cli("train", store, "-o", out, "--model", "resnet18", "--pretrained", "none", "--epochs", "1",
              "--batch-size", "16", "--checkpoint", "none", "--json")
    rep = _json(res.stdout)
    assert rep["params"]["input_size"] == {"resize": [128, 128], "crop": None}
    assert "input 32×32 → 128×128 (--input-size auto)" in res.stderr
    from audiokit import models

    assert models.load(str(out), device="cpu").net.frontend.input_size == {"resize": [128, 128], "crop": None}
    r = cli("train", store, "-o", tmp_path / "x.h5", "--model", "resnet18", "--input-size", "big", expect=2)
    assert "--input-size must be auto, none" in r.stderr


# -- the engine: seeds, resume ---------------------------------------------------------------------------------

def _engine_run(store, *, seed=0, stop_after=None, resume=None, ckpt=None):
    from audiokit.models import deep as dm
    from audiokit.store import open_store
    from audiokit.training.augment import Augment
    from audiokit.training.data import FeatureBank
    from audiokit.training.engine import EngineConfig, StopFlag, fit, step_seed
    from audiokit.training.splits import train_val_split

    with open_store(str(store)) as s:
        X, y, g = s.load_features(), s.labels, s.groups
    tr, va = train_val_split(y, g, val_fraction=0.25, seed=0)
    dev = torch.device("cpu")
    bank = FeatureBank(X, y, device=dev)
    torch.manual_seed(step_seed(seed, 1000))
    net = dm.build_network("specresnet", n_classes=4, in_shape=X.shape[1:])
    net.frontend.set_stats(**bank.stats(tr))
    cfg = EngineConfig(batch_size=16, epochs=3, seed=seed, patience=0,
                       augment=Augment(time_shift=0.1, flip=0.5, rotate=10, specaugment=True, mixup=0.2))
    res = fit(net, bank, tr, va, cfg, n_classes=4, device=dev, checkpoint=ckpt, resume=resume,
              stop=StopFlag(after_steps=stop_after))
    return net.state_dict(), res


def test_seed_repeats_a_run_and_resume_continues_it_exactly(tones, tmp_path):
    from audiokit.training.checkpoint import load_checkpoint
    from audiokit.training.engine import Interrupted

    _, store = tones
    a, ra = _engine_run(store, seed=0)
    b, rb = _engine_run(store, seed=0)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [h["val_loss"] for h in ra.history] == [h["val_loss"] for h in rb.history]
    c, _ = _engine_run(store, seed=1)
    assert not all(torch.equal(a[k], c[k]) for k in a)

    ckpt = tmp_path / "run.ckpt"
    with pytest.raises(Interrupted) as e:  # 6 steps per epoch: stop in the middle of epoch 2
        _engine_run(store, seed=0, stop_after=9, ckpt=str(ckpt))
    assert (e.value.epoch, e.value.step) == (1, 3)
    state = load_checkpoint(str(ckpt))
    assert state["meta"]["engine"]["epoch"] == 1 and state["meta"]["engine"]["step"] == 3
    d, rd = _engine_run(store, seed=0, resume=state, ckpt=str(ckpt))
    assert all(torch.equal(a[k], d[k]) for k in a)
    assert [h["train_loss"] for h in rd.history] == [h["train_loss"] for h in ra.history]


# -- interruption ----------------------------------------------------------------------------------------------

def test_sigint_leaves_a_checkpoint_and_no_model_and_resume_equals_an_uninterrupted_run(tones, tmp_path, cli):
    from audiokit import models
    from audiokit.training.checkpoint import load_checkpoint

    _, store = tones
    out = tmp_path / "m.h5"
    args = ["train", str(store), "-o", str(out), "--model", "specresnet", "--epochs", "2", "--batch-size", "16",
            "--patience", "0", "--specaugment", "--time-shift", "0.1"]
    env = {**os.environ, **ENV, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}
    p = subprocess.Popen(AUDIOKIT + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    err = []
    deadline = time.time() + 240
    for line in p.stderr:  # interrupt once the first epoch is done
        err.append(line)
        if "epoch 1/2" in line:
            p.send_signal(signal.SIGINT)
            break
        assert time.time() < deadline
    rest = p.communicate(timeout=240)[1]
    err_text = "".join(err) + rest
    assert p.returncode == 130, err_text
    assert "--resume" in err_text and "interrupted" in err_text
    assert not out.exists() and not list(tmp_path.glob(".m.h5*"))  # no model, no half-written temp file
    ckpt = tmp_path / "m.ckpt"
    meta = load_checkpoint(str(ckpt))["meta"]["engine"]
    assert (meta["epoch"], meta["step"]) >= (1, 0) and len(meta["history"]) >= 1

    r = cli(*args, "--resume", ckpt)
    assert "resuming" in r.stderr
    ref = tmp_path / "ref.h5"
    cli(*args[:3], ref, *args[4:], "--checkpoint", "none")
    m1, m2 = models.load(str(out), device="cpu"), models.load(str(ref), device="cpu")
    s1, s2 = m1.net.state_dict(), m2.net.state_dict()
    assert all(torch.equal(s1[k], s2[k]) for k in s1)


def test_an_ensemble_interrupted_in_its_second_member_resumes_with_the_first_from_disk(tones, tmp_path, cli):
    from audiokit import models

    _, store = tones
    out = tmp_path / "e.h5"
    args = ["train", str(store), "-o", str(out), "--model", "specresnet", "--epochs", "2", "--batch-size", "16",
            "--ensemble", "2"]
    env = {**os.environ, **ENV, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}
    p = subprocess.Popen(AUDIOKIT + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    deadline = time.time() + 240
    for line in p.stderr:  # interrupt in the second member
        if "member 2/2  epoch 1/2" in line:
            p.send_signal(signal.SIGINT)
            break
        assert time.time() < deadline
    assert p.wait(timeout=240) == 130
    p.stderr.close()
    p.stdout.close()
    assert not out.exists() and (tmp_path / "e.ckpt.member1.h5").exists()  # the first member waits on disk

    r = cli(*args, "--resume", tmp_path / "e.ckpt")
    assert "resuming" in r.stderr and not list(tmp_path.glob("*.member*.h5"))
    ref = tmp_path / "ref.h5"
    cli(*args[:3], ref, *args[4:], "--checkpoint", "none")
    got, want = models.load(str(out), device="cpu"), models.load(str(ref), device="cpu")
    assert len(got.members) == len(want.members) == 2
    for m1, m2 in zip(got.members, want.members):
        s1, s2 = m1.net.state_dict(), m2.net.state_dict()
        assert all(torch.equal(s1[k], s2[k]) for k in s1)


# -- several processes -----------------------------------------------------------------------------------------

def test_ddp_with_gloo_on_two_processes(tones, tmp_path):
    _, store = tones
    out = tmp_path / "ddp.h5"
    env = {**os.environ, **ENV, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "audiokit",
           "train", str(store), "-o", str(out), "--model", "specresnet", "--epochs", "2", "--batch-size", "16",
           "--val-split", "0.2", "--device", "cpu", "--json"]
    r = subprocess.run(cmd, capture_output=True, env=env, timeout=300)
    err = r.stderr.decode()
    assert r.returncode == 0, err
    rep = _json(r.stdout)  # only rank 0 prints: one JSON document on stdout
    assert rep["world_size"] == 2 and rep["device"] == "cpu"
    # one line per epoch from rank 0 only: 2 validated, then 2 of the refit on all items
    assert [row["run"] for row in rep["history"]["rows"]] == ["main", "main", "refit", "refit"]
    assert sum("samples/s" in ln for ln in err.splitlines()) == 4
    from audiokit import models

    clf = models.load(str(out), device="cpu")
    assert clf.training["world_size"] == 2


# -- bad input -------------------------------------------------------------------------------------------------

def test_bad_input_gives_one_clear_line(tones, tmp_path, cli):
    audio, store = tones
    mfcc = tmp_path / "mfcc.h5"
    cli("featurize", audio / "sine", audio / "saw", "--features", "mfcc-stats", "--sr", "8000", "--n-fft", "256",
        "-o", mfcc, "-q")
    r = cli("train", mfcc, "-o", tmp_path / "x.h5", "--model", "specresnet", expect=1)
    assert "logmel" in r.stderr and "mfcc-stats" in r.stderr and "Traceback" not in r.stderr
    r = cli("train", store, "-o", tmp_path / "x.h5", "--model", "specresnet", "--batch-size", "500", expect=2)
    assert "--batch-size 500 is more than the" in r.stderr
    r = cli("train", store, "-o", tmp_path / "x.h5", "--model", "specresnet", "--stem", "sum", expect=2)
    assert "--stem: only for the ResNets" in r.stderr
    r = cli("train", store, "-o", tmp_path / "x.h5", "--model", "knn", "--epochs", "3", expect=2)
    assert "--epochs" in r.stderr and "deep" in r.stderr
    r = cli("train", store, "-o", tmp_path / "x.h5", "--model", "specresnet", "--normalize", "global", expect=2)
    assert "--normalize must be item or dataset" in r.stderr
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"PK\x03\x04 truncated")
    r = cli("train", store, "-o", tmp_path / "x.h5", "--model", "specresnet", "--resume", bad, expect=1)
    assert str(bad) in r.stderr and "checkpoint" in r.stderr
    cli("train", store, "-o", tmp_path / "x.h5", "--model", "specresnet", "--resume", tmp_path / "nope.ckpt",
        expect=2)
    wrong = tmp_path / "r34.pth"
    import torchvision

    with torch.device("meta"):
        keys = torchvision.models.resnet34(weights=None).state_dict()
    torch.save({k: torch.zeros(v.shape, dtype=v.dtype) for k, v in keys.items() if k.startswith("layer4")}, wrong)
    r = cli("train", store, "-o", tmp_path / "x.h5", "--model", "resnet18", "--pretrained", wrong, expect=1)
    assert "not a resnet18 state dict" in r.stderr and str(wrong) in r.stderr
    if not torch.cuda.is_available():
        r = cli("train", store, "-o", tmp_path / "x.h5", "--model", "specresnet", "--device", "cuda", expect=2)
        assert "no CUDA GPU" in r.stderr
    assert not (tmp_path / "x.h5").exists()


def test_streamed_batches_equal_in_memory_ones(tones):
    """The placement for stores larger than memory (DataLoader workers reading the HDF5 file)
    yields the same batches and statistics as the in-memory one."""
    from audiokit.store import open_store
    from audiokit.training.data import FeatureBank, H5Rows, batch_bounds

    _, store = tones
    with open_store(str(store)) as s:
        X, y, shape = s.load_features(), s.labels, s.item_shape
    rows = np.arange(5, 60)
    mem = FeatureBank(X[rows], y[rows], device=torch.device("cpu"))
    disk = FeatureBank(H5Rows(str(store), rows, shape), y[rows], device=torch.device("cpu"), workers=2)
    assert (mem.placement, disk.placement) == ("device", "stream")
    order = np.random.default_rng(0).permutation(len(rows))
    bounds = batch_bounds(len(rows), 8)
    pairs = list(zip(mem.iterate(order, bounds), disk.iterate(order, bounds)))
    assert len(pairs) == len(bounds)
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in pairs)
    assert mem.stats(np.arange(30)) == disk.stats(np.arange(30))
    # "host": what a GPU gets for a store that fits in RAM but not in its memory (DataLoader
    # workers slicing the array, pinned copies). Only CUDA chooses it, so it is forced here.
    host = FeatureBank(X[rows], y[rows], device=torch.device("cpu"), workers=2)
    host.placement, host.X, host.Y = "host", None, None
    got = list(host.iterate(order, bounds))
    assert len(got) == len(bounds) and all(torch.equal(a[0], g[0]) and torch.equal(a[1], g[1])
                                           for (a, _), g in zip(pairs, got))
    assert host.stats(np.arange(30)) == mem.stats(np.arange(30))
