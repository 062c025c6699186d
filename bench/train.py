#!/usr/bin/env python
"""Benchmark of the deep trainer: throughput against a plain PyTorch loop, and accuracy on unseen speakers.

Three parts (results go to docs/benchmarks.md, "deep training"):

``throughput``
    Training samples/s and seconds per epoch for ``specresnet`` and ``resnet18`` on
    1×128×128 log-mel-sized items (``--items``, default 10,000 on a GPU, 512 on a CPU)
    stored in an audiokit HDF5 store, same model, batch and optimiser (Adam) in both loops:

    * audiokit's engine (:func:`audiokit.training.engine.fit`): the store in device memory,
      batches by index, AMP (bf16/fp16) and channels_last on CUDA;
    * the same without the "precise BN" pass after each epoch (a forward pass over up to
      1,024 training items to re-estimate BatchNorm statistics, counted in the epoch's time);
    * the loop a user would write: an HDF5-backed ``Dataset`` (one ``h5py`` read per item)
      and a ``DataLoader`` (shuffle, ``--loader-workers`` workers, pinned memory on CUDA),
      fp32, default memory format.

    Each loop runs ``--epochs`` epochs (default 2); the last one is reported, so cuDNN
    autotuning and worker start-up are not counted.

``accuracy``
    A spoken-word set generated with espeak-ng: ``--words`` words said by ``--speakers``
    voices (accent × voice variant), three takes each at different rates and pitches,
    with a random onset in a 1 s clip, background noise and level changes. Speakers are
    the groups: ``audiokit train --folds K`` (group K-fold) for specresnet and resnet18 on
    log-mels and the Spec-ResNet paper's baseline, an SVM on MFCC statistics. Every step is
    the CLI, as a user would run it.

``ablation``
    The same data, group K-fold, for the choices docs/deep-training.md makes: the ResNet
    stem (sum vs repeat), input size (native vs resized), and the augmentations.

Usage::

    python bench/train.py throughput                 # both models, CPU or GPU
    python bench/train.py throughput --items 10000 --models resnet18
    python bench/train.py accuracy --folds 4
    python bench/train.py ablation --folds 4
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
#: espeak-ng voices (accent + variant) used as speakers; all are in espeak-ng's default install.
SPEAKERS = ("en-us+m1", "en-gb+f2", "en-gb-scotland+m3", "en-029+f4", "en-us-nyc+m7", "en-gb-x-rp+f1",
            "en-gb-x-gbclan+m4", "en-gb-x-gbcwmd+f3", "en-us+f5", "en-gb+m2", "en-gb-scotland+f1", "en-029+m6",
            "en-us-nyc+f3", "en-gb-x-rp+m5", "en-gb-x-gbclan+f4", "en-gb-x-gbcwmd+m2")
#: The spoken-word log-mel: 16 kHz, 32 ms windows, 16 ms hop, 64 bands, 1 s → 64 × 63.
WORD_FEATURES = ["--sr", "16000", "--n-fft", "512", "--hop-length", "256", "--n-mels", "64", "--duration", "1.0",
                 "--group-regex", r"^(spk\d+)_"]


def machine() -> dict:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info = {"date": time.strftime("%Y-%m-%d"), "cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__,
            "threads": torch.get_num_threads(), "load": os.getloadavg()[0]}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


# -- throughput ----------------------------------------------------------------------------------------------

def make_store(path: Path, n: int, *, n_classes: int = 10, shape=(128, 128), seed: int = 0) -> None:
    """``n`` log-mel-like items (dB in [-80, 0], a class-dependent band on noise) in an audiokit store."""
    from audiokit.features import FeatureConfig
    from audiokit.store import StoreWriter

    rng = np.random.default_rng(seed)
    cfg = FeatureConfig(kind="logmel", sr=22050, n_fft=2048, hop_length=512, n_mels=shape[0],
                        duration=round(shape[1] * 512 / 22050, 3))
    with StoreWriter(str(path), cfg) as w:
        for i in range(n):
            c = i % n_classes
            x = rng.uniform(-80, -40, size=shape).astype(np.float32)
            lo = 4 + c * (shape[0] - 8) // n_classes
            x[lo:lo + 6] += 35
            w.add(x, label=f"c{c}", path=f"item{i:05d}.wav", duration=1.0)


def engine_epochs(kind: str, store: Path, *, batch: int, epochs: int, device: str,
                  precise_bn: bool = True) -> list[dict]:
    import torch

    from audiokit.models import deep as dm
    from audiokit.store import open_store
    from audiokit.training.data import FeatureBank
    from audiokit.training.engine import EngineConfig, fit

    dev = dm.resolve_device(device)
    with open_store(str(store)) as s:
        X, y = s.load_features(), s.labels
    torch.manual_seed(0)
    bank = FeatureBank(X, y, device=dev)
    net = dm.build_network(kind, n_classes=int(y.max()) + 1, in_shape=X.shape[1:],
                           stem="sum" if kind != "specresnet" else None)
    rows = np.arange(len(y))
    net.frontend.set_stats(**bank.stats(rows))
    cfg = EngineConfig(optimizer="adam", batch_size=batch, epochs=epochs, scheduler="none", patience=0,
                       **({} if precise_bn else {"precise_bn": 0}))
    res = fit(net, bank, rows, None, cfg, n_classes=int(y.max()) + 1, device=dev)
    return [{"samples_per_s": h["samples_per_s"], "seconds": h["seconds"], "placement": bank.placement}
            for h in res.history]


def plain_epochs(kind: str, store: Path, *, batch: int, epochs: int, device: str, workers: int) -> list[dict]:
    import h5py
    import torch
    import torch.nn.functional as F

    from audiokit.models import deep as dm

    class H5Dataset(torch.utils.data.Dataset):
        def __init__(self, path):
            self.path = path
            with h5py.File(path, "r") as h5:
                self.labels = h5["labels"][:]
            self.h5 = None

        def __len__(self):
            return len(self.labels)

        def __getitem__(self, i):
            if self.h5 is None:
                self.h5 = h5py.File(self.path, "r")
            return torch.from_numpy(self.h5["features"][i]), int(self.labels[i])

    dev = dm.resolve_device(device)
    ds = H5Dataset(str(store))
    n_classes = int(ds.labels.max()) + 1
    torch.manual_seed(0)
    net = dm.build_network(kind, n_classes=n_classes, in_shape=(128, 128),
                           stem="sum" if kind != "specresnet" else None).to(dev)
    net.frontend.set_stats(mean=-55.0, std=15.0, lo=-80.0, hi=0.0)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loader = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True, num_workers=workers,
                                         pin_memory=dev.type == "cuda", drop_last=True,
                                         persistent_workers=workers > 0)
    out = []
    for _ in range(epochs):
        net.train()
        t = time.perf_counter()
        n = 0
        for x, y in loader:
            x, y = x.to(dev), y.to(dev)
            loss = F.cross_entropy(net(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            n += len(y)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        dt = time.perf_counter() - t
        out.append({"samples_per_s": n / dt, "seconds": dt})
    return out


def throughput(a) -> dict:
    import torch

    cuda = torch.cuda.is_available() and a.device != "cpu"
    n = a.items or (10000 if cuda else 512)
    root = Path(a.dir or tempfile.mkdtemp(prefix="audiokit-bench-train-"))
    store = root / f"items{n}.h5"
    if not store.exists():
        t = time.perf_counter()
        make_store(store, n)
        print(f"bench: wrote {n} items of 128×128 to {store} in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    workers = a.loader_workers if a.loader_workers is not None else min(4, os.cpu_count() or 1)
    rows = []
    for kind in a.models.split(","):
        for loop in ("audiokit", "audiokit, no precise BN", "plain"):
            t = time.perf_counter()
            if loop.startswith("audiokit"):
                hist = engine_epochs(kind, store, batch=a.batch, epochs=a.epochs, device=a.device,
                                     precise_bn=loop == "audiokit")
            else:
                hist = plain_epochs(kind, store, batch=a.batch, epochs=a.epochs, device=a.device, workers=workers)
            last = hist[-1]
            rows.append({"model": kind, "loop": loop, "items": n, "batch": a.batch, **last,
                         "wall_s": time.perf_counter() - t})
            print(f"bench: {kind:10s} {loop:24s} {last['samples_per_s']:9.1f} samples/s  {last['seconds']:8.1f} s/epoch",
                  file=sys.stderr)
    for kind in a.models.split(","):
        ours = next(r for r in rows if r["model"] == kind and r["loop"] == "audiokit")
        plain = next(r for r in rows if r["model"] == kind and r["loop"] == "plain")
        ours["speedup"] = ours["samples_per_s"] / plain["samples_per_s"]
    return {"part": "throughput", "machine": machine(), "device": a.device, "loader_workers": workers,
            "epochs": a.epochs, "rows": rows}


# -- spoken words ---------------------------------------------------------------------------------------------

def make_words(root: Path, *, speakers: int, words: int, seed: int = 0) -> int:
    """espeak-ng words: ``root/WORD/spkS_T.wav``, 1 s at 16 kHz, random onset, noise and level."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    sr = 16000
    count = 0
    for s, voice in enumerate(SPEAKERS[:speakers]):
        for w in WORDS[:words]:
            (root / w).mkdir(parents=True, exist_ok=True)
            for take, (rate, pitch) in enumerate(((140, 35), (170, 50), (200, 65))):
                tmp = root / w / f".tmp{s}_{take}.wav"
                subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate + int(rng.integers(-10, 11))),
                                "-p", str(pitch + int(rng.integers(-10, 11))), "-w", str(tmp), w],
                               check=True, capture_output=True)
                y, fs = sf.read(str(tmp), dtype="float32")
                tmp.unlink()
                if fs != sr:
                    import librosa

                    y = librosa.resample(y, orig_sr=fs, target_sr=sr)
                nz = np.flatnonzero(np.abs(y) > 0.01 * np.abs(y).max())
                y = y[nz[0]:nz[-1] + 1][: int(0.95 * sr)]
                clip = np.zeros(sr, dtype=np.float64)
                start = int(rng.integers(0, sr - len(y) + 1))
                clip[start:start + len(y)] = y
                noise = rng.standard_normal(sr)
                noise = 0.5 * noise + 0.5 * np.cumsum(noise) / np.sqrt(np.arange(1, sr + 1))
                snr = rng.uniform(10, 30)
                noise *= np.sqrt(np.mean(y ** 2) / np.mean(noise ** 2) / 10 ** (snr / 10))
                clip += noise
                clip *= 10 ** (rng.uniform(-25, -3) / 20) / np.abs(clip).max()
                sf.write(str(root / w / f"spk{s:02d}_{take}.wav"), clip.astype(np.float32), sr)
                count += 1
    return count


def sh(args: list[str]) -> tuple[float, dict]:
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    t = time.perf_counter()
    r = subprocess.run(args, capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t
    if r.returncode != 0:
        sys.exit(f"bench: {' '.join(map(str, args))} failed ({r.returncode}):\n{r.stderr[-3000:]}")
    return dt, (json.loads(r.stdout) if r.stdout.strip().startswith("{") else {})


def word_stores(a) -> tuple[Path, Path, Path, int]:
    root = Path(a.dir or tempfile.mkdtemp(prefix="audiokit-bench-words-"))
    audio = root / "words"
    if not audio.exists():
        n = make_words(audio, speakers=a.speakers, words=a.words)
        print(f"bench: {n} spoken words in {audio}", file=sys.stderr)
    logmel, mfcc = root / "logmel.h5", root / "mfcc.h5"
    if not logmel.exists():
        sh(["audiokit", "featurize", str(audio), *WORD_FEATURES, "-o", str(logmel), "-q"])
        sh(["audiokit", "featurize", str(audio), "--features", "mfcc-stats", *WORD_FEATURES[:6], "--duration",
            "1.0", "--group-regex", WORD_FEATURES[-1], "-o", str(mfcc), "-q"])
    from audiokit.store import open_store

    with open_store(str(logmel)) as s:
        n = len(s)
    return root, logmel, mfcc, n


def cv_run(name: str, store: Path, out: Path, folds: int, extra: list[str]) -> dict:
    deep = [] if "svm" in extra else ["--checkpoint", "none"]
    dt, rep = sh(["audiokit", "train", str(store), "-o", str(out), "--folds", str(folds), "--json", *deep, *extra])
    acc, f1 = rep["cv"]["accuracy"], rep["cv"]["macro_f1"]
    row = {"name": name, "args": " ".join(extra), "accuracy": acc["mean"], "accuracy_std": acc["std"],
           "macro_f1": f1["mean"], "folds": [f["accuracy"] for f in rep["cv"]["folds"]], "seconds": dt}
    print(f"bench: {name:32s} {100 * acc['mean']:5.1f} % ± {100 * acc['std']:.1f} %  ({dt:.0f} s)", file=sys.stderr)
    return row


def accuracy(a) -> dict:
    root, logmel, mfcc, n = word_stores(a)
    deep = ["--epochs", str(a.epochs)] if a.epochs else []
    rows = [cv_run("svm on mfcc-stats (baseline)", mfcc, root / "svm.h5", a.folds, ["--model", "svm"]),
            cv_run("specresnet on logmel", logmel, root / "spec.h5", a.folds, ["--model", "specresnet", *deep]),
            cv_run("resnet18 on logmel", logmel, root / "r18.h5", a.folds,
                   ["--model", "resnet18", "--pretrained", a.pretrained, *deep])]
    return {"part": "accuracy", "machine": machine(), "items": n, "speakers": a.speakers, "words": a.words,
            "folds": a.folds, "rows": rows}


ABLATIONS = {
    "resnet18 stem sum": ["--model", "resnet18", "--stem", "sum"],
    "resnet18 stem repeat": ["--model", "resnet18", "--stem", "repeat"],
    "resnet18 input 128": ["--model", "resnet18", "--stem", "sum", "--input-size", "128"],
    "resnet18 epochs 30": ["--model", "resnet18", "--stem", "sum", "--epochs", "30"],
    "resnet18 sum + specaugment+shift": ["--model", "resnet18", "--stem", "sum", "--specaugment", "--time-shift", "0.1"],
    "resnet18 repeat + specaugment+shift": ["--model", "resnet18", "--stem", "repeat", "--specaugment",
                                            "--time-shift", "0.1"],
    "resnet18 sum + specaugment+shift @128": ["--model", "resnet18", "--stem", "sum", "--specaugment",
                                                    "--time-shift", "0.1", "--input-size", "128"],
    "specresnet specaugment+shift @128": ["--model", "specresnet", "--specaugment", "--time-shift", "0.1",
                                                "--input-size", "128"],
    "specresnet no augmentation": ["--model", "specresnet"],
    "specresnet specaugment+shift": ["--model", "specresnet", "--specaugment", "--time-shift", "0.1"],
    "specresnet flip+rotate (paper)": ["--model", "specresnet", "--flip", "0.5", "--rotate", "10"],
    "specresnet mixup 0.2": ["--model", "specresnet", "--mixup", "0.2"],
}


def ablation(a) -> dict:
    root, logmel, _, n = word_stores(a)
    names = a.only.split(",") if a.only else list(ABLATIONS)
    rows = []
    for name in names:
        extra = list(ABLATIONS[name])
        if "resnet18" in name:
            extra += ["--pretrained", a.pretrained]
        rows.append(cv_run(name, logmel, root / "ablation.h5", a.folds, extra))
    return {"part": "ablation", "machine": machine(), "items": n, "speakers": a.speakers, "words": a.words,
            "folds": a.folds, "rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("part", choices=("throughput", "accuracy", "ablation"))
    ap.add_argument("--device", default="auto")
    ap.add_argument("--models", default="specresnet,resnet18")
    ap.add_argument("--items", type=int, help="throughput: items (default 10000 on a GPU, 512 on a CPU)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--epochs", type=int, help="throughput: epochs per loop (default 2); accuracy: --epochs")
    ap.add_argument("--loader-workers", type=int, help="plain loop's DataLoader workers (default min(4, cores))")
    ap.add_argument("--speakers", type=int, default=12)
    ap.add_argument("--words", type=int, default=10)
    ap.add_argument("--folds", type=int, default=4)
    ap.add_argument("--pretrained", default="none", help="resnet18's --pretrained (default none: offline)")
    ap.add_argument("--only", help="ablation: comma-separated names")
    ap.add_argument("--dir", help="work directory (reused between runs; default: a temporary one)")
    a = ap.parse_args()
    if a.part == "throughput":
        a.epochs = a.epochs or 2
        out = throughput(a)
    elif a.part == "accuracy":
        out = accuracy(a)
    else:
        out = ablation(a)
    out["command"] = "python bench/train.py " + " ".join(sys.argv[1:])
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
