"""Shared fixtures: a CLI runner and small realistic datasets generated once per session.

Datasets come from :mod:`audiokit.demo` (instrument-like notes with reverb, noise,
level changes, mixed sample rates and formats; sung vowels for voice types), so no
test depends on files from outside.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from filelock import FileLock

# The helpers are imported here too, for modules that still import them from conftest.
from helpers import (AUDIOKIT, GROUP_RX, HAVE_ESPEAK, HAVE_SOX, TONE_CLASSES, Cli,  # noqa: F401
                     make_tones, run, synth_store, tone)


@pytest.fixture
def cli() -> Cli:
    return Cli()


def made_once(tmp_path_factory, name: str, make) -> Path:
    """``make(path)`` once per test run, shared by all of xdist's workers: the first worker to get
    the lock makes it in the run's temporary directory (above the workers' own), the others wait
    and reuse it (pytest-xdist's recipe for session fixtures that should run once)."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    path, done = root / "shared" / name, root / "shared" / f"{name}.done"
    path.parent.mkdir(exist_ok=True)
    with FileLock(str(path) + ".lock"):
        if not done.exists():
            if path.is_dir():  # left half-made by a worker that crashed
                shutil.rmtree(path)
            path.unlink(missing_ok=True)
            make(path)
            done.touch()
    return path


@pytest.fixture(scope="session")
def instruments_dir(tmp_path_factory) -> Path:
    """4 classes × 16 notes, 4 players (groups) per class, 1–2.5 s, mixed rates/formats."""
    from audiokit.demo import make_instruments

    return made_once(tmp_path_factory, "instruments",
                     lambda root: make_instruments(root, n_per_class=16, players=4, seed=1, duration=(1.0, 2.5)))


@pytest.fixture(scope="session")
def voices_dir(tmp_path_factory) -> Path:
    """Six voice types × 3 singers, each with singerS_low.wav and singerS_high.wav."""
    from audiokit.demo import make_voices

    return made_once(tmp_path_factory, "voices", lambda root: make_voices(root, singers_per_type=3, seed=2, duration=1.5))


@pytest.fixture(scope="session")
def instruments_mfcc(tmp_path_factory, instruments_dir) -> str:
    """The instruments fixture featurized to mfcc-stats with players as groups."""
    return str(made_once(tmp_path_factory, "instruments-mfcc-stats.h5", lambda path: Cli()(
        "featurize", instruments_dir, "-f", "mfcc-stats", "--group-regex", GROUP_RX, "-o", path, "-q")))


@pytest.fixture
def one_torch_thread():
    """torch at one thread for the test: the suite runs two tests per core (pytest -n 2), and
    OpenMP threads beyond the cores spin and thrash."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def pytest_configure(config):
    """Before xdist starts its workers (``make test`` runs two): compile librosa's cached numba
    functions once, in this one process. Two processes compiling the same
    ``@guvectorize(cache=True)`` function at once can leave cache files that crash the next
    process to load them (numba issue #10128: a segfault in ``librosa.pyin`` on a fresh venv)."""
    import signal

    # A process that starts with SIGINT ignored passes that on to every child, whose Python then
    # never raises KeyboardInterrupt: the interrupt tests' children must see a real Ctrl-C. (xdist
    # starts a worker that replaces a crashed one with SIGINT ignored.)
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if hasattr(config, "workerinput"):  # a worker: the controller has warmed the cache
        return
    import librosa

    from audiokit.features import FeatureConfig, extract

    sr = 16000
    y = (0.5 * np.sin(2 * np.pi * 220 * np.arange(sr) / sr)).astype(np.float32)
    librosa.pyin(y, fmin=50, fmax=1000, sr=sr, frame_length=1024)  # localmin, localmax
    librosa.zero_crossings(y)
    librosa.util.peak_pick(np.abs(y[:1000]), pre_max=3, post_max=3, pre_avg=3, post_avg=5, delta=0.1, wait=10)
    for kind in ("logmel", "mfcc", "mfcc-stats"):
        extract(FeatureConfig(kind=kind, sr=sr), y)
