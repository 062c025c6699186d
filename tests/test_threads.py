"""Thread pools sized to the CPUs a process may use: affinity (taskset), OMP_NUM_THREADS, --threads."""

import os
import shutil
import subprocess
import sys

import pytest

#: Sizes the pools as a command does, then reports what PyTorch and every BLAS/OpenMP pool got.
PROBE = """
import sys
import numpy, torch
from threadpoolctl import threadpool_info
from audiokit.cli._common import _size_thread_pools
_size_thread_pools(None if sys.argv[1] == '-' else int(sys.argv[1]))
from audiokit.threads import available_cpus
print(available_cpus(), torch.get_num_threads(), sorted({p['num_threads'] for p in threadpool_info()}))
"""


def probe(threads: str, *, prefix=(), env=None) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                                             "OPENBLAS_NUM_THREADS")} | (env or {})
    r = subprocess.run([*prefix, sys.executable, "-c", PROBE, threads], capture_output=True, text=True, env=env,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


@pytest.mark.skipif(not shutil.which("taskset"), reason="needs taskset (util-linux)")
@pytest.mark.slow
def test_a_restricted_affinity_sizes_every_pool():
    assert probe("-", prefix=("taskset", "-c", "0")) == "1 1 [1]"


@pytest.mark.slow
def test_omp_num_threads_is_taken_as_given():
    assert probe("-", env={"OMP_NUM_THREADS": "1"}) == "1 1 [1]"


@pytest.mark.slow
def test_threads_flag_reaches_torch_and_blas():
    assert probe("1").split(" ", 1)[1] == "1 [1]"


def test_threads_on_the_command_line(cli, tmp_path):
    res = cli("pitch", "--help")
    assert "--threads" in res.stdout
    for command in ("featurize", "train", "eval", "predict"):
        assert "--threads N" in cli(command, "--help").stdout
    res = cli("train", tmp_path / "missing.h5", "-o", tmp_path / "m.h5", "--threads", "0", expect=2)
    assert "--threads" in res.stderr


def test_openmp_waits_passively_unless_the_user_says_otherwise():
    code = ("import os; from audiokit.cli._common import _size_thread_pools; _size_thread_pools(None); "
            "print(os.environ['OMP_WAIT_POLICY'])")
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env).stdout.strip()
    assert out == "PASSIVE"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**env, "OMP_WAIT_POLICY": "ACTIVE"}).stdout.strip()
    assert out == "ACTIVE"


#: Fits a classic model and reports the BLAS thread counts its estimator's fit ran under.
FIT_PROBE = """
import numpy as np
from threadpoolctl import threadpool_info
from audiokit.features import FeatureConfig
from audiokit.models import classic
seen, make = [], classic.make_estimator

def spy(*args, **kwargs):
    est = make(*args, **kwargs)
    fit = est.fit
    def recorded(X, y):
        seen.append(sorted({p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}))
        return fit(X, y)
    est.fit = recorded
    return est

classic.make_estimator = spy
X = np.random.default_rng(0).normal(size=(40, 6))
classic.fit("logreg", X, np.arange(40) % 2, class_names=["a", "b"], feature_config=FeatureConfig(kind="mfcc-stats"))
print(seen[0])
"""


@pytest.mark.parametrize("omp, expected", [(None, "[1]"), ("2", "[2]")])
def test_a_classic_fit_runs_blas_on_one_thread_unless_told(omp, expected):
    """Small products on a thread team lose, badly on a busy machine (docs/benchmarks.md, "threads");
    OMP_NUM_THREADS (or --threads, which sets it) still decides when given."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                                             "OPENBLAS_NUM_THREADS")}
    if omp:
        env["OMP_NUM_THREADS"] = omp
    r = subprocess.run([sys.executable, "-c", FIT_PROBE], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == expected
