#!/usr/bin/env bash
# Instrument classification by transfer learning with ResNet-18 (the ResNet-18 paper):
# log-mel spectrogram → ResNet-18 with ImageNet weights, last layer replaced for N classes,
# AdamW lr 1e-3, batch 32, 10 epochs, an 80/20 split, per-epoch loss/accuracy curves and a
# confusion matrix on the held-out 20 %.
#
# Usage: examples/instruments_resnet18.sh DATA_DIR [OUT_DIR]
#
#   DATA_DIR  one sub-directory per instrument (the label), audio files of any format audiokit
#             reads (wav, flac, ogg, mp3), e.g. DATA_DIR/guitar/*.wav, DATA_DIR/piano/*.wav.
#             No data at hand?  python -m audiokit.demo demo-data  →  demo-data/instruments
#   OUT_DIR   where stores, model, report and plots go (default: out-instruments)
#
# Settings (environment variables; defaults are the paper's):
#   PRETRAINED=imagenet   imagenet (downloaded once to the torch cache) | none | PATH to a
#                         torchvision resnet18 state dict, for machines without network
#   EPOCHS=10 BATCH=32    training length and batch size
#   DEVICE=auto           auto | cpu | cuda | cuda:N
#   TEST_PATTERN=         an extended regex on the path that picks the test files, e.g.
#                         '/player3_' to hold out one player (recommended when recordings of
#                         one player/session share a sound); default: every 5th file of the
#                         sorted list (20 %, the paper's random split, stratified by class)
#   FEATURE_ARGS=         more featurize flags, e.g. '--n-mels 64 --duration 3'
#   TRAIN_ARGS=           more train flags, e.g. '--scheduler cosine --flip 0.5 --rotate 10'
#
# Prints the training summary, the held-out evaluation (accuracy, per-class P/R/F1, confusion
# matrix) and writes OUT_DIR/{train,test}.h5, resnet18.h5 (+ .report.json, history), curves.png,
# confusion.png.
set -euo pipefail

data=${1:?usage: $0 DATA_DIR [OUT_DIR]}
out=${2:-out-instruments}
PRETRAINED=${PRETRAINED:-imagenet}
EPOCHS=${EPOCHS:-10}
BATCH=${BATCH:-32}
DEVICE=${DEVICE:-auto}
TEST_PATTERN=${TEST_PATTERN:-}
read -r -a feature_args <<< "${FEATURE_ARGS:-}"
read -r -a train_args <<< "${TRAIN_ARGS:-}"
mkdir -p "$out"

# 1. split the files: 80 % train, 20 % test
find "$data" -type f \( -iname '*.wav' -o -iname '*.flac' -o -iname '*.ogg' -o -iname '*.mp3' \) | sort > "$out/files.txt"
if [[ -n $TEST_PATTERN ]]; then
    grep -E -- "$TEST_PATTERN" "$out/files.txt" > "$out/test.txt"
    grep -vE -- "$TEST_PATTERN" "$out/files.txt" > "$out/train.txt"
else
    awk 'NR % 5 == 0' "$out/files.txt" > "$out/test.txt"
    awk 'NR % 5 != 0' "$out/files.txt" > "$out/train.txt"
fi
echo "== $(wc -l < "$out/train.txt") training files, $(wc -l < "$out/test.txt") test files"

# 2. log-mel spectrograms; labels are the parent directory names. The test store takes the
#    training store's settings (--like), its resolved clip duration included.
audiokit featurize - --features logmel "${feature_args[@]}" -o "$out/train.h5" < "$out/train.txt"
audiokit featurize - --like "$out/train.h5" -o "$out/test.h5" < "$out/test.txt"

# 3. fine-tune ResNet-18 the paper's way: AdamW lr 1e-3, a plateau schedule, no SpecAugment
#    (20 % of the training files validate each epoch; early stopping keeps the best epoch)
echo "== train"
audiokit train "$out/train.h5" --model resnet18 --pretrained "$PRETRAINED" --epochs "$EPOCHS" \
    --batch-size "$BATCH" --no-augment --normalize dataset --optimizer adamw --scheduler plateau --patience 5 \
    --val-split 0.2 --no-refit --device "$DEVICE" --plot "$out/curves.png" "${train_args[@]}" -o "$out/resnet18.h5"

# 4. the held-out 20 %: accuracy, per-class precision/recall/F1, confusion matrix
echo "== eval on the held-out files"
audiokit eval "$out/resnet18.h5" "$out/test.h5" --device "$DEVICE" --plot "$out/confusion.png"
