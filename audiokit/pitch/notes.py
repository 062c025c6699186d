"""Note names in scientific pitch notation (A4 = 440 Hz, middle C = C4) with cents.

Hand-written rather than ``librosa.hz_to_note`` so that ``audiokit pitch`` does not pay
librosa's import time; the naming is the same as librosa's with sharps (``C#5``), and
flats are available (``Db5``) for display.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

SHARPS = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
FLATS = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")
A4_HZ = 440.0
A4_MIDI = 69


@dataclass(frozen=True)
class Note:
    """The nearest equal-tempered note to a frequency.

    ``name`` like ``"C#5"``; ``midi`` the MIDI number of that note (A4 = 69); ``cents`` the
    deviation of the frequency from it, in [-50, 50); ``hz`` the note's exact frequency.
    """

    name: str
    midi: int
    cents: float
    hz: float


def hz_to_midi(f: float) -> float:
    """Fractional MIDI number: 69 + 12 log2(f / 440)."""
    if not (f > 0 and math.isfinite(f)):
        raise ValueError(f"frequency must be positive and finite (got {f})")
    return A4_MIDI + 12.0 * math.log2(f / A4_HZ)


def midi_to_hz(m: float) -> float:
    return A4_HZ * 2.0 ** ((m - A4_MIDI) / 12.0)


def midi_to_name(m: int, *, flats: bool = False) -> str:
    """``69 → "A4"``, ``73 → "C#5"`` (``"Db5"`` with ``flats``); octaves change at C."""
    names = FLATS if flats else SHARPS
    return f"{names[m % 12]}{m // 12 - 1}"


def hz_to_note(f: float, *, flats: bool = False) -> Note:
    """Nearest note name and the deviation in cents (ties at +50 cents round up).

    >>> hz_to_note(440.0)
    Note(name='A4', midi=69, cents=0.0, hz=440.0)
    >>> hz_to_note(554.37).name, hz_to_note(554.37, flats=True).name
    ('C#5', 'Db5')
    """
    m = hz_to_midi(f)
    n = int(math.floor(m + 0.5))
    cents = round((m - n) * 100.0, 6)
    return Note(midi_to_name(n, flats=flats), n, cents + 0.0, midi_to_hz(n))


_NOTE_RE = re.compile(r"^\s*([A-Ga-g])([#♯b♭]?)(-?\d+)\s*$")


def note_to_hz(name: str) -> float:
    """``"A4" → 440.0``, ``"C#5"``/``"Db5" → 554.37``; ValueError for anything else."""
    m = _NOTE_RE.match(name)
    if not m:
        raise ValueError(f"not a note name: {name!r} (expected e.g. A4, C#5, Db3)")
    letter, acc, octave = m.group(1).upper(), m.group(2), int(m.group(3))
    pc = SHARPS.index(letter) + (1 if acc in ("#", "♯") else -1 if acc in ("b", "♭") else 0)
    return midi_to_hz(12 * (octave + 1) + pc)
