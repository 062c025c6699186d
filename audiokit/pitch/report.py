"""What ``audiokit pitch`` computes and prints: per-file analyses, the low/high pair with
its voice type, the ``--json`` document (schema ``audiokit-pitch/1``, docs/pitch.md), the
rich table and the ``--frames`` TSV.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from audiokit.errors import AudioError
from audiokit.pitch.estimators import F0Result, analyze, band_check
from audiokit.pitch.notes import hz_to_midi, hz_to_note
from audiokit.pitch.voice import OUTSIDE_SEMITONES, REFERENCE_RANGES, VoiceResult

SCHEMA = "audiokit-pitch/1"


@dataclass
class FileAnalysis:
    """One file: where it came from, its length, and the estimator's result."""

    path: str
    sr: int
    duration: float
    result: F0Result
    #: What :func:`audiokit.pitch.estimators.band_check` found: signs the pitch lies outside the band.
    checks: list = field(default_factory=list)
    #: Those findings as sentences naming the parameters (``warnings`` in the JSON; the CLI names its flags).
    warnings: list = field(default_factory=list)

    @property
    def f0(self) -> float | None:
        return self.result.f0


def analyze_file(path: str, *, method: str, fmin: float, fmax: float, harmonics: int = 5,
                 frames: bool = False, names: dict[str, str] | None = None) -> FileAnalysis:
    """Load ``path`` as the KNN paper does (mono by channel mean, peak-normalised, native
    sample rate) and estimate its f0. Errors name the file; ``names``: how the warnings spell
    the parameters (:func:`check_messages`)."""
    from audiokit import audio

    y, sr = audio.load(path, normalize=True)
    try:
        r = analyze(y, sr=sr, method=method, fmin=fmin, fmax=fmax, harmonics=harmonics, frames=frames)
    except AudioError as exc:
        raise AudioError(exc.reason, path=path) from None
    checks = band_check(y, sr=sr, f0=r.f0, fmin=fmin, fmax=fmax)
    return FileAnalysis(path, sr, len(y) / sr, r, checks,
                        check_messages(checks, f0=r.f0, sr=sr, fmin=fmin, fmax=fmax, names=names))


def check_messages(checks: list[dict], *, f0: float | None, sr: int, fmin: float, fmax: float,
                   names: dict[str, str] | None = None) -> list[str]:
    """The findings of :func:`band_check` as one sentence each, naming the ``fmin``/``fmax``
    parameters (as ``names`` spells them: the CLI passes its flags) and what to try."""
    lo, hi = (names or {}).get("fmin", "fmin"), (names or {}).get("fmax", "fmax")
    top = min(float(fmax), 0.45 * sr)
    above = f"{hi} {fmax:g} Hz" if top >= fmax else f"{top:g} Hz (the highest f0 searched in audio at {sr} Hz)"
    out = []
    for c in checks:
        hz = float(c["hz"])
        if c["check"] == "above_fmax":
            out.append(f"the strongest partial is at {hz:.0f} Hz ({hz_to_note(hz).name}), above {above}, and the "
                       f"f0 found ({f0:.1f} Hz) holds little energy: the pitch is probably above the band searched; "
                       f"raise {hi} (e.g. {hi} {100 * math.ceil(hz * 1.25 / 100):g})")
        elif c["check"] == "below_fmin":
            out.append(f"partials at the multiples of {hz:.1f} Hz ({hz_to_note(hz).name}), below {lo} {fmin:g} Hz: "
                       f"the pitch is probably {hz:.1f} Hz, not the {f0:.1f} Hz found; lower {lo} "
                       f"(e.g. {lo} {max(1, math.floor(hz * 0.8)):g})")
        elif c["check"] == "edge":
            low = c["limit"] == "fmin"
            out.append(f"the f0 found ({hz:.1f} Hz) is within a semitone of "
                       + (f"{lo} {fmin:g} Hz" if low else above)
                       + ", the edge of the band searched: the pitch may lie "
                       + (f"below it; lower {lo} to check" if low else f"above it; raise {hi} to check"))
    return out


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
         "voiced_share": round(r.voiced_share, 3), "warnings": list(a.warnings)}
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
        "warnings": pair_warnings(voice, nl.name, nh.name),
    }


def pair_warnings(voice: VoiceResult, note_low: str, note_high: str) -> list[str]:
    """The embedded model's answer for a pair far from every reference singer (more than
    ``OUTSIDE_SEMITONES`` from the nearest): the nearest type, not a match."""
    if voice.distance_unit != "semitones" or not voice.neighbours:
        return []
    nb = voice.neighbours[0]
    if nb["distance"] <= OUTSIDE_SEMITONES:
        return []
    lo, hi = REFERENCE_RANGES.get(nb["voice_type"], ("?", "?"))
    return [f"{note_low}–{note_high} is outside the voice-type model's ranges: the nearest reference singer "
            f"({nb['voice_type']}, {lo}–{hi} ±2 semitones) is {nb['distance']:.1f} semitones away, so "
            f"'{voice.voice_type}' is only the nearest type, not a match"]


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
    outside = "; outside the model's ranges, see the warning" if pair.get("warnings") else ""
    console.print(f"voice type: [bold]{pair['voice_type']}[/bold]  "
                  f"(k = {pair['k']} nearest, {escape(pair['model'])} model{restrict}{outside})")
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


#: The highest frequency audio holds at the highest common sample rate (48 kHz): HPS multiplies
#: the spectrum at f0, 2 f0, ... H f0, so H f0 must lie below it for every f0 searched.
HPS_TOP_HZ = 24000.0


#: Columns of ``pitch --csv`` (docs/pitch.md): one row per file.
CSV_COLUMNS = ["path", "role", "voiced", "f0", "note", "midi", "cents", "confidence", "voiced_share", "sr", "duration",
               "voice_type", "warnings"]


def csv_text(doc: dict) -> str:
    """The document as CSV, one row per file in the order given; ``voice_type`` (and the pair's
    warnings) on both rows of a low/high pair, empty otherwise."""
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    pair = doc["pair"] or {}
    for d in doc["files"]:
        cells = {**d, "voiced": "true" if d["voiced"] else "false", "voice_type": pair.get("voice_type"),
                 "warnings": "; ".join(d.get("warnings", []) + pair.get("warnings", []))}
        w.writerow(["" if cells.get(c) is None else cells[c] for c in CSV_COLUMNS])
    return buf.getvalue()


__all__ = ["SCHEMA", "FileAnalysis", "analyze_file", "file_dict", "pair_dict", "document", "order_pair",
           "frames_tsv", "render", "note_fields", "check_messages",
           "pair_warnings", "csv_text", "CSV_COLUMNS"]
