"""Generate small, realistic labelled audio sets with nothing downloaded.

``python -m audiokit.demo DIR`` writes:

* ``DIR/instruments/CLASS/playerP_NNN.EXT`` — four instrument-like timbres (flute, clarinet,
  bowed string, plucked string) at random pitches, with per-player timbre differences,
  vibrato, room reverb, background noise, random levels, mixed sample rates
  (16 k–48 kHz) and formats (WAV 16/24-bit, FLAC, OGG). Players are the groups.
* ``DIR/voices/TYPE/singerS_low.wav`` and ``..._high.wav`` — a sung /a/ (glottal pulses
  through vowel formants, with vibrato and jitter) at each singer's lowest and highest
  note, drawn around the published range of each of the six voice types.

The signals are synthetic, but none of the nuisances above is left out, so a model
that only works on clean tones fails here too. Tests, benchmarks and ``make demo``
use this module; nothing here is tuned to a classifier.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

INSTRUMENTS = ("flute", "clarinet", "bowed", "plucked")
#: Pitch range (Hz) drawn for each instrument.
INSTRUMENT_RANGES = {"flute": (262, 1047), "clarinet": (147, 880), "bowed": (196, 1319), "plucked": (82, 660)}
#: Voice types with the (lowest, highest) note of a typical range in Hz (see docs/pitch.md for sources).
VOICE_RANGES = {
    "bass": (82.41, 329.63),          # E2–E4
    "baritone": (110.00, 440.00),     # A2–A4
    "tenor": (130.81, 523.25),        # C3–C5
    "alto": (174.61, 698.46),         # F3–F5
    "mezzo-soprano": (220.00, 880.00),  # A3–A5
    "soprano": (261.63, 1046.50),     # C4–C6
}
SAMPLE_RATES = (16000, 22050, 44100, 48000)
FORMATS = (("wav", "PCM_16"), ("wav", "PCM_24"), ("flac", "PCM_16"), ("ogg", "VORBIS"))


def _reverb(y: np.ndarray, sr: int, rng: np.random.Generator, rt60: float) -> np.ndarray:
    n = max(1, int(rt60 * sr))
    t = np.arange(n) / sr
    ir = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
    ir[0] = 1.0
    ir /= np.sqrt(np.sum(ir**2))
    from scipy.signal import fftconvolve

    wet = fftconvolve(y, ir)[: len(y)]
    mix = rng.uniform(0.1, 0.5)
    return (1 - mix) * y + mix * wet


def _vibrato_phase(f0: float, n: int, sr: int, rng: np.random.Generator, depth_cents: float) -> np.ndarray:
    t = np.arange(n) / sr
    rate = rng.uniform(4.5, 6.5)
    cents = depth_cents * np.sin(2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi))
    cents += np.cumsum(rng.standard_normal(n)) * (3.0 / np.sqrt(sr))  # slow drift (jitter)
    inst = f0 * 2 ** (cents / 1200)
    return 2 * np.pi * np.cumsum(inst) / sr


def instrument_tone(kind: str, f0: float, duration: float, sr: int, rng: np.random.Generator,
                    player: np.ndarray | None = None) -> np.ndarray:
    """One note of an instrument-like timbre. ``player`` (3 numbers in [-1, 1]) shifts
    brightness, vibrato depth and attack so that players of one instrument differ."""
    player = np.zeros(3) if player is None else player
    n = int(duration * sr)
    t = np.arange(n) / sr
    nyq = sr / 2
    y = np.zeros(n)
    if kind == "plucked":
        # Karplus-Strong-like: each harmonic decays faster the higher it is.
        for h in range(1, 40):
            f = f0 * h * np.sqrt(1 + 0.0004 * h * h)  # slight inharmonicity of a stiff string
            if f >= nyq * 0.95:
                break
            amp = (1.0 / h) * np.sin(np.pi * h * rng.uniform(0.1, 0.3)) ** 2 * (1 + 0.3 * player[0]) ** h
            decay = (1.5 + 0.6 * h) * (1 + 0.2 * player[2])
            y += amp * np.exp(-decay * t) * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
        return y
    depth = {"flute": 15, "clarinet": 5, "bowed": 25}[kind] * (1 + 0.5 * player[1])
    phase = _vibrato_phase(f0, n, sr, rng, depth)
    for h in range(1, 60):
        if f0 * h >= nyq * 0.95:
            break
        if kind == "flute":
            amp = 10 ** (-(h - 1) * (1.2 - 0.3 * player[0]))
        elif kind == "clarinet":
            amp = (1.0 / h) if h % 2 else 0.05 / h
            amp *= np.exp(-h / (12 + 4 * player[0]))
        else:  # bowed: sawtooth-like with a body resonance tilt
            amp = (1.0 / h) * (1 + 0.5 * np.exp(-((f0 * h - 2800) / 900) ** 2)) * (1 + 0.1 * player[0]) ** h
        y += amp * np.sin(h * phase + rng.uniform(0, 2 * np.pi))
    attack = {"flute": 0.08, "clarinet": 0.03, "bowed": 0.15}[kind] * (1 + 0.4 * player[2])
    env = np.minimum(1.0, t / attack) * np.minimum(1.0, (duration - t) / 0.08).clip(0, 1)
    y *= env
    if kind == "flute":  # breath noise, band-limited
        from scipy.signal import butter, sosfilt

        sos = butter(2, [min(f0 * 2, nyq * 0.8), min(f0 * 8, nyq * 0.95)], btype="band", fs=sr, output="sos")
        y += 0.05 * env * sosfilt(sos, rng.standard_normal(n))
    return y


def sung_vowel(f0: float, duration: float, sr: int, rng: np.random.Generator, *, vibrato: float = 30.0,
               formants: tuple = ((800, 80), (1150, 90), (2900, 120), (3900, 130))) -> np.ndarray:
    """A sung /a/: a glottal pulse train (harmonics with a -12 dB/octave source tilt) shaped by
    vowel formants, with vibrato, jitter and a little aspiration noise."""
    n = int(duration * sr)
    phase = _vibrato_phase(f0, n, sr, rng, vibrato)
    nyq = sr / 2
    y = np.zeros(n)
    for h in range(1, 200):
        f = f0 * h
        if f >= nyq * 0.95:
            break
        gain = 1.0 / h**2 * h  # -6 dB/oct net (source -12, radiation +6)
        gain *= sum(1.0 / (1 + ((f - fc) / bw) ** 2) for fc, bw in formants) + 0.02
        y += gain * np.sin(h * phase + rng.uniform(0, 2 * np.pi))
    t = np.arange(n) / sr
    env = np.minimum(1.0, t / 0.1) * np.minimum(1.0, (duration - t) / 0.1).clip(0, 1)
    y = y / (np.max(np.abs(y)) + 1e-12)
    return env * (y + 0.01 * rng.standard_normal(n))


def _finish(y: np.ndarray, sr: int, rng: np.random.Generator, *, snr_db: tuple = (15, 40),
            rt60: tuple = (0.1, 0.6), level_db: tuple = (-30, -1)) -> np.ndarray:
    y = _reverb(y, sr, rng, rng.uniform(*rt60))
    y = y / (np.max(np.abs(y)) + 1e-12)
    sig_pow = np.mean(y**2)
    noise = rng.standard_normal(len(y))
    # pink-ish noise: a running sum leaks low frequencies in
    noise = 0.5 * noise + 0.5 * np.cumsum(noise) / np.sqrt(np.arange(1, len(y) + 1))
    noise *= np.sqrt(sig_pow / np.mean(noise**2) / 10 ** (rng.uniform(*snr_db) / 10))
    y = y + noise
    y = y / (np.max(np.abs(y)) + 1e-12) * 10 ** (rng.uniform(*level_db) / 20)
    return y.astype(np.float32)


def _write(path: Path, y: np.ndarray, sr: int, ext: str, subtype: str) -> Path:
    import soundfile as sf

    path = path.with_suffix("." + ext)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), y, sr, subtype=subtype)
    return path


def make_instruments(root: str | os.PathLike, *, n_per_class: int = 24, players: int = 4, seed: int = 0,
                     classes: tuple = INSTRUMENTS, duration: tuple = (1.0, 3.0), formats=FORMATS,
                     sample_rates=SAMPLE_RATES) -> list[Path]:
    """Write ``n_per_class`` notes of each instrument to ``root/CLASS/playerP_NNN.EXT``."""
    rng = np.random.default_rng(seed)
    out = []
    for c, kind in enumerate(classes):
        lo, hi = INSTRUMENT_RANGES[kind]
        prof = rng.uniform(-1, 1, size=(players, 3))
        for i in range(n_per_class):
            p = i % players
            sr = int(rng.choice(sample_rates))
            f0 = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
            y = instrument_tone(kind, f0, rng.uniform(*duration), sr, rng, prof[p])
            y = _finish(y, sr, rng)
            ext, subtype = formats[int(rng.integers(len(formats)))]
            out.append(_write(Path(root) / kind / f"player{p}_{i:03d}", y, sr, ext, subtype))
    return out


def make_voices(root: str | os.PathLike, *, singers_per_type: int = 6, seed: int = 0,
                duration: float = 2.0) -> list[tuple[Path, Path]]:
    """Write each singer's lowest and highest sung /a/ to ``root/TYPE/singerS_low.wav`` / ``_high.wav``.

    A singer's extremes are drawn around the type's typical range (±2 semitones), sample
    rates vary, and the same room/noise/level nuisances as the instruments apply."""
    rng = np.random.default_rng(seed)
    out = []
    for vt, (lo, hi) in VOICE_RANGES.items():
        for s in range(singers_per_type):
            sr = int(rng.choice((22050, 44100, 48000)))
            pair = []
            for which, f in (("low", lo), ("high", hi)):
                f0 = f * 2 ** (rng.normal(0, 1.5) / 12)
                y = _finish(sung_vowel(f0, duration, sr, rng, vibrato=rng.uniform(10, 50)), sr, rng,
                            snr_db=(20, 40), rt60=(0.1, 0.4))
                pair.append(_write(Path(root) / vt / f"singer{s}_{which}", y, sr, "wav", "PCM_16"))
            out.append(tuple(pair))
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m audiokit.demo", description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", help="output directory (created)")
    ap.add_argument("--per-class", type=int, default=24, help="instrument notes per class (default 24)")
    ap.add_argument("--singers", type=int, default=6, help="singers per voice type (default 6)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    inst = make_instruments(Path(a.dir) / "instruments", n_per_class=a.per_class, seed=a.seed)
    voices = make_voices(Path(a.dir) / "voices", singers_per_type=a.singers, seed=a.seed)
    print(f"wrote {len(inst)} instrument notes to {Path(a.dir) / 'instruments'} and "
          f"{len(voices)} singers' low/high pairs to {Path(a.dir) / 'voices'}")


if __name__ == "__main__":
    main()
