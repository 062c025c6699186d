#!/usr/bin/env bash
# Speech emotion recognition with a Spec-ResNet on log-mel spectrograms (the Spec-ResNet
# paper): labels from RAVDESS file names, a residual CNN trained from scratch (Adam lr 1e-3,
# plateau decay ×0.2, batch 64, up to 50 epochs, early stopping with patience 5), 5-fold
# cross-validation reported as mean ± std, against the MFCC + SVM and MFCC + MLP baselines.
# Folds are grouped by actor: no actor is ever in training and test at once.
#
# Usage: examples/emotion_specresnet.sh DATA_DIR [OUT_DIR]
#
#   DATA_DIR  RAVDESS-style files anywhere below it, named like 03-01-05-01-02-01-12.wav
#             (modality-channel-EMOTION-intensity-statement-repetition-ACTOR), e.g. the
#             Audio_Speech_Actors_01-24 folder of RAVDESS (zenodo.org/record/1188976).
#             No corpus at hand?  python -m audiokit.demo demo-data --actors 6  →  demo-data/emotions
#             (synthetic stand-ins with the same names: for trying the plumbing, not for figures)
#   OUT_DIR   where stores, models and reports go (default: out-emotion)
#
# The paper's recipe is spelled out in flags (audiokit's own defaults differ: see
# docs/deep-training.md; TRAIN_ARGS='--augment --patience 0' adds them back).
#
# Settings (environment variables; defaults are the paper's):
#   FOLDS=5               cross-validation folds (grouped by actor)
#   EPOCHS=50 BATCH=64    upper bound on epochs (early stopping ends sooner), batch size
#   DEVICE=auto           auto | cpu | cuda | cuda:N
#   BASELINES=1           also run MFCC + SVM and MFCC + MLP (0: skip)
#   FEATURE_ARGS=         more featurize flags for the log-mels, e.g. '--n-mels 64 --duration 3'
#   TRAIN_ARGS=           more train flags for the Spec-ResNet, e.g. '--specaugment'
#
# Prints each model's per-fold scores and the mean ± std of accuracy and macro-F1; writes
# OUT_DIR/{logmel,mfcc}.h5, specresnet.h5, svm.h5, mlp.h5 (each refit on all data after CV) and
# their .report.json files.
set -euo pipefail

data=${1:?usage: $0 DATA_DIR [OUT_DIR]}
out=${2:-out-emotion}
FOLDS=${FOLDS:-5}
EPOCHS=${EPOCHS:-50}
BATCH=${BATCH:-64}
DEVICE=${DEVICE:-auto}
BASELINES=${BASELINES:-1}
read -r -a feature_args <<< "${FEATURE_ARGS:-}"
read -r -a train_args <<< "${TRAIN_ARGS:-}"
mkdir -p "$out"

# RAVDESS names: the third field is the emotion, the last one the actor
labels=(--label-regex '^\d+-\d+-(\d+)-'
        --label-map 01=neutral,02=calm,03=happy,04=sad,05=angry,06=fearful,07=disgust,08=surprised
        --group-regex '-(\d+)\.\w+$')

echo "== Spec-ResNet on log-mel spectrograms, $FOLDS-fold CV by actor"
audiokit featurize "$data" --features logmel "${labels[@]}" "${feature_args[@]}" -o "$out/logmel.h5"
audiokit train "$out/logmel.h5" --model specresnet --folds "$FOLDS" --epochs "$EPOCHS" --batch-size "$BATCH" \
    --optimizer adam --weight-decay 0 --scheduler plateau --patience 5 --no-augment --normalize dataset \
    --device "$DEVICE" "${train_args[@]}" -o "$out/specresnet.h5"

if [[ $BASELINES != 0 ]]; then
    echo "== baselines: MFCC mean/std + SVM and + MLP, the same folds"
    audiokit featurize "$data" --features mfcc-stats --stats mfcc "${labels[@]}" -o "$out/mfcc.h5"
    audiokit train "$out/mfcc.h5" --model svm --folds "$FOLDS" -o "$out/svm.h5"
    audiokit train "$out/mfcc.h5" --model mlp --folds "$FOLDS" -o "$out/mlp.h5"
fi
