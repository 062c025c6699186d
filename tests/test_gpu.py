"""The CUDA paths of deep training, eval and predict, run on a real GPU by ``bench/gpu.sh``.

Every test here is marked ``gpu`` and is skipped where ``torch.cuda.is_available()`` is False,
unless ``AUDIOKIT_GPU_TESTS_ON_CPU=1`` is set: ``bench/gpu.sh --cpu-toy`` (chosen by itself on a
machine without a GPU) sets it so that its plumbing runs end to end before a GPU is ever lent.
The tests then run on the CPU where that means something (the train → eval → predict chain,
on-device batches, the DDP code path with gloo) and skip what only CUDA has (fp16 with a
``GradScaler``, channels_last, pinned memory, ``torch.compile``, NCCL), saying why.

What runs on a GPU, through the CLI (in-process ``CliRunner``, or ``torchrun`` as a real
process) on 32 × 32 log-mels of four timbre classes of tones (tests/helpers.py):

* training with AMP in the dtype the engine picks (bf16 where supported) and in fp16 with a
  ``GradScaler`` (forced by replacing ``audiokit.models.deep.amp_dtype``, which the engine
  looks up at every call: there is no ``--amp-dtype`` flag);
* channels_last weights and inputs, ``cudnn.benchmark``;
* the store copied to the GPU once (``FeatureBank`` placement ``device``) and batches that
  never leave it; the ``host`` placement (forced by ``GPU_SHARE = 0``) with pinned batches;
* ``--compile``; DDP through ``torchrun`` on every GPU present, and the DDP code path with
  NCCL on a one-process group (``torchrun --nproc_per_node 1`` sets ``WORLD_SIZE=1``, which
  audiokit rightly runs without DDP);
* ``eval`` and ``predict`` with ``--device cuda``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from helpers import TONE_CLASSES, make_tones  # noqa: E402

CUDA = torch.cuda.is_available()
ON_CPU = os.environ.get("AUDIOKIT_GPU_TESTS_ON_CPU", "") == "1"
DEVICE = "cuda" if CUDA else "cpu"
#: Epochs of each training run: a GPU does many in a second; the CPU check only shows the plumbing.
EPOCHS = 6 if CUDA else 2
#: Validation / eval accuracy that counts as learned (chance is 0.25 with four classes).
LEARNED = 0.9 if CUDA else 0.5

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not CUDA and not ON_CPU, reason="needs a CUDA GPU; bench/gpu.sh runs these"),
]
needs_cuda = pytest.mark.skipif(
    not CUDA, reason="needs a CUDA GPU (AUDIOKIT_GPU_TESTS_ON_CPU=1 runs the rest on the CPU)")

FEATURE_FLAGS = ["--sr", "8000", "--n-fft", "256", "--hop-length", "128", "--n-mels", "32", "--duration", "0.5",
                 "--group-regex", r"^(spk\d+)_"]
#: One speaker of four held out whole: 96 training items, 6 even batches of 16 (no odd last batch,
#: so torch.compile sees one shape).
TRAIN_FLAGS = ["--epochs", str(EPOCHS), "--batch-size", "16", "--val-split", "0.25", "--no-refit",
               "--checkpoint", "none", "--device", DEVICE, "--json"]


@pytest.fixture(autouse=True)
def _threads():
    """On the CPU, one torch thread (the machine is shared); a GPU run keeps torch's default."""
    if CUDA:
        yield
        return
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def tones(tmp_path_factory):
    """(audio directory, its 32×32 logmel store with speaker groups)."""
    from typer.testing import CliRunner

    from audiokit.cli import app

    root = tmp_path_factory.mktemp("gpu")
    audio = make_tones(root / "tones")
    store = root / "tones.h5"
    res = CliRunner().invoke(app, ["featurize", str(audio), *FEATURE_FLAGS, "-o", str(store), "-q",
                                   "--workers", "1"])
    assert res.exit_code == 0, res.stderr
    return audio, store


def expected_amp() -> str | None:
    """The report's ``amp`` for a default run on DEVICE."""
    if not CUDA:
        return None
    return "torch.bfloat16" if torch.cuda.is_bf16_supported() else "torch.float16"


def nhwc(net) -> bool:
    """Every 4-d conv weight of ``net`` is stored channels_last."""
    convs = [m.weight for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    return bool(convs) and all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)


@pytest.fixture
def spy(monkeypatch):
    """Records what training and inference actually did: the bank's placement and device, the
    network's memory format, the GradScaler, torch.compile calls, and the device of every
    DeepClassifier.predict_logits call (eval and predict)."""
    import audiokit.models.deep as dm
    import audiokit.training.engine as eng

    seen = {"fit": [], "scalers": [], "compiled": [], "infer": []}
    real_fit = eng.fit

    def fit(net, bank, *a, **k):
        res = real_fit(net, bank, *a, **k)
        seen["fit"].append({"placement": bank.placement, "bank_device": None if bank.X is None else bank.X.device.type,
                            "param_device": next(net.parameters()).device.type,
                            "channels_last": bool(getattr(net, "channels_last", False)), "nhwc": nhwc(net),
                            "cudnn_benchmark": bool(torch.backends.cudnn.benchmark), "history": res.history})
        return res

    class Scaler(torch.amp.GradScaler):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            seen["scalers"].append(self)

    real_compile = torch.compile

    def compile_(model, *a, **k):
        seen["compiled"].append(type(model).__name__)
        return real_compile(model, *a, **k)

    real_logits = dm.DeepClassifier.predict_logits

    def predict_logits(self, X):
        seen["infer"].append({"device": self.device.type, "param_device": next(self.net.parameters()).device.type,
                              "channels_last": bool(self.net.channels_last), "items": len(X)})
        return real_logits(self, X)

    monkeypatch.setattr(eng, "fit", fit)
    monkeypatch.setattr(torch.amp, "GradScaler", Scaler)
    monkeypatch.setattr(torch, "compile", compile_)
    monkeypatch.setattr(dm.DeepClassifier, "predict_logits", predict_logits)
    return seen


def _train(cli, store, out, *extra) -> dict:
    res = cli("train", store, "-o", out, "--model", "specresnet", *TRAIN_FLAGS, *extra)
    return json.loads(res.stdout)


def _saved_weights_are_fp32(path) -> bool:
    from audiokit import models

    clf = models.load(str(path), device="cpu")
    return all(v.dtype == torch.float32 for v in clf.net.state_dict().values() if v.is_floating_point())


# -- train → eval → predict on the device ---------------------------------------------------------------------

def test_train_eval_and_predict_on_the_device_with_amp_channels_last_and_on_device_batches(tones, tmp_path, cli,
                                                                                            spy):
    audio, store = tones
    out = tmp_path / "spec.h5"
    rep = _train(cli, store, out)
    assert rep["device"].split(":")[0] == DEVICE and rep["world_size"] == 1
    assert rep["amp"] == expected_amp()
    assert rep["validation"]["accuracy"] >= LEARNED, rep["history"]["rows"]
    assert out.exists() and (tmp_path / "spec.report.json").exists() and (tmp_path / "spec.history.csv").exists()
    assert _saved_weights_are_fp32(out)  # AMP trains in fp32 weights and saves them so

    (f,) = spy["fit"]
    # the store copied to the device once; batches are index_selects there
    assert (f["placement"], f["bank_device"], f["param_device"]) == ("device", DEVICE, DEVICE)
    if CUDA:
        assert f["channels_last"] and f["nhwc"] and f["cudnn_benchmark"]
        scaler = spy["scalers"][-1]
        assert scaler.is_enabled() == (rep["amp"] == "torch.float16")  # bf16 needs no scaler
    assert not spy["compiled"]

    ev = json.loads(cli("eval", out, store, "--device", DEVICE, "--json").stdout)
    assert ev["accuracy"] >= LEARNED
    rows = [json.loads(x) for x in cli("predict", out, audio / "saw", "--device", DEVICE, "--format", "jsonl",
                                       "--workers", "1").stdout.splitlines()]
    assert len(rows) == 32 and sum(r["label"] == "saw" for r in rows) >= (29 if CUDA else 12)
    assert spy["infer"] and all(c["device"] == DEVICE and c["param_device"] == DEVICE for c in spy["infer"])
    if CUDA:
        assert all(c["channels_last"] for c in spy["infer"])


@needs_cuda
def test_fp16_with_a_grad_scaler_trains_evaluates_and_predicts(tones, tmp_path, cli, spy, monkeypatch):
    """GPUs without bf16 (before Ampere) get fp16 and a GradScaler. The engine asks
    ``audiokit.models.deep.amp_dtype`` at every call, so replacing it forces fp16 here."""
    import audiokit.models.deep as dm

    monkeypatch.setattr(dm, "amp_dtype", lambda device: torch.float16 if device.type == "cuda" else None)
    audio, store = tones
    out = tmp_path / "fp16.h5"
    rep = _train(cli, store, out)
    assert rep["amp"] == "torch.float16" and rep["device"].startswith("cuda")
    assert rep["validation"]["accuracy"] >= LEARNED, rep["history"]["rows"]
    assert all(np.isfinite(r["train_loss"]) for r in rep["history"]["rows"])
    scaler = spy["scalers"][-1]
    assert scaler.is_enabled() and scaler._scale is not None  # it scaled the losses
    assert 0 < scaler.get_scale() < float("inf")
    assert _saved_weights_are_fp32(out)
    assert json.loads(cli("eval", out, store, "--device", "cuda", "--json").stdout)["accuracy"] >= LEARNED
    rows = [json.loads(x) for x in cli("predict", out, audio / "sine", "--device", "cuda", "--format", "jsonl",
                                       "--workers", "1").stdout.splitlines()]
    assert sum(r["label"] == "sine" for r in rows) >= 29


@needs_cuda
def test_resnet18_channels_last(tones, tmp_path, cli, spy):
    _, store = tones
    out = tmp_path / "r18.h5"
    res = cli("train", store, "-o", out, "--model", "resnet18", "--pretrained", "none", "--input-size", "none",
              "--no-augment", *TRAIN_FLAGS)
    rep = json.loads(res.stdout)
    assert rep["amp"] == expected_amp() and rep["validation"]["accuracy"] >= LEARNED, rep["history"]["rows"]
    (f,) = spy["fit"]
    assert f["channels_last"] and f["nhwc"] and f["placement"] == "device"
    assert _saved_weights_are_fp32(out)


@needs_cuda
@pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None,
                    reason="torch.compile (Inductor/Triton) needs a C compiler")
def test_compile_trains_on_the_gpu(tones, tmp_path, cli, spy):
    _, store = tones
    out = tmp_path / "compiled.h5"
    rep = _train(cli, store, out, "--compile")
    assert rep["engine"]["compile"] is True and spy["compiled"]
    assert rep["validation"]["accuracy"] >= LEARNED, rep["history"]["rows"]
    # the saved weights carry no "_orig_mod." prefix: the model file loads into a plain network
    from audiokit import models

    assert models.load(str(out), device="cuda").kind == "specresnet"
    assert json.loads(cli("eval", out, store, "--device", "cuda", "--json").stdout)["accuracy"] >= LEARNED


# -- where the items live ---------------------------------------------------------------------------------------

def test_the_store_lives_on_the_device_and_batches_never_leave_it(tones):
    from audiokit.store import open_store
    from audiokit.training.data import FeatureBank, batch_bounds

    _, store = tones
    with open_store(str(store)) as s:
        X, y = s.load_features(), s.labels
    dev = torch.device(DEVICE)
    bank = FeatureBank(X, y, device=dev)
    assert bank.placement == "device" and bank.X.device.type == DEVICE and bank.Y.device.type == DEVICE
    order = bank.to_device(np.random.default_rng(0).permutation(len(y)))
    assert isinstance(order, torch.Tensor) and order.device.type == DEVICE
    bounds = batch_bounds(len(y), 16)
    got = list(bank.iterate(order, bounds))
    assert len(got) == len(bounds) and all(x.device.type == DEVICE and t.device.type == DEVICE for x, t in got)
    o = order.cpu().numpy()
    assert np.array_equal(torch.cat([x for x, _ in got]).cpu().numpy(), X[o])
    assert np.array_equal(torch.cat([t for _, t in got]).cpu().numpy(), y[o])


@needs_cuda
def test_host_placement_pins_memory_and_trains(tones, tmp_path, cli, spy, monkeypatch):
    """A store too big for 40 % of the free GPU memory stays in host memory; DataLoader workers
    gather its batches into pinned memory, copied with non_blocking. GPU_SHARE = 0 forces that."""
    import audiokit.training.data as td
    from audiokit.store import open_store

    pinned = []

    class Loader(torch.utils.data.DataLoader):
        def __iter__(self):
            for xb, yb in super().__iter__():
                pinned.append((self.pin_memory, xb.is_pinned(), yb.is_pinned()))
                yield xb, yb

    monkeypatch.setattr(td, "GPU_SHARE", 0.0)
    monkeypatch.setattr(torch.utils.data, "DataLoader", Loader)
    _, store = tones
    with open_store(str(store)) as s:
        X, y = s.load_features(), s.labels
    dev = torch.device("cuda")
    host = td.FeatureBank(X, y, device=dev, workers=2)
    assert host.placement == "host" and host.X is None
    order = np.random.default_rng(1).permutation(len(y))
    bounds = td.batch_bounds(len(y), 16)
    got = list(host.iterate(order, bounds))
    assert len(got) == len(bounds) and all(x.device.type == "cuda" for x, _ in got)
    assert np.array_equal(torch.cat([x for x, _ in got]).cpu().numpy(), X[order])
    assert pinned and all(p == (True, True, True) for p in pinned)

    pinned.clear()
    rep = _train(cli, store, tmp_path / "host.h5", "--loader-workers", "2")
    assert spy["fit"][-1]["placement"] == "host" and pinned and all(p[1] for p in pinned)
    assert rep["validation"]["accuracy"] >= LEARNED, rep["history"]["rows"]


# -- several processes ------------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_ddp_path_on_a_one_process_group(tones, monkeypatch):
    """DistributedDataParallel, the DistributedSampler and the collectives of the engine on a real
    process group of one (NCCL on a GPU, gloo on the CPU): what a one-GPU machine can show of DDP."""
    import torch.distributed as tdist
    import torch.nn.parallel as tpar

    from audiokit.models import deep as dm
    from audiokit.store import open_store
    from audiokit.training.data import FeatureBank
    from audiokit.training.distributed import Dist
    from audiokit.training.engine import EngineConfig, evaluate, fit

    wrapped = []

    class DDP(tpar.DistributedDataParallel):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            wrapped.append(k.get("device_ids"))

    class OneOfOne(Dist):
        @property
        def enabled(self) -> bool:  # a world of one still takes the distributed path
            return True

    monkeypatch.setattr(tpar, "DistributedDataParallel", DDP)
    _, store = tones
    with open_store(str(store)) as s:
        X, y, groups = s.load_features(), s.labels, s.groups
    dev = torch.device("cuda", 0) if CUDA else torch.device("cpu")
    backend = "nccl" if CUDA else "gloo"
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(_free_port()))
    quiet = logging.getLogger("audiokit")  # an earlier CliRunner call may have left a handler on a closed stream
    level = quiet.level
    quiet.setLevel(logging.WARNING)
    tdist.init_process_group(backend=backend, rank=0, world_size=1)
    try:
        assert tdist.get_backend() == backend
        torch.manual_seed(0)
        bank = FeatureBank(X, y, device=dev)
        val = np.flatnonzero(np.asarray(groups) == np.unique(groups)[0])
        train = np.setdiff1d(np.arange(len(y)), val)
        net = dm.build_network("specresnet", n_classes=len(TONE_CLASSES), in_shape=X.shape[1:])
        net.frontend.set_stats(**bank.stats(train))
        cfg = EngineConfig(batch_size=16, epochs=EPOCHS, scheduler="none", patience=0)
        res = fit(net, bank, train, val, cfg, n_classes=len(TONE_CLASSES), device=dev,
                  dist=OneOfOne(world=1, rank=0, local_rank=0, backend=backend))
        assert wrapped == [[0] if CUDA else None]
        assert res.epochs_run == EPOCHS and all(np.isfinite(r["train_loss"]) for r in res.history)
        _, acc = evaluate(net, bank, val, device=dev)
        assert acc >= LEARNED, res.history
    finally:
        tdist.destroy_process_group()
        quiet.setLevel(level)


@needs_cuda
def test_torchrun_on_every_gpu(tones, tmp_path):
    """``torchrun --nproc_per_node <GPUs>``: NCCL and DDP across the GPUs when there are two or more;
    with one GPU, torchrun's one process runs without DDP (WORLD_SIZE=1), which is checked too."""
    _, store = tones
    n = torch.cuda.device_count()
    out = tmp_path / "ddp.h5"
    batch = 16 * n if 16 * n <= 48 else 8 * n  # the global batch: 16 (or 8) per GPU, within 96 items
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(n),
           "-m", "audiokit", "train", str(store), "-o", str(out), "--model", "specresnet",
           "--epochs", str(EPOCHS), "--batch-size", str(batch), "--val-split", "0.25", "--no-refit",
           "--checkpoint", "none", "--device", "cuda", "--json"]
    r = subprocess.run(cmd, capture_output=True, env=env, timeout=240)
    err = r.stderr.decode(errors="replace")
    assert r.returncode == 0, err[-4000:]
    rep = json.loads(r.stdout)  # only rank 0 prints
    assert rep["world_size"] == n and rep["device"] == "cuda:0" and rep["amp"] == expected_amp()
    assert rep["validation"]["accuracy"] >= LEARNED, rep["history"]["rows"]
    if n > 1:
        assert f"× {n} processes (nccl)" in err
    assert sum("samples/s" in ln for ln in err.splitlines()) == EPOCHS  # rank 0 alone logs
    from audiokit import models

    assert models.load(str(out), device="cpu").training["world_size"] == n
