"""Featurize many items, in parallel, in input order: the loop behind ``featurize`` and ``predict``.

Results come back in the order of the items whatever the number of workers, so a
store written with ``--workers 8`` is identical to one written with ``--workers 1``.
"""

from __future__ import annotations

import contextlib
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
            from audiokit.features import extract_windows

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


_CFG: FeatureConfig | None = None


def _die_on_sigterm(signum, frame):
    """A waiting worker's SIGTERM: give back any queue lock this process holds, then exit.

    An idle pool worker waits for its next job *holding* the task queue's read lock. Killed
    there by the default action (a SIGTERM to the whole process group, as ``timeout``,
    ``kill -TERM -PGID`` and batch schedulers send), it never releases it, and the parent's
    ``Pool.terminate()`` then waits for that lock forever: featurize and predict hung instead
    of exiting 130 (tests/test_hardening_interrupt.py). Exit is ``os._exit``, which no
    ``except`` or finaliser can swallow.
    """
    f = frame
    while f is not None:
        owner = f.f_locals.get("self")
        for attr in ("_rlock", "_wlock"):
            lock = getattr(owner, attr, None)
            sem = getattr(lock, "_semlock", None)
            try:
                if sem is not None and sem._is_mine():
                    lock.release()
            except Exception:
                pass
        f = f.f_back
    os._exit(128 + signum)


def _die_with_parent() -> None:
    """Linux: SIGKILL this worker when the parent dies (``kill -9`` of featurize or predict), so
    no orphan keeps decoding and then prints a BrokenPipeError traceback on the user's terminal."""
    try:
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except Exception:  # not Linux, or no prctl: orphans end at their next write, as before
        pass


def _init_worker(cfg: FeatureConfig) -> None:
    global _CFG
    _CFG = cfg
    # The parent handles Ctrl-C/SIGTERM and tears the pool down; workers must not print tracebacks.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # While waiting for a job, SIGTERM releases the queue lock before exiting (see _die_on_sigterm);
    # while computing one, it kills at once (the default), as a job may sit in C code for long.
    signal.signal(signal.SIGTERM, _die_on_sigterm)
    _die_with_parent()
    try:  # forked from a parent already limited to one BLAS thread; make sure of it
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1, user_api="blas")
    except ImportError:
        pass


def _work(job: tuple[int, Item, bool]) -> Result:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # computing: no queue lock held, die at once
    try:
        return _one(_CFG, *job)
    finally:
        signal.signal(signal.SIGTERM, _die_on_sigterm)


def featurize_items(cfg: FeatureConfig, items: Sequence[Item], *, workers: int = 1,
                    chunksize: int = 4, windows: bool = False) -> Iterator[Result]:
    """Yield a :class:`Result` per item, in item order, computed by ``workers`` processes.

    Failures are results with ``error`` set, never exceptions, so the caller decides
    whether to stop (the default) or to skip (``--skip-errors``). ``windows=True`` (predict)
    gives each file's :func:`~audiokit.features.extract_windows` stack ``(W, *item_shape)``.
    """
    jobs = [(i, it, windows) for i, it in enumerate(items)]
    with _one_blas_thread():
        if workers <= 1 or len(jobs) <= 1:
            for job in jobs:
                yield _one(cfg, *job)
            return
        import multiprocessing as mp

        _warm_up(cfg)
        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
        pool = ctx.Pool(min(workers, len(jobs)), initializer=_init_worker, initargs=(cfg,))
        try:
            yield from pool.imap(_work, jobs, chunksize=max(1, min(chunksize, len(jobs) // (4 * workers) or 1)))
            # A finished run: the workers leave on the pool's end-of-work sentinels. Only an
            # aborted run (an error, Ctrl-C) needs terminate(), whose SIGTERM can catch an idle
            # worker holding the task queue's lock (a finished 300-file run once hung there).
            pool.close()
            pool.join()
        finally:
            pool.terminate()
            pool.join()


@contextlib.contextmanager
def _one_blas_thread():
    """Run BLAS (numpy's matrix products) on one thread while featurizing.

    The work is already parallel across files; a multi-threaded BLAS in each process only
    oversubscribes the cores (on the 2-core benchmark machine it made featurizing 2× slower,
    even with one worker: see docs/benchmarks.md). threadpoolctl comes with scikit-learn, a
    dependency; without it nothing changes.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _warm_up(cfg: FeatureConfig) -> None:
    """Import librosa and run its numba-compiled code once in the parent before forking,
    so each worker inherits them instead of paying seconds of lazy imports and JIT itself."""
    import soundfile  # noqa: F401  (cffi start-up, paid once instead of once per worker)
    import soxr  # noqa: F401

    if cfg.kind == "f0-range":
        return
    from audiokit.features import extract

    sr = cfg.sr
    y = np.sin(2 * np.pi * 440 * np.arange(sr // 4) / sr).astype(np.float32)
    extract(cfg.replace(duration=None), y)


def auto_duration(paths: Sequence[str]) -> float:
    """The duration that ``--duration auto`` picks: the median file length, rounded to 0.1 s.

    The median crops long outliers and pads short ones; unreadable files are ignored here
    (they fail, with their reason, when featurized).
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
    return max(0.1, round(statistics.median(lengths), 1))


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

