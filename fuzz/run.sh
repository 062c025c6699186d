#!/usr/bin/env bash
# A longer fuzzing run than the test suite's: the hypothesis tests of tests/test_fuzz.py with N
# examples per target (default 2000) and fresh random examples on each run (the suite's own run is
# derandomised). The examples run per target go to $TMPDIR/audiokit-fuzz.json (or AUDIOKIT_FUZZ_REPORT).
#
#   fuzz/run.sh            # 2000 examples per target
#   fuzz/run.sh 10000 -k audio
#
# A failure prints the smallest failing input and a @reproduce_failure line to paste above the test;
# keep the case as an explicit @example once the bug is fixed. (atheris was not used: hypothesis
# drives structured damage - header fields, HDF5 attributes and datasets - which is where the bugs were.)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-2000}"
shift || true
py="${PYTHON:-.venv/bin/python}"
AUDIOKIT_FUZZ_EXAMPLES="$n" AUDIOKIT_FUZZ_RANDOM=1 AUDIOKIT_FUZZ_REPORT="${AUDIOKIT_FUZZ_REPORT:-${TMPDIR:-/tmp}/audiokit-fuzz.json}" \
  exec "$py" -m pytest -p no:xdist -q -p no:cacheprovider tests/test_fuzz.py "$@"
