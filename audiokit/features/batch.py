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
    """Linux: SIGTERM this worker when the parent dies (``kill -9`` of featurize or predict), so
    no orphan keeps decoding and then prints a BrokenPipeError traceback on the user's terminal.

    SIGTERM, not SIGKILL: the signal also comes when the parent *thread* that forked the worker
    ends (the pool's own thread forks replacement workers), and SIGTERM lets a waiting worker
    give back the queue lock first (:func:`_die_on_sigterm`).
    """
    try:
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
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


def _work_chunk(chunk: list) -> list[Result]:
    return [_work(job) for job in chunk]


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
        before = set(mp.active_children())
        pool = ctx.Pool(min(workers, len(jobs)), initializer=_init_worker, initargs=(cfg,))
        try:
            started = [p for p in mp.active_children() if p not in before]
            # Jobs go out in chunks made here, one chunk per task: Pool.imap with chunksize > 1
            # returns a plain generator, which has no next(timeout) to check on the workers with.
            size = max(1, min(chunksize, len(jobs) // (4 * workers) or 1))
            chunks = [jobs[k:k + size] for k in range(0, len(jobs), size)]
            results = pool.imap(_work_chunk, chunks)
            done = 0
            while True:
                try:
                    chunk = results.next(timeout=1.0)
                except StopIteration:
                    break
                except mp.TimeoutError:
                    err = _dead_worker(started, items, done)
                    if err is not None:
                        _abandon(pool, before)
                        pool = None  # abandoned: Pool.terminate() could wait for ever on its locks
                        raise err
                    continue
                for r in chunk:
                    done += 1
                    yield r
            # A finished run: the workers leave on the pool's end-of-work sentinels.
            pool.close()
            _join(pool, started, before)
            pool = None
        finally:
            if pool is not None:
                # An aborted run (a bad file without --skip-errors, Ctrl-C, SIGTERM): kill the
                # workers outright. Pool.terminate() SIGTERMs them and waits, and an idle worker
                # with library threads may take the signal on another thread, where Python's
                # handler never wakes its main thread from the queue's semaphore: featurize hung
                # in 4 of 140 runs stopping at a bad file (tests/test_hardening_corpus.py). The
                # workers hold nothing to clean up (they only read and compute).
                _abandon(pool, before)


def _dead_worker(started: list, items: Sequence[Item], done: int) -> AudiokitError | None:
    """The error to stop with when a worker died in the middle of a job (None: all alive).

    multiprocessing.Pool replaces a worker killed from outside (the kernel's OOM killer on a
    long file, a ``kill -9``) but never hands back the job it was doing, so the ordered results
    would wait for it for ever (tests/test_hardening_interrupt.py). Workers only ever end when
    the pool ends, so any of them gone now was killed. The caller then abandons the pool
    (:func:`_abandon`): ``Pool.terminate()`` takes queue locks the killed worker may hold.
    """
    dead = [p for p in started if p.exitcode is not None]
    if not dead:
        return None
    code = dead[0].exitcode
    how = f"signal {-code}" if code < 0 else f"exit status {code}"
    hint = ", out of memory?" if code == -9 else ""
    return AudiokitError(f"a worker process was killed ({how}{hint}) while featurizing this file or a later "
                         "one", path=items[min(done, len(items) - 1)].path)


def _join(pool, started: list, before: set) -> None:
    """``pool.join()`` after ``close()``, unless a worker was killed after handing back its last
    result: the others may then never get their end-of-work sentinel (the dead one can hold the
    queue's lock), and join() would wait for ever; the pool is abandoned instead."""
    import time

    while any(p.exitcode is None for p in started):
        if any(p.exitcode not in (None, 0) for p in started):
            break
        time.sleep(0.02)
    if any(p.exitcode != 0 for p in started):
        _abandon(pool, before)
    else:
        pool.join()


def _abandon(pool, before: set) -> None:
    """Stop a pool that lost a worker or whose run was aborted: no more replacements, every worker
    killed (SIGKILL), and its exit-time clean-up (Pool.terminate, which may wait for ever) cancelled.
    The pool's three handler threads in this process stay blocked (daemon threads, gone at exit).
    Uses two Pool internals, there since Python 3.8; where they are missing it falls back to
    Pool.terminate()."""
    import multiprocessing as mp
    import multiprocessing.pool as mpp

    handler = getattr(pool, "_worker_handler", None)
    finalizer = getattr(pool, "_terminate", None)
    if handler is None or not hasattr(finalizer, "cancel"):
        pool.terminate()
        return
    handler._state = mpp.TERMINATE  # stop replacing workers
    for _ in range(50):  # a replacement may have been forked just now: kill until none is left
        mine = [p for p in mp.active_children() if p not in before]
        if not mine:
            break
        for p in mine:
            p.kill()
        for p in mine:
            p.join(timeout=1.0)
    finalizer.cancel()


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

