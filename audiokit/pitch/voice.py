"""Voice types from a singer's lowest and highest note: the KNN paper's classifier.

The embedded default model (``voice_types.json`` beside this module) is a k-nearest-
neighbour classifier over ``(log f0 low, log f0 high)``, measured in semitones
(``12 log2(f / 440 Hz)``) so that Euclidean distance is musical distance. Its reference
points are each type's typical range from published vocal-range tables (docs/pitch.md
cites them), spread ±2 semitones on each end in 1-semitone steps (25 singers per type),
because real singers' extremes scatter around the textbook range. k = 8 is the paper's
best k.

The KNN itself is a few lines of numpy rather than scikit-learn's KNeighborsClassifier:
importing scikit-learn takes longer (about 1.5 s here) than the whole ``audiokit pitch``
run may. A model trained by ``audiokit train --model knn`` on an ``f0-range`` store is
used through :func:`classify_trained` instead (numpy too: :class:`audiokit.models.classic.KNN`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from audiokit.errors import AudiokitError, ModelFileError, ParameterError, UsageError
from audiokit.pitch.notes import hz_to_midi, note_to_hz

VOICE_TYPES = ("soprano", "mezzo-soprano", "alto", "tenor", "baritone", "bass")
FEMALE = VOICE_TYPES[:3]
MALE = VOICE_TYPES[3:]
VOICES = {"female": FEMALE, "male": MALE}

#: Typical (lowest, highest) note of each voice type (Wikipedia "Voice type", after
#: McKinney 1994; the same figures as audiokit.demo.VOICE_RANGES). See docs/pitch.md.
REFERENCE_RANGES = {
    "soprano": ("C4", "C6"),
    "mezzo-soprano": ("A3", "A5"),
    "alto": ("F3", "F5"),
    "tenor": ("C3", "C5"),
    "baritone": ("A2", "A4"),
    "bass": ("E2", "E4"),
}
SPREAD_SEMITONES = (-2, -1, 0, 1, 2)
DEFAULT_K = 8
#: A pair whose nearest reference singer is farther than this (semitones, in the model's
#: (low, high) plane) is outside every type's range: the command says so. A pair inside one
#: type's ±2-semitone square is within 0.7 semitones of a reference singer; 3 semitones is a
#: minor third past the spread (e.g. a 36-semitone G2-G5 range is 5.8 away; A2-E4, 19, is 3.0).
OUTSIDE_SEMITONES = 3.0
SOURCES = [
    "Wikipedia, 'Voice type' (range table: soprano C4-C6, mezzo-soprano A3-A5, contralto F3-F5, "
    "tenor C3-C5, baritone A2-A4, bass E2-E4), https://en.wikipedia.org/wiki/Voice_type",
    "J. C. McKinney, The Diagnosis and Correction of Vocal Faults, Genovex Music Group, 1994 "
    "(the ranges the article above cites)",
]
MODEL_FILE = "voice_types.json"


def _semitones(f: float | np.ndarray) -> np.ndarray:
    return 12.0 * np.log2(np.asarray(f, dtype=np.float64) / 440.0)


@dataclass
class VoiceResult:
    """The voice type of a (low, high) pair with the evidence for it.

    ``votes`` counts the k neighbours per type; ``probabilities`` are the model's class
    probabilities (for the KNN: votes / k); ``neighbours`` lists each neighbour's type and
    distance (and, for the embedded model, its reference low/high f0 in Hz), nearest first.
    """

    voice_type: str
    k: int
    votes: dict[str, int]
    probabilities: dict[str, float]
    neighbours: list[dict]
    model: str
    distance_unit: str
    candidates: tuple[str, ...] = field(default_factory=tuple)


@dataclass
class ReferenceModel:
    """The embedded KNN: reference pairs in Hz, their types, k."""

    points_hz: np.ndarray  # (n, 2): lowest and highest f0 of each reference singer
    labels: np.ndarray  # (n,) voice-type names
    k: int
    sources: list[str]
    name: str = "embedded"

    def classify(self, f0_low: float, f0_high: float, *, voice: str | None = None) -> VoiceResult:
        """Vote of the k nearest reference singers, in semitones; ``voice`` restricts the types."""
        allowed = _allowed(voice)
        keep = np.isin(self.labels, allowed)
        pts, labs = self.points_hz[keep], self.labels[keep]
        q = _semitones([f0_low, f0_high])
        dist = np.sqrt(((_semitones(pts) - q) ** 2).sum(axis=1))
        # Stable sort: equidistant reference points keep the file's order, so results are repeatable.
        order = np.argsort(dist, kind="stable")[: self.k]
        votes = {t: 0 for t in allowed}
        mean_d = {t: 0.0 for t in allowed}
        for i in order:
            votes[str(labs[i])] += 1
            mean_d[str(labs[i])] += float(dist[i])
        # Majority vote; a tie goes to the type whose tied neighbours are nearer on average.
        best = min(allowed, key=lambda t: (-votes[t], mean_d[t] / max(votes[t], 1), allowed.index(t)))
        k = len(order)
        neighbours = [{"voice_type": str(labs[i]), "distance": round(float(dist[i]), 4),
                       "f0_low": round(float(pts[i, 0]), 2), "f0_high": round(float(pts[i, 1]), 2)}
                      for i in order]
        return VoiceResult(best, k, votes, {t: votes[t] / k for t in allowed}, neighbours, self.name,
                           "semitones", tuple(allowed))


def _allowed(voice: str | None) -> tuple[str, ...]:
    if voice is None or voice == "any":
        return VOICE_TYPES
    if voice not in VOICES:
        raise ParameterError("voice", f"must be female or male (got {voice!r})")
    return VOICES[voice]


def build_reference(*, k: int = DEFAULT_K) -> dict:
    """The embedded model's content, rebuilt from :data:`REFERENCE_RANGES` (what ``voice_types.json`` holds).

    ``python -m audiokit.pitch.voice`` rewrites the file from this; a test checks they agree.
    """
    points = []
    for vt in VOICE_TYPES:
        lo, hi = (hz_to_midi(note_to_hz(n)) for n in REFERENCE_RANGES[vt])
        for dl in SPREAD_SEMITONES:
            for dh in SPREAD_SEMITONES:
                points.append([round(440.0 * 2 ** ((lo + dl - 69) / 12), 3),
                               round(440.0 * 2 ** ((hi + dh - 69) / 12), 3), vt])
    return {
        "format": "audiokit-voice-reference",
        "version": 1,
        "description": "KNN over (12*log2(f0_low/440), 12*log2(f0_high/440)), Euclidean, uniform votes. "
                       "Reference singers: each voice type's typical range, both ends moved by "
                       f"{list(SPREAD_SEMITONES)} semitones.",
        "k": k,
        "metric": "euclidean (semitones)",
        "ranges": {vt: list(REFERENCE_RANGES[vt]) for vt in VOICE_TYPES},
        "sources": SOURCES,
        "points": points,
    }


_DEFAULT: ReferenceModel | None = None


def default_voice_model() -> ReferenceModel:
    """The embedded reference KNN shipped in the package (read once, then cached)."""
    global _DEFAULT
    if _DEFAULT is None:
        try:
            # Beside this module (package data); read directly, as importlib.resources would add
            # its imports to the command's start-up (docs/benchmarks.md, "pitch").
            text = (Path(__file__).parent / MODEL_FILE).read_text(encoding="utf-8")
            d = json.loads(text)
            pts = np.array([[p[0], p[1]] for p in d["points"]], dtype=np.float64)
            labels = np.array([p[2] for p in d["points"]])
            _DEFAULT = ReferenceModel(pts, labels, int(d["k"]), list(d.get("sources", [])))
        except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
            raise ModelFileError(f"embedded voice-type model unreadable ({exc}); reinstall audiokit",
                                 path=MODEL_FILE) from exc
    return _DEFAULT


def classify_voice(f0_low: float, f0_high: float, *, voice: str | None = None,
                   model: ReferenceModel | None = None) -> VoiceResult:
    """Voice type of a singer whose lowest note is ``f0_low`` Hz and highest ``f0_high`` Hz.

    >>> classify_voice(130.81, 523.25).voice_type   # C3-C5
    'tenor'
    >>> classify_voice(196.0, 784.0, voice="male").voice_type   # G3-G5, forced to a male type
    'tenor'
    """
    for f in (f0_low, f0_high):
        if not (f > 0 and math.isfinite(f)):
            raise UsageError(f"f0 must be a positive number of Hz (got {f})")
    return (model or default_voice_model()).classify(f0_low, f0_high, voice=voice)


def classify_trained(clf, features: np.ndarray, *, voice: str | None = None, name: str = "") -> VoiceResult:
    """Voice type from a classifier trained by ``audiokit train`` on an ``f0-range`` store.

    ``features`` is the pair's ``(f0_low, f0_high)`` as the model's feature configuration
    computes it. Probabilities come from ``clf.predict_proba``; the neighbours and their
    distances (in the model's standardised feature space) from ``clf.kneighbors`` when the
    model is a KNN. ``voice`` keeps only that half's types (renormalising the probabilities).
    """
    X = np.asarray(features, dtype=np.float32).reshape(1, -1)
    names = [str(c) for c in clf.class_names]
    proba = np.asarray(clf.predict_proba(X), dtype=np.float64)[0]
    allowed = [c for c in names if c in _allowed(voice)] if voice not in (None, "any") else list(names)
    if not allowed:
        raise ParameterError("voice", f"{voice}: the model knows none of {', '.join(_allowed(voice))} "
                             f"(its classes: {', '.join(names)})")
    p = {c: float(proba[names.index(c)]) for c in allowed}
    neighbours: list[dict] = []
    votes: dict[str, int] = {c: 0 for c in allowed}
    if getattr(clf, "kind", None) == "knn":
        dist, nb = clf.kneighbors(X)
        for dd, c in zip(np.asarray(dist)[0], np.asarray(nb)[0]):
            neighbours.append({"voice_type": str(c), "distance": round(float(dd), 4)})
            if str(c) in votes:
                votes[str(c)] += 1
    total = sum(p.values())
    if total <= 0:
        # A trained model only reports its own k neighbours; restricting them after the fact
        # cannot invent a vote for the other half, so say so instead of guessing.
        seen = ", ".join(nb["voice_type"] for nb in neighbours) or "none"
        err = ParameterError("voice", f"{voice}: the model gives no {voice} type any probability "
                             f"(its nearest neighbours: {seen}); leave the voice unrestricted or use the "
                             "embedded model", path=name or None)
        err.exit_code = AudiokitError.exit_code  # the model's answer, not a bad value: exit 1
        raise err
    p = {c: v / total for c, v in p.items()}
    best = max(allowed, key=lambda c: (p[c], votes.get(c, 0), -allowed.index(c)))
    return VoiceResult(best, len(neighbours), votes, p, neighbours, name or "trained", "standardised features",
                       tuple(allowed))


def _dumps(d: dict) -> str:
    """JSON with one reference point per line (readable diffs)."""
    head = json.dumps({k: v for k, v in d.items() if k != "points"}, indent=1)
    pts = ",\n  ".join(json.dumps(p) for p in d["points"])
    return head[:-2] + ',\n "points": [\n  ' + pts + "\n ]\n}\n"


def _write_default(path: str | None = None) -> str:
    """Regenerate voice_types.json from :func:`build_reference` (for maintainers)."""
    import os

    from audiokit.io import atomic_output

    target = path or os.path.join(os.path.dirname(__file__), MODEL_FILE)
    with atomic_output(target) as out:
        with open(out.file, "w", encoding="utf-8") as f:
            f.write(_dumps(build_reference()))
    return target


if __name__ == "__main__":
    print(_write_default())
