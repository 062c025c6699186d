#!/usr/bin/env python
"""Benchmark: training on a shared machine — two trainings at once, one under a CPU hog, the MLP.

Every run is the real CLI as a subprocess, timed from outside (wall seconds; CPU seconds of
the process and its children), on stores made once from :func:`audiokit.demo.make_instruments`
clips (``--per-class`` notes of 4 instruments, 1 s, log-mels and ``mfcc-stats``).

Cases, each run with audiokit's own thread count (what a user gets) and with
``OMP_NUM_THREADS=1`` (the hand-tuned reference the speed issue compares against):

``two``   two ``train --model specresnet`` runs started together; the wall until both end.
``hog``   one such training while ``--hog`` busy-looping processes (default: one per CPU)
          hold every core.
``mlp``   ``train --model mlp --hidden 256,128`` on the vectors, alone and under the hog.

The ratio of each case is its wall with the default threads over its wall with one thread;
the speed issue's target for ``two`` is at most 1.25. Medians of ``--repeats``.

Usage::

    python bench/threads.py                 # about 5 minutes on 2 cores
    python bench/threads.py --repeats 1 --epochs 1 --per-class 8   # a quick run
    python bench/threads.py --json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _env(one_thread: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                                             "OPENBLAS_NUM_THREADS")}
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    if one_thread:
        env["OMP_NUM_THREADS"] = "1"
    return env


def _cpu_children() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_together(cmds: list[list[str]], env: dict) -> tuple[float, float]:
    """Start every command at once; (wall seconds until the last ends, CPU seconds of all)."""
    c0, t0 = _cpu_children(), time.perf_counter()
    procs = [subprocess.Popen(c, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for c in cmds]
    for p, c in zip(procs, cmds):
        err = p.communicate()[1]
        if p.returncode != 0:
            sys.exit(f"bench: {' '.join(c)} failed ({p.returncode}):\n{err}")
    return time.perf_counter() - t0, _cpu_children() - c0


class Hog:
    """``n`` processes that spin on a core each until stopped (another user's job)."""

    def __init__(self, n: int):
        self.n, self.procs = n, []

    def __enter__(self):
        code = "while True: pass"
        self.procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(self.n)]
        time.sleep(0.5)
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.kill()
            p.wait()


def make_stores(work: Path, per_class: int) -> tuple[Path, Path]:
    from audiokit.demo import make_instruments

    data = work / "data"
    if not data.exists():
        make_instruments(data, n_per_class=per_class, players=4, seed=3, duration=(1.0, 1.0))
    logmel, vec = work / "logmel.h5", work / "mfcc.h5"
    env = _env(False)
    for out, flags in ((logmel, ["--duration", "1"]), (vec, ["-f", "mfcc-stats"])):
        if not out.exists():
            subprocess.run(["audiokit", "featurize", str(data), *flags, "--group-regex", r"^(player\d+)_",
                            "-o", str(out), "-q"], check=True, env=env)
    return logmel, vec


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--per-class", type=int, default=32, help="clips per class (4 classes)")
    ap.add_argument("--epochs", type=int, default=3, help="specresnet epochs per training")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--hog", type=int, default=os.cpu_count() or 1, help="busy processes (default: one per CPU)")
    ap.add_argument("--cases", default="two,hog,mlp")
    ap.add_argument("--work", help="folder for the data and stores (kept); default a temporary one")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    work = Path(a.work or tempfile.mkdtemp(prefix="audiokit-threads-"))
    work.mkdir(parents=True, exist_ok=True)
    logmel, vec = make_stores(work, a.per_class)

    def train(store: Path, out: str, *flags: str) -> list[str]:
        return ["audiokit", "train", str(store), "-o", str(work / out), "-q", *flags]

    spec = ("--model", "specresnet", "--epochs", str(a.epochs), "--batch-size", "16", "--checkpoint", "none")
    mlp = ("--model", "mlp", "--hidden", "256,128")
    cases = {
        "two": (lambda: [train(logmel, "a.h5", *spec), train(logmel, "b.h5", *spec)], 0),
        "hog": (lambda: [train(logmel, "h.h5", *spec)], a.hog),
        "mlp": (lambda: [train(vec, "m.h5", *mlp)], 0),
        "mlp-hog": (lambda: [train(vec, "mh.h5", *mlp)], a.hog),
    }
    wanted = [c for c in cases if c.split("-")[0] in a.cases.split(",")]
    rows = []
    for name in wanted:
        make, hog = cases[name]
        res = {}
        for one in (False, True):
            walls, cpus = [], []
            for _ in range(a.repeats):
                with Hog(hog) if hog else contextlib.nullcontext():
                    w, c = run_together(make(), _env(one))
                walls.append(w)
                cpus.append(c)
            res["one" if one else "default"] = {"wall_s": statistics.median(walls), "cpu_s": statistics.median(cpus),
                                                "walls": walls}
        res["ratio"] = res["default"]["wall_s"] / res["one"]["wall_s"]
        rows.append({"case": name, **res})
        if not a.json:
            print(f"{name:8s} default {res['default']['wall_s']:6.1f} s  OMP_NUM_THREADS=1 "
                  f"{res['one']['wall_s']:6.1f} s  ratio {res['ratio']:.2f}", flush=True)
    out = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": f"{platform.processor() or platform.machine()}, "
           f"{os.cpu_count()} CPUs", "python": platform.python_version(), "argv": sys.argv[1:],
           "load_before": os.getloadavg(), "rows": rows}
    if a.json:
        print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
