#!/usr/bin/env python
"""The plain log-mel + ResNet-18 script a user would write instead of audiokit (a baseline for bench/harness.py).

    python bench/plain_cnn.py train.csv test.csv --seconds 1.0 [--epochs 20] [--seed 0]

librosa.load at 16 kHz mono, centre crop/pad to --seconds, 64-band log-mel (n_fft 512,
hop 160), per-item mean/variance normalisation; torchvision resnet18(weights=None) with a
1-channel conv1; SpecAugment (2 freq masks <= 8 bands, 2 time masks <= 10 frames) and a
random time shift; AdamW lr 1e-3 with OneCycleLR, batch 32, all training items, no
validation. Prints one JSON line with the test accuracy and macro-F1.
"""

import argparse
import csv
import json

import librosa
import numpy as np
import torch
import torch.nn as nn
from sklearn.metrics import accuracy_score, f1_score
from torchvision.models import resnet18

p = argparse.ArgumentParser()
p.add_argument("train")
p.add_argument("test")
p.add_argument("--seconds", type=float, default=1.0)
p.add_argument("--epochs", type=int, default=20)
p.add_argument("--seed", type=int, default=0)
args = p.parse_args()
torch.manual_seed(args.seed)
rng = np.random.default_rng(args.seed)
device = "cuda" if torch.cuda.is_available() else "cpu"
SR = 16000


def load(manifest):
    with open(manifest, newline="") as f:
        rows = list(csv.DictReader(f))
    n = int(args.seconds * SR)
    X = []
    for row in rows:
        y, _ = librosa.load(row["path"], sr=SR)
        if len(y) >= n:                       # centre crop
            y = y[(len(y) - n) // 2:][:n]
        else:                                 # centre pad
            y = np.pad(y, ((n - len(y)) // 2, n - len(y) - (n - len(y)) // 2))
        m = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=SR, n_fft=512, hop_length=160, n_mels=64))
        X.append((m - m.mean()) / (m.std() + 1e-6))
    return torch.tensor(np.stack(X)[:, None], dtype=torch.float32), [row["label"] for row in rows]


def augment(x):
    x = x.clone()
    for i in range(len(x)):
        x[i] = torch.roll(x[i], int(rng.integers(-x.shape[-1] // 10, x.shape[-1] // 10 + 1)), dims=-1)
        for _ in range(2):
            f, t = rng.integers(0, 9), rng.integers(0, 11)
            f0, t0 = rng.integers(0, x.shape[-2] - f + 1), rng.integers(0, x.shape[-1] - t + 1)
            x[i, :, f0:f0 + f, :] = 0
            x[i, :, :, t0:t0 + t] = 0
    return x


X_train, labels_train = load(args.train)
X_test, labels_test = load(args.test)
classes = sorted(set(labels_train))
y_train = torch.tensor([classes.index(c) for c in labels_train])

model = resnet18(weights=None, num_classes=len(classes))
model.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
model = model.to(device)
opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
steps = (len(X_train) + 31) // 32
sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-3, total_steps=args.epochs * steps)
loss_fn = nn.CrossEntropyLoss()
for epoch in range(args.epochs):
    model.train()
    order = torch.randperm(len(X_train))
    for b in range(steps):
        idx = order[b * 32:(b + 1) * 32]
        loss = loss_fn(model(augment(X_train[idx]).to(device)), y_train[idx].to(device))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()

model.eval()
with torch.no_grad():
    pred = torch.cat([model(X_test[i:i + 128].to(device)).argmax(1).cpu() for i in range(0, len(X_test), 128)])
pred = [classes[i] for i in pred.tolist()]
print(json.dumps({"accuracy": accuracy_score(labels_test, pred),
                  "macro_f1": f1_score(labels_test, pred, average="macro", zero_division=0),
                  "n_train": len(labels_train), "n_test": len(labels_test), "device": device}))
