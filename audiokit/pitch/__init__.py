"""Fundamental frequency, note names and voice types: the library behind ``audiokit pitch``.

* :func:`estimate_f0` / :func:`analyze` — f0 of a mono signal by ``hps`` (the KNN paper's
  Harmonic Product Spectrum, with an octave-error guard) or ``yin`` (the command's
  default; see docs/pitch.md and docs/benchmarks.md for why).
* :func:`hz_to_note` — nearest note name (A4 = 440 Hz, sharps) and the deviation in cents.
* :func:`classify_voice` — soprano … bass from the (low, high) f0 pair with the embedded
  reference KNN (:func:`default_voice_model`).

numpy only: importing this package does not import librosa, scipy or torch.

Examples
--------
>>> import numpy as np
>>> from audiokit.pitch import estimate_f0, hz_to_note
>>> sr = 22050
>>> t = np.arange(sr) / sr
>>> y = sum(np.sin(2 * np.pi * 220 * h * t) / h for h in range(1, 6))
>>> round(estimate_f0(y, sr=sr))
220
>>> hz_to_note(440.0).name
'A4'
"""

from __future__ import annotations

import numpy as np

from audiokit.pitch.estimators import DEFAULT_METHOD, METHODS, F0Result, analyze, min_samples
from audiokit.pitch.notes import Note, hz_to_note, note_to_hz
from audiokit.pitch.voice import (FEMALE, MALE, VOICE_TYPES, VoiceResult, classify_voice,
                                  default_voice_model)

__all__ = ["METHODS", "DEFAULT_METHOD", "F0Result", "analyze", "estimate_f0", "min_samples", "Note",
           "hz_to_note", "note_to_hz", "VOICE_TYPES", "FEMALE", "MALE", "VoiceResult", "classify_voice",
           "default_voice_model"]


def estimate_f0(y: np.ndarray, *, sr: int, method: str = "hps", fmin: float = 50.0, fmax: float = 2000.0,
                harmonics: int = 5) -> float | None:
    """The fundamental frequency of a mono signal in Hz, or ``None`` when it is unvoiced.

    Parameters
    ----------
    y : np.ndarray
        Mono samples (peak-normalise first for the paper's pipeline: ``audio.load(normalize=True)``).
    sr : int
        Sample rate of ``y``.
    method : str
        One of :data:`METHODS`: ``"hps"`` (the paper's; the default here, as for the
        ``f0-range`` features) or ``"yin"`` (the ``audiokit pitch`` default).
    fmin, fmax : float
        Search band in Hz.
    harmonics : int
        Spectra multiplied by the HPS methods.

    Raises
    ------
    UsageError
        Unknown method or a bad band.
    AudioError
        A signal shorter than one analysis frame.
    """
    return analyze(y, sr=sr, method=method, fmin=fmin, fmax=fmax, harmonics=harmonics).f0
