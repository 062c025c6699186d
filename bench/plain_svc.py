#!/usr/bin/env python
"""The plain MFCC + SVM script a user would write instead of audiokit (a baseline for bench/harness.py).

    python bench/plain_svc.py train.csv test.csv     # CSVs with a header: path,label[,...]

librosa.load at 22050 Hz mono, 20 MFCCs (librosa defaults), mean and std over time,
StandardScaler + SVC (RBF, C=1) fitted on train, scored on test. Prints one JSON line.
"""

import csv
import json
import sys

import librosa
import numpy as np
from sklearn.metrics import accuracy_score, f1_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC


def load(manifest):
    with open(manifest, newline="") as f:
        rows = list(csv.DictReader(f))
    X = []
    for row in rows:
        y, sr = librosa.load(row["path"], sr=22050)
        m = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=20)
        X.append(np.concatenate([m.mean(axis=1), m.std(axis=1)]))
    return np.array(X), [row["label"] for row in rows]


X_train, y_train = load(sys.argv[1])
X_test, y_test = load(sys.argv[2])
clf = make_pipeline(StandardScaler(), SVC())
clf.fit(X_train, y_train)
pred = clf.predict(X_test)
print(json.dumps({"accuracy": accuracy_score(y_test, pred),
                  "macro_f1": f1_score(y_test, pred, average="macro", zero_division=0),
                  "n_train": len(y_train), "n_test": len(y_test)}))
