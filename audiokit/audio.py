"""Decode, fold to mono, resample, normalise: the only module that reads audio.

Everything that turns a path into samples goes through :func:`load`, and
everything that turns command-line inputs into a list of audio paths goes
through :func:`collect_paths`, so validation and error messages are the same in
every command.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from audiokit.errors import AudioError, UsageError

#: File name extensions that directory walks pick up (soundfile/libsndfile decodes them).
AUDIO_EXTENSIONS = frozenset(
    {".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".aifc", ".au", ".snd", ".w64", ".caf"}
)


@dataclass(frozen=True)
class AudioInfo:
    """What the header says: sample rate, channels, frames, duration in seconds."""

    path: str
    sr: int
    channels: int
    frames: int
    format: str
    subtype: str

    @property
    def duration(self) -> float:
        return self.frames / self.sr if self.sr else 0.0


def _reason(exc: BaseException) -> str:
    """A one-line, user-facing reason for a decoder exception."""
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, IsADirectoryError):
        return "is a directory"
    if isinstance(exc, PermissionError):
        return "permission denied"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    # libsndfile prefixes its messages with the path in angle brackets; keep the reason only.
    if text.startswith("Error opening") and ": " in text:
        text = text.split(": ", 1)[1]
    return f"not readable as audio ({text})"


def info(path: str | os.PathLike) -> AudioInfo:
    """Read the header of an audio file without decoding it.

    Raises
    ------
    AudioError
        If the file is missing, unreadable, not audio, or claims no channels or no samples.
    """
    import soundfile as sf

    p = os.fspath(path)
    try:
        i = sf.info(p)
    except Exception as exc:  # soundfile raises LibsndfileError/RuntimeError/OSError variants
        raise AudioError(_reason(exc), path=p) from exc
    if i.channels < 1:
        raise AudioError("header claims no channels", path=p)
    if i.samplerate < 1:
        raise AudioError(f"invalid sample rate {i.samplerate}", path=p)
    return AudioInfo(p, int(i.samplerate), int(i.channels), int(max(i.frames, 0)), i.format, i.subtype)


def resample(y: np.ndarray, *, orig_sr: int, sr: int) -> np.ndarray:
    """Resample with soxr's high-quality filter.

    This is exactly ``librosa.resample(y, orig_sr=orig_sr, target_sr=sr, res_type="soxr_hq")``;
    soxr is called directly so that commands which never need librosa (``pitch``)
    do not pay its import time.
    """
    if orig_sr == sr:
        return y
    import soxr

    return np.asarray(soxr.resample(y, orig_sr, sr, quality="HQ"), dtype=np.float32)


def load(
    path: str | os.PathLike,
    *,
    sr: int | None = None,
    mono: bool = True,
    normalize: bool = False,
    offset: float = 0.0,
    duration: float | None = None,
) -> tuple[np.ndarray, int]:
    """Load an audio file as float32 samples.

    Parameters
    ----------
    path : str or path-like
        WAV, FLAC, OGG/Vorbis, MP3 or anything else libsndfile decodes; any bit depth.
    sr : int or None
        Target sample rate; ``None`` keeps the file's own rate.
    mono : bool
        Fold any number of channels to one by their mean (the KNN paper's stereo → mono).
    normalize : bool
        Peak-normalise, ``x / max|x|`` (the KNN paper); a silent signal is left as is.
    offset, duration : float
        Seconds to skip, and seconds to read (``None``: to the end). Only that range is
        decoded, so a clip from a long file costs what the clip costs.

    Returns
    -------
    y : np.ndarray
        ``(n,)`` when ``mono``, else ``(channels, n)``, float32.
    sr : int
        The sample rate of ``y``.

    Raises
    ------
    AudioError
        Unreadable, not audio, no samples, or non-finite samples, with the path and the reason.

    Examples
    --------
    >>> import numpy as np, soundfile as sf, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "a.wav")
    >>> sf.write(p, np.zeros((800, 2)), 8000)
    >>> y, sr = load(p, sr=16000)
    >>> y.shape, sr
    ((1600,), 16000)
    """
    import soundfile as sf

    p = os.fspath(path)
    try:
        with sf.SoundFile(p) as f:
            native_sr = int(f.samplerate)
            if f.channels < 1 or native_sr < 1:
                raise AudioError("header claims no channels or no sample rate", path=p)
            start = int(round(max(offset, 0.0) * native_sr))
            stop = f.frames if duration is None else min(f.frames, start + int(round(duration * native_sr)))
            if f.frames > 0 and start > 0:
                if not f.seekable():
                    raise AudioError("cannot seek in this file", path=p)
                f.seek(min(start, f.frames))
            n = max(stop - start, 0) if f.frames > 0 else -1
            data = f.read(frames=n, dtype="float32", always_2d=True)
    except AudioError:
        raise
    except Exception as exc:
        raise AudioError(_reason(exc), path=p) from exc
    if data.size == 0:
        raise AudioError("no audio samples (empty or zero-length)", path=p)
    if not np.isfinite(data).all():
        raise AudioError("contains NaN or infinite samples", path=p)
    y = data.mean(axis=1, dtype=np.float32) if mono else np.ascontiguousarray(data.T)
    if sr is not None and sr != native_sr:
        if mono:
            y = resample(y, orig_sr=native_sr, sr=sr)
        else:
            y = np.stack([resample(c, orig_sr=native_sr, sr=sr) for c in y])
    else:
        sr = native_sr
    if normalize:
        y = peak_normalize(y)
    return np.ascontiguousarray(y, dtype=np.float32), int(sr)


def peak_normalize(y: np.ndarray) -> np.ndarray:
    """``y / max|y|``, leaving an all-zero signal unchanged."""
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    return y / peak if peak > 0 else y


def fix_length(y: np.ndarray, n: int, *, pad_mode: str = "constant", crop: str = "center") -> np.ndarray:
    """Centre- (or start-) crop or pad ``y`` to exactly ``n`` samples.

    Padding is split evenly before and after (so a short clip sits in the middle of
    the window, as a centre crop puts a long clip's middle there); ``pad_mode`` is
    ``"constant"`` (zeros) or ``"edge"`` (repeat the first/last sample).
    """
    m = y.shape[-1]
    if m == n:
        return y
    if m > n:
        start = (m - n) // 2 if crop == "center" else 0
        return y[..., start : start + n]
    total = n - m
    before = total // 2 if crop == "center" else 0
    widths = [(0, 0)] * (y.ndim - 1) + [(before, total - before)]
    return np.pad(y, widths, mode=pad_mode)


def collect_paths(
    inputs: Iterable[str],
    *,
    extensions: frozenset[str] = AUDIO_EXTENSIONS,
    stdin=None,
) -> list[str]:
    """Expand command-line inputs into a list of audio file paths.

    * a directory is walked recursively, in sorted order, following symbolic links
      but never entering a directory twice (so a symlink loop ends);
    * ``-`` reads newline-separated paths from stdin (spaces and non-ASCII allowed;
      blank lines ignored); a terminal on stdin is a usage error, not a hang;
    * anything else is taken as a file path as given (a missing one fails when loaded,
      with its name).
    """
    out: list[str] = []
    for item in inputs:
        if item == "-":
            out.extend(read_path_list(stdin if stdin is not None else sys.stdin))
        elif os.path.isdir(item):
            out.extend(_walk(item, extensions))
        else:
            out.append(item)
    return out


def read_path_list(stream) -> list[str]:
    """Newline-separated paths from a text stream; refuses an interactive terminal."""
    if hasattr(stream, "isatty") and stream.isatty():
        raise UsageError("'-' reads paths from stdin, but stdin is a terminal; pipe a list of paths in")
    return [line.rstrip("\r\n") for line in stream if line.strip()]


def _walk(root: str, extensions: frozenset[str]) -> list[str]:
    found: list[str] = []
    seen: set[tuple[int, int]] = set()

    def visit(d: str) -> None:
        try:
            st = os.stat(d)
        except OSError:
            return
        key = (st.st_dev, st.st_ino)
        if key in seen:  # a symlink loop or a second link to a directory already walked
            return
        seen.add(key)
        try:
            entries = sorted(os.scandir(d), key=lambda e: e.name)
        except OSError:
            return
        for e in entries:
            if e.is_dir(follow_symlinks=True):
                visit(e.path)
            elif Path(e.name).suffix.lower() in extensions:
                found.append(e.path)

    visit(root)
    return found
