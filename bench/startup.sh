#!/bin/bash
# Start-up of the commands a user runs on one file or a small store: whole-process wall seconds,
# median of 5 after a warm-up. Runs in the folder `make demo` writes (default demo-out/), whose
# models and 24-item test stores it uses; results go to docs/benchmarks.md, "classic models".
#
#   bash bench/startup.sh [DEMO_OUT]
set -euo pipefail
cd "${1:-demo-out}"
f=$(ls data/instruments/bowed/*.wav | head -1)
audiokit train mfcc-train.h5 --model knn -o knn.h5 -q   # the demo trains logreg; the speed target names a KNN
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
time_it() {
  local name=$1; shift
  "$@" >/dev/null 2>&1   # warm-up: the page cache, not the interpreter
  for _ in 1 2 3 4 5; do /usr/bin/time -f %e "$@" 2>&1 >/dev/null | tail -1; done | median | sed "s|^|$name |"
}
time_it "predict knn one" audiokit predict knn.h5 "$f" -q
time_it "predict logreg one" audiokit predict logreg.h5 "$f" -q
time_it "predict specresnet one" audiokit predict specresnet.h5 "$f" -q
time_it "eval knn mfcc-test" audiokit eval knn.h5 mfcc-test.h5 -q
time_it "eval logreg mfcc-test" audiokit eval logreg.h5 mfcc-test.h5 -q
time_it "eval specresnet logmel-test" audiokit eval specresnet.h5 logmel-test.h5 -q
time_it "featurize one mfcc-stats" audiokit featurize "$f" -f mfcc-stats -o - -q
time_it "help" audiokit --help
