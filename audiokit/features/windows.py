"""Windows: how a clip of any length becomes items of a fixed-duration model.

A ``logmel``/``mfcc`` model takes items of ``model_frames`` frames (its training
``duration``). Whatever is longer — an audio file given to ``predict``, or a store item
of a longer duration given to ``eval``/``predict`` — is cut into windows of that many
frames, and whatever is shorter is padded. The rule, in frames (one frame per
``hop_length`` samples, ``1 + n // hop_length`` frames for ``n`` samples):

* ``F == model_frames``: one item, as it is.
* ``F > model_frames``: windows starting at ``0, s, 2s, …`` (``s = model_frames // 2``,
  50 % overlap) while the window fits; one more, ending at the last frame, when more than
  a quarter of a window would be left uncovered; at most ``max_windows`` (64), evenly
  spaced, when there are more (:func:`window_starts`).
* ``F < model_frames``: padded to ``model_frames`` frames as featurize pads samples, placed
  by ``crop`` (``center``: split before/after, the extra frame after; ``start``: after),
  with the value of silence for ``pad_mode="constant"`` (:func:`silence_frame`) or the edge
  frame for ``pad_mode="edge"`` (:func:`pad_frames`).

Windows are slices of the features of the *whole* clip: for a file, the file's samples
are peak-normalised as one clip (``normalize``) and a log-mel is in dB relative to the
loudest bin of the whole file — exactly what a store item of the file's whole length
holds. So ``eval``/``predict`` on a store whose items are the whole files give the same
probabilities as ``predict`` on the files (tests/test_windows.py). A file no longer than
the model's item is featurized exactly as ``featurize`` makes a store item (padded in the
sample domain); only store items, which have no samples left, are padded in the feature
domain.

Memory stays bounded: files up to :data:`IN_MEMORY_SECONDS` are featurized in one piece;
longer ones are streamed twice (the peak, then the mel power block by block), keeping
only the frames that the at most 64 windows use (:func:`file_windows`).
"""

from __future__ import annotations

import math

import numpy as np

from audiokit.errors import AudioError, UsageError
from audiokit.features import SEQUENCE_KINDS, FeatureConfig

#: At most this many windows per file or store item (evenly spaced over it).
MAX_WINDOWS = 64
#: Files longer than this (seconds) are featurized as a stream (:func:`_stream_windows`)
#: instead of in one piece, so memory does not grow with the length of a recording.
IN_MEMORY_SECONDS = 120.0
#: librosa.power_to_db's ``amin``, and the fixed ``top_db`` of the dB scale under MFCCs.
_AMIN, _MFCC_TOP_DB = 1e-10, 80.0


def frames_for(cfg: FeatureConfig, n_samples: int | None = None) -> int | None:
    """STFT frames of ``n_samples`` samples (default: an item of ``cfg``), librosa's
    centred framing: ``1 + n // hop_length``. None for an item without a fixed duration."""
    n = cfg.n_samples if n_samples is None else n_samples
    return None if n is None else 1 + int(n) // cfg.hop_length


def window_starts(n_frames: int, win: int, max_windows: int = MAX_WINDOWS) -> np.ndarray:
    """First frames of the windows of ``win`` frames that cover ``n_frames`` frames (the rule
    above). ``n_frames <= win`` gives ``[0]`` (one item, padded if shorter).

    >>> window_starts(107, 32).tolist()  # 3.4 s in windows of 1 s (16 kHz, hop 512)
    [0, 16, 32, 48, 64, 75]
    >>> window_starts(164, 156).tolist()  # 3.8 s in windows of 3.6 s: the 0.2 s tail is dropped
    [0]
    """
    if n_frames <= win:
        return np.zeros(1, dtype=np.int64)
    step = max(1, win // 2)
    starts = np.arange(0, n_frames - win + 1, step, dtype=np.int64)
    if n_frames - (starts[-1] + win) > 0.25 * win:
        starts = np.append(starts, n_frames - win)  # cover the tail
    if len(starts) > max_windows:
        starts = starts[np.linspace(0, len(starts) - 1, max_windows).round().astype(int)]
    return starts


def n_windows(n_frames: int, win: int, max_windows: int = MAX_WINDOWS) -> int:
    """How many items a clip of ``n_frames`` frames gives (1 when it is not longer than ``win``)."""
    return len(window_starts(n_frames, win, max_windows))


def silence_frame(feats: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """The feature frame, ``(bins,)``, of the silence that featurize pads a short clip with
    (``pad_mode="constant"``: zero samples), from a clip's features ``(bins, F)``.

    * ``logmel``: zero power sits at ``power_to_db``'s floor, ``top_db`` below the clip's
      loudest bin: ``feats.max() - top_db`` in every band (without ``top_db``: the clip's
      quietest value).
    * ``mfcc``: the dB spectrum under MFCCs is floored 80 dB below the clip's loudest mel bin,
      so silence is a flat spectrum at that floor, whose DCT is ``[c0, 0, 0, …]``. When the
      clip has such a frame already (any clip featurize padded has), its ``c0`` is used as
      it is. Otherwise the loudest bin is estimated from the spectral envelope the MFCCs
      keep (their inverse DCT; within about 10 dB on tones, chords, chirps and noise), and
      ``c0`` is capped at the clip's quietest frame's.
    """
    if cfg.kind == "logmel":
        value = feats.max() - cfg.top_db if cfg.top_db is not None else feats.min()
        return np.full(feats.shape[0], value, dtype=feats.dtype)
    if cfg.kind != "mfcc":
        raise UsageError(f"{cfg.kind} items have no frames to pad")
    from audiokit.features import dsp

    out = np.zeros(feats.shape[0], dtype=feats.dtype)
    c0 = feats[0].astype(np.float64)
    t = int(np.argmin(c0))
    rest = np.abs(feats[1:, t]).max() if feats.shape[0] > 1 else 0.0
    if rest <= 1e-3 * max(1.0, abs(c0[t])):  # a silent (flat) frame: the floor itself
        out[0] = c0[t]
        return out
    full = np.zeros((cfg.n_mels, feats.shape[1]))
    full[:min(cfg.n_mels, feats.shape[0])] = feats[:cfg.n_mels]
    loudest = float((dsp.dct_matrix(cfg.n_mels, cfg.n_mels).T @ full).max())  # the inverse (orthonormal) DCT
    out[0] = min((loudest - _MFCC_TOP_DB) * math.sqrt(cfg.n_mels), c0[t])
    return out


def pad_frames(feats: np.ndarray, win: int, cfg: FeatureConfig) -> np.ndarray:
    """A clip's features ``(bins, F)`` padded to ``win`` frames: where featurize puts padding
    (``crop``), with silence (``pad_mode="constant"``) or the edge frames (``"edge"``)."""
    total = win - feats.shape[-1]
    if total <= 0:
        return feats
    before = total // 2 if cfg.crop == "center" else 0
    widths = ((0, 0),) * (feats.ndim - 1) + ((before, total - before),)
    if cfg.pad_mode == "edge":
        return np.pad(feats, widths, mode="edge")
    frame = silence_frame(feats, cfg)[:, None]
    return np.concatenate([np.repeat(frame, before, axis=1), feats, np.repeat(frame, total - before, axis=1)],
                          axis=-1).astype(feats.dtype, copy=False)


def take_windows(feats: np.ndarray, starts, win: int) -> np.ndarray:
    """``(W, bins, win)``: the frames ``[s, s + win)`` of ``feats`` for each start ``s``."""
    return np.stack([feats[..., s:s + win] for s in starts])


def item_windows(feats: np.ndarray, cfg: FeatureConfig, win: int, *, max_windows: int = MAX_WINDOWS) -> np.ndarray:
    """The model items ``(W, bins, win)`` of one clip's features ``(bins, F)`` — a store item of
    another duration, or a whole file's features: the one rule for ``eval`` and ``predict``.

    ``cfg`` gives ``crop``, ``pad_mode`` and ``top_db`` for padding; ``win`` is the model's
    frame count (:func:`frames_for` of the model's configuration).
    """
    F = feats.shape[-1]
    if F == win:
        return feats[None]
    if F < win:
        return pad_frames(feats, win, cfg)[None]
    return take_windows(feats, window_starts(F, win, max_windows), win)


# -- audio files (predict) --------------------------------------------------------------------------

def _resampled_length(frames: int, native_sr: int, sr: int) -> int:
    """Samples of a file of ``frames`` native samples once resampled to ``sr`` (as audio.resample)."""
    return frames if native_sr == sr else int(math.ceil(frames * float(sr) / native_sr))


def file_windows(cfg: FeatureConfig, path: str, *, max_windows: int = MAX_WINDOWS) -> np.ndarray:
    """A whole file as a stack of items ``(W, *item_shape)`` for prediction.

    For ``logmel``/``mfcc`` with a fixed duration: a file no longer than an item is one item,
    exactly as featurize makes it (cropped/padded samples, normalised, featurized); a longer
    file is featurized whole (normalised as one clip, log-mel referred to its loudest bin)
    and cut by :func:`item_windows`. Other kinds give one item ``(1, *item_shape)``.

    Raises
    ------
    AudioError
        The file cannot be used (unreadable, empty, non-finite), naming it.
    """
    from audiokit import audio
    from audiokit.features import extract, extract_file

    if cfg.kind == "f0-range":
        raise UsageError("f0-range models take pairs of files (a lowest and a highest note), not single files")
    if cfg.kind not in SEQUENCE_KINDS or cfg.duration is None:
        return extract_file(cfg, path)[None]
    win = frames_for(cfg)
    with audio.AudioFile(path) as f:
        n = _resampled_length(f.info.frames, f.info.sr, cfg.sr)
        if n <= cfg.n_samples:
            feats = None  # one item, as featurize makes it (below, after closing the file)
        elif f.duration > IN_MEMORY_SECONDS:
            feats = _stream_windows(cfg, f, win, max_windows)
        else:
            y, _ = f.read(sr=cfg.sr)
            if len(y) <= cfg.n_samples:  # the header claimed more than there is
                feats = None
            else:
                if cfg.normalize:
                    y = audio.peak_normalize(y)
                try:
                    whole = extract(cfg.replace(duration=None), y)
                except AudioError as exc:
                    raise AudioError(exc.reason, path=path) from exc
                feats = item_windows(whole, cfg, win, max_windows=max_windows)
    if feats is None:
        feats = extract_file(cfg, path)[None]
    if not np.isfinite(feats).all():
        raise AudioError("features are not finite", path=path)
    return feats


def _stream_windows(cfg: FeatureConfig, f, win: int, max_windows: int) -> np.ndarray:
    """:func:`item_windows` of a long open file's whole features, in memory that does not grow
    with its length: a first pass over the samples gives their count and peak, a second the
    mel power block by block (:func:`audiokit.features._mel_power_stream`, frames cut exactly as
    one STFT of the whole signal cuts them), of which only the windows' frames are kept, plus
    the loudest bin for the dB reference. Equals the in-memory computation to float rounding.
    """
    from audiokit.features import STREAM_FRAMES, _mel_power_stream, dsp

    block = max(cfg.n_fft, int(STREAM_FRAMES * cfg.hop_length * f.info.sr / cfg.sr))
    n, peak = 0, 0.0
    for y in f.stream(sr=cfg.sr, block_frames=block):
        n += len(y)
        peak = max(peak, float(np.max(np.abs(y))) if len(y) else 0.0)
    F = frames_for(cfg, n)
    starts = window_starts(F, win, max_windows)
    need = np.zeros(F, dtype=bool)
    for s in starts:
        need[s:s + win] = True
    where = np.cumsum(need) - 1  # frame t → its column in `kept`
    kept = np.empty((cfg.n_mels, int(need.sum())), dtype=np.float32)
    smax = 0.0
    t = 0
    for S in _mel_power_stream(cfg, f, scale=peak if (cfg.normalize and peak > 0) else 1.0):
        k = min(S.shape[1], F - t)
        if k <= 0:
            break
        smax = max(smax, float(S.max()))
        sel = need[t:t + k]
        if sel.any():
            kept[:, where[t:t + k][sel]] = S[:, :k][:, sel]
        t += k
    if t < F:
        raise AudioError(f"decoded {t} frames of the {F} expected", path=f.path)
    if cfg.kind == "logmel":
        db = dsp.power_to_db(kept, ref=smax, amin=_AMIN, top_db=None)
        if cfg.top_db is not None:  # the whole clip's loudest bin is 0 dB
            db = np.maximum(db, -cfg.top_db)
        feats = db.astype(np.float32)
    else:
        db = dsp.power_to_db(kept, amin=_AMIN, top_db=None)
        db = np.maximum(db, 10.0 * np.log10(max(_AMIN, smax)) - _MFCC_TOP_DB).astype(np.float32)
        feats = dsp.mfcc(db, cfg.n_mfcc).astype(np.float32)
    return take_windows(feats, where[starts], win)
