"""The pitch library: f0 estimators on synthetic tones of known pitch, the octave guard,
silence and noise, note names, and the embedded voice-type model."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from audiokit.errors import AudioError, UsageError
from audiokit.pitch import (DEFAULT_METHOD, FEMALE, MALE, METHODS, VOICE_TYPES, analyze, classify_voice,
                            default_voice_model, estimate_f0, hz_to_note, note_to_hz)
from audiokit.pitch.estimators import hps
from audiokit.pitch.notes import midi_to_hz
from audiokit.pitch.voice import REFERENCE_RANGES, build_reference

SR = 44100


def harmonic(f0, *, sr=SR, dur=1.2, n_harm=8, missing=False, snr=None, vibrato=0.0, pluck=False, amps=None,
             seed=0):
    """A harmonic tone: 1/h amplitudes (or ``amps``), optional missing fundamental, white noise at
    ``snr`` dB, sinusoidal vibrato of ``vibrato`` cents at 5.5 Hz, or plucked-string decays."""
    rng = np.random.default_rng(seed)
    n = int(sr * dur)
    t = np.arange(n) / sr
    cents = vibrato * np.sin(2 * np.pi * 5.5 * t + rng.uniform(0, 2 * np.pi))
    phase = 2 * np.pi * np.cumsum(f0 * 2 ** (cents / 1200)) / sr
    y = np.zeros(n)
    for h in range(1, n_harm + 1):
        if (missing and h == 1) or f0 * h > 0.45 * sr:
            continue
        a = amps[h - 1] if amps is not None else 1.0 / h
        env = np.exp(-(1.5 + 0.6 * h) * t) if pluck else 1.0
        y += a * env * np.sin(h * phase + rng.uniform(0, 2 * np.pi))
    if snr is not None:
        noise = rng.standard_normal(n)
        y = y + noise * np.sqrt(np.mean(y ** 2) / np.mean(noise ** 2) / 10 ** (snr / 10))
    return (y / np.abs(y).max()).astype(np.float32)


def cents(f, truth):
    return 1200 * math.log2(f / truth)


def test_contract_used_by_featurize():
    assert METHODS[0] == "hps" and "yin" in METHODS and DEFAULT_METHOD in METHODS
    y = harmonic(220.0)
    for m in METHODS:
        f = estimate_f0(y, sr=SR, method=m, fmin=50.0, fmax=2000.0, harmonics=5)
        assert isinstance(f, float) and abs(cents(f, 220.0)) < 10
    assert estimate_f0(np.zeros(SR, np.float32), sr=SR) is None


VARIANTS = {
    "plain": {},
    "missing-fundamental": {"missing": True},
    "noise-15dB": {"snr": 15},
    "vibrato-40c": {"vibrato": 40.0},
    "plucked": {"pluck": True},
}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_synthetic_tones_within_10_cents(method, variant):
    for i, f0 in enumerate([60.0, 98.0, 185.0, 311.1, 523.3, 880.0, 1500.0]):
        y = harmonic(f0, seed=i, **VARIANTS[variant])
        f = estimate_f0(y, sr=SR, method=method)
        assert f is not None, f"{method} {variant} {f0} Hz: unvoiced"
        assert abs(cents(f, f0)) < 10, f"{method} {variant} {f0} Hz: {f:.2f} Hz ({cents(f, f0):+.1f} cents)"


@pytest.mark.parametrize("sr", [8000, 16000, 22050, 48000])
def test_other_sample_rates(sr):
    for m in METHODS:
        f = estimate_f0(harmonic(196.0, sr=sr), sr=sr, method=m)
        assert abs(cents(f, 196.0)) < 10


def test_octave_guard_fixes_the_hps_octave_error():
    # Weak fundamental and odd harmonics, strong even ones: the harmonic product is largest
    # at 2 f0 (the paper's method fails here), the sub-harmonic check brings it back.
    amps = [0.05, 1.0, 0.3, 1.0, 0.3, 1.0, 0.3, 1.0, 0.3, 1.0]
    for f0 in (65.0, 98.0, 196.0, 440.0):
        y = harmonic(f0, n_harm=10, amps=amps)
        unguarded = hps(y, sr=SR, octave_guard=False).f0
        assert abs(cents(unguarded, 2 * f0)) < 10  # the failure is real
        assert abs(cents(hps(y, sr=SR).f0, f0)) < 10
    # ... and a formant-dominated low voice: HPS lands on the third harmonic
    amps = [0.1, 0.15, 0.2, 0.3, 0.5, 0.8, 1.0, 1.0, 0.8, 0.6]
    y = harmonic(80.0, n_harm=10, amps=amps)
    assert abs(cents(hps(y, sr=SR).f0, 80.0)) < 10
    # It leaves alone what has no sub-harmonic: odd harmonics only (clarinet-like), a plain tone
    clar = harmonic(220.0, n_harm=9, amps=[1 / h if h % 2 else 0.0 for h in range(1, 10)])
    assert abs(cents(hps(clar, sr=SR).f0, 220.0)) < 10
    assert abs(cents(hps(harmonic(1000.0), sr=SR).f0, 1000.0)) < 10


def test_bare_sines_and_long_signals():
    # One or two partials: the harmonic product ties f/2 with f; the guard's strict
    # octave-up check settles it. And a 40-s recording (the HPS looks at its middle 30 s).
    t = np.arange(int(3 * SR)) / SR
    for parts in ([1.0], [1.0, 0.5], [0.0, 1.0, 0.0, 0.5]):
        y = sum(a * np.sin(2 * np.pi * 220 * (i + 1) * t) for i, a in enumerate(parts)).astype(np.float32)
        truth = 220.0 * (1 + next(i for i, a in enumerate(parts) if a))
        for m in METHODS:
            assert abs(cents(estimate_f0(y, sr=SR, method=m), truth)) < 10, (m, parts)
    y = np.tile(harmonic(147.0, sr=8000, dur=1.0), 35)
    assert abs(cents(estimate_f0(y, sr=8000, method="hps"), 147.0)) < 10
    r = analyze(y, sr=8000, method="yin")
    assert abs(cents(r.f0, 147.0)) < 10 and len(r.times) > 3400


def test_silence_and_noise_are_unvoiced():
    rng = np.random.default_rng(0)
    n = SR
    white = rng.standard_normal(n)
    pink = np.fft.irfft(np.fft.rfft(rng.standard_normal(n)) / np.sqrt(np.arange(1, n // 2 + 2)), n)
    for name, y in {"silence": np.zeros(n), "white": white, "pink": pink,
                    "faint hiss": 1e-4 * white}.items():
        for m in METHODS:
            r = analyze(y.astype(np.float32), sr=SR, method=m, frames=True)
            assert r.f0 is None, f"{m} found {r.f0} Hz in {name}"
            assert len(r.times) == len(r.frame_f0) == len(r.confidence) > 0


def test_voiced_part_only():
    # 0.5 s of silence, 0.7 s of a tone, 0.5 s of noise: the f0 is the tone's, from its frames
    rng = np.random.default_rng(1)
    y = np.concatenate([np.zeros(SR // 2), harmonic(330.0, dur=0.7), 0.05 * rng.standard_normal(SR // 2)])
    for m in METHODS:
        r = analyze(y.astype(np.float32), sr=SR, method=m, frames=True)
        assert abs(cents(r.f0, 330.0)) < 10
        voiced = np.isfinite(r.frame_f0)
        assert not voiced[r.times < 0.45].any()  # the leading silence
        assert voiced[(r.times > 0.6) & (r.times < 1.1)].mean() > 0.8
        assert np.all(np.abs(1200 * np.log2(r.frame_f0[voiced] / 330.0)) < 50)


def test_bad_arguments():
    y = harmonic(220.0)
    with pytest.raises(UsageError, match="fmin"):
        estimate_f0(y, sr=SR, fmin=500.0, fmax=400.0)
    with pytest.raises(UsageError, match="fmin"):
        estimate_f0(y, sr=SR, fmin=0.0)
    with pytest.raises(UsageError, match="method"):
        estimate_f0(y, sr=SR, method="crepe")
    with pytest.raises(UsageError, match="fmin"):
        estimate_f0(y, sr=8000, fmin=4000.0, fmax=5000.0)  # above what 8 kHz audio can hold
    with pytest.raises(AudioError, match="too short"):
        estimate_f0(y[:1000], sr=SR)  # 23 ms: less than two periods of 50 Hz
    assert estimate_f0(y[:1000], sr=SR, fmin=200.0) is not None  # but enough for 200 Hz


# -- note names ------------------------------------------------------------------------------

def test_note_names():
    n = hz_to_note(440.0)
    assert (n.name, n.midi, n.cents, n.hz) == ("A4", 69, 0.0, 440.0)
    assert hz_to_note(554.365).name == "C#5" and hz_to_note(554.365, flats=True).name == "Db5"
    assert abs(hz_to_note(554.365).cents) < 0.01
    assert hz_to_note(261.626).name == "C4"  # middle C
    assert hz_to_note(246.942).name == "B3"  # the octave number changes at C
    assert hz_to_note(16.352).name == "C0" and hz_to_note(4186.01).name == "C8"
    # the deviation in cents, and the boundary between notes (+50 cents rounds up)
    assert hz_to_note(440.0 * 2 ** (49.9 / 1200)).name == "A4"
    assert hz_to_note(440.0 * 2 ** (49.9 / 1200)).cents == pytest.approx(49.9)
    up = hz_to_note(440.0 * 2 ** (50.0 / 1200))
    assert up.name == "A#4" and up.cents == pytest.approx(-50.0)
    assert hz_to_note(440.0 * 2 ** (-30 / 1200)).cents == pytest.approx(-30.0)
    for f in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            hz_to_note(f)


def test_note_names_round_trip():
    for m in range(12, 120):
        f = midi_to_hz(m)
        for flats in (False, True):
            name = hz_to_note(f, flats=flats).name
            assert note_to_hz(name) == pytest.approx(f)
    assert note_to_hz("A4") == 440.0 and note_to_hz("Cb4") == pytest.approx(note_to_hz("B3"))
    assert note_to_hz("Db5") == pytest.approx(note_to_hz("C#5"))
    for bad in ("H4", "A", "440", "C#"):
        with pytest.raises(ValueError):
            note_to_hz(bad)


# -- voice types -------------------------------------------------------------------------------

def test_reference_pairs_of_all_six_types():
    for vt, (lo, hi) in REFERENCE_RANGES.items():
        r = classify_voice(note_to_hz(lo), note_to_hz(hi))
        assert r.voice_type == vt
        assert r.k == 8 and sum(r.votes.values()) == 8 and r.votes[vt] >= 5
        assert [nb["distance"] for nb in r.neighbours] == sorted(nb["distance"] for nb in r.neighbours)
        assert r.neighbours[0]["distance"] == 0.0  # the reference singer at the textbook range
        assert sum(r.probabilities.values()) == pytest.approx(1.0)
        # a singer a semitone inside the range on both ends is still that type
        r = classify_voice(note_to_hz(lo) * 2 ** (1 / 12), note_to_hz(hi) * 2 ** (-1 / 12))
        assert r.voice_type == vt


def test_voice_filter_female_male():
    g3, g5 = note_to_hz("G3"), note_to_hz("G5")  # between alto and mezzo: a female range
    assert classify_voice(g3, g5).voice_type in FEMALE
    male = classify_voice(g3, g5, voice="male")
    assert male.voice_type == "tenor"  # the highest male type is the nearest
    assert set(male.votes) == set(MALE) and all(nb["voice_type"] in MALE for nb in male.neighbours)
    female = classify_voice(note_to_hz("E2"), note_to_hz("E4"), voice="female")  # a bass range
    assert female.voice_type == "alto" and all(nb["voice_type"] in FEMALE for nb in female.neighbours)
    with pytest.raises(UsageError):
        classify_voice(g3, g5, voice="child")


def test_embedded_model_is_what_the_published_ranges_give():
    from importlib import resources

    shipped = json.loads(resources.files("audiokit.pitch").joinpath("voice_types.json").read_text())
    assert shipped == json.loads(json.dumps(build_reference()))
    assert shipped["k"] == 8 and shipped["sources"]
    m = default_voice_model()
    assert sorted(set(m.labels)) == sorted(VOICE_TYPES) and len(m.labels) == 6 * 25
    # the ranges are those demo.py generates singers around (one table of ranges, not two)
    from audiokit.demo import VOICE_RANGES

    for vt, (lo, hi) in REFERENCE_RANGES.items():
        assert note_to_hz(lo) == pytest.approx(VOICE_RANGES[vt][0], rel=1e-4)
        assert note_to_hz(hi) == pytest.approx(VOICE_RANGES[vt][1], rel=1e-4)
