"""The bad-input corpus of the hardening tests, generated at test time (no binaries checked in).

:func:`build` writes, under one directory, every kind of audio file a messy real-world corpus
holds: good files of every format, bit depth, channel count and sample rate audiokit claims to
read; edge cases that may be used or refused (1 sample, a truncated FLAC or MP3); and files that
must be refused with a reason (zero bytes, a header without data, a header claiming 0 channels,
NaN/inf samples, text with an audio extension, a symlink loop, a directory named like a file, a
FIFO). Each file is an :class:`Entry` saying what every command must do with it.

:func:`long_wav` writes a long file (1 hour at 8 kHz by default) block by block, so making it
costs a fraction of a second and no memory.

Run ``python tests/corpus/__init__.py DIR`` to write the corpus somewhere to look at it.
"""

from __future__ import annotations

import os
import stat
import struct
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

#: Every sample rate the corpus covers (Hz).
RATES = (8000, 11025, 16000, 22050, 32000, 44100, 48000, 88200, 96000, 176400, 192000)
CLIP = 0.5  # seconds of every generated clip: long enough for every feature and f0 method


@dataclass
class Entry:
    """One input of the corpus.

    ``expect`` is what every audio-reading command must do with it: ``"ok"`` — used;
    ``"bad"`` — refused with a one-line reason naming it; ``"either"`` — used or refused, but
    cleanly. ``by_command`` overrides it for one command (``{"pitch": "bad"}``); ``reason`` is
    a fragment the refusal must contain. ``walked`` says whether a directory walk picks it up.
    """

    name: str
    path: Path
    kind: str
    expect: str
    reason: str | None = None
    by_command: dict = field(default_factory=dict)
    walked: bool = True

    def expect_for(self, command: str) -> str:
        return self.by_command.get(command, self.expect)


def tone(sr: int, *, seconds: float = CLIP, f0: float = 220.0, channels: int = 1, amp: float = 0.5) -> np.ndarray:
    """A harmonic tone (5 partials) ``(n,)`` or ``(n, channels)`` float64 in [-amp, amp]."""
    t = np.arange(int(round(sr * seconds))) / sr
    y = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, 6))
    y = amp * y / np.max(np.abs(y))
    return y if channels == 1 else np.stack([y * (1 - 0.1 * c) for c in range(channels)], axis=1)


def wav_bytes(*, channels: int, sr: int, bits: int, data: bytes, fmt_tag: int = 1,
              data_size: int | None = None) -> bytes:
    """A RIFF/WAVE file put together byte by byte, so that its header can say anything
    (0 channels, a data chunk longer than the file), which no writer library allows."""
    block = max(channels * bits // 8, 0)
    fmt = struct.pack("<HHIIHH", fmt_tag, channels, sr, sr * block, block, bits)
    size = len(data) if data_size is None else data_size
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", size) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def build(root: str | os.PathLike, *, fifo: bool = True) -> list[Entry]:
    """Write the corpus under ``root`` and return its entries (sorted by name).

    Files live in ``root/<kind>/`` so that label-from-directory featurizing works; the
    directory symlink loop (``root/loop/again -> ..``, back to root) must not make a walk endless.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    out: list[Entry] = []

    def put(name: str, kind: str, expect: str, writer, **kw) -> Path:
        p = root / kind / name
        p.parent.mkdir(parents=True, exist_ok=True)
        writer(p)
        out.append(Entry(name, p, kind, expect, **kw))
        return p

    def sfw(y, sr, **kw):
        return lambda p: sf.write(str(p), y, sr, **kw)

    def raw(b: bytes):
        return lambda p: p.write_bytes(b)

    # -- good: formats, bit depths, channels, rates, levels, names ---------------------------------
    for sr in RATES:
        put(f"rate_{sr}.wav", "rates", "ok", sfw(tone(sr), sr, subtype="PCM_16"))
    y = tone(22050)
    put("pcm_u8.wav", "depths", "ok", sfw(y, 22050, subtype="PCM_U8"))
    put("pcm_16.wav", "depths", "ok", sfw(y, 22050, subtype="PCM_16"))
    put("pcm_24.wav", "depths", "ok", sfw(y, 22050, subtype="PCM_24"))
    put("pcm_32.wav", "depths", "ok", sfw(y, 22050, subtype="PCM_32"))
    put("float_32.wav", "depths", "ok", sfw(y, 22050, subtype="FLOAT"))
    put("float_64.wav", "depths", "ok", sfw(y, 22050, subtype="DOUBLE"))
    put("pcm_24.flac", "formats", "ok", sfw(y, 22050, subtype="PCM_24"))
    put("vorbis.ogg", "formats", "ok", sfw(y, 22050, format="OGG", subtype="VORBIS"))
    put("layer3.mp3", "formats", "ok", sfw(y, 22050, format="MP3", subtype="MPEG_LAYER_III"))
    put("stereo.wav", "channels", "ok", sfw(tone(22050, channels=2), 22050))
    put("six_channels.wav", "channels", "ok", sfw(tone(22050, channels=6), 22050))
    put("six_channels.flac", "channels", "ok", sfw(tone(22050, channels=6), 22050))
    put("clipped.wav", "levels", "ok", sfw(np.clip(8 * tone(22050), -1, 1), 22050, subtype="PCM_16"))
    put("huge_float.wav", "levels", "ok", sfw(1e6 * tone(22050), 22050, subtype="FLOAT"))
    put("tiny_float.wav", "levels", "ok", sfw(1e-30 * tone(22050), 22050, subtype="FLOAT"))
    put("dc_only.wav", "levels", "ok", sfw(np.full(int(22050 * CLIP), 0.5), 22050, subtype="PCM_16"))
    put("silence.wav", "levels", "ok", sfw(np.zeros(int(22050 * CLIP)), 22050, subtype="PCM_16"))
    put("white_noise.wav", "levels", "ok",
        sfw(0.3 * np.random.default_rng(0).standard_normal(int(22050 * CLIP)), 22050, subtype="PCM_16"))
    put("with space in name.wav", "names", "ok", sfw(y, 22050))
    put("ünïcödé – 声音 ♪.wav", "names", "ok", sfw(y, 22050))
    put("UPPER.WAV", "names", "ok", sfw(y, 22050))
    put("-leading-dash.wav", "names", "ok", sfw(y, 22050))
    # Wrong extensions: libsndfile goes by the bytes, so these decode.
    flac_bytes = _bytes_of(y, 22050, "FLAC", "PCM_16")
    mp3_bytes = _bytes_of(y, 22050, "MP3", "MPEG_LAYER_III")
    wav16 = _bytes_of(y, 22050, "WAV", "PCM_16")
    put("flac_named.wav", "extensions", "ok", raw(flac_bytes))
    put("mp3_named.wav", "extensions", "ok", raw(mp3_bytes))
    put("wav_named.mp3", "extensions", "ok", raw(wav16))
    put("wav_named.ogg", "extensions", "ok", raw(wav16))

    # -- edge: may be used or refused, but cleanly ----------------------------------------------------
    one = struct.pack("<h", 12000)
    put("one_sample.wav", "edge", "either", raw(wav_bytes(channels=1, sr=22050, bits=16, data=one)),
        by_command={"pitch": "bad"})
    put("ten_ms.wav", "edge", "either", sfw(tone(22050, seconds=0.01), 22050), by_command={"pitch": "bad"})
    put("odd_data_size.wav", "edge", "either",
        raw(wav_bytes(channels=1, sr=22050, bits=16, data=wav16[44:][:4001])))
    # A data chunk claiming 4 GiB of which a few KiB are there: read what is there.
    put("claims_4gib.wav", "edge", "either",
        raw(wav_bytes(channels=1, sr=22050, bits=16, data=wav16[44:], data_size=0xFFFFFFF0)))
    put("truncated_half.wav", "truncated", "either", raw(wav16[: len(wav16) // 2]))
    put("truncated_half.flac", "truncated", "either", raw(flac_bytes[: len(flac_bytes) // 2]))
    put("truncated_half.mp3", "truncated", "either", raw(mp3_bytes[: len(mp3_bytes) // 2]))
    ogg = _bytes_of(y, 22050, "OGG", "VORBIS")
    put("truncated_half.ogg", "truncated", "either", raw(ogg[: len(ogg) // 2]))

    # -- bad: refused with a reason -----------------------------------------------------------------
    put("zero_bytes.wav", "bad", "bad", raw(b""), reason="empty file")
    put("zero_bytes.flac", "bad", "bad", raw(b""), reason="empty file")
    put("zero_bytes.mp3", "bad", "bad", raw(b""), reason="empty file")
    put("header_only.wav", "bad", "bad", raw(wav_bytes(channels=1, sr=22050, bits=16, data=b"")),
        reason="no audio samples")
    put("header_cut.wav", "bad", "bad", raw(wav16[:30]), reason="not readable as audio")
    put("header_cut.flac", "bad", "bad", raw(flac_bytes[:40]), reason="not readable as audio")
    put("header_cut.mp3", "bad", "bad", raw(mp3_bytes[:40]), reason="not readable as audio")
    put("header_cut.ogg", "bad", "bad", raw(ogg[:40]), reason="not readable as audio")
    put("zero_channels.wav", "bad", "bad", raw(wav_bytes(channels=0, sr=22050, bits=16, data=b"\0" * 1000)),
        reason="not readable as audio")
    put("zero_rate.wav", "bad", "bad", raw(wav_bytes(channels=1, sr=0, bits=16, data=b"\0" * 1000)),
        reason="not readable as audio")
    nan = tone(22050).astype(np.float32)
    nan[100] = np.nan
    put("nan.wav", "bad", "bad", sfw(nan, 22050, subtype="FLOAT"), reason="NaN or infinite")
    inf = tone(22050)
    inf[-1] = -np.inf
    put("inf.wav", "bad", "bad", sfw(inf, 22050, subtype="DOUBLE"), reason="NaN or infinite")
    put("text.wav", "bad", "bad", raw(b"this is not audio\n" * 50), reason="not readable as audio")
    put("random.mp3", "bad", "bad", raw(np.random.default_rng(1).bytes(4096)), reason="not readable as audio")
    put("html.flac", "bad", "bad", raw(b"<html><body>404 Not Found</body></html>\n"), reason="not readable as audio")
    # A symbolic link to itself: a file name that loops.
    p = root / "bad" / "self_loop.wav"
    os.symlink(p.name, p)
    out.append(Entry(p.name, p, "bad", "bad", reason="symbolic link loop"))
    p = root / "bad" / "dangling.wav"
    os.symlink("no-such-target.wav", p)
    out.append(Entry(p.name, p, "bad", "bad", reason="broken symbolic link"))
    # A directory named like an audio file: walked as a directory, refused as an explicit path.
    p = root / "bad" / "folder.wav"
    p.mkdir()
    out.append(Entry(p.name, p, "bad", "bad", reason="is a directory", walked=False))
    # A FIFO with an audio name: opening it would block until someone writes to it.
    if fifo:
        p = root / "bad" / "fifo.wav"
        os.mkfifo(p)
        out.append(Entry(p.name, p, "bad", "bad", reason="not a regular file"))
    # A directory symlink loop: root/loop/again -> .. (= root, which holds loop/ again).
    (root / "loop").mkdir()
    os.symlink("..", root / "loop" / "again")
    sf.write(str(root / "loop" / "inside.wav"), y, 22050)
    out.append(Entry("inside.wav", root / "loop" / "inside.wav", "loop", "ok"))
    return sorted(out, key=lambda e: str(e.path))


def unreadable(path: str | os.PathLike) -> Path:
    """A valid WAV with mode 000 (unreadable to anyone but root)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(p), tone(16000), 16000)
    p.chmod(0)
    return p


def long_wav(path: str | os.PathLike, *, seconds: float = 3600.0, sr: int = 8000, block_s: float = 60.0) -> Path:
    """A long 16-bit mono WAV: a 220 Hz tone with a slow level swell, written block by block
    (at 8 kHz an hour is 55 MiB on disk and takes well under a second to write)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    n_block = int(sr * block_s)
    total = int(sr * seconds)
    base = tone(sr, seconds=block_s, f0=220.0, amp=0.4)  # a whole number of periods per minute
    with sf.SoundFile(str(p), "w", samplerate=sr, channels=1, subtype="PCM_16") as f:
        done = 0
        while done < total:
            n = min(n_block, total - done)
            level = 0.5 + 0.5 * np.sin(2 * np.pi * done / total)
            f.write(base[:n] * level)
            done += n
    return p


#: Runs argv[2:] as its child and writes that child's peak RSS (KiB) to argv[1]. The launcher
#: matters: on Linux a process's ru_maxrss survives exec, so a command forked straight from a
#: big test process (torch loaded) would report the test process's size, not its own.
_LAUNCH = r"""
import os, signal, sys
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
_, status, ru = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(str(ru.ru_maxrss))
code = os.waitstatus_to_exitcode(status)
if code < 0:
    signal.signal(-code, signal.SIG_DFL)
    os.kill(os.getpid(), -code)
sys.exit(code)
"""


def measure(cmd: list[str], *, input: bytes | None = None, env: dict | None = None,
            timeout: float = 600) -> tuple[subprocess.CompletedProcess, float]:
    """Run ``cmd`` as a process; its result and its peak resident memory in MiB (``ru_maxrss``
    of that process alone, from ``wait4`` in a small launcher)."""
    import tempfile

    e = dict(os.environ)
    e["PATH"] = os.path.dirname(sys.executable) + os.pathsep + e.get("PATH", "")
    e.update(env or {})
    with tempfile.TemporaryDirectory() as d:
        rss = os.path.join(d, "rss")
        try:
            r = subprocess.run([sys.executable, "-c", _LAUNCH, rss, *map(str, cmd)], input=input, env=e,
                               capture_output=True, timeout=timeout, start_new_session=True)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{' '.join(map(str, cmd))} ran past {timeout} s") from None
        with open(rss) as f:
            return subprocess.CompletedProcess(cmd, r.returncode, r.stdout, r.stderr), int(f.read()) / 1024


def _bytes_of(y: np.ndarray, sr: int, fmt: str, subtype: str) -> bytes:
    import io

    buf = io.BytesIO()
    sf.write(buf, y, sr, format=fmt, subtype=subtype)
    return buf.getvalue()


def summary(entries: list[Entry]) -> dict[str, int]:
    """Entries counted by kind (for docs/reliability.md)."""
    counts: dict[str, int] = {}
    for e in entries:
        counts[e.kind] = counts.get(e.kind, 0) + 1
    return counts


def is_fifo(path: Path) -> bool:
    try:
        return stat.S_ISFIFO(os.lstat(path).st_mode)
    except OSError:
        return False


if __name__ == "__main__":
    entries = build(sys.argv[1] if len(sys.argv) > 1 else "corpus-out")
    for e in entries:
        print(f"{e.expect:6} {e.kind:10} {e.path}")
    print(summary(entries))
