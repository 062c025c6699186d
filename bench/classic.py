#!/usr/bin/env python
"""Benchmark: featurize → train → eval → predict with the classic models, on generated clips.

The data are :func:`audiokit.demo.make_instruments` notes (four instrument-like timbres,
1–3 s, reverb, noise, level changes, 16–48 kHz, WAV/FLAC/OGG), ``--players`` players
per class. Players are the groups: the held-out test set is *whole players* the models
never heard (a group split), which is the honest figure for new recordings; the
group-aware 20 % validation inside ``train`` is reported too.

Every step runs as the user would run it, as a subprocess (interpreter start and imports
included):

1. ``audiokit featurize train-files - -f mfcc-stats --group-regex ... -o train.h5`` (and the test files);
2. for each kind: ``audiokit train train.h5 -o KIND.h5 --model KIND --json`` (KNN: also the
   ``--k 1..40`` sweep), then ``audiokit eval KIND.h5 test.h5 --json``;
3. ``audiokit predict knn.h5 - --workers 2`` over the test clips: files/s end to end (wall
   time of the whole command) and the steady rate predict logs itself (model already loaded).

Usage::

    python bench/classic.py                  # 3000 clips (a few minutes on 2 cores)
    python bench/classic.py --n 600          # a quick run
    python bench/classic.py --json           # one JSON object on stdout
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KINDS = ("knn", "svm", "mlp", "logreg")
GROUP_RX = r"^(player\d+)_"


def sh(args: list[str], *, stdin: str | None = None) -> tuple[float, subprocess.CompletedProcess]:
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    t = time.perf_counter()
    r = subprocess.run(args, input=stdin, capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t
    if r.returncode != 0:
        sys.exit(f"bench: {' '.join(args)} failed ({r.returncode}):\n{r.stderr}")
    return dt, r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=3000, help="clips in all (default 3000)")
    ap.add_argument("--players", type=int, default=10, help="players (groups) per class (default 10)")
    ap.add_argument("--test-players", type=int, default=2, help="players per class held out for the test set")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--dir", help="work directory (default: a temporary one)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    from audiokit.demo import make_instruments

    root = Path(a.dir or tempfile.mkdtemp(prefix="audiokit-bench-classic-"))
    clips = root / "clips"
    t = time.perf_counter()
    if not clips.exists():
        make_instruments(clips, n_per_class=a.n // 4, players=a.players, seed=11, duration=(1.0, 3.0))
    gen_s = time.perf_counter() - t
    files = sorted(str(p) for p in clips.rglob("*") if p.is_file())
    player = [int(re.match(r"player(\d+)_", os.path.basename(p))[1]) for p in files]
    test_files = [p for p, g in zip(files, player) if g >= a.players - a.test_players]
    train_files = [p for p, g in zip(files, player) if g < a.players - a.test_players]
    A = [sys.executable, "-m", "audiokit"]
    res: dict = {"machine": f"{platform.node()} {platform.processor() or platform.machine()}, "
                            f"{os.cpu_count()} CPUs, Python {platform.python_version()}",
                 "date": time.strftime("%Y-%m-%d"), "clips": len(files), "train_clips": len(train_files),
                 "test_clips": len(test_files), "players_per_class": a.players,
                 "test_players_per_class": a.test_players, "generate_s": round(gen_s, 1), "kinds": {}}
    log = (lambda *x: None) if a.json else (lambda *x: print(*x, file=sys.stderr, flush=True))

    stores = {}
    for name, lst in (("train", train_files), ("test", test_files)):
        out = root / f"{name}.h5"
        dt, _ = sh(A + ["featurize", "-", "-f", "mfcc-stats", "--group-regex", GROUP_RX, "-j", str(a.workers),
                        "-o", str(out), "-q"], stdin="\n".join(lst) + "\n")
        stores[name] = str(out)
        res[f"featurize_{name}_s"] = round(dt, 2)
        res[f"featurize_{name}_files_per_s"] = round(len(lst) / dt, 1)
        log(f"featurize {name}: {len(lst)} files in {dt:.1f} s ({len(lst) / dt:.0f} files/s)")

    runs = [(k, []) for k in KINDS] + [("knn", ["--k", "1..40"])]
    for kind, extra in runs:
        label = kind + (" --k 1..40" if extra else "")
        model = root / f"{kind}{'-sweep' if extra else ''}.h5"
        dt_train, r = sh(A + ["train", stores["train"], "-o", str(model), "--model", kind, "--seed", "0", "--json"]
                         + extra)
        tr = json.loads(r.stdout)
        dt_eval, r = sh(A + ["eval", str(model), stores["test"], "--json"])
        ev = json.loads(r.stdout)
        res["kinds"][label] = {
            "train_s": round(dt_train, 2), "eval_s": round(dt_eval, 2),
            "val_accuracy_group_aware": round(tr["validation"]["accuracy"], 4),
            "test_accuracy_held_out_players": round(ev["accuracy"], 4),
            "test_macro_f1": round(ev["macro"]["f1"], 4),
            "params": tr["params"],
        }
        log(f"{label:16s} train {dt_train:6.1f} s  eval {dt_eval:5.1f} s  val {100 * tr['validation']['accuracy']:.1f} %"
            f"  held-out players {100 * ev['accuracy']:.1f} % (macro-F1 {100 * ev['macro']['f1']:.1f} %)")

    # predict throughput: KNN (k=8) on the test clips, raw audio in, CSV out
    dt, r = sh(A + ["predict", str(root / "knn.h5"), "-", "--workers", str(a.workers), "-o", str(root / "p.csv")],
               stdin="\n".join(test_files) + "\n")
    m = re.search(r"in ([\d.]+) s \((\d+) files/s\)", r.stderr)
    res["predict"] = {"files": len(test_files), "wall_s": round(dt, 2),
                      "files_per_s_end_to_end": round(len(test_files) / dt, 1),
                      "files_per_s_logged": int(m[2]) if m else None, "workers": a.workers}
    log(f"predict knn: {len(test_files)} files in {dt:.1f} s end to end ({len(test_files) / dt:.0f} files/s); "
        f"predict's own rate {m[2] if m else '?'} files/s")
    if a.json:
        print(json.dumps(res, indent=2))
    else:
        print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
