#!/usr/bin/env bash
# Vocal range classification with HPS + KNN (the KNN paper): each singer's lowest and highest
# note on "a" → the fundamental of each by the Harmonic Product Spectrum (peak normalisation,
# Hamming window, FFT, HPS) → the pair (f0 low, f0 high) classified by a Euclidean KNN into
# soprano, mezzo-soprano, alto, tenor, baritone, bass; k swept 1…40, a 70/30 split of the
# singers, and the confusion matrix of the held-out 30 %.
#
# Usage: examples/vocal_range_knn.sh DATA_DIR [OUT_DIR]
#
#   DATA_DIR  one sub-directory per voice type holding each singer's pair, named with 'low' and
#             'high': DATA_DIR/tenor/anna_low.wav + DATA_DIR/tenor/anna_high.wav, ...
#             No recordings at hand?  python -m audiokit.demo demo-data  →  demo-data/voices
#   OUT_DIR   where the stores, model, report and plots go (default: out-voices)
#
# Settings (environment variables):
#   K=1..40       the k values swept; each is scored by cross-validation on the training 70 %
#                 (the paper picked k on its test set; here the test set is only for the final
#                 figure) and ties go to the smaller k; a single number fixes k
#   METHOD=hps    f0 estimator: hps (the paper's) | yin (see 'audiokit pitch --help')
#
# The split: of each voice type's singers in sorted order, the 3rd, 6th and 9th of every ten
# are held out (30 %, stratified). Prints the accuracy-vs-k sweep with the chosen k, the
# held-out accuracy, per-type precision/recall/F1 and confusion matrix, then the voice type of
# one held-out singer by the trained model and by the embedded reference model of
# 'audiokit pitch'. Writes OUT_DIR/{pairs,train,test}.csv, {train,test}.h5, voice-knn.h5
# (+ .report.json), k.png, confusion.png.
set -euo pipefail

data=${1:?usage: $0 DATA_DIR [OUT_DIR]}
out=${2:-out-voices}
K=${K:-1..40}
METHOD=${METHOD:-hps}
mkdir -p "$out"

# 1. one row per singer: low,high,voice type (absolute paths: the manifests live in OUT_DIR)
root=$(cd "$data" && pwd)
find "$root" -type f -name '*low*' | sort | while IFS= read -r low; do
    dir=${low%/*} base=${low##*/}
    high=$dir/${base/low/high}
    [[ -f $high ]] && printf '%s,%s,%s\n' "$low" "$high" "${dir##*/}"
done > "$out/pairs.csv"
awk -F, -v test="$out/test.csv" -v train="$out/train.csv" \
    '{ n[$3]++; if (n[$3] % 10 == 3 || n[$3] % 10 == 6 || n[$3] % 10 == 9) print > test; else print > train }' \
    "$out/pairs.csv"
echo "== $(wc -l < "$out/train.csv") singers to train on, $(wc -l < "$out/test.csv") held out"

# 2. f0 (low, high) of each singer
audiokit featurize --manifest "$out/train.csv" --features f0-range --f0-method "$METHOD" -o "$out/train.h5"
audiokit featurize --manifest "$out/test.csv" --features f0-range --f0-method "$METHOD" -o "$out/test.h5"

# 3. KNN with the k sweep (accuracy vs k printed and plotted); no validation split: the
#    sweep cross-validates on the training singers and the held-out ones score the result
echo "== KNN, k swept over $K"
audiokit train "$out/train.h5" --model knn --k "$K" --val-split 0 --plot "$out/k.png" -o "$out/voice-knn.h5"

# 4. the held-out singers
echo "== eval on the held-out singers"
audiokit eval "$out/voice-knn.h5" "$out/test.h5" --plot "$out/confusion.png"

IFS=, read -r low high type < "$out/test.csv"
echo "== one held-out singer ($type): $low + $high"
audiokit pitch "$low" "$high" --model "$out/voice-knn.h5"
echo "== the same pair with the embedded reference model"
audiokit pitch "$low" "$high"
