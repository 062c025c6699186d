"""Decode, fold to mono, resample, normalise: the only module that reads audio.

Everything that turns a path into samples goes through :func:`load` (or an open
:class:`AudioFile` for several reads of one file), and everything that turns
command-line inputs into a list of audio paths goes through :func:`collect_paths`,
so validation and error messages are the same in every command.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import math
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from audiokit.errors import AudioError, UsageError

#: File name extensions that directory walks pick up (soundfile/libsndfile decodes them).
AUDIO_EXTENSIONS = frozenset(
    {".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".aifc", ".au", ".snd", ".w64", ".caf"}
)
#: Extensions of formats libsndfile does not decode (AAC/ALAC in MP4, WMA, AMR, WebM, ...):
#: a directory walk leaves them out with a warning, and loading one names the fix.
UNDECODED_EXTENSIONS = frozenset({".m4a", ".m4b", ".mp4", ".aac", ".alac", ".wma", ".amr", ".3gp", ".webm",
                                  ".mka", ".ape", ".wv", ".ac3", ".dts", ".mov"})
CONVERT_HINT = "convert first, e.g. ffmpeg -i IN.m4a OUT.flac"
#: Frames decoded per block when folding many channels to mono, so a long multichannel
#: file never needs its full (frames, channels) array in memory at once.
BLOCK_FRAMES = 1 << 18

_log = logging.getLogger("audiokit")


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


def _reason(path: str, exc: BaseException) -> str:
    """A one-line, user-facing reason why ``path`` could not be opened or decoded.

    libsndfile reports most failures as "System error." or "Format not recognised.";
    when it does, the file system is asked what is really wrong (missing, a directory,
    a symlink loop, no permission, empty), so the user reads the actual cause.
    """
    if "\0" in path:  # from a manifest or a path list: os.stat would raise ValueError
        return "invalid file name (it contains a NUL byte)"
    try:
        st = os.stat(path)
    except OSError as err:
        if err.errno == errno.ENOENT:
            return "no such file" if not os.path.islink(path) else "broken symbolic link"
        if err.errno == errno.ELOOP:
            return "unreadable (symbolic link loop)"
        return f"unreadable ({err.strerror or err})"
    import stat

    if stat.S_ISDIR(st.st_mode):
        return "is a directory, not an audio file"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if st.st_size == 0:
        return "empty file (0 bytes)"
    try:
        with open(path, "rb") as f:
            f.read(1)
    except OSError as err:
        return f"unreadable ({err.strerror or err})"
    text = _exc_text(exc)
    if "not a regular file" in text:
        # libsndfile's MP3 probe says "File does not exist or is not a regular file (possibly a
        # pipe?)" for any unrecognised bytes; the checks above show the file is there and regular.
        text = "unrecognised or corrupt data"
    ext = Path(path).suffix.lower()
    if ext in UNDECODED_EXTENSIONS:
        return f"not readable as audio ({text}; {ext} files are not decoded: {CONVERT_HINT})"
    return f"not readable as audio ({text})"


def _exc_text(exc: BaseException) -> str:
    """The decoder's own message, without libsndfile's "Error opening 'PATH': " prefix."""
    text = getattr(exc, "error_string", None) or str(exc)
    text = text.strip().splitlines()[0].strip() if text and text.strip() else type(exc).__name__
    return text.rstrip(".") or type(exc).__name__


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
        with _quiet_decoder():
            i = sf.info(p)
    except Exception as exc:  # soundfile raises LibsndfileError/RuntimeError/OSError variants
        raise AudioError(_reason(p, exc), path=p) from exc
    if i.channels < 1:
        raise AudioError("header claims no channels", path=p)
    if i.samplerate < 1:
        raise AudioError(f"invalid sample rate {i.samplerate}", path=p)
    return AudioInfo(p, int(i.samplerate), int(i.channels), int(max(i.frames, 0)), i.format, i.subtype)


def resample(y: np.ndarray, *, orig_sr: int, sr: int) -> np.ndarray:
    """Resample along the last axis with soxr's high-quality filter.

    The result equals ``librosa.resample(y, orig_sr=orig_sr, target_sr=sr, res_type="soxr_hq")``
    (same filter, same output length ``ceil(n * sr / orig_sr)``); soxr is called directly so
    that commands which never need librosa (``pitch``) do not pay its import time.
    """
    if orig_sr == sr:
        return y
    import soxr

    y = np.asarray(y, dtype=np.float32)
    if y.ndim > 1:
        return np.stack([resample(c, orig_sr=orig_sr, sr=sr) for c in y])
    n_out = int(math.ceil(y.shape[-1] * float(sr) / orig_sr))
    out = np.asarray(soxr.resample(y, orig_sr, sr, quality="HQ"), dtype=np.float32)
    # soxr may return a sample more or less than librosa's length; librosa.util.fix_length
    # then pads with zeros at the end or trims, and so do we.
    if out.shape[-1] > n_out:
        out = out[:n_out]
    elif out.shape[-1] < n_out:
        out = np.pad(out, (0, n_out - out.shape[-1]))
    return out


_quiet_lock = threading.Lock()
_quiet_depth = 0
_quiet_saved: int | None = None


@contextlib.contextmanager
def _quiet_decoder():
    """Send what the C decoders print straight to file descriptor 2 to /dev/null meanwhile.

    libsndfile's MP3 decoder (mpg123) writes "Note: Illegal Audio-MPEG-Header … Trying to
    resync…" lines to stderr for damaged or non-MP3 data, which would break the rule of one
    error line per bad file; the reason still reaches the user through the exception. Nested
    and concurrent uses share one redirection (a counter under a lock), so stderr is always
    restored.
    """
    global _quiet_depth, _quiet_saved
    with _quiet_lock:
        if _quiet_depth == 0:
            try:
                sys.stderr.flush()
            except Exception:
                pass
            try:
                _quiet_saved = os.dup(2)
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 2)
                os.close(devnull)
            except OSError:  # no fd 2 to begin with: nothing to silence
                _quiet_saved = None
        _quiet_depth += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_depth -= 1
            if _quiet_depth == 0 and _quiet_saved is not None:
                os.dup2(_quiet_saved, 2)
                os.close(_quiet_saved)
                _quiet_saved = None


class AudioFile:
    """An open audio file: its header, and reads of any range of it.

    Opening costs one header parse; several reads (prediction windows, a centre crop
    whose position depends on the length) then share it. Use as a context manager.

    Raises
    ------
    AudioError
        If the file cannot be opened as audio (with the real cause: missing, a directory,
        empty, a symlink loop, no permission, not audio).
    """

    def __init__(self, path: str | os.PathLike):
        import soundfile as sf

        self.path = os.fspath(path)
        try:
            with _quiet_decoder():
                self._f = sf.SoundFile(self.path)
        except Exception as exc:
            raise AudioError(_reason(self.path, exc), path=self.path) from exc
        f = self._f
        if f.channels < 1 or f.samplerate < 1:
            self.close()
            raise AudioError("header claims no channels or no sample rate", path=self.path)
        self.info = AudioInfo(self.path, int(f.samplerate), int(f.channels), int(max(f.frames, 0)),
                              f.format, f.subtype)

    @property
    def duration(self) -> float:
        """Length in seconds according to the header."""
        return self.info.duration

    def read(self, *, sr: int | None = None, mono: bool = True, normalize: bool = False, offset: float = 0.0,
             duration: float | None = None) -> tuple[np.ndarray, int]:
        """Decode ``duration`` seconds from ``offset`` (see :func:`load` for the parameters)."""
        p = self.path
        native_sr = self.info.sr
        total = self.info.frames
        start = int(round(max(offset, 0.0) * native_sr))
        if total > 0 and start >= total:
            raise AudioError(f"offset {offset:g} s is at or past the end ({self.info.duration:g} s)", path=p)
        n = -1 if duration is None else max(int(round(duration * native_sr)), 1)
        if total > 0:
            n = total - start if n < 0 else min(n, total - start)
        f = self._f
        with _decoding(p), _quiet_decoder():
            if start > 0:
                if not f.seekable():
                    raise AudioError("cannot seek in this file", path=p)
                f.seek(start)
            elif f.seekable():
                f.seek(0)
            if mono and f.channels > 1 and n > BLOCK_FRAMES:
                # Fold to mono block by block: peak memory is the mono signal plus one block.
                parts = [b.mean(axis=1, dtype=np.float32) for b in _blocks(f, BLOCK_FRAMES, n)]
                y = np.concatenate(parts) if parts else np.zeros(0, np.float32)
            else:
                data = f.read(frames=n, dtype="float32", always_2d=True)
                if mono:
                    y = data[:, 0] if data.shape[1] == 1 else data.mean(axis=1, dtype=np.float32)
                else:
                    y = data.T
        if y.shape[-1] == 0:
            raise AudioError("no audio samples (zero-length)", path=p)
        if not np.isfinite(y).all():
            raise AudioError("contains NaN or infinite samples", path=p)
        if sr is not None and sr != native_sr:
            y = resample(y, orig_sr=native_sr, sr=sr)
        else:
            sr = native_sr
        if normalize:
            y = peak_normalize(y)
        return np.ascontiguousarray(y, dtype=np.float32), int(sr)

    def stream(self, *, sr: int | None = None, block_frames: int = BLOCK_FRAMES) -> Iterator[np.ndarray]:
        """The whole file as consecutive mono float32 blocks at ``sr``, for analyses whose memory
        must not grow with the file's length (mfcc-stats of a long recording).

        Channels are folded by their mean and the blocks are resampled as one stream (soxr's
        streaming API gives the same samples as the one-shot resampler; the total length is
        that of :func:`resample`), so the blocks put together equal ``read(sr=sr)``.

        Raises
        ------
        AudioError
            Decoding failed, the file has no samples, or a sample is NaN or infinite.
        """
        p = self.path
        native = self.info.sr
        rs = None
        if sr is not None and sr != native:
            import soxr

            rs = soxr.ResampleStream(native, sr, 1, dtype="float32", quality="HQ")
        n_in = n_out = 0
        with _decoding(p):
            if self._f.seekable():
                self._f.seek(0)
            for b in _blocks(self._f, block_frames):
                y = b[:, 0].copy() if b.shape[1] == 1 else b.mean(axis=1, dtype=np.float32)
                if not np.isfinite(y).all():
                    raise AudioError("contains NaN or infinite samples", path=p)
                n_in += len(y)
                if rs is not None:
                    y = rs.resample_chunk(y, last=False)
                if len(y):
                    n_out += len(y)
                    yield y
            if rs is not None:
                tail = rs.resample_chunk(np.zeros(0, np.float32), last=True)
                want = int(math.ceil(n_in * float(sr) / native)) - n_out
                tail = tail[:max(want, 0)] if len(tail) >= want else np.pad(tail, (0, want - len(tail)))
                if len(tail):
                    yield np.asarray(tail, dtype=np.float32)
        if n_in == 0:
            raise AudioError("no audio samples (zero-length)", path=p)

    def close(self) -> None:
        f = getattr(self, "_f", None)
        if f is not None:
            try:
                f.close()
            except Exception:
                pass
            self._f = None

    def __enter__(self) -> "AudioFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@contextlib.contextmanager
def _decoding(path: str):
    """Any failure of the decoder as one :class:`AudioError` naming ``path`` (the one mapping
    :meth:`AudioFile.read` and :meth:`AudioFile.stream` share)."""
    try:
        yield
    except AudioError:
        raise
    except MemoryError:
        raise AudioError("out of memory while decoding", path=path) from None
    except Exception as exc:
        raise AudioError(f"decoding failed ({_exc_text(exc)})", path=path) from exc


def _blocks(f, blocksize: int, frames: int = -1) -> Iterator[np.ndarray]:
    """Consecutive ``(n, channels)`` float32 blocks of an open file: ``frames`` of them (-1: to the end).

    Not ``SoundFile.blocks``: when the decoder delivers fewer frames than the header claims (a
    truncated or damaged MP3), that yields its whole block buffer anyway, uninitialised memory
    included. ``read`` returns only what was decoded.
    """
    left = frames
    while left != 0:
        with _quiet_decoder():  # also when streaming: mpg123's resync notes stay off stderr
            b = f.read(frames=blocksize if left < 0 else min(blocksize, left), dtype="float32", always_2d=True)
        if not len(b):
            return
        yield b
        if left > 0:
            left -= len(b)


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
        WAV, FLAC, OGG/Vorbis, MP3 or anything else libsndfile decodes; integer samples
        of 8 to 32 bits or float are scaled to [-1, 1] floats.
    sr : int or None
        Target sample rate; ``None`` keeps the file's own rate. Resampling is
        ``librosa.resample(..., res_type="soxr_hq")``.
    mono : bool
        Fold any number of channels to one by their mean (the KNN paper's stereo → mono).
    normalize : bool
        Peak-normalise, ``x / max|x|`` (the KNN paper); a silent signal is left as is.
    offset, duration : float
        Seconds to skip, and seconds to read (``None``: to the end). Only that range is
        decoded, so a clip from a long file costs what the clip costs; several channels
        are folded block by block, so memory stays at the size of the mono result.

    Returns
    -------
    y : np.ndarray
        ``(n,)`` when ``mono``, else ``(channels, n)``, float32.
    sr : int
        The sample rate of ``y``.

    Raises
    ------
    AudioError
        Unreadable, not audio, no samples, offset past the end, or non-finite samples,
        with the path and the reason.

    Examples
    --------
    >>> import numpy as np, soundfile as sf, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "a.wav")
    >>> sf.write(p, np.zeros((800, 2)), 8000)
    >>> y, sr = load(p, sr=16000)
    >>> y.shape, sr
    ((1600,), 16000)
    """
    with AudioFile(path) as f:
        return f.read(sr=sr, mono=mono, normalize=normalize, offset=offset, duration=duration)


def peak_normalize(y: np.ndarray) -> np.ndarray:
    """``y / max|y|``, leaving an all-zero signal unchanged."""
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    return y / peak if peak > 0 else y


def fix_length(y: np.ndarray, n: int, *, pad_mode: str = "constant", crop: str = "center") -> np.ndarray:
    """Centre- (or start-) crop or pad ``y`` to exactly ``n`` samples.

    With ``crop="center"`` padding is split evenly before and after (the extra sample, if
    any, goes after), so a short clip sits in the middle of the window as a centre crop
    puts a long clip's middle there; with ``crop="start"`` the clip keeps its start and
    padding goes at the end. ``pad_mode`` is ``"constant"`` (zeros) or ``"edge"`` (repeat
    the first/last sample).
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

    * a directory is walked recursively in sorted order (by name, so the result does not
      depend on the file system), following symbolic links but never entering a directory
      twice (so a symlink loop ends); only files with an audio extension are taken, and
      hidden entries (names starting with ``.``, such as macOS ``._x.wav`` resource files)
      are left out;
    * ``-`` reads newline-separated paths from stdin (spaces and non-ASCII allowed;
      blank lines ignored); a terminal on stdin is a usage error, not a hang;
    * anything else is taken as a file path as given (a missing or bad one fails when
      loaded, with its name and the reason).
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
    """Newline-separated paths from a text stream; refuses an interactive terminal.

    Bytes that are not valid in the locale's encoding are kept as surrogate escapes (the
    way Python spells file names), so any path the file system holds can be listed.
    """
    if hasattr(stream, "isatty") and stream.isatty():
        raise UsageError("'-' reads paths from stdin, but stdin is a terminal; pipe a list of paths in")
    raw = getattr(stream, "buffer", None)
    if raw is not None:
        lines = (os.fsdecode(b) for b in raw.read().split(b"\n"))
    else:
        lines = iter(stream.read().split("\n"))
    return [ln.rstrip("\r") for ln in lines if ln.strip()]


def _special_file(entry: os.DirEntry) -> bool:
    """Whether a directory entry is a FIFO, socket or device (not a regular file); a missing
    target or a symlink loop is not special here: it is reported with its reason when loaded."""
    import stat

    try:
        return not stat.S_ISREG(entry.stat(follow_symlinks=True).st_mode)
    except OSError:
        return False


def _walk(root: str, extensions: frozenset[str]) -> list[str]:
    found: list[str] = []
    seen: set[tuple[int, int]] = set()
    undecoded: dict[str, int] = {}  # extension -> files left out (a phone's .m4a recordings)

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
        except OSError as exc:
            _log.warning(f"{d}: cannot list directory ({exc.strerror or exc}); left out")
            return
        for e in entries:
            if e.name.startswith("."):
                continue
            try:
                is_dir = e.is_dir(follow_symlinks=True)
            except OSError:  # a symlink loop on a file name: taken as a file, reported when loaded
                is_dir = False
            if is_dir:
                visit(e.path)
                continue
            ext = Path(e.name).suffix.lower()
            if ext in extensions:
                if _special_file(e):
                    # Opening a FIFO blocks until something writes to it: a walk would hang.
                    _log.warning(f"{e.path}: not a regular file (a FIFO, socket or device); left out")
                    continue
                found.append(e.path)
            elif ext in UNDECODED_EXTENSIONS:
                undecoded[ext] = undecoded.get(ext, 0) + 1

    visit(root)
    if undecoded:
        kinds = ", ".join(f"{n} {ext}" for ext, n in sorted(undecoded.items()))
        _log.warning(f"{root}: left out {sum(undecoded.values())} file(s) in formats that are not decoded "
                     f"({kinds}); {CONVERT_HINT}")
    return found
