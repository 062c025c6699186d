"""Shared fixtures: a CLI runner and small realistic datasets generated once per session.

Datasets come from :mod:`audiokit.demo` (instrument-like notes with reverb, noise,
level changes, mixed sample rates and formats; sung vowels for voice types), so no
test depends on files from outside.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from audiokit.cli import app

AUDIOKIT = [sys.executable, "-m", "audiokit"]
HAVE_ESPEAK = shutil.which("espeak-ng") is not None
HAVE_SOX = shutil.which("sox") is not None


class Cli:
    """``cli("featurize", "x", "-o", "s.h5")`` → click Result (stdout, stderr, exit_code)."""

    def __init__(self):
        self.runner = CliRunner()

    def __call__(self, *args, input=None, expect: int | None = 0):
        res = self.runner.invoke(app, [str(a) for a in args], input=input, catch_exceptions=False)
        if expect is not None:
            assert res.exit_code == expect, (
                f"audiokit {' '.join(map(str, args))} exited {res.exit_code}, expected {expect}\n"
                f"stdout: {res.stdout[-2000:]}\nstderr: {res.stderr[-2000:]}")
        return res


@pytest.fixture
def cli() -> Cli:
    return Cli()


def run(args, *, input=None, cwd=None, env=None, timeout=300, shell=False) -> subprocess.CompletedProcess:
    """Run audiokit (or a shell pipeline with ``shell=True``) as a real process."""
    e = dict(os.environ)
    e.update(env or {})
    e["PATH"] = os.path.dirname(sys.executable) + os.pathsep + e.get("PATH", "")
    if shell:
        return subprocess.run(["bash", "-o", "pipefail", "-c", args], input=input, cwd=cwd, env=e,
                              capture_output=True, timeout=timeout)
    return subprocess.run(AUDIOKIT + [str(a) for a in args], input=input, cwd=cwd, env=e,
                          capture_output=True, timeout=timeout)


@pytest.fixture(scope="session")
def instruments_dir(tmp_path_factory) -> Path:
    """4 classes × 16 notes, 4 players (groups) per class, 1–2.5 s, mixed rates/formats."""
    from audiokit.demo import make_instruments

    root = tmp_path_factory.mktemp("instruments")
    make_instruments(root, n_per_class=16, players=4, seed=1, duration=(1.0, 2.5))
    return root


@pytest.fixture(scope="session")
def voices_dir(tmp_path_factory) -> Path:
    """Six voice types × 3 singers, each with singerS_low.wav and singerS_high.wav."""
    from audiokit.demo import make_voices

    root = tmp_path_factory.mktemp("voices")
    make_voices(root, singers_per_type=3, seed=2, duration=1.5)
    return root


def tone(path, f0=440.0, *, sr=22050, duration=1.0, harmonics=5, subtype="PCM_16", channels=1, amp=0.5):
    """Write a harmonic tone and return its path."""
    t = np.arange(int(sr * duration)) / sr
    y = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, harmonics + 1))
    y = amp * y / np.max(np.abs(y))
    if channels > 1:
        y = np.stack([y] * channels, axis=1)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), y, sr, subtype=subtype)
    return Path(path)


#: The timbre classes of :func:`make_tones`.
TONE_CLASSES = ("sine", "square", "saw", "noise")


def make_tones(root: Path, *, per_class: int = 32, speakers: int = 4, sr: int = 8000, duration: float = 0.5,
               seed: int = 0) -> Path:
    """``root/CLASS/spkS_NNN.wav``: timbre classes at random f0 (150–600 Hz), levels and noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * duration)) / sr
    for c in TONE_CLASSES:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            f0 = float(np.exp(rng.uniform(np.log(150), np.log(600))))
            if c == "noise":
                spec = np.fft.rfft(rng.standard_normal(len(t)))
                f = np.fft.rfftfreq(len(t), 1 / sr)
                y = np.fft.irfft(spec * np.exp(-0.5 * ((f - 3 * f0) / f0) ** 2), len(t))
            else:
                hs = {"sine": [1], "square": range(1, 20, 2), "saw": range(1, 20)}[c]
                y = sum(np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 2 * np.pi)) / h for h in hs if f0 * h < sr / 2)
            y = y / np.abs(y).max() * np.minimum(1, t / 0.02) * np.minimum(1, (duration - t) / 0.02)
            y = y + 10 ** (-rng.uniform(20, 30) / 20) * rng.standard_normal(len(t))
            y = y * 10 ** (rng.uniform(-20, -1) / 20) / np.abs(y).max()
            sf.write(str(root / c / f"spk{i % speakers}_{i:03d}.wav"), y.astype(np.float32), sr)
    return root


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
