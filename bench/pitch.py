#!/usr/bin/env python
"""Benchmark: accuracy and speed of audiokit's f0 methods against librosa.yin and librosa.pyin.

Every estimator gets the same samples (``audiokit.audio.load(path, normalize=True)``: mono,
native sample rate, peak-normalised) and the same band, fmin = 50 Hz, fmax = 2000 Hz, and
gives one f0 per file:

* audiokit ``hps`` (the paper's whole-signal HPS + octave guard) and ``yin`` (YIN + voicing,
  centre of the voiced frames);
* ``librosa.yin``: median over the frames within 40 dB of the loudest (it has no voicing);
* ``librosa.pyin``: median over the frames it calls voiced (none voiced = unvoiced).

librosa's frame_length is the power of two holding two periods of fmin (2048 at 44.1 kHz),
hop frame_length / 4, its defaults otherwise. Time is the estimator call only (audio
already decoded; one warm-up call first, so numba compilation is not counted), per file.

Sets (all generated here; nothing is downloaded):

* ``synthetic``: harmonic tones, 1.5 s at 44.1 kHz, f0 log-spaced 55–1500 Hz, five
  variants: plain (8 harmonics, 1/h), missing fundamental, white noise at 10 dB SNR,
  ±50-cent vibrato at 5.5 Hz, plucked (harmonics decaying faster the higher).
* ``real-ish``: ``sox synth pluck`` strings (Karplus-Strong; truth = the note asked
  for; half of them through sox ``reverb``), espeak-ng sustained /a/ on a monotone voice
  variant (``pitch B B`` in a voice file; espeak-ng 1.51 sounds at B - 8.5 Hz, measured
  with librosa.pyin on bases 70-1100 Hz, constant within ±0.5 Hz; that is the truth used),
  and :func:`audiokit.demo.sung_vowel` singers (glottal source, formants, vibrato 10-50
  cents, jitter) with room reverb and noise (SNR 15-40 dB) at voice-type extremes, 22.05-48 kHz.
* ``unvoiced``: silence, white, pink and brown noise, and a reverberant noise burst:
  the share each method calls unvoiced (librosa.yin always answers).

Accuracy is the share of files whose f0 is within 50 cents of the truth (unvoiced = miss);
also the median absolute error in cents of those within 50, and the share of octave
errors (off by more than 600 cents). Finally ``audiokit pitch low.wav high.wav`` is timed
end to end as a subprocess on two 3-s 44.1 kHz sung vowels (median of 7 runs), and the
modules it imported are listed.

Usage::

    python bench/pitch.py              # about 5 minutes on 2 cores (pyin dominates)
    python bench/pitch.py --quick      # fewer files
    python bench/pitch.py --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

FMIN, FMAX = 50.0, 2000.0
ESPEAK_OFFSET_HZ = 8.5


# -- data -------------------------------------------------------------------------------------

def harmonic_tone(f0, *, sr=44100, dur=1.5, H=8, missing=False, snr=None, vib=0.0, pluck=False, rng=None):
    rng = rng or np.random.default_rng(0)
    n = int(sr * dur)
    t = np.arange(n) / sr
    cents = vib * np.sin(2 * np.pi * 5.5 * t + rng.uniform(0, 2 * np.pi))
    ph = 2 * np.pi * np.cumsum(f0 * 2 ** (cents / 1200)) / sr
    y = np.zeros(n)
    for h in range(1, H + 1):
        if (missing and h == 1) or f0 * h > 0.45 * sr:
            continue
        env = np.exp(-(1.5 + 0.6 * h) * t) if pluck else 1.0
        y += env * np.sin(h * ph + rng.uniform(0, 2 * np.pi)) / h
    y /= np.abs(y).max()
    if snr is not None:
        noise = rng.standard_normal(n)
        y = y + noise * np.sqrt(np.mean(y ** 2) / np.mean(noise ** 2) / 10 ** (snr / 10))
    return (0.8 * y / np.abs(y).max()).astype(np.float32)


def make_synthetic(root: Path, n_freqs: int) -> list[dict]:
    rng = np.random.default_rng(1)
    variants = {"plain": {}, "missing-f0": {"missing": True}, "noise-10dB": {"snr": 10}, "vibrato": {"vib": 50},
                "plucked": {"pluck": True}}
    out = []
    for f in np.geomspace(55, 1500, n_freqs):
        for name, kw in variants.items():
            p = root / "synthetic" / f"{name}_{f:.1f}.wav"
            p.parent.mkdir(parents=True, exist_ok=True)
            sf.write(p, harmonic_tone(f, rng=rng, **kw), 44100)
            out.append({"path": str(p), "truth": float(f), "set": "synthetic", "kind": name})
    return out


def _espeak_data(tmp: Path) -> Path | None:
    """A copy of espeak-ng's data directory (symlinks) with a monotone voice variant added."""
    exe = shutil.which("espeak-ng")
    if not exe:
        return None
    v = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout
    m = re.search(r"Data at:\s*(\S+)", v)
    if not m or not os.path.isdir(m.group(1)):
        return None
    src = Path(m.group(1))
    dst = tmp / "espeak-ng-data"
    dst.mkdir(parents=True, exist_ok=True)
    for e in src.iterdir():
        if e.name != "voices":
            (dst / e.name).symlink_to(e)
    (dst / "voices").mkdir()
    for e in (src / "voices").iterdir():
        if e.name != "!v":
            (dst / "voices" / e.name).symlink_to(e)
    (dst / "voices" / "!v").mkdir()
    return dst


def espeak_vowel(path: Path, base_hz: int, data: Path, *, female: bool = False) -> None:
    (data / "voices" / "!v" / "mono").write_text(
        f"language variant\nname mono\ngender {'female' if female else 'male'}\npitch {base_hz} {base_hz}\n")
    env = dict(os.environ, ESPEAK_DATA_PATH=str(data))
    subprocess.run(["espeak-ng", "-v", "en+mono", "-s", "60", "-w", str(path), "aaaaaaaaaaa"], env=env,
                   check=True, capture_output=True)


def make_realish(root: Path, n: int) -> list[dict]:
    from audiokit import demo

    out = []
    d = root / "realish"
    d.mkdir(parents=True, exist_ok=True)
    if shutil.which("sox"):
        for i, midi in enumerate(np.linspace(33, 84, n).round().astype(int)):  # A1 .. C6
            f = 440.0 * 2 ** ((midi - 69) / 12)
            p = d / f"pluck_{midi}.wav"
            cmd = ["sox", "-R", "-n", "-r", "44100", "-b", "16", str(p), "synth", "2", "pluck", f"{f:.3f}"]
            if i % 2:
                cmd += ["reverb", "40"]
            subprocess.run(cmd, check=True, capture_output=True)
            out.append({"path": str(p), "truth": f, "set": "real-ish", "kind": "sox-pluck"})
    with tempfile.TemporaryDirectory() as tmp:
        data = _espeak_data(Path(tmp))
        if data is not None:
            for base in np.geomspace(85, 1000, n).round().astype(int):
                p = d / f"espeak_{base}.wav"
                espeak_vowel(p, int(base), data, female=base > 250)
                out.append({"path": str(p), "truth": float(base - ESPEAK_OFFSET_HZ), "set": "real-ish",
                            "kind": "espeak-vowel"})
    rng = np.random.default_rng(7)
    for vt, (lo, hi) in demo.VOICE_RANGES.items():
        for s in range(max(1, n // 6)):
            for which, f in (("low", lo), ("high", hi)):
                f0 = f * 2 ** (rng.normal(0, 1.5) / 12)
                sr = int(rng.choice((22050, 44100, 48000)))
                y = demo.sung_vowel(f0, 3.0, sr, rng, vibrato=rng.uniform(10, 50))
                y = demo._finish(y, sr, rng, snr_db=(15, 40), rt60=(0.1, 0.6))
                p = d / f"sung_{vt}_{s}_{which}.wav"
                sf.write(p, y, sr, subtype="PCM_16")
                out.append({"path": str(p), "truth": float(f0), "set": "real-ish", "kind": "sung-vowel"})
                # The same singer as a phone or laptop records it: a scoop into the note, wide
                # vibrato, breath, the fundamental cut by a small microphone, mains hum, noise.
                y = degrade(demo.sung_vowel(f0, 3.0, sr, rng, vibrato=rng.uniform(40, 90)), f0, sr, rng)
                p = d / f"sung-degraded_{vt}_{s}_{which}.wav"
                sf.write(p, y, sr, subtype="PCM_16")
                out.append({"path": str(p), "truth": float(f0), "set": "real-ish", "kind": "sung-degraded"})
    return out


def degrade(y: np.ndarray, f0: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Phone-recording nuisances on a sung vowel (see make_realish)."""
    from scipy.signal import butter, sosfilt

    from audiokit import demo

    n = len(y)
    t = np.arange(n) / sr
    # scoop: the first 0.25 s rises from 150 cents flat (resynthesised by time-warping)
    scoop = -150 * np.clip(1 - t / 0.25, 0, 1)
    warp = np.cumsum(2 ** (scoop / 1200)) - 1
    y = np.interp(warp, np.arange(n), y)
    y = y + 0.05 * np.std(y) * rng.standard_normal(n)  # breath
    sos = butter(2, rng.uniform(150, 300), btype="highpass", fs=sr, output="sos")  # small microphone
    y = sosfilt(sos, y)
    hum_f = float(rng.choice((50.0, 60.0)))
    hum = sum(np.sin(2 * np.pi * hum_f * h * t) / h for h in (1, 2, 3))
    y = y + hum * np.std(y) * 10 ** (-rng.uniform(15, 25) / 20)
    return demo._finish(y, sr, rng, snr_db=(5, 20), rt60=(0.2, 0.8))


def make_unvoiced(root: Path) -> list[dict]:
    rng = np.random.default_rng(3)
    sr, n = 44100, 44100 * 2
    white = rng.standard_normal(n)
    pink = np.fft.irfft(np.fft.rfft(rng.standard_normal(n)) / np.sqrt(np.arange(1, n // 2 + 2)), n)
    brown = np.cumsum(rng.standard_normal(n))
    brown -= np.convolve(brown, np.ones(4410) / 4410, mode="same")
    burst = white * np.exp(-np.arange(n) / sr / 0.3)
    sigs = {"silence": np.zeros(n), "white": white, "pink": pink, "brown": brown, "burst": burst}
    out = []
    for name, y in sigs.items():
        p = root / "unvoiced" / f"{name}.wav"
        p.parent.mkdir(parents=True, exist_ok=True)
        peak = np.abs(y).max()
        sf.write(p, (0.5 * y / peak if peak > 0 else y).astype(np.float32), sr)
        out.append({"path": str(p), "truth": None, "set": "unvoiced", "kind": name})
    return out


# -- estimators -------------------------------------------------------------------------------

def _frame_length(sr: int) -> int:
    return 1 << int(np.ceil(np.log2(2 * sr / FMIN + 2)))


def librosa_yin(y, sr):
    import librosa

    fl = _frame_length(sr)
    f0 = librosa.yin(y, fmin=FMIN, fmax=FMAX, sr=sr, frame_length=fl)
    rms = librosa.feature.rms(y=y, frame_length=fl, hop_length=fl // 4)[0][: len(f0)]
    keep = rms > rms.max() * 10 ** (-40 / 20)
    return float(np.exp(np.median(np.log(f0[keep])))) if keep.any() else None


def librosa_pyin(y, sr):
    import librosa

    f0, voiced, _ = librosa.pyin(y, fmin=FMIN, fmax=FMAX, sr=sr, frame_length=_frame_length(sr))
    f = f0[voiced & np.isfinite(f0)]
    return float(np.exp(np.median(np.log(f)))) if f.size else None


def audiokit_method(method):
    from audiokit.pitch import estimate_f0

    def run(y, sr):
        return estimate_f0(y, sr=sr, method=method, fmin=FMIN, fmax=FMAX)

    return run


def evaluate(files: list[dict], methods: dict) -> dict:
    from audiokit import audio

    loaded = [audio.load(f["path"], normalize=True) for f in files]
    y0, sr0 = loaded[0]
    res = {}
    for name, fn in methods.items():
        fn(y0, sr0)  # warm-up (imports, numba)
        est, secs = [], []
        for y, sr in loaded:
            t = time.perf_counter()
            f = fn(y, sr)
            secs.append(time.perf_counter() - t)
            est.append(f)
        res[name] = {"f0": est, "seconds": secs}
    return res


def summarise(files, res) -> list[dict]:
    rows = []
    sets = sorted({f["set"] for f in files}, key=["synthetic", "real-ish", "unvoiced"].index)
    for s in sets:
        idx = [i for i, f in enumerate(files) if f["set"] == s]
        for name, r in res.items():
            ms = 1000 * float(np.mean([r["seconds"][i] for i in idx]))
            if s == "unvoiced":
                share = np.mean([r["f0"][i] is None for i in idx])
                rows.append({"set": s, "method": name, "n": len(idx), "unvoiced_share": float(share), "ms_per_file": ms})
                continue
            errs = []
            for i in idx:
                f = r["f0"][i]
                errs.append(np.inf if f is None else abs(1200 * np.log2(f / files[i]["truth"])))
            errs = np.array(errs)
            ok = errs <= 50
            by_kind = {}
            for k in sorted({files[i]["kind"] for i in idx}):
                kk = [j for j, i in enumerate(idx) if files[i]["kind"] == k]
                by_kind[k] = float(ok[kk].mean())
            rows.append({"set": s, "method": name, "n": len(idx), "within_50c": float(ok.mean()),
                         "median_abs_cents": float(np.median(errs[ok])) if ok.any() else None,
                         "octave_errors": float(np.mean(np.isfinite(errs) & (errs > 600))),
                         "unvoiced": float(np.mean(~np.isfinite(errs))), "by_kind": by_kind, "ms_per_file": ms})
    return rows


def time_cli(root: Path, runs: int = 7) -> dict:
    from audiokit import demo

    rng = np.random.default_rng(11)
    pair = []
    for which, f in (("low", 130.81), ("high", 523.25)):
        y = demo._finish(demo.sung_vowel(f, 3.0, 44100, rng), 44100, rng)
        p = root / f"cli_{which}.wav"
        sf.write(p, y, 44100, subtype="PCM_16")
        pair.append(str(p))
    cmd = [sys.executable, "-m", "audiokit", "pitch", *pair]
    import resource

    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True)
        walls.append(time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if r.returncode != 0:
            raise SystemExit(f"audiokit pitch failed: {r.stderr}")
    probe = ("import sys\nfrom audiokit.cli import app\n"
             f"try:\n    app([ 'pitch', {pair[0]!r}, {pair[1]!r}, '--json'], prog_name='audiokit')\n"
             "except SystemExit:\n    pass\n"
             "print(' '.join(m for m in ('torch', 'torchvision', 'librosa', 'scipy', 'sklearn', 'numba', 'h5py') "
             "if m in sys.modules), file=sys.stderr)\n")
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    imported = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""
    return {"command": "audiokit pitch low.wav high.wav (3 s, 44.1 kHz each)", "runs": runs,
            "median_s": float(np.median(walls)), "min_s": float(np.min(walls)), "cpu_s": float(np.median(cpus)),
            "load_avg": os.getloadavg()[0], "heavy_imports": imported or "none"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer files (a smoke run)")
    ap.add_argument("--json", metavar="FILE", help="also write all results as JSON")
    ap.add_argument("--keep", metavar="DIR", help="write the generated audio here and keep it")
    ap.add_argument("--cli-only", action="store_true", help="only time 'audiokit pitch low.wav high.wav'")
    a = ap.parse_args()
    root = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="bench-pitch-"))
    root.mkdir(parents=True, exist_ok=True)
    if a.cli_only:
        try:
            c = time_cli(root)
        finally:
            if not a.keep:
                shutil.rmtree(root, ignore_errors=True)
        print(f"`{c['command']}`: median {c['median_s']:.2f} s wall over {c['runs']} runs (min {c['min_s']:.2f} s), "
              f"{c['cpu_s']:.2f} s CPU per run, load average {c['load_avg']:.1f} on {os.cpu_count()} cores; "
              f"heavy modules imported: {c['heavy_imports']}")
        return
    try:
        n = 6 if a.quick else 18
        files = make_synthetic(root, 4 if a.quick else 12) + make_realish(root, n) + make_unvoiced(root)
        methods = {"audiokit hps": audiokit_method("hps"), "audiokit yin": audiokit_method("yin"),
                   "librosa.yin": librosa_yin, "librosa.pyin": librosa_pyin}
        res = evaluate(files, methods)
        rows = summarise(files, res)
        cli = time_cli(root)
    finally:
        if not a.keep:
            shutil.rmtree(root, ignore_errors=True)
    import librosa

    meta = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()} {_cpu()}, {os.cpu_count()} cores",
            "python": platform.python_version(), "librosa": librosa.__version__, "numpy": np.__version__,
            "command": "python " + " ".join(sys.argv)}
    pyin_ms = {r["set"]: r["ms_per_file"] for r in rows if r["method"] == "librosa.pyin"}
    print(f"# pitch benchmark — {meta['date']}, {meta['machine']}, python {meta['python']}, "
          f"librosa {meta['librosa']}\n# {meta['command']}\n")
    print("| set | method | files | within 50 cents | median abs error (cents) | octave errors | unvoiced | "
          "ms / file | speed vs pyin |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        if r["set"] == "unvoiced":
            continue
        med = "-" if r["median_abs_cents"] is None else f"{r['median_abs_cents']:.1f}"
        print(f"| {r['set']} | {r['method']} | {r['n']} | {100 * r['within_50c']:.1f} % | {med} | "
              f"{100 * r['octave_errors']:.1f} % | {100 * r['unvoiced']:.1f} % | {r['ms_per_file']:.1f} | "
              f"{pyin_ms[r['set']] / r['ms_per_file']:.0f}× |")
    print("\nWithin 50 cents by kind of file:\n")
    kinds = [k for r in rows if r["set"] != "unvoiced" for k in r["by_kind"]]
    kinds = list(dict.fromkeys(kinds))
    print("| method | " + " | ".join(kinds) + " |")
    print("| --- |" + " ---: |" * len(kinds))
    for m in methods:
        cells = []
        for k in kinds:
            v = next((r["by_kind"][k] for r in rows if r["method"] == m and k in r.get("by_kind", {})), None)
            cells.append("-" if v is None else f"{100 * v:.0f} %")
        print(f"| {m} | " + " | ".join(cells) + " |")
    print("\nSilence and noise (silence, white, pink, brown, noise burst) reported unvoiced:\n")
    print("| method | unvoiced |")
    print("| --- | ---: |")
    for r in rows:
        if r["set"] == "unvoiced":
            print(f"| {r['method']} | {round(r['unvoiced_share'] * r['n'])} of {r['n']} |")
    print(f"\n`{cli['command']}`: median {cli['median_s']:.2f} s wall over {cli['runs']} runs "
          f"(min {cli['min_s']:.2f} s), {cli['cpu_s']:.2f} s CPU (user + system) per run, load average "
          f"{cli['load_avg']:.1f} on {os.cpu_count()} cores; heavy modules imported: {cli['heavy_imports']}")
    if a.json:
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump({"meta": meta, "rows": rows, "cli": cli,
                       "files": [dict(fl, **{m: res[m]["f0"][i] for m in res}) for i, fl in enumerate(files)]},
                      f, indent=1)


def _cpu() -> str:
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


if __name__ == "__main__":
    main()
