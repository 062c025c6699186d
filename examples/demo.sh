#!/usr/bin/env bash
# The main job on an embedded default, with nothing downloaded (what `make demo` runs):
#   1. generate a small labelled dataset: 4 instrument-like classes × 4 players, mixed sample
#      rates and formats, with reverb, noise and level changes; and sung low/high notes of
#      singers of six voice types (python -m audiokit.demo)
#   2. featurize → train with the defaults (logistic regression on MFCC statistics, a Spec-ResNet on log-mels,
#      each validated on a held-out player and refit on all three) → eval on a player neither
#      model has heard → predict that player's files
#   3. pitch low.wav high.wav on one generated singer: f0, notes, range and voice type
#
# Usage: examples/demo.sh [OUT_DIR]      (default: demo-out; about 2 minutes on 2 CPU cores)
# Settings (environment variables): EPOCHS=30 (Spec-ResNet), DEVICE=auto (auto | cpu | cuda | cuda:N)
set -euo pipefail

out=${1:-demo-out}
EPOCHS=${EPOCHS:-30}
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

step "2. featurize: MFCC statistics (for the classic model) and 1-second log-mels (for the Spec-ResNet); test sets --like the training sets"
groups=(--group-regex '^(player[0-9]+)_')
audiokit featurize - -f mfcc-stats "${groups[@]}" -o "$out/mfcc-train.h5" < "$out/train.txt"
audiokit featurize - --like "$out/mfcc-train.h5" "${groups[@]}" -o "$out/mfcc-test.h5" < "$out/test.txt"
audiokit featurize - --duration 1.0 "${groups[@]}" -o "$out/logmel-train.h5" < "$out/train.txt"
audiokit featurize - --like "$out/logmel-train.h5" "${groups[@]}" -o "$out/logmel-test.h5" < "$out/test.txt"
audiokit info "$out/logmel-train.h5"

step "3. train with the defaults on MFCC statistics (logistic regression)"
audiokit train "$out/mfcc-train.h5" -o "$out/logreg.h5"

step "4. train with the defaults on log-mels (a Spec-ResNet from scratch: SpecAugment, time shifts, frequency warps, random EQ, plateau schedule)"
audiokit train "$out/logmel-train.h5" --epochs "$EPOCHS" --device "$DEVICE" -q -o "$out/specresnet.h5"

step "5. eval both on the unheard player"
audiokit eval "$out/logreg.h5" "$out/mfcc-test.h5"
audiokit eval "$out/specresnet.h5" "$out/logmel-test.h5" --device "$DEVICE" --plot "$out/confusion.png"

step "6. predict the unheard player's files from the audio (first 8 rows of the CSV)"
audiokit predict "$out/specresnet.h5" - --device "$DEVICE" -q -o "$out/predictions.csv" < "$out/test.txt"
head -9 "$out/predictions.csv" | sed "s|$data/||" | if command -v column >/dev/null; then column -t -s,; else cat; fi

step "7. pitch: a generated singer's lowest and highest note"
low=$(find "$data/voices/baritone" -name '*_low.wav' | sort | head -1)
audiokit pitch "$low" "${low%_low.wav}_high.wav"

step "done"
echo "files in $out/: stores (*.h5), models (logreg.h5, specresnet.h5 + .report.json), confusion.png, predictions.csv"
