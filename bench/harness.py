#!/usr/bin/env python
"""Accuracy on groups never seen in training: audiokit against the plain scripts a user would write.

Protocol
--------
Two generated data sets, each with a *group* per item that never appears on both sides of
a split:

``speech``   the ten digit words "zero" … "nine" said by 20 espeak-ng speakers (an accent
             such as en-gb-scotland combined with a voice variant +m1…+m7 / +f1…+f5, each
             with its own base pitch and rate), 4 takes per word with small pitch/rate
             changes: 800 clips. Group = speaker.
``instruments``  8 General MIDI instruments from different families (piano, nylon guitar,
             church organ, violin, cello, trumpet, alto sax, flute) rendered by fluidsynth
             from 3 sample banks (FluidR3_GM, TimGM6mb, MuseScore_General_Lite when
             installed): single notes and 3–5-note phrases at random pitches in each
             instrument's range, velocities and durations, 40 items per class per bank.
             Group = bank ("player").

Every clip is degraded at random (seeded): sox reverb on some, additive white/pink/brown
noise or mains hum at 5–30 dB SNR (instruments 10–40 dB) on most, telephone band
(300–3400 Hz) or a low-pass on some, peak level −30…−3 dBFS, a random onset in silence,
and written at a random sample rate from {8000, 11025, 16000, 22050, 44100, 48000} Hz as
16-bit WAV or FLAC. Layout: ``DIR/<label>/<group>_<n>.{wav,flac}`` and
``DIR/manifest.csv`` (``path,label,group``; paths relative to DIR), plus ``DIR/stats.json``.

``run`` splits by group, for each seed:

* speech: ``--test-groups`` (default 5) speakers drawn at random (a different draw per
  seed) are the test set, the other speakers the training set;
* instruments: leave one bank out; seed k holds out the k-th bank (sorted by name), so
  ``--seeds 0,1,2`` is the three folds.

On the same split it runs, each as a subprocess (wall and CPU seconds = user+sys of the
child processes, from ``getrusage(RUSAGE_CHILDREN)``):

* ``audiokit``: what a user types, default settings: ``featurize --manifest train.csv``,
  the test store with the same feature settings (``--like`` when featurize offers it,
  else the train store's settings from ``info --json`` repeated as flags), ``train``
  (default model kind, ``--seed SEED``), ``eval --json``. ``--featurize-flags`` /
  ``--train-flags`` change the default variant; ``--variant NAME:FEATURIZE_FLAGS|TRAIN_FLAGS``
  (repeatable) adds more, e.g. ``--variant 'svm:-f mfcc-stats|--model svm'``. Variants run
  even when ``--systems`` leaves out ``audiokit`` (the default variant); those with the same
  featurize flags share the split's stores, and each still counts the featurize time.
* ``plain-cnn``: bench/plain_cnn.py, the short script (16 kHz log-mel, torchvision
  ResNet-18 from scratch, SpecAugment, AdamW + OneCycleLR, 20 epochs, no validation).
* ``plain-svc``: bench/plain_svc.py (20 MFCC mean+std, StandardScaler + SVC).

Each run appends one JSON line per system to ``--out``; ``table`` summarises them.

Usage::

    python bench/harness.py data speech /work/bench-data/speech            # 800 clips, ~30 s
    python bench/harness.py data instruments /work/bench-data/instruments  # 960 clips, ~2 min
    python bench/harness.py stats /work/bench-data/speech                  # sizes of a data set
    python bench/harness.py run speech /work/bench-data/speech --out results.jsonl --seeds 0,1,2
    python bench/harness.py run instruments /work/bench-data/instruments --out results.jsonl \\
        --variant 'svm-mfcc:-f mfcc-stats|--model svm' --systems plain-svc   # the cheap systems only
    python bench/harness.py table results.jsonl

    # smoke test, a few minutes on 2 cores (--small: 6 speakers x 2 takes, or 4 items per class and bank):
    python bench/harness.py data speech /tmp/sp --small
    python bench/harness.py run speech /tmp/sp --out /tmp/r.jsonl --test-groups 2 --seeds 0 \\
        --cnn-epochs 1 --train-flags '--epochs 2'

``--work DIR --keep`` keeps each split's train.csv/test.csv, stores, models and a
commands.log with every command and its stderr.

Cost, measured on 2 busy CPU cores (generation uses 2 processes; everything is seeded,
so the same command writes the same files): plain-svc and ``audiokit -f mfcc-stats
--model svm`` take 10–20 s per seed. The CNNs are for a GPU: on such a CPU, plain-cnn
(20 epochs) and audiokit's default for log-mel stores (specresnet) are estimated at
15–30 min per seed from the small runs; on a GPU, well under a minute.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import soundfile as sf

BENCH = Path(__file__).resolve().parent
SAMPLE_RATES = (8000, 11025, 16000, 22050, 44100, 48000)

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-029", "en-us-nyc", "en-gb-x-rp", "en-gb-x-gbclan",
           "en-gb-x-gbcwmd")
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5")

#: label -> (General MIDI program, lowest and highest MIDI note played)
INSTRUMENTS = {
    "piano": (0, 40, 84), "organ": (19, 36, 79), "guitar": (24, 40, 76), "violin": (40, 55, 88),
    "cello": (42, 36, 69), "trumpet": (56, 55, 82), "sax": (65, 49, 80), "flute": (73, 60, 93),
}
BANKS = {
    "fluidr3": "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "timgm6mb": "/usr/share/sounds/sf2/TimGM6mb.sf2",
    "musescore": "/usr/share/sounds/sf3/MuseScore_General_Lite.sf3",
}


# ---------------------------------------------------------------------------- degradation

def sox(y: np.ndarray, sr: int, *effects: str, out_sr: int | None = None) -> np.ndarray:
    """Run mono float samples through a sox effects chain (raw float32 through pipes)."""
    raw = ["-t", "raw", "-e", "floating-point", "-b", "32", "-c", "1"]
    cmd = ["sox", "-D", "-V1", *raw, "-r", str(sr), "-", *raw, "-r", str(out_sr or sr), "-", *effects]
    res = subprocess.run(cmd, input=y.astype(np.float32).tobytes(), capture_output=True, check=True)
    return np.frombuffer(res.stdout, dtype=np.float32).astype(np.float64)


def noise(rng: np.random.Generator, n: int, sr: int) -> tuple[np.ndarray, str]:
    kind = str(rng.choice(["white", "pink", "brown", "hum"]))
    if kind == "hum":
        t = np.arange(n) / sr
        f0 = 50.0 if rng.random() < 0.5 else 60.0
        x = sum(rng.uniform(0.2, 1.0) / h * np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 6.3)) for h in range(1, 8))
        x = x + 0.05 * rng.standard_normal(n)
    else:
        alpha = {"white": 0.0, "pink": 1.0, "brown": 2.0}[kind]
        spec = np.fft.rfft(rng.standard_normal(n))
        f = np.fft.rfftfreq(n, 1 / sr)
        f[0] = f[1]
        x = np.fft.irfft(spec / f ** (alpha / 2), n)
    return x / (np.sqrt(np.mean(x ** 2)) + 1e-12), kind


def degrade(rng, y, sr, *, clip_len, onset_max, snr, p_reverb, p_phone, p_lowpass) -> tuple[np.ndarray, int, dict]:
    """Reverb, placement in silence, noise, band limits, resampling and level of one clip.

    ``clip_len(sound_seconds)`` gives the clip's length in seconds; the sound starts at a
    random onset up to ``onset_max`` seconds (and never so late that it is cut).
    """
    info = {}
    y = y / (np.max(np.abs(y)) + 1e-12) * 0.5
    if rng.random() < p_reverb:
        rv = [int(rng.uniform(20, 90)), int(rng.uniform(10, 90)), int(rng.uniform(20, 100))]
        y = sox(np.concatenate([y, np.zeros(int(0.6 * sr))]), sr, "reverb", *map(str, rv), "100", str(int(rng.uniform(0, 30))))
        y = y[: len(y) - np.argmax(np.abs(y[::-1]) > 1e-3 * np.max(np.abs(y)))]  # trim the silent tail
        info["reverb"] = rv
    seconds = clip_len(len(y) / sr)
    n = int(seconds * sr)
    y = y[:n]
    start = int(rng.uniform(0, min(onset_max, (n - len(y)) / sr)) * sr)
    clip = np.zeros(n)
    clip[start:start + len(y)] = y
    if snr is not None:
        active = y[np.abs(y) > 0.05 * np.max(np.abs(y))]
        x, kind = noise(rng, n, sr)
        db = float(rng.uniform(*snr))
        clip = clip + x * np.sqrt(np.mean(active ** 2)) / 10 ** (db / 20)
        info["noise"] = [kind, round(db, 1)]
    effects = []
    r = rng.random()
    if r < p_phone:
        effects = ["highpass", "300", "highpass", "300", "lowpass", "3400", "lowpass", "3400"]
        info["band"] = "telephone"
    elif r < p_phone + p_lowpass:
        fc = int(rng.uniform(3000, 8000))
        effects = ["lowpass", str(fc)]
        info["band"] = f"lowpass {fc}"
    out_sr = int(rng.choice(SAMPLE_RATES))
    clip = clip / (np.max(np.abs(clip)) + 1e-12) * 0.5
    clip = sox(clip, sr, *effects, "rate", "-v", str(out_sr), out_sr=out_sr)
    level = float(rng.uniform(-30, -3))
    clip = clip / (np.max(np.abs(clip)) + 1e-12) * 10 ** (level / 20)
    info.update(sr=out_sr, level_dbfs=round(level, 1), seconds=round(len(clip) / out_sr, 3))
    return clip, out_sr, info


def write_audio(rng, path_stem: Path, y: np.ndarray, sr: int) -> Path:
    path = path_stem.with_suffix(".flac" if rng.random() < 0.4 else ".wav")
    sf.write(path, y, sr, subtype="PCM_16")
    return path


# ---------------------------------------------------------------------------- speech

def speakers(n: int, seed: int) -> list[dict]:
    """n distinct espeak-ng voices (accent+variant) with fixed base pitch and rate."""
    rng = np.random.default_rng([seed, 7])
    out = []
    for i in range(n):
        accent = ACCENTS[i % len(ACCENTS)]
        variant = VARIANTS[i % len(VARIANTS)]  # (i mod 8, i mod 12) differ for every i < 24
        out.append({"name": f"{accent}-{variant}", "voice": f"{accent}+{variant}",
                    "pitch": int(rng.integers(20, 81)), "rate": int(rng.integers(125, 186))})
    assert len({s["name"] for s in out}) == n
    return out


def speech_speaker(job) -> list[tuple[str, str, str, dict]]:
    out_dir, seed, spk_index, spk, takes = job
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for w, word in enumerate(DIGITS):
            for take in range(takes):
                rng = np.random.default_rng([seed, 1, spk_index, w, take])
                pitch = int(np.clip(spk["pitch"] + rng.integers(-8, 9), 0, 99))
                rate = int(spk["rate"] * rng.uniform(0.9, 1.1))
                wav = Path(tmp) / "w.wav"
                subprocess.run(["espeak-ng", "-v", spk["voice"], "-p", str(pitch), "-s", str(rate), "-w", str(wav), word],
                               check=True, capture_output=True)
                y, sr = sf.read(wav)
                on = np.flatnonzero(np.abs(y) > 0.02 * np.max(np.abs(y)))
                y = y[max(on[0] - int(0.01 * sr), 0): on[-1] + int(0.02 * sr)]
                y, out_sr, info = degrade(
                    rng, y, sr, clip_len=lambda s: rng.uniform(max(0.6, s + 0.05), max(1.6, s + 0.05)),
                    onset_max=1.0, snr=(5, 30) if rng.random() < 0.85 else None,
                    p_reverb=0.35, p_phone=0.2, p_lowpass=0.15)
                n = w * takes + take
                path = write_audio(rng, Path(out_dir) / word / f"{spk['name']}_{n:02d}", y, out_sr)
                rows.append((f"{word}/{path.name}", word, spk["name"],
                             {"voice": spk["voice"], "pitch": pitch, "rate": rate, **info}))
    return rows


def make_speech(out_dir: Path, seed: int, small: bool) -> list:
    n_spk, takes = (6, 2) if small else (20, 4)
    for word in DIGITS:
        (out_dir / word).mkdir(parents=True, exist_ok=True)
    jobs = [(str(out_dir), seed, i, s, takes) for i, s in enumerate(speakers(n_spk, seed))]
    with Pool(2) as pool:
        return [row for rows in pool.imap(speech_speaker, jobs) for row in rows]


# ---------------------------------------------------------------------------- instruments

def write_midi(path: Path, events: list[tuple[float, bytes]], ticks_per_s: int = 960) -> None:
    """A format-0 MIDI file of (seconds, message) events; 480 ticks per quarter at 120 bpm."""
    def vlq(n):
        b = [n & 0x7F]
        while n > 127:
            n >>= 7
            b.append(0x80 | (n & 0x7F))
        return bytes(reversed(b))

    track, last = b"\x00\xff\x51\x03" + (500000).to_bytes(3, "big"), 0
    for t, msg in sorted(events, key=lambda e: e[0]):
        tick = int(round(t * ticks_per_s))
        track += vlq(tick - last) + msg
        last = tick
    track += b"\x00\xff\x2f\x00"
    path.write_bytes(b"MThd" + (6).to_bytes(4, "big") + (0).to_bytes(2, "big") + (1).to_bytes(2, "big")
                     + (480).to_bytes(2, "big") + b"MTrk" + len(track).to_bytes(4, "big") + track)


SLOT = 5.0  # seconds of the render given to each item (longest item 2.5 s + release)


def instrument_items(rng, low: int, high: int, n: int) -> list[list[tuple[int, int, float, float]]]:
    """n items, each a list of notes (pitch, velocity, start s, duration s)."""
    items = []
    for _ in range(n):
        vel = int(rng.integers(50, 121))
        if rng.random() < 0.5:
            items.append([(int(rng.integers(low, high + 1)), vel, 0.0, float(rng.uniform(0.3, 2.0)))])
            continue
        notes, t = [], 0.0
        pitch = int(rng.integers(low + 4, high - 3))
        for _ in range(int(rng.integers(3, 6))):
            d = float(rng.uniform(0.15, 0.5))
            notes.append((pitch, int(np.clip(vel + rng.integers(-10, 11), 1, 127)), t, d))
            t += d + float(rng.uniform(0.0, 0.05))
            pitch = int(np.clip(pitch + rng.choice([-5, -4, -3, -2, -1, 1, 2, 3, 4, 5]), low, high))
        items.append(notes)
    return items


def instrument_class(job) -> list:
    out_dir, seed, bank, sf2, label, n_items = job
    program, low, high = INSTRUMENTS[label]
    b, c = list(BANKS).index(bank), list(INSTRUMENTS).index(label)
    items = instrument_items(np.random.default_rng([seed, 2, b, c]), low, high, n_items)
    events = [(0.0, bytes([0xC0, program]))]
    for k, notes in enumerate(items):
        for pitch, vel, t, d in notes:
            events += [(k * SLOT + 0.1 + t, bytes([0x90, pitch, vel])), (k * SLOT + 0.1 + t + d, bytes([0x80, pitch, 0]))]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        mid, wav = Path(tmp) / "x.mid", Path(tmp) / "x.wav"
        write_midi(mid, events)
        subprocess.run(["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-g", "0.4", "-r", "44100", "-F", str(wav),
                        sf2, str(mid)], check=True, capture_output=True)
        audio, sr = sf.read(wav, always_2d=True)
    audio = audio.mean(axis=1)
    for k, notes in enumerate(items):
        rng = np.random.default_rng([seed, 3, b, c, k])
        end = notes[-1][2] + notes[-1][3]
        y = audio[int((k * SLOT + 0.1) * sr): int((k * SLOT + 0.1 + end + 0.8) * sr)]
        if np.max(np.abs(y)) < 1e-4:
            raise RuntimeError(f"{bank} rendered silence for {label} (program {program})")
        loud = np.flatnonzero(np.abs(y) > 3e-3 * np.max(np.abs(y)))
        y = y[: max(loud[-1] + 1, int((end + 0.05) * sr))]
        y, out_sr, info = degrade(rng, y, sr, clip_len=lambda s: s + rng.uniform(0.05, 0.5), onset_max=0.3,
                                  snr=(10, 40) if rng.random() < 0.7 else None,
                                  p_reverb=0.5, p_phone=0.0, p_lowpass=0.15)
        path = write_audio(rng, Path(out_dir) / label / f"{bank}_{k:03d}", y, out_sr)
        rows.append((f"{label}/{path.name}", label, bank,
                     {"notes": [[p, v, round(t, 3), round(d, 3)] for p, v, t, d in notes], **info}))
    return rows


def make_instruments(out_dir: Path, seed: int, small: bool) -> list:
    banks = {name: path for name, path in BANKS.items() if Path(path).exists()}
    missing = set(BANKS) - set(banks)
    if missing:
        print(f"harness: sound bank(s) not installed, left out: {', '.join(sorted(missing))}", file=sys.stderr)
    for label in INSTRUMENTS:
        (out_dir / label).mkdir(parents=True, exist_ok=True)
    n_items = 4 if small else 40
    jobs = [(str(out_dir), seed, bank, path, label, n_items) for bank, path in banks.items() for label in INSTRUMENTS]
    with Pool(2) as pool:
        return [row for rows in pool.imap(instrument_class, jobs) for row in rows]


# ---------------------------------------------------------------------------- data / stats

def read_manifest(data_dir: Path) -> list[dict]:
    with open(data_dir / "manifest.csv", newline="") as f:
        return list(csv.DictReader(f))


def dataset_stats(data_dir: Path) -> dict:
    rows = read_manifest(data_dir)
    durations, rates, formats = [], defaultdict(int), defaultdict(int)
    for row in rows:
        i = sf.info(str(data_dir / row["path"]))
        durations.append(i.frames / i.samplerate)
        rates[i.samplerate] += 1
        formats[Path(row["path"]).suffix] += 1
    per_class = defaultdict(int)
    for row in rows:
        per_class[row["label"]] += 1
    size = sum(f.stat().st_size for f in data_dir.rglob("*") if f.is_file())
    return {"items": len(rows), "classes": len(per_class), "groups": len({r["group"] for r in rows}),
            "group_names": sorted({r["group"] for r in rows}), "items_per_class": dict(sorted(per_class.items())),
            "seconds_min": round(min(durations), 3), "seconds_median": round(float(np.median(durations)), 3),
            "seconds_max": round(max(durations), 3), "seconds_total": round(sum(durations), 1),
            "sample_rates": dict(sorted(rates.items())), "formats": dict(formats), "megabytes": round(size / 1e6, 1)}


def cmd_data(args) -> None:
    out = Path(args.dir)
    if (out / "manifest.csv").exists() and not args.force:
        sys.exit(f"harness: {out}/manifest.csv exists; --force to regenerate")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    t0 = time.time()
    make = make_speech if args.dataset == "speech" else make_instruments
    rows = make(out, args.seed, args.small)
    with open(out / "manifest.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "group"])
        w.writerows(r[:3] for r in rows)
    with open(out / "items.jsonl", "w") as f:  # how each item was made
        for r in rows:
            f.write(json.dumps({"path": r[0], "label": r[1], "group": r[2], **r[3]}) + "\n")
    stats = {"dataset": args.dataset, "seed": args.seed, "small": args.small,
             "generation_seconds": round(time.time() - t0, 1), **dataset_stats(out)}
    (out / "stats.json").write_text(json.dumps(stats, indent=1) + "\n")
    print(json.dumps(stats, indent=1))


def cmd_stats(args) -> None:
    print(json.dumps(dataset_stats(Path(args.dir)), indent=1))


# ---------------------------------------------------------------------------- run

def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = None
    if shutil.which("nvidia-smi"):
        res = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True)
        gpu = res.stdout.strip().replace("\n", "; ") or None
    return {"cpu": cpu, "cores": os.cpu_count(), "gpu": gpu, "host": platform.node(), "python": platform.python_version()}


class Step:
    """Run a subprocess; record its command, wall and child CPU seconds; raise on failure."""

    def __init__(self, log: Path):
        self.log, self.commands, self.wall, self.cpu = log, [], 0.0, 0.0

    def __call__(self, cmd: list[str]) -> str:
        self.commands.append(shlex.join(cmd))
        r0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
        res = subprocess.run(cmd, capture_output=True, text=True)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.wall += time.perf_counter() - t0
        self.cpu += (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        with open(self.log, "a") as f:
            f.write(f"$ {shlex.join(cmd)}\n{res.stderr}\n")
        if res.returncode != 0:
            tail = res.stderr.strip().splitlines()[-1:] or [""]
            raise RuntimeError(f"exit {res.returncode}: {shlex.join(cmd)}: {tail[0]}")
        return res.stdout


def source_state() -> str:
    """The repository's commit, with '+dirty' when audiokit/ has uncommitted changes."""
    def git(*a):
        return subprocess.run(["git", "-C", str(BENCH.parent), *a], capture_output=True, text=True).stdout.strip()
    head = git("rev-parse", "--short", "HEAD")
    return head + ("+dirty" if head and git("status", "--porcelain", "--", "audiokit") else "") if head else "unknown"


def audiokit_bin() -> str:
    exe = Path(sys.executable).parent / "audiokit"
    return str(exe) if exe.exists() else (shutil.which("audiokit") or "audiokit")


def flags_like(ak: str, train_store: Path) -> list[str]:
    """The train store's feature settings as featurize flags (for a featurize without --like)."""
    help_text = subprocess.run([ak, "featurize", "--help"], capture_output=True, text=True).stdout
    info = json.loads(subprocess.run([ak, "info", str(train_store), "--json"], capture_output=True, text=True,
                                     check=True).stdout)
    cfg = info.get("feature_config") or info.get("features") or {}
    if not isinstance(cfg, dict):
        raise RuntimeError(f"no feature settings in 'audiokit info {train_store} --json'")
    flags = []
    for key, value in cfg.items():
        flag = "--features" if key == "kind" else "--" + key.replace("_", "-")
        offered = any(flag + end in help_text for end in (" ", "/", ","))
        if value is None or isinstance(value, (dict, list)) or not offered:
            continue
        if isinstance(value, bool):
            flags.append(flag if value else "--no-" + flag[2:])
        else:
            flags += [flag, str(value)]
    return flags


def run_audiokit(work: Path, split: Path, seed: int, ffl: str, tfl: str, stores: dict, has_like: bool) -> dict:
    ak = audiokit_bin()
    step = Step(work / "commands.log")
    key = ffl.strip()
    reused = key in stores
    if not reused:  # variants with the same featurize flags share the stores of a split
        d = work / f"stores{len(stores)}"
        d.mkdir(exist_ok=True)
        tr, te = d / "train.h5", d / "test.h5"
        step([ak, "featurize", "--manifest", str(split / "train.csv"), "-o", str(tr), *shlex.split(ffl)])
        like = ["--like", str(tr)] if has_like else flags_like(ak, tr)
        step([ak, "featurize", "--manifest", str(split / "test.csv"), "-o", str(te), *like])
        stores[key] = (tr, te, list(step.commands), step.wall, step.cpu)
    tr, te, feat_cmds, feat_wall, feat_cpu = stores[key]
    model = work / f"model{len(list(work.glob('model*.h5')))}.h5"
    step.commands, step.wall, step.cpu = [], 0.0, 0.0
    step([ak, "train", str(tr), "-o", str(model), "--seed", str(seed), *shlex.split(tfl)])
    report = json.loads(step([ak, "eval", str(model), str(te), "--json"]))
    info = json.loads(subprocess.run([ak, "info", str(model), "--json"], capture_output=True, text=True).stdout or "{}")
    return {"accuracy": report["accuracy"], "macro_f1": report["macro"]["f1"],
            "model_kind": info.get("kind"), "audiokit_version": info.get("audiokit_version"),
            "commands": feat_cmds + step.commands,
            "wall_s": feat_wall + step.wall, "cpu_s": feat_cpu + step.cpu,
            "featurize_wall_s": feat_wall, "featurize_cpu_s": feat_cpu, "stores_reused": reused,
            "train_eval_wall_s": step.wall, "train_eval_cpu_s": step.cpu}


def run_plain(work: Path, split: Path, script: str, extra: list[str]) -> dict:
    step = Step(work / "commands.log")
    out = json.loads(step([sys.executable, str(BENCH / script), str(split / "train.csv"), str(split / "test.csv"), *extra]))
    return {"accuracy": out["accuracy"], "macro_f1": out["macro_f1"], "commands": step.commands,
            "wall_s": step.wall, "cpu_s": step.cpu, **({"device": out["device"]} if "device" in out else {})}


def split_groups(dataset: str, groups: list[str], seed: int, n_test: int) -> list[str]:
    if dataset == "instruments":  # leave one bank out: seed k = fold k
        return [groups[seed % len(groups)]]
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(groups, size=n_test, replace=False).tolist())


def parse_variant(text: str) -> tuple[str, str, str]:
    name, _, flags = text.partition(":")
    ffl, _, tfl = flags.partition("|")
    if not name or not _:
        raise argparse.ArgumentTypeError(f"--variant {text!r}: expected NAME:FEATURIZE_FLAGS|TRAIN_FLAGS")
    return name, ffl.strip(), tfl.strip()


def cmd_run(args) -> None:
    data_dir = Path(args.data_dir).resolve()
    rows = read_manifest(data_dir)
    groups = sorted({r["group"] for r in rows})
    n_test = 1 if args.dataset == "instruments" else args.test_groups
    if n_test >= len(groups):
        sys.exit(f"harness: --test-groups {n_test} leaves no training group (the data set has {len(groups)})")
    if args.dataset == "instruments":
        protocol = f"leave-one-bank-out: 1 unseen bank of {len(groups)} per fold"
    else:
        protocol = f"{n_test} unseen speakers of {len(groups)} per seed"
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = set(systems) - {"audiokit", "plain-cnn", "plain-svc"}
    if unknown:
        sys.exit(f"harness: unknown system(s) {', '.join(sorted(unknown))}")
    variants = ([("default", args.featurize_flags, args.train_flags)] if "audiokit" in systems else []) + args.variant
    seconds = args.plain_seconds or ("1.0" if args.dataset == "speech" else "2.0")
    has_like = "--like" in subprocess.run([audiokit_bin(), "featurize", "--help"], capture_output=True, text=True).stdout
    base = {"dataset": args.dataset, "data_dir": str(data_dir), "protocol": protocol, "tag": args.tag,
            "machine": machine(), "source": source_state()}
    root = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="audiokit-harness-"))
    out = Path(args.out)
    try:
        for seed in args.seeds:
            test_groups = split_groups(args.dataset, groups, seed, n_test)
            work = root / f"{args.dataset}-seed{seed}"
            if work.exists():
                shutil.rmtree(work)
            work.mkdir(parents=True)
            n = {"train": 0, "test": 0}
            for part in ("train", "test"):
                with open(work / f"{part}.csv", "w", newline="") as f:
                    w = csv.writer(f)
                    w.writerow(["path", "label", "group"])
                    for r in rows:
                        if (r["group"] in test_groups) == (part == "test"):
                            w.writerow([str(data_dir / r["path"]), r["label"], r["group"]])
                            n[part] += 1
            split = {"seed": seed, "test_groups": test_groups, "n_train": n["train"], "n_test": n["test"],
                     "n_train_groups": len(groups) - len(test_groups)}
            todo = [("audiokit", v) for v in variants] + [(s, None) for s in systems if s != "audiokit"]
            stores = {}
            for system, variant in todo:
                name = system if variant is None else ("audiokit" if variant[0] == "default" else f"audiokit:{variant[0]}")
                print(f"harness: {args.dataset} seed {seed} (test: {', '.join(test_groups)}): {name} …", file=sys.stderr)
                rec = {**base, **split, "system": system, "name": name, "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
                try:
                    if system == "audiokit":
                        rec.update(variant=variant[0], featurize_flags=variant[1], train_flags=variant[2],
                                   like="--like" if has_like else "info --json")
                        rec.update(run_audiokit(work, work, seed, variant[1], variant[2], stores, has_like))
                    elif system == "plain-cnn":
                        extra = ["--seconds", seconds, "--epochs", str(args.cnn_epochs), "--seed", str(seed)]
                        rec.update(epochs=args.cnn_epochs, seconds=float(seconds),
                                   **run_plain(work, work, "plain_cnn.py", extra))
                    else:
                        rec.update(run_plain(work, work, "plain_svc.py", []))
                except (RuntimeError, KeyError, ValueError, subprocess.CalledProcessError) as e:
                    rec.update(accuracy=None, macro_f1=None, error=str(e))
                    print(f"harness: {name} failed: {e}", file=sys.stderr)
                for k in ("accuracy", "macro_f1", "wall_s", "cpu_s", "featurize_wall_s", "featurize_cpu_s",
                          "train_eval_wall_s", "train_eval_cpu_s"):
                    if isinstance(rec.get(k), float):
                        rec[k] = round(rec[k], 4 if k in ("accuracy", "macro_f1") else 2)
                with open(out, "a") as f:
                    f.write(json.dumps(rec) + "\n")
                acc = "failed" if rec["accuracy"] is None else f"accuracy {rec['accuracy']:.3f}"
                print(f"harness:   {name}: {acc}, {rec.get('wall_s', 0):.0f} s wall, {rec.get('cpu_s', 0):.0f} s CPU",
                      file=sys.stderr)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"harness: stores, models and commands.log kept in {root}", file=sys.stderr)


# ---------------------------------------------------------------------------- table

def mean_std(values: list[float], pct: bool = True) -> str:
    a = np.array(values, dtype=float) * (100 if pct else 1)
    s = f"{a.mean():.1f}"
    return s + (f" ± {a.std(ddof=1):.1f}" if len(a) > 1 else "")


def cmd_table(args) -> None:
    recs = [json.loads(line) for path in args.results for line in open(path) if line.strip()]
    by = defaultdict(list)
    for r in recs:
        by[(r["dataset"], r["protocol"], r.get("tag"))].append(r)
    for (dataset, protocol, tag), rs in by.items():
        seeds = sorted({r["seed"] for r in rs})
        unit = "folds" if dataset == "instruments" else "seeds"
        n_tr = sorted({r["n_train"] for r in rs})
        n_te = sorted({r["n_test"] for r in rs})
        print(f"### {dataset}{f' ({tag})' if tag else ''}\n")
        print(f"{protocol}, {len(seeds)} {unit} ({', '.join(map(str, seeds))}); "
              f"train {'/'.join(map(str, n_tr))} items, test {'/'.join(map(str, n_te))} items. "
              f"Mean ± std (sample std over {unit}) in %.\n")
        print("| system | runs | accuracy | macro-F1 | CPU s | wall s | settings |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
        names = defaultdict(list)
        for r in rs:
            names[r["name"]].append(r)
        for name, group in names.items():
            ok = [r for r in group if r.get("accuracy") is not None]
            failed = len(group) - len(ok)
            r0 = group[0]
            if r0["system"] == "audiokit":
                flags = " ".join(x for x in (r0.get("featurize_flags"), r0.get("train_flags")) if x)
                kinds = "/".join(sorted({str(r.get("model_kind")) for r in ok})) if ok else "?"
                settings = f"`{flags}` ({kinds})" if flags else f"defaults ({kinds})"
            elif r0["system"] == "plain-cnn":
                settings = f"{r0.get('epochs', 20)} epoch(s)" + (f", {r0['seconds']:g} s clips" if "seconds" in r0 else "")
            else:
                settings = ""
            if failed:
                settings += f" ({failed} failed)"
            if not ok:
                print(f"| {name} | 0 | – | – | – | – | {settings} |")
                continue
            print(f"| {name} | {len(ok)} | {mean_std([r['accuracy'] for r in ok])} | "
                  f"{mean_std([r['macro_f1'] for r in ok])} | {np.mean([r['cpu_s'] for r in ok]):.0f} | "
                  f"{np.mean([r['wall_s'] for r in ok]):.0f} | {settings} |")
        m = rs[0]["machine"]
        print(f"\nMachine: {m['cpu']}, {m['cores']} cores{', ' + m['gpu'] if m.get('gpu') else ''}; "
              f"audiokit source {rs[0].get('source', '?')}; {rs[0]['date'][:10]}.\n")


# ---------------------------------------------------------------------------- main

def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("data", help="generate a data set (speech | instruments) into DIR")
    d.add_argument("dataset", choices=["speech", "instruments"])
    d.add_argument("dir")
    d.add_argument("--small", action="store_true", help="a tiny version for smoke tests")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--force", action="store_true", help="replace an existing data set in DIR")
    d.set_defaults(func=cmd_data)

    s = sub.add_parser("stats", help="sizes of a generated data set")
    s.add_argument("dir")
    s.set_defaults(func=cmd_stats)

    r = sub.add_parser("run", help="train on seen groups, test on unseen ones; append JSON lines to --out")
    r.add_argument("dataset", choices=["speech", "instruments"])
    r.add_argument("data_dir")
    r.add_argument("--out", required=True, help="results file (JSON lines, appended)")
    r.add_argument("--test-groups", type=int, default=5, help="speech: unseen speakers per seed (default 5)")
    r.add_argument("--seeds", type=lambda t: [int(x) for x in t.split(",")], default=[0, 1, 2],
                   help="comma-separated seeds; instruments: fold k holds out the k-th bank (default 0,1,2)")
    r.add_argument("--systems", default="audiokit,plain-cnn,plain-svc", help="comma-separated (default: all three)")
    r.add_argument("--featurize-flags", default="", help="extra flags of the default audiokit variant's featurize")
    r.add_argument("--train-flags", default="", help="extra flags of the default audiokit variant's train")
    r.add_argument("--variant", type=parse_variant, action="append", default=[],
                   help="another audiokit run, NAME:FEATURIZE_FLAGS|TRAIN_FLAGS (repeatable)")
    r.add_argument("--cnn-epochs", type=int, default=20, help="plain-cnn epochs (default 20; fewer only for smoke tests)")
    r.add_argument("--plain-seconds", default=None,
                   help="plain-cnn clip length in seconds (default: 1.0 for speech, 2.0 for instruments, about the "
                        "median clip)")
    r.add_argument("--tag", default=None, help="a name for this batch of runs (kept in the results and the table)")
    r.add_argument("--work", default=None, help="directory for splits, stores and models (default: a temporary one)")
    r.add_argument("--keep", action="store_true", help="keep the work directory")
    r.set_defaults(func=cmd_run)

    t = sub.add_parser("table", help="Markdown table of results: mean ± std over seeds/folds")
    t.add_argument("results", nargs="+")
    t.set_defaults(func=cmd_table)

    args = p.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
