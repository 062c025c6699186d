"""Helpers the test modules import (``from helpers import run, tone``): running audiokit,
writing test audio and stores. Fixtures live in conftest.py, which imports these too."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
from typer.testing import CliRunner

from audiokit.cli import app

AUDIOKIT = [sys.executable, "-m", "audiokit"]
HAVE_ESPEAK = shutil.which("espeak-ng") is not None
HAVE_SOX = shutil.which("sox") is not None

#: Players as groups in the file names of the instruments fixture (``player3_012.wav``).
GROUP_RX = r"^(player\d+)_"


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


def modules_after(argv, heavy=("torch", "torchvision", "sklearn")) -> list[str]:
    """Run the CLI with ``argv`` in a fresh interpreter and list which of the ``heavy`` packages
    it imported (``sys.modules`` at its end)."""
    code = ("import sys\nfrom audiokit.cli import app\n"
            f"try:\n    app({[str(a) for a in argv]!r}, prog_name='audiokit')\nexcept SystemExit as e:\n"
            "    assert not e.code, e.code\n"
            f"print(' '.join(m for m in {tuple(heavy)!r} if m in sys.modules), file=sys.stderr)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stderr.strip().splitlines()[-1].split() if r.stderr.strip() else []


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


def synth_store(path, X, labels, *, groups=None, folds=None, kind="mfcc-stats") -> str:
    """A store of given feature vectors (for constructed cases and bad input)."""
    from audiokit.features import FeatureConfig
    from audiokit.store import StoreWriter

    cfg = FeatureConfig(kind=kind)
    with StoreWriter(str(path), cfg) as w:
        for i, x in enumerate(X):
            w.add(np.asarray(x, np.float32), label=None if labels[i] is None else str(labels[i]),
                  path=f"item{i:04d}.wav", group=None if groups is None else str(groups[i]),
                  fold=None if folds is None else int(folds[i]))
    return str(path)
