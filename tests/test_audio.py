"""audiokit.audio: decoding every format and bit depth, mono folding, resampling, ranged
reads, path collection, and the reason given for each kind of bad file.

All files are written by the tests with soundfile; expectations come from the signal that
was written (within the format's quantisation step) or from librosa on the same file.
"""

from __future__ import annotations

import io
import os

import librosa
import numpy as np
import pytest
import soundfile as sf

from audiokit import audio
from audiokit.errors import AudioError, UsageError

SR = 16000


def _signal(n=SR, channels=1, seed=0):
    """A sum of two sines per channel (different per channel), peak 0.5, float64 (frames, channels)."""
    t = np.arange(n) / SR
    rng = np.random.default_rng(seed)
    cols = [0.3 * np.sin(2 * np.pi * rng.uniform(200, 900) * t) + 0.2 * np.sin(2 * np.pi * rng.uniform(1000, 3000) * t)
            for _ in range(channels)]
    return np.stack(cols, axis=1)


# (format, subtype, max abs error of a round trip: the quantisation step of the subtype)
LOSSLESS = [
    ("WAV", "PCM_U8", 2.0**-7),
    ("WAV", "PCM_16", 2.0**-15),
    ("WAV", "PCM_24", 2.0**-23),
    ("WAV", "PCM_32", 1e-7),  # limited by float32, not by the 32-bit integers
    ("WAV", "FLOAT", 1e-7),
    ("WAV", "DOUBLE", 1e-7),
    ("FLAC", "PCM_S8", 2.0**-7),
    ("FLAC", "PCM_16", 2.0**-15),
    ("FLAC", "PCM_24", 2.0**-23),
]


@pytest.mark.parametrize("fmt,subtype,tol", LOSSLESS, ids=[f"{f}-{s}" for f, s, _ in LOSSLESS])
def test_lossless_round_trip_every_bit_depth(tmp_path, fmt, subtype, tol):
    x = _signal(channels=2)
    p = tmp_path / f"x.{fmt.lower()}"
    sf.write(p, x, SR, format=fmt, subtype=subtype)
    assert audio.info(p).subtype == subtype
    y, sr = audio.load(p, mono=False)
    assert sr == SR and y.dtype == np.float32 and y.shape == (2, SR)
    assert np.abs(y - x.T).max() <= tol
    m, _ = audio.load(p)  # mono = channel mean
    assert m.shape == (SR,)
    assert np.abs(m - x.mean(axis=1)).max() <= tol


LOSSY = [("OGG", "VORBIS", "ogg"), ("MP3", "MPEG_LAYER_III", "mp3")]


@pytest.mark.parametrize("fmt,subtype,ext", LOSSY, ids=[s for _, s, _ in LOSSY])
def test_lossy_round_trip(tmp_path, fmt, subtype, ext):
    if subtype not in sf.available_subtypes(fmt):
        pytest.skip(f"this libsndfile ({sf.__libsndfile_version__}) cannot write {fmt}/{subtype}")
    sr = 22050
    t = np.arange(sr) / sr
    x = 0.5 * np.sin(2 * np.pi * 440 * t)
    p = tmp_path / f"x.{ext}"
    sf.write(p, x, sr, format=fmt, subtype=subtype)
    y, got_sr = audio.load(p)
    assert got_sr == sr and y.shape == (sr,)
    # Same length, no delay (libsndfile strips the encoder's padding), error well below the signal.
    lag = np.argmax(np.correlate(y[2000:6000], x[2000:6000].astype(np.float32), "full")) - 3999
    assert lag == 0
    assert np.abs(y - x).max() < 0.1
    peak_hz = np.argmax(np.abs(np.fft.rfft(y))) * sr / len(y)
    assert abs(peak_hz - 440) <= 1


def test_any_channel_count_is_folded_by_mean(tmp_path):
    x = _signal(channels=6)
    p = tmp_path / "six.wav"
    sf.write(p, x, SR, subtype="FLOAT")
    y, _ = audio.load(p)
    np.testing.assert_allclose(y, x.mean(axis=1), atol=1e-7)


def test_blockwise_folding_equals_whole_read(tmp_path, monkeypatch):
    x = _signal(n=5000, channels=3)
    p = tmp_path / "three.wav"
    sf.write(p, x, SR, subtype="FLOAT")
    whole, _ = audio.load(p)
    monkeypatch.setattr(audio, "BLOCK_FRAMES", 777)  # many blocks, the last one partial
    blocks, _ = audio.load(p)
    part, _ = audio.load(p, offset=0.05, duration=0.1)
    assert np.array_equal(whole, blocks)
    assert np.array_equal(part, whole[800:2400])


@pytest.mark.parametrize("orig,target", [(44100, 22050), (48000, 22050), (16000, 22050), (8000, 22050),
                                         (22050, 16000), (22051, 16000)])
@pytest.mark.parametrize("n", [1000, 1001, 4410])
def test_resample_equals_librosa_soxr_hq(orig, target, n):
    y = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    ours = audio.resample(y, orig_sr=orig, sr=target)
    ref = librosa.resample(y, orig_sr=orig, target_sr=target, res_type="soxr_hq")
    assert ours.dtype == np.float32
    assert np.array_equal(ours, ref)


@pytest.mark.parametrize("channels", [1, 2])
def test_load_equals_librosa_load(tmp_path, channels):
    p = tmp_path / "a.wav"
    sf.write(p, _signal(n=44100, channels=channels), 44100, subtype="PCM_16")
    ours, sr = audio.load(p, sr=22050)
    ref, rsr = librosa.load(p, sr=22050, res_type="soxr_hq")
    assert sr == rsr == 22050
    np.testing.assert_allclose(ours, ref, atol=1e-6)  # identical but for float32 rounding of the mean


def test_offset_and_duration_read_only_that_part(tmp_path):
    x = _signal(n=2 * SR).astype(np.float32)[:, 0]
    x[int(1.5 * SR)] = np.nan  # poison the last half second
    p = tmp_path / "poisoned.wav"
    sf.write(p, x, SR, subtype="FLOAT")
    y, _ = audio.load(p, offset=0.25, duration=0.5)
    assert np.array_equal(y, x[SR // 4: 3 * SR // 4])  # exactly that range
    y, _ = audio.load(p, duration=1.0)  # the poisoned sample is never decoded
    assert y.shape == (SR,)
    with pytest.raises(AudioError, match="NaN or infinite"):
        audio.load(p)
    with pytest.raises(AudioError, match="past the end"):
        audio.load(p, offset=5.0)


def test_audio_file_reads_several_ranges(tmp_path):
    x = _signal(n=SR).astype(np.float32)[:, 0]
    p = tmp_path / "a.wav"
    sf.write(p, x, SR, subtype="FLOAT")
    with audio.AudioFile(p) as f:
        assert f.duration == 1.0 and f.info.channels == 1
        a, _ = f.read(offset=0.5, duration=0.1)
        b, _ = f.read(duration=0.1)
    assert np.array_equal(a, x[8000:9600]) and np.array_equal(b, x[:1600])


def test_peak_normalize_and_fix_length():
    y = np.array([0.0, -0.5, 0.25], dtype=np.float32)
    assert np.array_equal(audio.peak_normalize(y), [0.0, -1.0, 0.5])
    z = np.zeros(4, np.float32)
    assert np.array_equal(audio.peak_normalize(z), z)  # silence stays silence, no NaN
    y = np.arange(1, 6, dtype=np.float32)
    assert list(audio.fix_length(y, 3)) == [2, 3, 4]  # centre crop
    assert list(audio.fix_length(y, 3, crop="start")) == [1, 2, 3]
    assert list(audio.fix_length(y, 8)) == [0, 1, 2, 3, 4, 5, 0, 0]  # centred pad, extra sample after
    assert list(audio.fix_length(y, 8, crop="start")) == [1, 2, 3, 4, 5, 0, 0, 0]
    assert list(audio.fix_length(y, 8, pad_mode="edge")) == [1, 1, 2, 3, 4, 5, 5, 5]


# -- bad files: the reason each one gets -------------------------------------------------------

def _bad_files(d):
    """name → (path, expected reason substring)."""
    d.mkdir(exist_ok=True)
    out = {}
    (d / "empty.wav").write_bytes(b"")
    out["empty"] = (d / "empty.wav", "empty file (0 bytes)")
    sf.write(d / "zero.wav", np.zeros((0,)), SR)
    out["zero-length"] = (d / "zero.wav", "no audio samples")
    (d / "text.wav").write_text("this is not audio\n")
    out["not audio"] = (d / "text.wav", "not readable as audio")
    (d / "dir.wav").mkdir()
    out["directory"] = (d / "dir.wav", "is a directory")
    os.symlink("loop.wav", d / "loop.wav")
    out["symlink loop"] = (d / "loop.wav", "symbolic link loop")
    out["missing"] = (d / "missing.wav", "no such file")
    nan = np.full(100, 0.1, np.float32)
    nan[50] = np.nan
    sf.write(d / "nan.wav", nan, SR, subtype="FLOAT")
    out["nan"] = (d / "nan.wav", "NaN or infinite")
    inf = np.full(100, 0.1, np.float64)
    inf[10] = np.inf
    sf.write(d / "inf.wav", inf, SR, subtype="DOUBLE")
    out["inf"] = (d / "inf.wav", "NaN or infinite")
    return out


def test_every_bad_file_gets_its_reason(tmp_path):
    for name, (p, reason) in _bad_files(tmp_path / "bad").items():
        with pytest.raises(AudioError) as ei:
            audio.load(p)
        assert ei.value.path == str(p), name
        assert reason in ei.value.reason, (name, ei.value.reason)
        assert "\n" not in str(ei.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode; the directory and "
                                                "symlink-loop cases cover unreadable files instead")
def test_unreadable_file(tmp_path):
    p = tmp_path / "secret.wav"
    sf.write(p, np.zeros(100), SR)
    p.chmod(0)
    with pytest.raises(AudioError, match="ermission denied"):
        audio.load(p)


# -- collecting paths ----------------------------------------------------------------------

def test_walk_is_sorted_recursive_filtered_and_survives_symlink_loops(tmp_path):
    root = tmp_path / "data"
    for rel in ["b/2.wav", "b/10.flac", "a/z.ogg", "a/sub/x.WAV", "c.mp3", "notes.txt", ".hidden.wav",
                "a/._resource.wav", ".git/x.wav"]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"")
    os.symlink("..", root / "a" / "up")  # a loop back to data/
    os.symlink("../b", root / "a" / "b-again")  # a second way into b
    got = [os.path.relpath(p, root) for p in audio.collect_paths([str(root)])]
    assert got == ["a/b-again/10.flac", "a/b-again/2.wav", "a/sub/x.WAV", "a/z.ogg", "c.mp3"]


def test_explicit_paths_are_kept_as_given(tmp_path):
    assert audio.collect_paths(["x.txt", "missing.wav"]) == ["x.txt", "missing.wav"]


def test_paths_from_stdin_with_spaces_and_non_ascii():
    names = ["dir with spaces/a b.wav", "données/été – ♪.flac", "  leading.wav", "日本語/音.wav"]
    data = ("\n".join(names) + "\n\n").encode("utf-8")
    stream = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8")
    assert audio.collect_paths(["-"], stdin=stream) == names
    assert audio.read_path_list(io.StringIO("a.wav\r\nb c.wav\n")) == ["a.wav", "b c.wav"]


def test_stdin_terminal_is_refused():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    with pytest.raises(UsageError):
        audio.collect_paths(["-"], stdin=Tty())


def test_damaged_mp3_gives_one_reason_and_no_decoder_chatter(tmp_path):
    p = tmp_path / "junk.mp3"
    p.write_bytes(np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8).tobytes())
    code = ("import sys; from audiokit import audio\n"
            "for f in (audio.info, audio.load):\n"
            "    try: f(sys.argv[1])\n"
            "    except Exception as e: print(e, file=sys.stderr)\n")
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-c", code, str(p)], capture_output=True, text=True, timeout=120)
    # mpg123 would print "Note: Illegal Audio-MPEG-Header …" lines; only the two reasons remain
    assert r.stderr.splitlines() == [f"{p}: not readable as audio (unrecognised or corrupt data)"] * 2


def test_formats_libsndfile_cannot_decode_are_named_with_the_fix(tmp_path, caplog):
    """A phone's .m4a recordings: a walk says how many it left out; loading one says what to do."""
    (tmp_path / "sub").mkdir()
    for name in ("a.m4a", "sub/b.M4A", "c.wma", "d.wav"):
        (tmp_path / name).write_bytes(b"\0\0\0\x20ftypM4A " + bytes(200))
    with caplog.at_level("WARNING", logger="audiokit"):
        assert audio.collect_paths([str(tmp_path)]) == [str(tmp_path / "d.wav")]
    assert [r.getMessage() for r in caplog.records] == [
        f"{tmp_path}: left out 3 file(s) in formats that are not decoded (2 .m4a, 1 .wma); "
        "convert first, e.g. ffmpeg -i IN.m4a OUT.flac"]
    with pytest.raises(AudioError, match=r"\.m4a files are not decoded: convert first, e\.g\. ffmpeg"):
        audio.load(tmp_path / "a.m4a")
    with pytest.raises(AudioError) as exc:  # an unknown format under an audio name: no ffmpeg advice
        audio.load(tmp_path / "d.wav")
    assert "ffmpeg" not in str(exc.value)


def test_walk_leaves_out_fifos_instead_of_hanging(tmp_path):
    os.mkfifo(tmp_path / "pipe.wav")
    (tmp_path / "real.wav").write_bytes(b"")
    assert audio.collect_paths([str(tmp_path)]) == [str(tmp_path / "real.wav")]
