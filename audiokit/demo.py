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


#: RAVDESS emotion codes (the third field of its file names) used by :func:`make_emotions`.
EMOTIONS = {"01": "neutral", "03": "happy", "04": "sad", "05": "angry"}
#: Prosody per emotion: f0 factor over the actor's base, pitch-contour span (semitones),
#: syllable rate factor, spectral brightness (harmonic roll-off factor) and breath noise.
_PROSODY = {
    "neutral": dict(f0=1.0, span=2.0, rate=1.0, bright=1.0, noise=0.01),
    "happy": dict(f0=1.25, span=6.0, rate=1.2, bright=1.3, noise=0.01),
    "sad": dict(f0=0.9, span=1.0, rate=0.75, bright=0.7, noise=0.04),
    "angry": dict(f0=1.15, span=4.0, rate=1.15, bright=1.6, noise=0.02),
}
_VOWELS = (((800, 80), (1150, 90), (2900, 120)), ((400, 60), (1700, 90), (2600, 120)),
           ((300, 50), (2300, 100), (3000, 120)), ((500, 60), (850, 80), (2500, 120)),
           ((350, 50), (700, 70), (2500, 120)))


def make_emotions(root: str | os.PathLike, *, actors: int = 6, statements: int = 2, repetitions: int = 2,
                  seed: int = 0, sr: int = 22050) -> list[Path]:
    """Write RAVDESS-named stand-ins, ``root/Actor_AA/03-01-EE-II-SS-RR-AA.wav`` (audio-only,
    speech, emotion EE of :data:`EMOTIONS`, intensity II, statement SS, repetition RR, actor AA;
    odd actors male, as in RAVDESS).

    Each file is a short "utterance" of vowel-like syllables from glottal pulses through vowel
    formants; the emotion is carried only by prosody (pitch level and contour span, syllable
    rate, spectral brightness, breathiness), the actor by base pitch and vocal-tract scale.
    A stand-in for plumbing (examples, tests) when the real corpus is not at hand — not a model
    of emotional speech."""
    rng = np.random.default_rng(seed)
    out = []
    for a in range(1, actors + 1):
        base = (110.0 if a % 2 else 210.0) * 2 ** (rng.normal(0, 2) / 12)
        tract = rng.uniform(0.9, 1.1) * (1.0 if a % 2 else 1.15)  # formant scale of this actor
        for code, emo in EMOTIONS.items():
            pro = _PROSODY[emo]
            for intensity in (1, 2):
                if code == "01" and intensity == 2:
                    continue  # RAVDESS has no strong neutral
                k = 1.0 + 0.15 * (intensity - 1)
                for st in range(1, statements + 1):
                    syl_rng = np.random.default_rng(seed * 1000 + st)  # a statement's vowels are fixed
                    vowels = [_VOWELS[i] for i in syl_rng.integers(len(_VOWELS), size=4 + st)]
                    for rep in range(1, repetitions + 1):
                        pieces = []
                        n_syl = len(vowels)
                        for i, formants in enumerate(vowels):
                            pos = i / max(1, n_syl - 1)
                            semis = pro["span"] * k * (np.sin(np.pi * pos) - 0.5 * pos) + rng.normal(0, 0.5)
                            f0 = base * pro["f0"] * k ** 0.5 * 2 ** (semis / 12)
                            dur = rng.uniform(0.14, 0.24) / (pro["rate"] * k)
                            fm = tuple((fc * tract * (1 + 0.05 * (pro["bright"] - 1)), bw * pro["bright"])
                                       for fc, bw in formants)
                            y = sung_vowel(f0, dur, sr, rng, vibrato=5.0, formants=fm)
                            y = y * (1.0 + (pro["bright"] - 1) * 0.5 * k)
                            y = y + pro["noise"] * k * rng.standard_normal(len(y))
                            pieces += [y, np.zeros(int(rng.uniform(0.02, 0.08) * sr))]
                        y = np.concatenate([np.zeros(int(0.1 * sr)), *pieces, np.zeros(int(0.1 * sr))])
                        y = _finish(y, sr, rng, snr_db=(20, 40), rt60=(0.1, 0.3))
                        name = f"03-01-{code}-{intensity:02d}-{st:02d}-{rep:02d}-{a:02d}"
                        out.append(_write(Path(root) / f"Actor_{a:02d}" / name, y, sr, "wav", "PCM_16"))
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m audiokit.demo", description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", help="output directory (created)")
    ap.add_argument("--per-class", type=int, default=24, help="instrument notes per class (default 24)")
    ap.add_argument("--singers", type=int, default=6, help="singers per voice type (default 6)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--actors", type=int, default=0,
                    help="also write RAVDESS-named emotion stand-ins for this many actors to DIR/emotions "
                         "(default 0: none)")
    a = ap.parse_args(argv)
    inst = make_instruments(Path(a.dir) / "instruments", n_per_class=a.per_class, seed=a.seed)
    voices = make_voices(Path(a.dir) / "voices", singers_per_type=a.singers, seed=a.seed)
    print(f"wrote {len(inst)} instrument notes to {Path(a.dir) / 'instruments'} and "
          f"{len(voices)} singers' low/high pairs to {Path(a.dir) / 'voices'}")
    if a.actors:
        emo = make_emotions(Path(a.dir) / "emotions", actors=a.actors, seed=a.seed)
        print(f"wrote {len(emo)} RAVDESS-named utterances of {a.actors} actors to {Path(a.dir) / 'emotions'}")


if __name__ == "__main__":
    main()
