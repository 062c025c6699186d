"""Property-based fuzzing (hypothesis) of every reader of untrusted input: the audio loader, label
parsing (names, regexes, label maps, manifests), the feature-store reader and the model-file
reader, plus the CLI on a few of them.

The property is the same everywhere: the reader either returns a consistent result (finite audio
of a sane shape, items with string labels, a store whose lengths agree, a model whose predictions
are probabilities) or raises audiokit's own error naming the file. Never another exception, never
a crash, never a hang, never memory in proportion to what a damaged header claims.

Readers of binary files run in a forked child per example (libsndfile and libhdf5 are C code: a
crash or an endless loop there must fail the test, not take pytest down), under a deadline, and the
child's peak RSS above its parent's is checked.

Budget: each test runs a fixed number of examples with derandomised generation (the same examples
in every run, so CI is reproducible); ``AUDIOKIT_FUZZ_EXAMPLES=N`` runs N examples per test instead,
``AUDIOKIT_FUZZ_RANDOM=1`` draws new examples on each run (``fuzz/run.sh`` does both for long runs).
The number of examples run per target is printed at the end of the module (and written as JSON to
``AUDIOKIT_FUZZ_REPORT`` when set). Fixed, hand-picked examples of the bugs fuzzing found are
kept as ``@example``s. The hostile files made on purpose (pickles, links, absurd sizes) are in
tests/test_hardening_files.py; random damage with a seeded RNG is there too.
"""

from __future__ import annotations

import collections
import contextlib
import io
import json
import os
import resource
import select
import signal
import struct
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import corpus
from helpers import Cli

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

_N = os.environ.get("AUDIOKIT_FUZZ_EXAMPLES")
settings.register_profile(
    "audiokit-fuzz", deadline=None, database=None, print_blob=True,
    derandomize=not os.environ.get("AUDIOKIT_FUZZ_RANDOM"),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                           HealthCheck.data_too_large, HealthCheck.filter_too_much])
_BASE = settings.get_profile("audiokit-fuzz")


def fuzz(n: int) -> settings:
    """The module's settings with ``n`` examples (or ``AUDIOKIT_FUZZ_EXAMPLES``)."""
    return settings(_BASE, max_examples=int(_N) if _N else n)


#: Examples run per target (every call counts, shrinking included), printed at module end.
COUNTS: collections.Counter = collections.Counter()


@pytest.fixture(scope="module", autouse=True)
def _report(request):
    start = time.monotonic()
    yield
    total = sum(COUNTS.values())
    line = (f"fuzz: {total} examples in {time.monotonic() - start:.1f} s: "
            + ", ".join(f"{k} {v}" for k, v in sorted(COUNTS.items())))
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext():
        print(f"\n{line}", flush=True)
    if os.environ.get("AUDIOKIT_FUZZ_REPORT"):
        with open(os.environ["AUDIOKIT_FUZZ_REPORT"], "w") as f:
            json.dump({"total": total, "seconds": round(time.monotonic() - start, 1), "per_target": dict(COUNTS)}, f)


# -- running a reader in a forked child ----------------------------------------------------------------

#: Most memory a reader may take above what its process held before (MiB).
RSS_LIMIT_MB = 400


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _vm_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def in_child(fn, *, timeout: float = 30.0) -> str:
    """``fn()`` in a forked child: ``"ok..."`` (what ``fn`` returned), ``"refused: MESSAGE"`` (an
    AudiokitError), ``"crash: ..."`` (another exception, a signal), ``"hang"`` or ``"memory: ..."``
    (peak RSS more than :data:`RSS_LIMIT_MB` above the parent's). The child's address space is
    capped 3 GiB above the parent's, so a runaway allocation fails there, not on the machine."""
    base = _rss_mb()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            cap = _vm_bytes() + (3 << 30)
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
            try:
                msg = "ok " + (fn() or "")
            except Exception as exc:
                from audiokit.errors import AudiokitError

                msg = (f"refused: {exc}" if isinstance(exc, AudiokitError)
                       else f"crash: {type(exc).__name__}: {exc}")
            os.write(w, msg.encode("utf-8", "backslashreplace")[:16000])
        finally:
            os._exit(0)
    os.close(w)
    try:
        ready, _, _ = select.select([r], [], [], timeout)
        if not ready:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "hang"
        chunks = []
        while True:
            b = os.read(r, 65536)
            if not b:
                break
            chunks.append(b)
        _, status, ru = os.wait4(pid, 0)
    finally:
        os.close(r)
    if os.WIFSIGNALED(status):
        return f"crash: signal {os.WTERMSIG(status)}"
    msg = b"".join(chunks).decode() or "crash: no outcome"
    grew = ru.ru_maxrss / 1024 - base
    if grew > RSS_LIMIT_MB:
        return f"memory: {grew:.0f} MiB above the parent ({msg[:200]})"
    return msg


def assert_clean(outcome: str, path) -> None:
    """Read consistently, or refused with a message naming ``path``."""
    assert outcome.startswith(("ok", "refused: ")), outcome
    if outcome.startswith("refused: "):
        assert str(path) in outcome, outcome
        assert "\n" not in outcome.strip(), outcome


# == the audio loader ====================================================================================

def _wav(channels: int, sr: int, bits: int, y: np.ndarray, fmt_tag: int = 1) -> bytes:
    """A canonical 44-byte-header WAV (field offsets known: see :data:`WAV_FIELDS`)."""
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    y = np.repeat(y[:, :1], channels, axis=1) if y.shape[1] != channels else y
    if fmt_tag == 3:
        data = y.astype("<f4" if bits == 32 else "<f8").tobytes()
    elif bits == 8:
        data = np.round(y * 127 + 128).astype("u1").tobytes()
    elif bits == 24:
        i = np.round(y * (2**23 - 1)).astype("<i4").tobytes()
        data = b"".join(i[k:k + 3] for k in range(0, len(i), 4))
    else:
        data = np.round(y * (2**(bits - 1) - 1)).astype(f"<i{bits // 8}").tobytes()
    return corpus.wav_bytes(channels=channels, sr=sr, bits=bits, data=data, fmt_tag=fmt_tag)


def _encoded(y, sr, fmt, subtype) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, y, sr, format=fmt, subtype=subtype)
    return buf.getvalue()


_T = corpus.tone(8000, seconds=0.2)
#: Valid files to damage: (bytes, extension). Long enough to decode, short enough to fuzz fast; one
#: stereo file longer than audio.BLOCK_FRAMES takes the block-by-block mono fold.
BASES = {
    "wav16": (_wav(1, 8000, 16, _T), ".wav"),
    "wav24_stereo": (_wav(2, 16000, 24, corpus.tone(16000, seconds=0.1)), ".wav"),
    "wav_u8": (_wav(1, 8000, 8, _T), ".wav"),
    "wav_float": (_wav(1, 8000, 32, _T, fmt_tag=3), ".wav"),
    "wav16_6ch": (_wav(6, 8000, 16, corpus.tone(8000, seconds=0.05)), ".wav"),
    "flac": (_encoded(_T, 8000, "FLAC", "PCM_16"), ".flac"),
    "flac_stereo": (_encoded(corpus.tone(8000, seconds=0.2, channels=2), 8000, "FLAC", "PCM_24"), ".flac"),
    "flac_long_stereo": (_encoded(corpus.tone(8000, seconds=40, channels=2), 8000, "FLAC", "PCM_16"), ".flac"),
    "ogg": (_encoded(_T, 8000, "OGG", "VORBIS"), ".ogg"),
    "mp3": (_encoded(corpus.tone(16000, seconds=0.3), 16000, "MP3", "MPEG_LAYER_III"), ".mp3"),
    "aiff": (_encoded(_T, 8000, "AIFF", "PCM_16"), ".aiff"),
    "au": (_encoded(_T, 8000, "AU", "PCM_16"), ".au"),
}
#: Header fields of the canonical WAV: name -> (offset, size in bytes).
WAV_FIELDS = {"riff_size": (4, 4), "fmt_size": (16, 4), "format_tag": (20, 2), "channels": (22, 2),
              "sample_rate": (24, 4), "byte_rate": (28, 4), "block_align": (32, 2),
              "bits_per_sample": (34, 2), "data_size": (40, 4)}
#: FLAC STREAMINFO fields (the block starts at byte 8): name -> (bit offset from byte 8, bits).
FLAC_FIELDS = {"min_block": (0, 16), "max_block": (16, 16), "min_frame": (32, 24), "max_frame": (56, 24),
               "sample_rate": (80, 20), "channels_minus_1": (100, 3), "bits_minus_1": (103, 5),
               "total_samples": (108, 36)}
_INTERESTING = [0, 1, 2, 3, 6, 7, 8, 16, 24, 32, 33, 64, 255, 256, 8000, 65535, 65536, 2**24 - 1, 2**31 - 1,
                2**32 - 1]


def _set_bits(b: bytearray, bit_off: int, nbits: int, value: int) -> None:
    start, end = 8 + bit_off // 8, 8 + (bit_off + nbits + 7) // 8
    width = (end - start) * 8
    shift = width - (bit_off % 8) - nbits
    cur = int.from_bytes(b[start:end], "big")
    mask = ((1 << nbits) - 1) << shift
    cur = (cur & ~mask) | ((value & ((1 << nbits) - 1)) << shift)
    b[start:end] = cur.to_bytes(end - start, "big")


@st.composite
def damaged_audio(draw):
    """A valid base file with one kind of damage: bit flips (half of them in the header), a
    truncation, a run of random bytes, or a header field set to an odd value."""
    name = draw(st.sampled_from(sorted(BASES)))
    raw, ext = BASES[name]
    b = bytearray(raw)
    kinds = ["flip", "truncate", "overwrite"] + (["field"] * 3 if name.startswith(("wav", "flac")) else [])
    kind = draw(st.sampled_from(kinds))
    desc = f"{name}:{kind}"
    if kind == "flip":
        for _ in range(draw(st.integers(1, 12))):
            hi = min(len(b), 96) if draw(st.booleans()) else len(b)
            pos = draw(st.integers(0, hi - 1))
            b[pos] ^= 1 << draw(st.integers(0, 7))
    elif kind == "truncate":
        b = b[: draw(st.integers(0, len(b) - 1))]
    elif kind == "overwrite":
        pos = draw(st.integers(0, len(b) - 1))
        junk = draw(st.binary(min_size=1, max_size=16))
        b[pos:pos + len(junk)] = junk
    else:
        fields = WAV_FIELDS if name.startswith("wav") else FLAC_FIELDS
        for _ in range(draw(st.integers(1, 3))):
            field = draw(st.sampled_from(sorted(fields)))
            off, size = fields[field]
            bits = size * 8 if name.startswith("wav") else size
            value = draw(st.one_of(st.sampled_from(_INTERESTING), st.integers(0, 2**bits - 1)))
            if name.startswith("wav"):
                b[off:off + size] = (value & (2**bits - 1)).to_bytes(size, "little")
            else:
                _set_bits(b, off, size, value)
            desc += f" {field}={value}"
    ext = draw(st.sampled_from([ext, ext, ".wav", ".mp3"]))
    return bytes(b), ext, desc


#: Starts of the formats libsndfile probes for, to get random bytes past the first check.
MAGICS = [b"", b"RIFF\x24\x00\x00\x00WAVEfmt ", b"fLaC\x00\x00\x00\x22", b"OggS\x00\x02", b"ID3\x03\x00",
          b"\xff\xfb\x90\x00", b"FORM\x00\x00\x00\x00AIFF", b".snd\x00\x00\x00\x18", b"caff\x00\x01",
          b"riff\x2e\x91\xcf\x11", b"RF64\xff\xff\xff\xffWAVE"]


def _read_audio(path: str, *, sr, mono: bool, offset: float, duration, stream: bool):
    """Read ``path`` as every command does and check what comes back (runs in the child)."""
    from audiokit import audio

    with audio.AudioFile(path) as f:
        hdr = f.info
        ratio = (sr or hdr.sr) / hdr.sr
        if stream:
            blocks = []
            for blk in f.stream(sr=sr):
                assert blk.dtype == np.float32 and blk.ndim == 1 and np.isfinite(blk).all()
                blocks.append(blk)
            n = sum(map(len, blocks))
            assert 0 < n <= hdr.frames * ratio + 2, (n, hdr)
            # the stream is the file read whole: no more samples (a decoder delivering less than
            # the header claims once made the stream pad with uninitialised memory), no others
            from audiokit.errors import AudioError

            try:
                whole, _ = f.read(sr=sr)
            except AudioError:
                return f"{n}"
            assert len(whole) == n and np.allclose(whole, np.concatenate(blocks), atol=1e-3), (len(whole), n)
            return f"{n}"
        y, out_sr = f.read(sr=sr, mono=mono, offset=offset, duration=duration)
    assert out_sr == (sr or hdr.sr)
    assert y.dtype == np.float32 and np.isfinite(y).all()
    assert y.ndim == 1 if mono else (y.ndim == 2 and y.shape[0] == hdr.channels), (y.shape, hdr)
    assert 0 < y.shape[-1] <= (hdr.frames if hdr.frames > 0 else 10**8) * ratio + 2, (y.shape, hdr)
    return f"{y.shape}"


read_options = st.fixed_dictionaries({
    "sr": st.sampled_from([None, 16000, 8000]), "mono": st.booleans(),
    "offset": st.sampled_from([0.0, 0.0, 0.01]), "duration": st.sampled_from([None, None, 0.05]),
    "stream": st.booleans()})


@fuzz(150)
@given(magic=st.sampled_from(MAGICS), tail=st.binary(max_size=2048),
       ext=st.sampled_from([".wav", ".flac", ".mp3", ".ogg", ".aiff", ".au", ".caf"]), opts=read_options)
def test_audio_loader_random_bytes(tmp_path, magic, tail, ext, opts):
    COUNTS["audio: random bytes"] += 1
    p = tmp_path / f"random{ext}"
    p.write_bytes(magic + tail)
    assert_clean(in_child(lambda: _read_audio(str(p), **opts)), p)


@fuzz(250)
@given(damage=damaged_audio(), opts=read_options)
@example(damage=(BASES["mp3"][0][:1946], ".mp3", "mp3:truncate (header claims 4800 frames, 4655 decode)"),
         opts={"sr": None, "mono": True, "offset": 0.0, "duration": None, "stream": True})
def test_audio_loader_damaged_files(tmp_path, damage, opts):
    COUNTS["audio: damaged WAV/FLAC/OGG/MP3/AIFF/AU"] += 1
    data, ext, desc = damage
    p = tmp_path / f"damaged{ext}"
    p.write_bytes(data)
    out = in_child(lambda: _read_audio(str(p), **opts))
    assert_clean(out, p)


def test_audio_bases_are_valid(tmp_path):
    """The undamaged bases decode (else the damage tests would only ever see refusals)."""
    for name, (data, ext) in BASES.items():
        p = tmp_path / f"{name}{ext}"
        p.write_bytes(data)
        assert in_child(lambda: _read_audio(str(p), sr=None, mono=True, offset=0.0, duration=None,
                                            stream=False)).startswith("ok"), name


# == label parsing =========================================================================================

#: Any text a file or directory name can hold: no "/" or NUL, lone surrogates allowed (the way Python
#: spells undecodable bytes of a file name).
name_text = st.text(st.characters(blacklist_characters="/\x00", blacklist_categories=()), min_size=1,
                    max_size=24).filter(lambda s: s not in (".", ".."))


@st.composite
def safe_regex(draw):
    """Regexes of a small grammar without nested quantifiers (so no example can backtrack for ever:
    a user's own catastrophic regex is theirs, see docs/security.md)."""
    atoms = draw(st.lists(st.sampled_from([r"\d", r"\w", ".", "[a-z]", "[^_]", "-", "_", "x", "é", "声", r"\.",
                                           "(?:ab|cd)", "[0-9A-F]"]), min_size=1, max_size=4))
    quant = [draw(st.sampled_from(["", "+", "*", "?", "{2}", "{1,3}"])) for _ in atoms]
    body = "".join(a + q for a, q in zip(atoms, quant))
    group = draw(st.sampled_from(["({})", "(?P<label>{})", "(?P<group>{})", "({})?", "{}"]))
    pre = draw(st.sampled_from(["", "^", "^.*?", r"\d+-"]))
    post = draw(st.sampled_from(["", "$", r"\.wav$", "_"]))
    return pre + group.format(body) + post


label_maps = st.one_of(st.none(), st.dictionaries(st.text(max_size=4), st.text(max_size=6), max_size=4),
                       st.just({"01": "neutral", "03": "happy"}))


@fuzz(200)
@given(dirs=st.lists(name_text, max_size=3), name=name_text,
       source=st.sampled_from(["dir", "regex", "none", "manifest", "bogus"]),
       label_regex=st.one_of(st.none(), safe_regex().map(lambda r: ("grammar", r)),
                             st.text(max_size=12).map(lambda t: ("any text", t))),
       group_regex=st.one_of(st.none(), safe_regex()), label_map=label_maps)
@example(dirs=[], name="a.wav", source="regex", label_regex=("any text", "a{99999999999}(x)"), group_regex=None,
         label_map=None)
def test_labels_from_any_names_and_regexes(dirs, name, source, label_regex, group_regex, label_map):
    """label_items: a list of items with string (or no) labels, or audiokit's error."""
    from audiokit import labels
    from audiokit.errors import AudiokitError

    COUNTS["labels: names, regexes, label maps"] += 1
    path = os.path.join("data", *dirs, name)
    lrx = None
    if label_regex is not None and label_regex[0] == "any text":
        # arbitrary text is only compiled: it may be a pattern that backtracks for ever on a name
        try:
            labels.compile_regex(label_regex[1], "label_regex")
        except AudiokitError as exc:
            assert exc.exit_code == 2 and exc.param == "label_regex" and "--label-regex" in exc.for_cli()
    elif label_regex is not None:
        lrx = label_regex[1]
    try:
        items = labels.label_items([path], source=source, label_regex=lrx, label_map=label_map,
                                   group_regex=group_regex)
    except AudiokitError as exc:
        assert str(exc).strip() and "\n" not in str(exc)
        return
    assert len(items) == 1 and items[0].path == path
    it = items[0]
    assert it.label is None or (isinstance(it.label, str) and it.label)
    assert it.group is None or (isinstance(it.group, str) and it.group)
    if label_map is not None and it.label is not None:
        assert it.label in label_map.values()
    if source == "dir" and label_map is None:
        assert it.label == (dirs[-1] if dirs else "data")


@fuzz(150)
@given(spec=st.one_of(st.text(max_size=40),
                      st.lists(st.tuples(st.text(max_size=5), st.sampled_from(["=", ",", ":", ""]),
                                         st.text(max_size=5)), max_size=5).map(
                          lambda es: ",".join(a + s + b for a, s, b in es))),
       as_file=st.booleans(), file_bytes=st.one_of(st.none(), st.binary(max_size=64)))
@example(spec="01=neutral", as_file=True, file_bytes=b"01=neutral\n02=\xff\xfecalm\n")
def test_label_map_text_and_files(tmp_path, spec, as_file, file_bytes):
    """parse_label_map: a dict of non-empty strings, or audiokit's usage error."""
    from audiokit import labels
    from audiokit.errors import AudiokitError

    COUNTS["labels: --label-map"] += 1
    arg = spec
    if as_file:
        p = tmp_path / "map.txt"
        p.write_bytes(file_bytes if file_bytes is not None else spec.replace(",", "\n").encode("utf-8", "surrogatepass"))
        arg = str(p)
    try:
        m = labels.parse_label_map(arg)
    except AudiokitError as exc:
        assert "\n" not in str(exc) and exc.param == "label_map" and "--label-map" in exc.for_cli()
        return
    assert isinstance(m, dict) and m
    assert all(isinstance(k, str) and k and isinstance(v, str) and v for k, v in m.items())


def _csv_text(rows, quoting: int, delimiter: str = ",") -> str:
    import csv

    buf = io.StringIO()
    kw = {"escapechar": "\\"} if quoting == csv.QUOTE_NONE else {}
    w = csv.writer(buf, quoting=quoting, delimiter=delimiter, lineterminator="\n", **kw)
    for r in rows:
        w.writerow(r)
    return buf.getvalue()


cell = st.one_of(st.text(max_size=12), st.sampled_from(["", " ", "path", "label", "group", "fold", "low", "high",
                                                        "file", '"', '""', "a,b", "x\ny", "-1", "3", "1e9",
                                                        "99999999999999999999", "/abs/a.wav", "../up.wav"]))


@st.composite
def manifests(draw):
    import csv

    how = draw(st.sampled_from(["csv", "csv", "raw", "odd"]))
    if how == "raw":
        return draw(st.binary(max_size=512))
    rows = draw(st.lists(st.lists(cell, max_size=5), max_size=6))
    if draw(st.booleans()):
        rows.insert(0, draw(st.permutations(["path", "label", "group", "fold"]).map(
            lambda h: h[:draw(st.integers(0, 4))])))
    if how == "csv":
        quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONE, csv.QUOTE_NONNUMERIC]))
        try:
            text = _csv_text(rows, quoting)
        except (csv.Error, ValueError):
            text = _csv_text(rows, csv.QUOTE_ALL)
    else:  # hand-made odd quoting: stray quotes, CRs, BOMs, ragged rows, non-UTF-8 bytes
        sep = draw(st.sampled_from([",", ", ", ";", "\t"]))
        nl = draw(st.sampled_from(["\n", "\r\n", "\r"]))
        text = nl.join(sep.join(r) for r in rows)
        text = draw(st.sampled_from(["", "\ufeff", '"'])) + text
    data = text.encode("utf-8", "surrogatepass")
    if draw(st.booleans()):
        data += draw(st.binary(max_size=8))
    return data


@fuzz(200)
@given(data=manifests(), pairs=st.booleans(), label_map=st.one_of(st.none(), st.just({"a": "A", "3": "three"})))
@example(data=b'a.wav,"' + b"x" * 200_000 + b"\n", pairs=False, label_map=None)
@example(data=b"\xff\xfe" + "a.wav,x\n".encode("utf-16-le"), pairs=False, label_map=None)
def test_manifests(tmp_path, data, pairs, label_map):
    """read_manifest: items (absolute paths, string labels, int folds), or audiokit's error naming it."""
    from audiokit import labels
    from audiokit.errors import AudiokitError

    COUNTS["labels: manifests"] += 1
    p = tmp_path / "manifest.csv"
    p.write_bytes(data)
    try:
        items = labels.read_manifest(str(p), pairs=pairs, label_map=label_map)
    except AudiokitError as exc:
        assert str(exc).startswith(f"{p}: ") and "\n" not in str(exc), str(exc)
        return
    assert items
    for it in items:
        assert os.path.isabs(it.path) and (it.path2 is None) == (not pairs)
        assert it.label is None or (isinstance(it.label, str) and it.label.strip() == it.label and it.label)
        assert it.fold is None or isinstance(it.fold, int)
        if label_map is not None and it.label is not None:
            assert it.label in label_map.values()


@fuzz(150)
@given(names=st.lists(st.one_of(name_text, st.builds(lambda a, w, b: a + w + b, st.text(max_size=4),
                                                      st.sampled_from(["low", "high", "LOW", "High", "lowhigh"]),
                                                      st.text(max_size=6))), max_size=8),
       dirs=st.lists(st.sampled_from(["s1", "s2", "ténor"]), min_size=1, max_size=2))
@example(names=["aLOW.wav", "alow.wav", "ahigh.wav"], dirs=["s1"])
def test_pairs_account_for_every_file(names, dirs):
    """find_pairs: each input file ends up in exactly one pair or in the unpaired list."""
    from audiokit import labels

    COUNTS["labels: low/high pairs"] += 1
    paths = sorted({os.path.join("data", d, n) for d in dirs for n in names if "/" not in n})
    items, unpaired = labels.find_pairs(paths)
    seen = [it.path for it in items] + [it.path2 for it in items] + [p for p, _ in unpaired]
    assert sorted(seen) == paths
    for it in items:
        assert os.path.dirname(it.path) == os.path.dirname(it.path2) and it.group


@fuzz(25)
@given(data=manifests())
@example(data=b"\x00\n")
def test_featurize_with_a_fuzzed_manifest(tmp_path, data):
    """The CLI on it: exit 1 or 2 with one error line, or a store (of no audio: never exit 0 here)."""
    COUNTS["cli: featurize --manifest"] += 1
    p = tmp_path / "m.csv"
    p.write_bytes(data)
    res = Cli()("featurize", "--manifest", p, "-o", tmp_path / "s.h5", "-q", "-j", "1", expect=None)
    assert res.exit_code in (1, 2), res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("audiokit: error: "), res.stderr
    assert "internal error" not in lines[0] and "Traceback" not in res.stderr
    assert not (tmp_path / "s.h5").exists()


# == the feature store and the model file =================================================================

@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """A small mfcc-stats store with groups and a KNN trained on it by the CLI."""
    d = tmp_path_factory.mktemp("fuzz-good")
    for c, f0 in (("low", 150.0), ("high", 600.0)):
        (d / "audio" / c).mkdir(parents=True)
        for i in range(4):
            sf.write(str(d / "audio" / c / f"s{i % 2}_{i}.wav"), corpus.tone(8000, seconds=0.3, f0=f0 * (1 + 0.03 * i)),
                     8000)
    cli = Cli()
    cli("featurize", d / "audio", "-f", "mfcc-stats", "--group-regex", r"^(s\d)_", "-o", d / "s.h5", "-j", "1", "-q")
    cli("train", d / "s.h5", "-o", d / "knn.h5", "--k", "3", "-q")
    return d


@st.composite
def byte_damage(draw, raw: bytes):
    b = bytearray(raw)
    kind = draw(st.sampled_from(["flip", "flip", "truncate", "overwrite"]))
    if kind == "flip":
        for _ in range(draw(st.integers(1, 16))):
            b[draw(st.integers(0, len(b) - 1))] ^= 1 << draw(st.integers(0, 7))
    elif kind == "truncate":
        b = b[: draw(st.integers(0, len(b) - 1))]
    else:
        pos = draw(st.integers(0, len(b) - 1))
        junk = draw(st.binary(min_size=1, max_size=32))
        b[pos:pos + len(junk)] = junk
    return bytes(b)


json_values = st.recursive(st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False)
                           | st.text(max_size=8),
                           lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3),
                           max_leaves=6)
#: What an attribute may be set to: numbers, text, JSON of any shape, bytes, opaque bytes, arrays.
attr_values = st.one_of(
    st.integers(-2**63, 2**63 - 1), st.floats(), st.text(max_size=20), json_values.map(json.dumps),
    st.binary(max_size=16), st.binary(min_size=1, max_size=16).map(np.void),
    st.lists(st.integers(-5, 5), min_size=1, max_size=4).map(np.array))


def _config_json(draw) -> str:
    """A feature configuration with some fields set to odd values."""
    from audiokit.features import FeatureConfig

    d = FeatureConfig(kind="mfcc-stats", sr=8000).to_dict()
    for key in draw(st.lists(st.sampled_from(sorted(d)), max_size=3)):
        d[key] = draw(st.one_of(json_values, st.sampled_from([0, -1, 1, 2**40, "logmel", "f0-range", None])))
    return json.dumps(d)


DTYPES = ["f4", "f8", "f2", "i8", "i1", "u1", "bool", "c8", "S4", "vlen-str", "compound"]


def _array(draw, dtype: str, shape: tuple[int, ...]):
    import h5py

    n = int(np.prod(shape)) if shape else 1
    if dtype == "vlen-str":
        return np.array([draw(st.text(max_size=4)) for _ in range(n)], dtype=object).reshape(shape), \
            h5py.string_dtype()
    if dtype == "compound":
        return np.zeros(shape, dtype=[("a", "f4"), ("b", "i2")]), None
    if dtype == "S4":
        return np.full(shape, b"ab", dtype="S4"), None
    kind = np.dtype(dtype).kind
    fill = draw(st.sampled_from(["zeros", "range", "big", "nan"] if kind in "fc" else ["zeros", "range", "big"]))
    a = np.zeros(shape, dtype=dtype)
    if fill == "range":
        a = (np.arange(n) % 5 - 1).reshape(shape).astype(dtype)
    elif fill == "big":
        top = np.iinfo(dtype).max if kind in "iu" else (True if kind == "b" else np.finfo(dtype).max)
        a = np.full(shape, top, dtype=dtype)
    elif fill == "nan":
        a = np.full(shape, np.nan, dtype=dtype)
    return a, None


def _shape(draw, n: int, like: tuple[int, ...]):
    return draw(st.sampled_from([like, (n,), (n + 1,), (max(n - 1, 0),), (0,), (), (n, 2), (n, 0), (1, n),
                                 (n, *like[1:], 1)]))


@st.composite
def store_edits(draw, n: int, feat_dim: int):
    """A list of structured edits of a store: attributes, datasets replaced, deleted or added."""
    from audiokit.store import DATASETS

    edits = []
    for _ in range(draw(st.integers(1, 3))):
        what = draw(st.sampled_from(["attr", "attr", "config", "replace", "replace", "delete", "vds"]))
        if what == "attr":
            name = draw(st.sampled_from(["format", "format_version", "feature_kind", "skipped", "provenance",
                                         "created", "audiokit_version", "n_skipped", "feature_config"]))
            edits.append(("attr", name, draw(attr_values)))
        elif what == "config":
            edits.append(("attr", "feature_config", _config_json(draw)))
        elif what == "replace":
            key = draw(st.sampled_from(list(DATASETS) + ["extra"]))
            like = (n, feat_dim) if key == "features" else (n,)
            shape = _shape(draw, n, like)
            dtype = draw(st.sampled_from(DTYPES))
            edits.append(("replace", key, _array(draw, dtype, shape)))
        elif what == "delete":
            edits.append(("delete", draw(st.sampled_from(DATASETS)), None))
        else:
            edits.append(("vds", draw(st.sampled_from(["features", "labels"])), None))
    return edits


def _apply(h5, edits, source: Path) -> None:
    """Make the edits (links and virtual datasets last, pointing at ``source``, a private copy of
    the good file); an edit h5py itself cannot make is left out."""
    for what, key, value in sorted(edits, key=lambda e: e[0] in ("link", "vds")):
        try:
            _edit(h5, what, key, value, source)
        except Exception:
            pass


def _edit(h5, what, key, value, source: Path) -> None:
    import h5py

    if what == "attr":
        h5.attrs[key] = value
    elif what == "delete":
        if key in h5:
            del h5[key]
    elif what == "vds":  # a virtual dataset mapping another file's data
        with h5py.File(source, "r") as src:
            shape, dtype = src[key].shape, src[key].dtype
        layout = h5py.VirtualLayout(shape=shape, dtype=dtype)
        layout[...] = h5py.VirtualSource(str(source), key, shape=shape)
        if key in h5:
            del h5[key]
        h5.create_virtual_dataset(key, layout)
    elif what == "link":
        if key in h5:
            del h5[key]
        h5[key] = h5py.ExternalLink(str(source), key) if value == "external" else h5py.SoftLink("/" + key)
    else:
        arr, dtype = value
        if key in h5:
            del h5[key]
        h5.create_dataset(key, data=arr, dtype=dtype)


def _read_store(path: str) -> str:
    """Everything the commands read from a store, and its consistency (runs in the child)."""
    from audiokit.store import open_store

    with open_store(path) as s:
        n = len(s)
        x = s.X
        assert x.shape == (n, int(np.prod(s.item_shape))) and np.isfinite(x).all()
        assert len(s.labels) == len(s.paths) == len(s.durations) == n
        assert all(isinstance(c, str) for c in s.class_names) and all(isinstance(p, str) for p in s.paths)
        assert ((s.labels >= -1) & (s.labels < len(s.class_names))).all()
        assert sum(s.class_counts().values()) == int(s.labelled.sum())
        assert s.groups is None or len(s.groups) == n
        assert s.folds is None or len(s.folds) == n
        if n:
            assert np.array_equal(s.load_features(np.arange(n)[::-1]).reshape(n, -1), x[::-1])
        s.config.describe()
    return f"{n} items"


def _info(path: str) -> str:
    """``audiokit info`` and ``info --json`` (in the child): 0, or 1 with one line naming the file."""
    cli = Cli()
    for extra in ([], ["--json"]):
        res = cli("info", path, *extra, expect=None)
        lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
        if res.exit_code == 0:
            assert not lines, res.stderr
            if extra:
                json.loads(res.stdout)
            continue
        assert res.exit_code in (1, 2), (res.exit_code, res.stderr)
        assert len(lines) == 1 and lines[0].startswith(f"audiokit: error: {path}: "), res.stderr
        assert "internal error" not in lines[0], lines[0]
        from audiokit.errors import AudiokitError

        raise AudiokitError(lines[0], path=path)
    return ""


def _store_shape(good) -> tuple[int, int]:
    import h5py

    with h5py.File(good / "s.h5", "r") as h:
        return h["features"].shape


@fuzz(100)
@given(data=st.data())
def test_store_reader_structured_damage(good, tmp_path, data):
    """Attributes set to odd values, datasets of other types, shapes and lengths, datasets removed,
    virtual datasets: refused with the store's name, or read with every length agreeing; and
    ``audiokit info`` says the same in one line."""
    import h5py

    COUNTS["store: structured damage"] += 1
    n, dim = _store_shape(good)
    edits = data.draw(store_edits(n, dim))
    p, other = tmp_path / "edited.h5", tmp_path / "other.h5"
    p.write_bytes((good / "s.h5").read_bytes())
    other.write_bytes((good / "s.h5").read_bytes())
    with h5py.File(p, "a") as h:
        _apply(h, edits, other)
    assert_clean(in_child(lambda: _read_store(str(p))), p)
    assert_clean(in_child(lambda: _info(str(p))), p)


@st.composite
def model_edits(draw, arrays: dict[str, tuple[int, ...]]):
    from audiokit.models import KINDS

    edits = []
    for _ in range(draw(st.integers(1, 3))):
        what = draw(st.sampled_from(["attr", "json", "params", "config", "replace", "replace", "delete", "link",
                                     "vds"]))
        if what == "attr":
            name = draw(st.sampled_from(["format", "format_version", "kind", "class_names", "params", "training",
                                         "metrics", "created", "audiokit_version"]))
            edits.append(("attr", name, draw(st.one_of(attr_values, st.sampled_from(KINDS)))))
        elif what == "json":
            name = draw(st.sampled_from(["class_names", "params", "training", "metrics"]))
            edits.append(("attr", name, json.dumps(draw(json_values))))
        elif what == "params":
            p = {"k": 3, "metric": "euclidean", "weights": "uniform", "n_features": arrays["scaler/mean"][0],
                 "n_samples_seen": 8}
            for key in draw(st.lists(st.sampled_from(sorted(p)), min_size=1, max_size=2)):
                p[key] = draw(st.one_of(st.integers(-3, 10**6), st.sampled_from(["cosine", "distance", "x", None, 2.5]),
                                        json_values))
            edits.append(("attr", "params", json.dumps(p)))
        elif what == "config":
            edits.append(("attr", "feature_config", _config_json(draw)))
        elif what == "replace":
            key = draw(st.sampled_from(sorted(arrays) + ["extra", "nested/deeper"]))
            like = arrays.get(key, (3,))
            shape = _shape(draw, like[0] if like else 1, like or (1,))
            edits.append(("replace", f"arrays/{key}", _array(draw, draw(st.sampled_from(DTYPES)), shape)))
        elif what == "delete":
            edits.append(("delete", draw(st.sampled_from([f"arrays/{k}" for k in arrays] + ["arrays"])), None))
        elif what == "link":
            edits.append(("link", draw(st.sampled_from(["arrays", "arrays/fit_X"])),
                          draw(st.sampled_from(["external", "soft"]))))
        else:
            edits.append(("vds", "arrays/fit_X", None))
    return edits




def _read_model(path: str) -> str:
    """Load a model as predict/eval do, and use it (runs in the child)."""
    from audiokit import models

    clf = models.load(path, device="cpu")
    mf = clf.to_modelfile()
    d = int(mf.params["n_features"])
    x = np.linspace(-1, 1, 3 * d, dtype=np.float32).reshape(3, d)
    p = clf.predict_proba(x)
    assert p.shape == (3, len(clf.class_names)) and np.isfinite(p).all()
    assert np.allclose(p.sum(axis=1), 1.0)
    assert all(isinstance(c, str) for c in clf.class_names)
    assert all(c in clf.class_names for c in clf.predict(x))
    if clf.kind == "knn":
        dist, names = clf.kneighbors(x)
        assert dist.shape == names.shape and set(names.ravel()) <= set(clf.class_names)
    return clf.kind


def _model_arrays(good) -> dict[str, tuple[int, ...]]:
    import h5py

    out = {}
    with h5py.File(good / "knn.h5", "r") as h:
        h["arrays"].visititems(lambda k, o: out.__setitem__(k, o.shape) if isinstance(o, h5py.Dataset) else None)
    return out


@pytest.mark.parametrize("what", ["store", "model"])
@fuzz(150)
@given(data=st.data())
def test_reader_byte_damage(good, tmp_path, data, what):
    """Random damage to the bytes of a good store or model file: refused with its name, or read."""
    COUNTS[f"{what}: byte damage"] += 1
    raw = (good / ("s.h5" if what == "store" else "knn.h5")).read_bytes()
    p = tmp_path / "damaged.h5"
    p.write_bytes(data.draw(byte_damage(raw)))
    reader = _read_store if what == "store" else _read_model
    assert_clean(in_child(lambda: reader(str(p))), p)


@fuzz(100)
@given(data=st.data())
def test_model_reader_structured_damage(good, tmp_path, data):
    """Kinds, class names, params, feature settings and arrays changed; links and virtual datasets:
    refused with the model's name, or a model whose predictions are probabilities over its classes;
    ``audiokit info`` on it: 0, or 1 with one line."""
    import h5py

    COUNTS["model: structured damage"] += 1
    edits = data.draw(model_edits(_model_arrays(good)))
    p, other = tmp_path / "edited.h5", tmp_path / "other.h5"
    p.write_bytes((good / "knn.h5").read_bytes())
    other.write_bytes((good / "knn.h5").read_bytes())
    with h5py.File(p, "a") as h:
        _apply(h, edits, other)
    assert_clean(in_child(lambda: _read_model(str(p))), p)
    assert_clean(in_child(lambda: _info(str(p))), p)


# == what fuzzing found, kept as fixed cases (the structured tests draw their edits, so no @example) ==

FOUND_STORE = {
    "skipped not a list (info: TypeError)": [("attr", "skipped", 0)],
    "provenance an object (info: AttributeError)": [("attr", "provenance", '{"a": 1}')],
    "provenance a list of numbers": [("attr", "provenance", "[1, 2]")],
    "created not UTF-8 (info: UnicodeEncodeError printing a lone surrogate)": [("attr", "created", b"\x80")],
    "labels a virtual dataset": [("vds", "labels", None)],
    "class_names with duplicates (counts lost)": [
        ("replace", "class_names", (np.array([b"ab"] * 8, dtype="S4"), None))],
}
FOUND_MODEL = {
    "params null (TypeError)": [("attr", "params", "null")],
    "created not UTF-8 (info: UnicodeEncodeError)": [("attr", "created", b"\x80")],
    "class_names numbers": [("attr", "class_names", "[1, 2]")],
    "class_names a string": [("attr", "class_names", '"ab"')],
    "class_names with duplicates": [("attr", "class_names", '["a", "a"]')],
    "fit_y out of range (IndexError in predict)": [
        ("replace", "arrays/fit_y", (np.array([-1, 0, 1, 2], dtype="f4"), None))],
    "fit_X one row (sklearn's multi-line message)": [("replace", "arrays/fit_X", (np.zeros(4, "f4"), None))],
    "arrays an external link, then a virtual fit_X (SIGSEGV)": [
        ("attr", "format_version", 0), ("link", "arrays", "external"), ("vds", "arrays/fit_X", None)],
}


@pytest.mark.parametrize("case", sorted(FOUND_STORE) + sorted(FOUND_MODEL))
def test_cases_fuzzing_found(good, tmp_path, case):
    import h5py

    COUNTS["fixed cases"] += 1
    model = case in FOUND_MODEL
    src = good / ("knn.h5" if model else "s.h5")
    p, other = tmp_path / "edited.h5", tmp_path / "other.h5"
    p.write_bytes(src.read_bytes())
    other.write_bytes(src.read_bytes())
    with h5py.File(p, "a") as h:
        _apply(h, (FOUND_MODEL if model else FOUND_STORE)[case], other)
    assert_clean(in_child(lambda: (_read_model if model else _read_store)(str(p))), p)
    assert_clean(in_child(lambda: _info(str(p))), p)
