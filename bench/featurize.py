#!/usr/bin/env python
"""Benchmark: ``audiokit featurize`` (log-mel, --workers 2) against the plain librosa loop.

The script makes N clips of 1–3 s (mono and stereo, 22.05/44.1/48 kHz, 16-bit WAV, four
classes in four directories), then featurizes them to log-mel in one run, on this
machine, with the same settings (sr 22050, n_fft 2048, hop 512, 128 mels, soxr_hq
resampling, power in dB relative to the peak, top_db 80):

* plain: the loop a user would write, in one process::

      for p in files:
          y, sr = librosa.load(p, sr=22050)
          S = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=2048, hop_length=512, n_mels=128)
          feats.append(librosa.power_to_db(S, ref=np.max, top_db=80))

* the same loop with BLAS limited to one thread (``OPENBLAS_NUM_THREADS=1``): on a small
  machine numpy's multi-threaded BLAS slows the plain loop down, and audiokit runs BLAS on
  one thread, so this row shows how much of the gain is parallelism alone;
* audiokit: ``audiokit featurize DIR --features logmel --n-fft 2048 --hop-length 512 --n-mels 128
  --workers 2 -o bench.h5`` (which also
  crops/pads to the median length, peak-normalises and writes a compressed HDF5 store).

Both run as subprocesses (interpreter start and imports included, as a user pays them).
Reported: wall seconds, files/s, × real time (seconds of audio per second), the ratio, CPU
seconds of each run (its processes together: less sensitive to other load on the machine
than wall time), and peak memory: the largest single process (ru_maxrss) and the peak sum of resident memory
over the process tree (sampled every 50 ms from /proc). audiokit is also run on N/10 files
to show that its memory does not grow with the number of files.

Usage::

    python bench/featurize.py              # N = 3000 (a few minutes on 2 cores)
    python bench/featurize.py --n 300      # a quick run
    python bench/featurize.py --json       # one JSON object on stdout
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

PLAIN = r"""
import sys, numpy as np, librosa
files = [l for l in open(sys.argv[1], encoding="utf-8").read().split("\n") if l]
feats = []
for p in files:
    y, sr = librosa.load(p, sr=22050)
    S = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=2048, hop_length=512, n_mels=128)
    feats.append(librosa.power_to_db(S, ref=np.max, top_db=80))
print(len(feats), file=sys.stderr)
"""


def make_clips(root: Path, n: int, *, seed: int = 0) -> tuple[list[str], float]:
    """N clips of 1–3 s; returns their paths (sorted, as a directory walk lists them) and total seconds."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    classes = ("a", "b", "c", "d")
    total = 0.0
    for i in range(n):
        sr = int(rng.choice([22050, 44100, 48000]))
        dur = float(rng.uniform(1.0, 3.0))
        t = np.arange(int(sr * dur)) / sr
        f0 = rng.uniform(80, 1000)
        y = sum(np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 6.3)) / h for h in range(1, 6))
        y = y * np.exp(-t * rng.uniform(0.2, 3)) + 0.02 * rng.standard_normal(t.size)
        y = 0.8 * y / np.max(np.abs(y))
        if rng.random() < 0.3:
            y = np.stack([y, 0.7 * y], axis=1)
        d = root / classes[i % 4]
        d.mkdir(parents=True, exist_ok=True)
        sf.write(str(d / f"clip_{i:05d}.wav"), y.astype(np.float32), sr, subtype="PCM_16")
        total += t.size / sr
    paths = sorted(str(p) for p in root.rglob("*.wav"))
    return paths, total


def _tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            ppid, pages = int(fields[1]), int(fields[21])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(d))
        rss[int(d)] = pages * os.sysconf("SC_PAGE_SIZE")
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        total += rss.get(p, 0)
        stack.extend(children.get(p, []))
    return total


ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def timed(cmd: list[str], env: dict | None = None) -> dict:
    """Run ``cmd``; wall seconds, its largest process's max RSS, and the peak RSS summed over its tree."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, **(env or {})})
    peak = 0
    done = threading.Event()

    def sample():
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss(proc.pid))
            done.wait(0.05)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    done.set()
    th.join()
    err = proc.stderr.read().decode(errors="replace")
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"bench: {' '.join(cmd[:4])} … failed ({proc.returncode}):\n{err[-2000:]}")
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "max_rss_mib": usage.ru_maxrss / 1024,
            "peak_tree_rss_mib": peak / 2**20}


def _spin(n: int) -> int:
    s = 0
    for i in range(n):
        s += i * i
    return s


def parallel_capacity(n: int = 3_000_000) -> float:
    """How many cores this machine gives right now: a pure-Python loop in 2 processes against 1
    (2.0 on an idle 2-core machine; about 1.0 when something else holds a core)."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    times = []
    for w in (1, 2):
        t = time.perf_counter()
        with ctx.Pool(w) as p:
            p.map(_spin, [n] * 4 * w)
        times.append((time.perf_counter() - t) / w)
    return round(times[0] / times[1] * 1.0, 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=3000, help="number of clips (default 3000)")
    ap.add_argument("--workers", type=int, default=2, help="audiokit --workers (default 2)")
    ap.add_argument("--dir", help="work directory (default: a temporary one, removed at the end)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = ap.parse_args()

    work = Path(args.dir or tempfile.mkdtemp(prefix="audiokit-bench-"))
    try:
        t0 = time.perf_counter()
        paths, audio_s = make_clips(work / "clips", args.n)
        small = work / "small"
        for p in paths[: max(4, args.n // 10)]:
            q = small / Path(p).relative_to(work / "clips")
            q.parent.mkdir(parents=True, exist_ok=True)
            os.link(p, q)
        gen_s = time.perf_counter() - t0
        listing = work / "files.txt"
        listing.write_text("\n".join(paths) + "\n", encoding="utf-8")
        load_before = os.getloadavg()[0]
        capacity_before = parallel_capacity()
        plain = timed([sys.executable, "-c", PLAIN, str(listing)])
        plain1 = timed([sys.executable, "-c", PLAIN, str(listing)], env=ONE_THREAD)
        ak = [sys.executable, "-m", "audiokit", "featurize", "--features", "logmel", "--n-fft", "2048",
              "--hop-length", "512", "--n-mels", "128", "--workers", str(args.workers), "-q"]  # the loop's settings
        ours = timed(ak + [str(work / "clips"), "-o", str(work / "bench.h5")])
        ours_small = timed(ak + [str(small), "-o", str(work / "small.h5")])
        n_small = sum(1 for _ in small.rglob("*.wav"))
        load_after = os.getloadavg()[0]
        capacity_after = parallel_capacity()
    finally:
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)

    res = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs ({len(os.sched_getaffinity(0))} usable), "
                   f"{platform.processor() or _cpu_model()}, Python {platform.python_version()}",
        "command": "python bench/featurize.py " + " ".join(sys.argv[1:]),
        "files": args.n,
        "audio_seconds": round(audio_s, 1),
        "generate_s": round(gen_s, 1),
        "load_average": [round(load_before, 1), round(load_after, 1)],
        "parallel_capacity": [capacity_before, capacity_after],
        "plain": _rates(plain, args.n, audio_s),
        "plain_one_blas_thread": _rates(plain1, args.n, audio_s),
        "audiokit": _rates(ours, args.n, audio_s),
        "audiokit_small": {**_rates(ours_small, n_small, None), "files": n_small},
        "workers": args.workers,
    }
    res["speedup"] = round(plain["wall_s"] / ours["wall_s"], 2)
    res["speedup_vs_one_blas_thread"] = round(plain1["wall_s"] / ours["wall_s"], 2)
    if args.json:
        print(json.dumps(res, indent=2))
        return
    print(f"{res['date']} · {res['machine']}\n{res['command']}\n"
          f"{args.n} clips, {audio_s / 60:.1f} min of audio (made in {gen_s:.0f} s); "
          f"1-min load average {res['load_average'][0]} before, {res['load_average'][1]} after; "
          f"cores available (2-process speed-up of a pure-Python loop) {capacity_before} before, "
          f"{capacity_after} after\n")
    print("| run | files | wall s | files/s | × real time | CPU s (all processes) | max RSS of one process "
          "| peak RSS of the tree |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, key, n in (("plain librosa loop (1 process)", "plain", args.n),
                         ("plain loop, BLAS on 1 thread (OPENBLAS_NUM_THREADS=1)", "plain_one_blas_thread", args.n),
                         (f"audiokit featurize --workers {args.workers}", "audiokit", args.n),
                         (f"audiokit featurize --workers {args.workers}", "audiokit_small", n_small)):
        r = res[key]
        rt = f"{r['x_realtime']:.0f}×" if r.get("x_realtime") else "–"
        print(f"| {name} | {n} | {r['wall_s']:.1f} | {r['files_per_s']:.1f} | {rt} | {r['cpu_s']:.1f} | "
              f"{r['max_rss_mib']:.0f} MiB | {r['peak_tree_rss_mib']:.0f} MiB |")
    print(f"\naudiokit / plain: {res['speedup']:.2f}× (target ≥ 1.7× on 2 cores); "
          f"audiokit / plain with one BLAS thread: {res['speedup_vs_one_blas_thread']:.2f}×")


def _rates(r: dict, n: int, audio_s: float | None) -> dict:
    out = {k: round(v, 2) for k, v in r.items()}
    out["files_per_s"] = round(n / r["wall_s"], 1)
    if audio_s:
        out["x_realtime"] = round(audio_s / r["wall_s"], 1)
    return out


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    main()
