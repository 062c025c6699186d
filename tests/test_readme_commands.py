"""Every ``audiokit train`` command line of README.md runs as written.

A flag renamed, a default changed or a combination refused (``--patience`` without held-out
items, once) would otherwise leave a newcomer's first copy-paste failing. Each line runs on
small stores of the names the README uses, made from generated audio, with only the run made
short: one epoch, small batches, no checkpoint, no ImageNet download (the flags appended
last, so they win over the line's own).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pytest

from helpers import make_tones, synth_store  # noqa: E402

README = Path(__file__).resolve().parent.parent / "README.md"
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]


def readme_commands(verb: str) -> list[str]:
    """The ``audiokit VERB`` lines of README's sh blocks, continuation lines joined, comments dropped."""
    text = README.read_text(encoding="utf-8")
    out = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words[:2] == ["audiokit", verb]:
                out.append(" ".join(shlex.quote(w) for w in words))
    return out


TRAIN = readme_commands("train")
#: What these lines need that a test cannot have: a checkpoint of an earlier run, downloaded weights.
NEEDS_MORE = ("--resume", "--pretrained ./")


def test_the_readme_has_train_commands_for_every_store():
    stores = {shlex.split(c)[2] for c in TRAIN}
    assert {"mfcc.h5", "logmel.h5", "voices.h5"} <= stores and len(TRAIN) >= 10


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """mfcc.h5 and logmel.h5 from generated tones of 6 speakers; voices.h5, f0-range pairs."""
    from helpers import Cli

    root = tmp_path_factory.mktemp("readme")
    audio = make_tones(root / "audio", per_class=12, speakers=6, seed=5)
    cli = Cli()
    groups = ["--group-regex", r"^(spk\d+)_"]
    cli("featurize", audio, "-f", "mfcc-stats", *groups, "-o", root / "mfcc.h5", "-q")
    cli("featurize", audio, "--sr", "8000", "--n-mels", "32", "--duration", "0.5", *groups, "-o",
        root / "logmel.h5", "-q")
    rng = np.random.default_rng(0)
    types = ["bass", "baritone", "tenor", "alto"]
    lows = {t: 80.0 + 40 * i for i, t in enumerate(types)}
    X, y, g = [], [], []
    for i in range(80):
        t = types[i % 4]
        low = lows[t] * 2 ** rng.normal(0, 0.05)
        X.append([low, low * 4 * 2 ** rng.normal(0, 0.05)])
        y.append(t)
        g.append(f"singer{i // 4}")
    synth_store(root / "voices.h5", X, y, groups=g, kind="f0-range")
    return root


RUNNABLE = [c for c in TRAIN if not any(x in c for x in NEEDS_MORE)]


@pytest.mark.parametrize("command", RUNNABLE, ids=[c.removeprefix("audiokit train ") for c in RUNNABLE])
def test_readme_train_command_runs(command, stores, tmp_path, monkeypatch, cli):
    words = shlex.split(command)[1:]
    words[1] = str(stores / words[1])
    monkeypatch.chdir(tmp_path)  # the outputs the line names land here
    quick = []
    if "logmel" in words[1]:
        quick = ["--epochs", "1", "--batch-size", "8", "--checkpoint", "none"]
        if "--model" in words and words[words.index("--model") + 1].startswith("resnet"):
            quick += ["--pretrained", "none"]
    res = cli(*words, *quick)
    out = words[words.index("-o") + 1]
    assert (tmp_path / out).exists(), res.stdout
