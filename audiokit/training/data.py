"""Where the training items live during a run, and how batches reach the model.

:class:`FeatureBank` places a run's items once, by size:

``device``  the whole array on the training device: on a GPU when it fits in 40 % of the
            free GPU memory, and always on a CPU run when it is in RAM. A batch is an
            ``index_select`` by a slice of the epoch's order, which itself lives on the device:
            no DataLoader, no host work, no host-device copy in the hot loop.
``host``    (GPU runs whose items do not fit on the GPU) the array stays in host memory;
            DataLoader workers gather batches into pinned memory and the copies to the GPU
            are ``non_blocking``, overlapping the previous step.
``stream``  (items that do not fit in RAM) batches are read from the HDF5 store by
            DataLoader workers, each with its own file handle; pinned memory on a GPU run.

Examples
--------
>>> import numpy as np, torch
>>> bank = FeatureBank(np.arange(24, dtype=np.float32).reshape(6, 2, 2), np.arange(6) % 2,
...                    device=torch.device("cpu"))
>>> bank.placement
'device'
>>> [tuple(y.tolist()) for _, y in bank.iterate(np.array([5, 0, 3, 1]), [(0, 2), (2, 4)])]
[(1, 0), (1, 1)]
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch

log = logging.getLogger("audiokit")
#: Share of free GPU memory the whole store may take to be kept on the GPU.
GPU_SHARE = 0.4
#: Share of available RAM the store may take to be loaded into memory.
RAM_SHARE = 0.5


def available_ram() -> int:
    """Bytes of memory available to a new allocation (``MemAvailable`` on Linux)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 34


def fits_in_ram(nbytes: int) -> bool:
    return nbytes <= RAM_SHARE * available_ram()


@dataclass
class H5Rows:
    """Items left in an HDF5 store: bank row ``i`` is store row ``rows[i]``."""

    path: str
    rows: np.ndarray
    item_shape: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.rows)

    def read(self, h5, idx: np.ndarray) -> np.ndarray:
        rows = self.rows[np.asarray(idx)]
        order = np.argsort(rows, kind="stable")
        out = np.empty((len(rows), *self.item_shape), dtype=np.float32)
        out[order] = h5["features"][rows[order]]
        return out


class _ArrayBatches(torch.utils.data.Dataset):
    """``ds[batch_of_rows]`` → (x, y) tensors, from an in-memory array (the ``host`` placement)."""

    def __init__(self, X: np.ndarray, y: np.ndarray):
        self.X, self.y = X, y

    def __len__(self) -> int:
        return len(self.X)

    def __getitem__(self, idx):
        idx = np.asarray(idx)
        return torch.from_numpy(self.X[idx]), torch.from_numpy(self.y[idx])


class _H5Batches(torch.utils.data.Dataset):
    """``ds[batch_of_rows]`` → (x, y) tensors read from the store; one file handle per worker process."""

    def __init__(self, src: H5Rows, y: np.ndarray):
        self.src, self.y = src, y
        self._h5 = None
        self._pid = None

    def __len__(self) -> int:
        return len(self.src)

    def __getitem__(self, idx):
        import h5py

        if self._h5 is None or self._pid != os.getpid():
            self._h5 = h5py.File(self.src.path, "r")
            self._pid = os.getpid()
        idx = np.asarray(idx)
        return torch.from_numpy(self.src.read(self._h5, idx)), torch.from_numpy(self.y[idx])


class FeatureBank:
    """A run's items and labels, placed once (see the module docstring).

    Parameters
    ----------
    X : ndarray ``(N, H, W)`` float32, or :class:`H5Rows`
        The items.
    y : ndarray ``(N,)`` int
        Class index of each item.
    device : torch.device
        The training device.
    workers : int, optional
        DataLoader worker processes for the ``host`` and ``stream`` placements.
    """

    def __init__(self, X, y, *, device: torch.device, workers: int | None = None):
        self.device = device
        self.y_np = np.ascontiguousarray(np.asarray(y, dtype=np.int64))
        self.n = len(self.y_np)
        self.item_shape = tuple(X.item_shape if isinstance(X, H5Rows) else X.shape[1:])
        self.nbytes = int(self.n * int(np.prod(self.item_shape)) * 4)
        self.workers = workers if workers is not None else min(4, max(1, (os.cpu_count() or 2) // 2))
        self._X_np = None
        self._src = None
        if isinstance(X, H5Rows):
            self.placement = "stream"
            self._src = X
        else:
            X = np.ascontiguousarray(X, dtype=np.float32)
            if device.type == "cuda":
                free, _ = torch.cuda.mem_get_info(device)
                self.placement = "device" if self.nbytes <= GPU_SHARE * free else "host"
            else:
                self.placement = "device"
            self._X_np = X
        if self.placement == "device":
            self.X = torch.from_numpy(self._X_np).to(device)
            self.Y = torch.from_numpy(self.y_np).to(device)
        else:
            self.X = self.Y = None
        log.debug(f"train: {self.n} items ({self.nbytes / 2**20:.1f} MiB) placed: {self.placement}")

    # -- statistics for the input normalisation -----------------------------------------------------
    def stats(self, rows: Sequence[int], *, max_items: int = 4096) -> dict:
        """Mean, std, min and max over the items ``rows`` (at most ``max_items``, evenly spaced)."""
        rows = np.asarray(rows)
        if len(rows) > max_items:
            rows = rows[np.linspace(0, len(rows) - 1, max_items).round().astype(int)]
        s = s2 = 0.0
        n = 0
        lo, hi = np.inf, -np.inf
        for a in range(0, len(rows), 256):
            part = rows[a:a + 256]
            if self.placement == "device":
                xb = self.X.index_select(0, torch.as_tensor(part, device=self.device)).double()
                s += float(xb.sum()); s2 += float((xb * xb).sum())  # noqa: E702
                lo, hi = min(lo, float(xb.min())), max(hi, float(xb.max()))
                n += xb.numel()
            else:
                xb = self._read(part).astype(np.float64)
                s += float(xb.sum()); s2 += float((xb * xb).sum())  # noqa: E702
                lo, hi = min(lo, float(xb.min())), max(hi, float(xb.max()))
                n += xb.size
        mean = s / max(n, 1)
        std = float(np.sqrt(max(s2 / max(n, 1) - mean * mean, 0.0)))
        return {"mean": mean, "std": std, "lo": float(lo), "hi": float(hi)}

    def _read(self, rows: np.ndarray) -> np.ndarray:
        if self._X_np is not None:
            return self._X_np[rows]
        import h5py

        with h5py.File(self._src.path, "r") as h5:
            return self._src.read(h5, rows)

    # -- batches ---------------------------------------------------------------------------------------
    def to_device(self, order) -> torch.Tensor | np.ndarray:
        """An epoch's row order where :meth:`iterate` wants it (on the device for ``device``)."""
        t = torch.as_tensor(np.asarray(order), dtype=torch.long)
        if self.placement == "device":
            return t.to(self.device, non_blocking=True)
        return t.numpy()

    def iterate(self, order, bounds: Sequence[tuple[int, int]]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield ``(x, y)`` on the device for each ``(start, end)`` slice of ``order`` (bank rows)."""
        if not isinstance(order, torch.Tensor) or not _same_device(order.device, self.device):
            order = self.to_device(order.cpu() if isinstance(order, torch.Tensor) else order)
        if self.placement == "device":
            for s, e in bounds:
                idx = order[s:e]
                yield self.X.index_select(0, idx), self.Y.index_select(0, idx)
            return
        order = np.asarray(order)
        batches = [order[s:e] for s, e in bounds]
        if not batches:
            return
        ds = _H5Batches(self._src, self.y_np) if self.placement == "stream" else _ArrayBatches(self._X_np, self.y_np)
        cuda = self.device.type == "cuda"
        workers = self.workers if len(batches) > 1 else 0
        loader = torch.utils.data.DataLoader(ds, batch_size=None, sampler=batches, num_workers=workers,
                                             pin_memory=cuda, prefetch_factor=4 if workers else None,
                                             persistent_workers=False)
        for xb, yb in loader:
            yield xb.to(self.device, non_blocking=True), yb.to(self.device, non_blocking=True)


def _same_device(a: torch.device, b: torch.device) -> bool:
    """``cuda`` and ``cuda:0`` are the same device when 0 is the current one."""
    if a.type != b.type:
        return False
    if a.type != "cuda":
        return True
    cur = torch.cuda.current_device()
    return (a.index if a.index is not None else cur) == (b.index if b.index is not None else cur)


def batch_bounds(n: int, batch_size: int, *, drop_below: int = 1) -> list[tuple[int, int]]:
    """``(start, end)`` of the batches of ``n`` items; a last batch smaller than ``drop_below``
    is left out (a batch of one breaks BatchNorm in training mode)."""
    out = [(s, min(s + batch_size, n)) for s in range(0, n, batch_size)]
    if out and out[-1][1] - out[-1][0] < drop_below:
        out.pop()
    return out
