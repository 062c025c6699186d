#!/usr/bin/env bash
# The main job on generated data: featurize → info (more stages join as they land).
# Usage: examples/demo.sh [OUTDIR]   (default: demo-out)
set -euo pipefail
out=${1:-demo-out}
mkdir -p "$out"
python -m audiokit.demo "$out/data" --per-class 24 --singers 4
audiokit featurize "$out/data/instruments" --features mfcc-stats --group-regex '^(player\d+)_' -o "$out/mfcc.h5"
audiokit info "$out/mfcc.h5"
