"""Featurize many items, in parallel, in input order: the loop behind ``featurize`` and ``predict``.

Results come back in the order of the items whatever the number of workers, so a
store written with ``--workers 8`` is identical to one written with ``--workers 1``.
"""

from __future__ import annotations

import collections
import math
import os
import signal
import statistics
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

from audiokit.errors import AudiokitError
from audiokit.features import FeatureConfig, _extract_file_info, extract_pair_files
from audiokit.labels import Item


@dataclass
class Result:
    index: int
    item: Item
    features: np.ndarray | None
    duration: float
    error: str | None  # the reason, when the item could not be featurized
    error_path: str | None = None  # the file the error is about (for pairs, the low or the high one)


def _one(cfg: FeatureConfig, index: int, item: Item, windows: bool = False) -> Result:
    try:
        if cfg.kind == "f0-range":
            feats = extract_pair_files(cfg, item.path, item.path2)
            duration = float("nan")
        elif windows:  # predict: the whole file as (W, *item_shape) windows
            from audiokit.features.windows import file_windows as extract_windows

            feats = extract_windows(cfg, item.path)
            duration = float("nan")
        else:
            feats, info = _extract_file_info(cfg, item.path)  # one open, one header parse per file
            duration = info.duration
        return Result(index, item, feats, duration, None)
    except AudiokitError as exc:
        return Result(index, item, None, float("nan"), exc.reason, exc.path or item.path)
    except MemoryError:
        return Result(index, item, None, float("nan"), "out of memory", item.path)
    except Exception as exc:  # a decoder or feature bug must not kill a long run; report it per file
        return Result(index, item, None, float("nan"), f"{type(exc).__name__}: {exc}", item.path)


def _die_with_parent() -> None:
    """Linux: the kernel kills this worker when its parent dies (``kill -9`` of featurize or
    predict), so no orphan keeps decoding. Elsewhere an orphan ends at its next write."""
    try:
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except Exception:  # not Linux, or no prctl
        pass


def _serve(conn, cfg: FeatureConfig, parent: int) -> None:
    """A worker: featurize the chunks of jobs that arrive on ``conn`` until ``None`` or EOF."""
    # The parent alone turns Ctrl-C/SIGTERM into exit 130; a worker ignores Ctrl-C and dies at
    # once on SIGTERM (the default action), as it holds nothing to clean up.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with_parent()
    if os.getppid() != parent:  # the parent died before prctl took effect
        return
    try:  # forked from a parent already limited to one BLAS thread; make sure of it
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1, user_api="blas")
    except ImportError:
        pass
    try:
        while (chunk := conn.recv()) is not None:
            conn.send([_one(cfg, *job) for job in chunk])
    except (EOFError, OSError):  # the parent has gone: nobody to answer
        pass


class _Worker:
    """A worker process with a pipe of its own. Workers share no queue and no lock, so one that is
    killed at any moment (OOM killer, SIGTERM to the group) cannot block the others or the parent."""

    def __init__(self, ctx, cfg: FeatureConfig):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child, cfg, os.getpid()), daemon=True)
        self.proc.start()
        child.close()  # EOF on ``conn`` once the worker is gone
        self.pending: collections.deque[int] = collections.deque()  # chunk numbers sent, unanswered


#: Chunks handed to each worker ahead of time (one computing, one waiting in its pipe: no idle gap).
_AHEAD = 2


def featurize_items(cfg: FeatureConfig, items: Sequence[Item], *, workers: int = 1,
                    chunksize: int = 4, windows: bool = False) -> Iterator[Result]:
    """Yield a :class:`Result` per item, in item order, computed by ``workers`` processes.

    Failures are results with ``error`` set, never exceptions, so the caller decides
    whether to stop (the default) or to skip (``--skip-errors``). ``windows=True`` (predict)
    gives each file's :func:`~audiokit.features.extract_windows` stack ``(W, *item_shape)``.
    A worker killed from outside fails the run with an :class:`AudiokitError` (killed by
    SIGINT or SIGTERM: ``KeyboardInterrupt``, as the whole group was interrupted).
    """
    jobs = [(i, it, windows) for i, it in enumerate(items)]
    from audiokit.threads import blas_threads

    # the work is already parallel across files: a BLAS thread team per process only oversubscribes
    with blas_threads(1):
        if workers <= 1 or len(jobs) <= 1:
            for job in jobs:
                yield _one(cfg, *job)
            return
        import multiprocessing as mp
        from multiprocessing.connection import wait

        size = max(1, min(chunksize, len(jobs) // (4 * workers) or 1))
        chunks = [jobs[k:k + size] for k in range(0, len(jobs), size)]
        _warm_up(cfg)
        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
        pool: list[_Worker] = []
        finished = False
        try:
            for _ in range(min(workers, len(chunks))):
                pool.append(_Worker(ctx, cfg))
            by_handle = {w.conn: w for w in pool} | {w.proc.sentinel: w for w in pool}
            sent = nxt = 0  # chunks handed out; the next chunk to yield
            ready: dict[int, list[Result]] = {}  # chunks back early, waiting for their turn
            window = 4 * len(pool)  # bounds ``ready``: no chunk is sent this far ahead of ``nxt``

            def stopped(w: _Worker) -> BaseException:
                first_job = chunks[w.pending[0] if w.pending else min(nxt, len(chunks) - 1)][0]
                return _worker_stopped(w, first_job[1].path)

            while nxt < len(chunks):
                for w in pool:
                    while len(w.pending) < _AHEAD and sent < min(len(chunks), nxt + window):
                        try:
                            w.conn.send(chunks[sent])
                        except OSError:
                            raise stopped(w) from None
                        w.pending.append(sent)
                        sent += 1
                handles = [w.conn for w in pool if w.pending] + [w.proc.sentinel for w in pool]
                for h in wait(handles):
                    w = by_handle[h]
                    if h is not w.conn:
                        raise stopped(w)  # a worker only ends when told to, so it was killed
                    try:
                        ready[w.pending.popleft()] = w.conn.recv()
                    except (EOFError, OSError):  # killed in the middle of sending its results
                        raise stopped(w) from None
                while nxt in ready:
                    yield from ready.pop(nxt)
                    nxt += 1
            finished = True
        finally:
            _stop(pool, gently=finished)


def _worker_stopped(w: _Worker, path: str) -> BaseException:
    """The exception to end the run with when worker ``w`` died in the middle of it."""
    w.proc.join(timeout=1.0)
    code = w.proc.exitcode
    if code in (-signal.SIGINT, -signal.SIGTERM):  # the group was interrupted: the parent's signal is due too
        return KeyboardInterrupt()
    how = "an unknown cause" if code is None else (f"signal {-code}" if code < 0 else f"exit status {code}")
    hint = ", out of memory?" if code == -signal.SIGKILL else ""
    return AudiokitError(f"a worker process was killed ({how}{hint}) while featurizing this file or a later "
                         "one", path=path)


def _stop(pool: list[_Worker], *, gently: bool) -> None:
    """End the workers: told to leave after a finished run, killed (SIGKILL) after an aborted one
    (a bad file, Ctrl-C, a killed worker); they only read and compute, so nothing is lost."""
    for w in pool:
        if gently:
            try:
                w.conn.send(None)
            except OSError:
                pass
        else:
            w.proc.kill()
    for w in pool:
        w.proc.join(timeout=5.0 if gently else None)
        if w.proc.exitcode is None:
            w.proc.kill()
            w.proc.join()
        w.conn.close()


def _warm_up(cfg: FeatureConfig) -> None:
    """Import the decoders and run the feature code once in the parent before forking, so each
    worker inherits the imports and the cached filterbank and window instead of making them itself."""
    import soundfile  # noqa: F401  (cffi start-up, paid once instead of once per worker)
    import soxr  # noqa: F401

    if cfg.kind == "f0-range":
        return
    from audiokit.features import extract

    sr = cfg.sr
    y = np.sin(2 * np.pi * 440 * np.arange(sr // 4) / sr).astype(np.float32)
    extract(cfg.replace(duration=None), y)


def auto_duration(paths: Sequence[str]) -> float:
    """The duration that ``--duration auto`` picks: the 90th percentile of the file lengths,
    rounded up to 0.1 s.

    Nine files in ten fit whole (a centre crop of a longer clip can cut off the word or the
    note's attack that tells its class: docs/deep-training.md, "How the defaults were
    chosen"); the longest tenth is cropped rather than letting one long file set the size.
    Unreadable files are ignored here (they fail, with their reason, when featurized).

    >>> import math
    >>> [math.isclose(_p90_tenths(x), want) for x, want in (([0.4, 0.6, 0.8], 0.8), ([1.21, 1.52], 1.5))]
    [True, True]
    """
    from audiokit import audio

    lengths = []
    for p in paths:
        try:
            d = audio.info(p).duration
        except AudiokitError:
            continue
        if d > 0:
            lengths.append(d)
    if not lengths:
        return 1.0
    return _p90_tenths(lengths)


def _p90_tenths(lengths: Sequence[float]) -> float:
    """The 90th percentile (linear interpolation, numpy's default) rounded up to 0.1 s, at least 0.1 s."""
    p90 = statistics.quantiles(lengths, n=10, method="inclusive")[-1] if len(lengths) > 1 else lengths[0]
    return max(0.1, math.ceil(round(p90 * 10, 6)) / 10)


def parse_shard(spec: str | None) -> tuple[int, int] | None:
    """``"i/n"`` → ``(i, n)`` with ``0 <= i < n``."""
    from audiokit.errors import UsageError

    if spec is None:
        return None
    try:
        i, n = (int(x) for x in spec.split("/"))
    except ValueError:
        raise UsageError(f"--shard must look like i/n (e.g. 0/4), got {spec!r}") from None
    if n < 1 or not 0 <= i < n:
        raise UsageError(f"--shard {spec}: need 0 <= i < n (shards are numbered from 0)")
    return i, n

