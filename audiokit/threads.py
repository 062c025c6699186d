"""How many threads the numeric libraries (BLAS, OpenMP, PyTorch) may use: the CPUs this
process may actually run on, not the cores of the host.

``os.cpu_count()`` counts the host's cores; under ``taskset``, a container's CPU quota or a
Slurm allocation a process may use fewer, and thread pools sized from the host then fight
over the few CPUs there are (docs/shell.md, "Threads"). The count is, from the most
specific to the least: ``--threads N``; ``OMP_NUM_THREADS`` when set; the CPU affinity
(``os.sched_getaffinity``) capped by the cgroup CPU quota.

Examples
--------
>>> n = available_cpus()
>>> 1 <= n <= (os.cpu_count() or 1)
True
"""

from __future__ import annotations

import math
import os
import sys


def _cgroup_quota() -> float | None:
    """CPUs the cgroup may use (quota / period), or None when unlimited or unknown (v2, then v1)."""
    try:
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        with open("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") as f:
            quota = int(f.read())
        with open("/sys/fs/cgroup/cpu/cpu.cfs_period_us") as f:
            period = int(f.read())
        return None if quota <= 0 or period <= 0 else quota / period
    except (OSError, ValueError):
        return None


def available_cpus() -> int:
    """CPUs this process may run on: ``OMP_NUM_THREADS`` when set to a positive number, else the
    affinity mask capped by the cgroup quota (rounded up: a quota of 1.5 CPUs gets 2 threads)."""
    env = _omp_num_threads()
    if env:
        return env
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    quota = _cgroup_quota()
    if quota is not None:
        n = min(n, max(1, math.ceil(quota)))
    return max(1, n)


def set_threads(n: int | None = None) -> int:
    """Size every numeric thread pool of this process to ``n`` (default :func:`available_cpus`).

    Libraries already loaded are set through threadpoolctl and ``torch.set_num_threads``; those
    loaded later (PyTorch is imported only by the commands that need it) read the environment
    variables set here. Returns the count.
    """
    if n is not None and n < 1:
        raise ValueError(f"threads must be at least 1, got {n}")
    n = n or available_cpus()
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(n)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=n)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
    return n


def blas_threads(n: int | None = 1):
    """A context in which BLAS (numpy's and scikit-learn's matrix products) runs on ``n`` threads
    (None: leave it as it is).

    audiokit's matrix products are small: a clip's features, a classic model's prediction or
    fit. On those a thread team costs more than it saves, and far more when another job holds
    the cores, whose spinning BLAS threads then wait for each other (an MLP fit beside a CPU hog:
    12.1 s on two threads, 2.3 s on one; docs/benchmarks.md, "threads").
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=n, user_api="blas")


def fit_threads() -> int:
    """BLAS threads for fitting a classic model: what ``--threads N`` or ``OMP_NUM_THREADS`` says,
    else one (:func:`blas_threads`; on two free cores one thread fits an MLP as fast as two)."""
    return _omp_num_threads() or 1


def _omp_num_threads() -> int | None:
    """``OMP_NUM_THREADS`` when it is set to a positive number (by the user, or by ``--threads``)."""
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(env) if env.isdigit() and int(env) > 0 else None
