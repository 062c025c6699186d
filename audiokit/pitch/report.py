"""What ``audiokit pitch`` computes and prints: per-file analyses, the low/high pair with
its voice type, the ``--json`` document (schema ``audiokit-pitch/1``, docs/pitch.md), the
rich table and the ``--frames`` TSV.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from audiokit.errors import AudioError
from audiokit.pitch.estimators import F0Result, analyze
from audiokit.pitch.notes import hz_to_midi, hz_to_note
from audiokit.pitch.voice import VoiceResult

SCHEMA = "audiokit-pitch/1"


@dataclass
class FileAnalysis:
    """One file: where it came from, its length, and the estimator's result."""

    path: str
    sr: int
    duration: float
    result: F0Result

    @property
    def f0(self) -> float | None:
        return self.result.f0


def analyze_file(path: str, *, method: str, fmin: float, fmax: float, harmonics: int = 5,
                 frames: bool = False) -> FileAnalysis:
    """Load ``path`` as the KNN paper does (mono by channel mean, peak-normalised, native
    sample rate) and estimate its f0. Errors name the file."""
    from audiokit import audio

    y, sr = audio.load(path, normalize=True)
    try:
        r = analyze(y, sr=sr, method=method, fmin=fmin, fmax=fmax, harmonics=harmonics, frames=frames)
    except AudioError as exc:
        raise AudioError(exc.reason, path=path) from None
    return FileAnalysis(path, sr, len(y) / sr, r)


def _r(x: float | None, nd: int) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), nd)


def note_fields(f0: float | None, *, flats: bool = False) -> dict:
    """``note``, ``midi`` and ``cents`` of a frequency (all None when unvoiced)."""
    if f0 is None:
        return {"note": None, "midi": None, "cents": None}
    n = hz_to_note(f0, flats=flats)
    return {"note": n.name, "midi": n.midi, "cents": round(n.cents, 1)}


def file_dict(a: FileAnalysis, *, role: str, flats: bool = False, frames: bool = False) -> dict:
    """The JSON object of one file (docs/pitch.md, "JSON output")."""
    r = a.result
    d = {"path": a.path, "role": role, "sr": a.sr, "duration": round(a.duration, 4), "voiced": r.f0 is not None,
         "f0": _r(r.f0, 3), **note_fields(r.f0, flats=flats), "confidence": round(r.strength, 3),
         "voiced_share": round(r.voiced_share, 3)}
    if frames:
        d["frames"] = [{"time": round(float(t), 4), "f0": _r(f, 3), "confidence": round(float(c), 3)}
                       for t, f, c in zip(r.times, r.frame_f0, r.confidence)]
    return d


def pair_dict(low: FileAnalysis, high: FileAnalysis, voice: VoiceResult, *, swapped: bool, voice_filter: str,
              flats: bool = False) -> dict:
    """The JSON object of a low/high pair and its voice type."""
    nl, nh = hz_to_note(low.f0, flats=flats), hz_to_note(high.f0, flats=flats)
    return {
        "low": low.path, "high": high.path, "swapped": swapped,
        "f0_low": _r(low.f0, 3), "f0_high": _r(high.f0, 3), "note_low": nl.name, "note_high": nh.name,
        "range_semitones": round(hz_to_midi(high.f0) - hz_to_midi(low.f0), 2),
        "voice_type": voice.voice_type, "voice": voice_filter, "model": voice.model, "k": voice.k,
        "votes": voice.votes, "probabilities": {k: round(v, 4) for k, v in voice.probabilities.items()},
        "neighbours": voice.neighbours, "distance_unit": voice.distance_unit,
    }


def document(files: list[dict], pair: dict | None, *, method: str, fmin: float, fmax: float,
             harmonics: int) -> dict:
    return {"schema": SCHEMA, "method": method, "fmin": fmin, "fmax": fmax, "harmonics": harmonics,
            "files": files, "pair": pair}


def order_pair(a: FileAnalysis, b: FileAnalysis) -> tuple[FileAnalysis, FileAnalysis, bool]:
    """``(low, high, swapped)``; both must be voiced (else AudioError naming the file)."""
    for x in (a, b):
        if x.f0 is None:
            raise AudioError("no pitch found (unvoiced, silent or noise), so no range to classify", path=x.path)
    if a.f0 > b.f0:
        return b, a, True
    return a, b, False


def frames_tsv(analyses: list[FileAnalysis], *, flats: bool = False) -> str:
    """Tab-separated ``time f0 confidence note`` per hop (a leading ``file`` column for two
    files); unvoiced frames have f0 ``nan`` and an empty note."""
    lines = []
    multi = len(analyses) > 1
    lines.append(("file\t" if multi else "") + "time\tf0\tconfidence\tnote")
    for a in analyses:
        r = a.result
        for t, f, c in zip(r.times, r.frame_f0, r.confidence):
            voiced = bool(np.isfinite(f))
            note = hz_to_note(float(f), flats=flats).name if voiced else ""
            row = f"{t:.3f}\t{f:.2f}\t{c:.3f}\t{note}" if voiced else f"{t:.3f}\tnan\t{c:.3f}\t"
            lines.append((f"{a.path}\t" if multi else "") + row)
    return "\n".join(lines) + "\n"


def _f0_cells(d: dict) -> tuple[str, str, str]:
    if not d["voiced"]:
        return "unvoiced", "-", "-"
    return f"{d['f0']:.2f}", d["note"], f"{d['cents']:+.1f}"


def render(doc: dict, console) -> None:
    """Print the document as rich tables (the default output)."""
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    t = Table(title=None, show_edge=False, pad_edge=False)
    pair = doc["pair"]
    if pair:
        t.add_column("")
    t.add_column("file", overflow="fold")  # a long path wraps; it is never cut
    for col in ("f0 (Hz)", "note", "cents", "confidence"):
        t.add_column(col, justify="left" if col == "note" else "right", no_wrap=True)
    rows = doc["files"]
    if pair:  # low first
        rows = sorted(rows, key=lambda d: d["role"] != "low")
    for d in rows:
        f0, note, cents = _f0_cells(d)
        cells = [Text(d["path"]), f0, note, cents, f"{d['confidence']:.2f}"]  # a path is not markup
        t.add_row(*(([d["role"]] if pair else []) + cells))
    console.print(t)
    if not pair:
        return
    console.print(f"range: {pair['note_low']}–{pair['note_high']} ({pair['range_semitones']:.1f} semitones)")
    restrict = "" if pair["voice"] == "any" else f", {pair['voice']} types only"
    console.print(f"voice type: [bold]{pair['voice_type']}[/bold]  "
                  f"(k = {pair['k']} nearest, {escape(pair['model'])} model{restrict})")
    v = Table(show_edge=False, pad_edge=False)
    for col, j in (("voice type", "left"), ("votes", "right"), ("probability", "right"),
                   ("nearest distance", "right")):
        v.add_column(col, justify=j)
    nearest: dict[str, float] = {}
    for nb in pair["neighbours"]:
        nearest.setdefault(nb["voice_type"], nb["distance"])
    for vt, p in sorted(pair["probabilities"].items(), key=lambda kv: (-kv[1], -pair["votes"].get(kv[0], 0))):
        if p == 0 and not pair["votes"].get(vt):
            continue
        dist = nearest.get(vt)
        v.add_row(vt, str(pair["votes"].get(vt, 0)), f"{p:.2f}",
                  "-" if dist is None else f"{dist:.2f} {_unit(pair['distance_unit'])}")
    console.print(v)


def _unit(u: str) -> str:
    return "st" if u == "semitones" else ""


def check_band_args(fmin: float, fmax: float) -> None:
    """Refuse a bad band before any file is read (exit 2)."""
    from audiokit.errors import UsageError

    if not (math.isfinite(fmin) and math.isfinite(fmax)) or fmin <= 0:
        raise UsageError(f"--fmin must be a positive number of Hz (got {fmin:g})")
    if fmin >= fmax:
        raise UsageError(f"--fmin must be below --fmax (got {fmin:g} Hz >= {fmax:g} Hz)")


__all__ = ["SCHEMA", "FileAnalysis", "analyze_file", "file_dict", "pair_dict", "document", "order_pair",
           "frames_tsv", "render", "note_fields", "check_band_args"]
