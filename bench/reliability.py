#!/usr/bin/env python
"""Reliability checks too long for the test suite: featurize timing with ``--workers 2``, and a
stress loop of interrupts or killed workers at random moments of real ``featurize -j 2`` runs.

Each run is a fresh ``python -m audiokit`` process in its own process group (as a shell job),
with ``PYTHONPATH`` set to the tree under test, so two checkouts can be compared back to back.

Usage::

    python bench/reliability.py timing --tree /path/a --tree /path/b --n 200 --reps 3
    python bench/reliability.py stress --tree . --runs 30                 # SIGINT/SIGTERM to the group
    python bench/reliability.py stress --tree . --runs 10 --mode kill-worker

``timing`` prints the median wall seconds of each tree (runs interleaved A B A B …, so load
from other jobs hits both alike). ``stress`` prints the counts docs/reliability.md quotes: runs,
exit statuses, tracebacks, half-written stores, leftover temporary files or processes, hangs.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from featurize import make_clips  # noqa: E402  (bench/featurize.py: the same generated clips)


def _env(tree: str) -> dict:
    return {**os.environ, "PYTHONPATH": str(Path(tree).resolve()), "PYTHONWARNINGS": "ignore"}


def _featurize_argv(data: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "audiokit", "featurize", str(data), "-o", str(out), "-j", "2", "-q"]


def timing(args) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "clips"
        make_clips(data, args.n, seed=0)
        walls: dict[str, list[float]] = {t: [] for t in args.tree}
        for _ in range(args.reps):
            for tree in args.tree:
                out = Path(tmp) / "s.h5"
                out.unlink(missing_ok=True)
                t0 = time.perf_counter()
                p = subprocess.run(_featurize_argv(data, out), env=_env(tree), capture_output=True, text=True)
                walls[tree].append(time.perf_counter() - t0)
                if p.returncode != 0:
                    raise SystemExit(f"featurize failed with {tree}:\n{p.stderr}")
    return {"n_files": args.n, "reps": args.reps,
            "trees": {t: {"median_s": round(statistics.median(w), 2), "runs_s": [round(x, 2) for x in w]}
                      for t, w in walls.items()}}


def _group_alive(pgid: int) -> bool:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                return True
    return False


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in open(f"/proc/{pid}/task/{pid}/children").read().split()]
    except OSError:
        return []


def stress(args) -> dict:
    sys.path.insert(0, str(Path(args.tree).resolve()))
    from audiokit.store import open_store

    rng = np.random.default_rng(args.seed)
    counts = {"runs": 0, "exit": {}, "tracebacks": 0, "half_written": 0, "complete": 0, "absent": 0,
              "leftover_tmp": 0, "leftover_processes": 0, "hangs": 0, "bad_error_line": 0}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "clips"
        make_clips(data, args.n, seed=1)
        out = Path(tmp) / "s.h5"
        t0 = time.monotonic()
        subprocess.run(_featurize_argv(data, out), env=_env(args.tree), check=True, capture_output=True)
        span = time.monotonic() - t0
        for i in range(args.runs):
            out.unlink(missing_ok=True)
            p = subprocess.Popen(_featurize_argv(data, out), env=_env(args.tree), stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, start_new_session=True)
            if args.mode == "interrupt":
                sig = (signal.SIGINT, signal.SIGTERM)[i % 2]
                delay = float(rng.uniform(0.0, 1.1 * span))
                time.sleep(delay)
                try:
                    os.killpg(p.pid, sig)
                except ProcessLookupError:
                    pass
            else:  # SIGKILL one worker (the OOM killer's way) at a random moment of the pool's work
                sig, delay = signal.SIGKILL, 0.0
                deadline = time.monotonic() + 60
                while len(_children(p.pid)) < 2 and p.poll() is None and time.monotonic() < deadline:
                    time.sleep(0.01)
                time.sleep(float(rng.uniform(0.0, 0.25 * span)))
                kids = _children(p.pid)
                if kids:
                    os.kill(int(rng.choice(kids)), signal.SIGKILL)
            try:
                _, err = p.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                counts["hangs"] += 1
                os.killpg(p.pid, signal.SIGKILL)
                _, err = p.communicate()
            err = err.decode(errors="replace")
            counts["runs"] += 1
            counts["exit"][str(p.returncode)] = counts["exit"].get(str(p.returncode), 0) + 1
            if "Traceback" in err or "Exception ignored" in err:
                counts["tracebacks"] += 1
                print(f"run {i}: {err}", file=sys.stderr)
            lines = err.strip().splitlines()
            if p.returncode in (1, 130) and (len(lines) != 1 or not lines[0].startswith("audiokit: error: ")):
                counts["bad_error_line"] += 1
                print(f"run {i} (exit {p.returncode}, {sig.name} at {delay:.2f} s of {span:.2f}): {err}", file=sys.stderr)
            time.sleep(0.2)
            if _group_alive(p.pid):
                counts["leftover_processes"] += 1
                os.killpg(p.pid, signal.SIGKILL)
            if [n for n in os.listdir(tmp) if n.endswith(".tmp")]:
                counts["leftover_tmp"] += 1
            if out.exists():
                try:
                    with open_store(str(out)) as s:
                        ok = len(s) == args.n
                except Exception:
                    ok = False
                counts["complete" if ok else "half_written"] += 1
            else:
                counts["absent"] += 1
    counts["mode"], counts["files"], counts["uninterrupted_run_s"] = args.mode, args.n, round(span, 2)
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    t = sub.add_parser("timing")
    t.add_argument("--tree", action="append", required=True, help="a checkout to time (repeatable)")
    t.add_argument("--n", type=int, default=200)
    t.add_argument("--reps", type=int, default=3)
    s = sub.add_parser("stress")
    s.add_argument("--tree", default=".")
    s.add_argument("--runs", type=int, default=30)
    s.add_argument("--n", type=int, default=120, help="clips per run")
    s.add_argument("--mode", choices=("interrupt", "kill-worker"), default="interrupt")
    s.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    res = timing(args) if args.what == "timing" else stress(args)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
