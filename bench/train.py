#!/usr/bin/env python
"""Benchmark of the deep trainer: training throughput against a plain PyTorch loop.

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

Accuracy on unseen speakers and players is bench/harness.py's (docs/deep-training.md).

Usage::

    python bench/train.py throughput                 # both models, CPU or GPU
    python bench/train.py throughput --items 10000 --models resnet18
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

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

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("part", choices=("throughput",))
    ap.add_argument("--device", default="auto")
    ap.add_argument("--models", default="specresnet,resnet18")
    ap.add_argument("--items", type=int, help="throughput: items (default 10000 on a GPU, 512 on a CPU)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--dir", help="work directory (the store is reused between runs; default: a temporary one)")
    ap.add_argument("--epochs", type=int, default=2, help="epochs per loop (the last is reported)")
    ap.add_argument("--loader-workers", type=int, help="plain loop's DataLoader workers (default min(4, cores))")
    a = ap.parse_args()
    out = throughput(a)
    out["command"] = "python bench/train.py " + " ".join(sys.argv[1:])
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
