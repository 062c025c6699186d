#!/usr/bin/env bash
# The main job on an embedded default, with nothing downloaded (what `make demo` runs):
#   1. generate a small labelled dataset: 4 instrument-like classes × 4 players, mixed sample
#      rates and formats, with reverb, noise and level changes; and sung low/high notes of
#      singers of six voice types (python -m audiokit.demo)
#   2. featurize → train (KNN on MFCC statistics, Spec-ResNet on log-mels) → eval on a player
#      neither model has heard → predict that player's files
#   3. pitch low.wav high.wav on one generated singer: f0, notes, range and voice type
#
# Usage: examples/demo.sh [OUT_DIR]      (default: demo-out; about 2 minutes on 2 CPU cores)
# Settings (environment variables): EPOCHS=20 (Spec-ResNet, at most), DEVICE=auto (auto | cpu | cuda | cuda:N)
set -euo pipefail

out=${1:-demo-out}
EPOCHS=${EPOCHS:-20}
DEVICE=${DEVICE:-auto}
data=$out/data
SECONDS=0
step() { printf '\n\033[1m== %s\033[0m  (%ss)\n' "$*" "$SECONDS"; }
mkdir -p "$out"

step "1. generate data (python -m audiokit.demo)"
rm -rf "$data"
python -m audiokit.demo "$data" --per-class 24 --singers 2

# Hold out one player: the test set is someone neither model has heard.
find "$data/instruments" -type f | sort > "$out/files.txt"
grep -v '/player3_' "$out/files.txt" > "$out/train.txt"
grep '/player3_' "$out/files.txt" > "$out/test.txt"
echo "$(wc -l < "$out/train.txt") training files (players 0-2), $(wc -l < "$out/test.txt") test files (player 3)"

step "2. featurize: MFCC mean/std (for KNN) and 1-second log-mels (for the Spec-ResNet)"
groups=(--group-regex '^(player[0-9]+)_')
audiokit featurize - -f mfcc-stats "${groups[@]}" -o "$out/mfcc-train.h5" < "$out/train.txt"
audiokit featurize - -f mfcc-stats "${groups[@]}" -o "$out/mfcc-test.h5" < "$out/test.txt"
mel=(-f logmel --sr 16000 --n-mels 40 --hop-length 512 --duration 1.0 "${groups[@]}")
audiokit featurize - "${mel[@]}" -o "$out/logmel-train.h5" < "$out/train.txt"
audiokit featurize - "${mel[@]}" -o "$out/logmel-test.h5" < "$out/test.txt"
audiokit info "$out/logmel-train.h5"

step "3. train a KNN, k chosen by cross-validation over 1..15 (groups = players)"
audiokit train "$out/mfcc-train.h5" --model knn --k 1..15 -o "$out/knn.h5"

step "4. train a Spec-ResNet from scratch (SpecAugment, time shifts; early stopping on a held-out player)"
audiokit train "$out/logmel-train.h5" --model specresnet --epochs "$EPOCHS" --batch-size 16 --specaugment \
    --time-shift 0.2 --device "$DEVICE" -q -o "$out/specresnet.h5"

step "5. eval both on the unheard player"
audiokit eval "$out/knn.h5" "$out/mfcc-test.h5"
audiokit eval "$out/specresnet.h5" "$out/logmel-test.h5" --device "$DEVICE" --plot "$out/confusion.png"

step "6. predict the unheard player's files from the audio (first 8 rows of the CSV)"
audiokit predict "$out/specresnet.h5" - --device "$DEVICE" -q -o "$out/predictions.csv" < "$out/test.txt"
head -9 "$out/predictions.csv" | sed "s|$data/||" | if command -v column >/dev/null; then column -t -s,; else cat; fi

step "7. pitch: a generated singer's lowest and highest note"
low=$(find "$data/voices/baritone" -name '*_low.wav' | sort | head -1)
audiokit pitch "$low" "${low%_low.wav}_high.wav"

step "done"
echo "files in $out/: stores (*.h5), models (knn.h5, specresnet.h5 + .report.json), confusion.png, predictions.csv"
