"""Settings from recipes (named, TOML files, a run's report JSON) under the flags given."""

from __future__ import annotations

import json

import numpy as np
import pytest

from test_train_classic import synth_store


@pytest.fixture()
def vectors(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4)) + np.repeat([0, 3], 20)[:, None]
    return synth_store(tmp_path / "v.h5", X, np.repeat(["a", "b"], 20))


def _report(path):
    return json.loads(open(str(path).replace(".h5", ".report.json")).read())


def test_a_recipe_sets_defaults_and_flags_override_it(cli, tmp_path, vectors):
    recipe = tmp_path / "r.toml"
    recipe.write_text('model = "knn"\nk = "3"\nweights = "distance"\nval_split = 0.25\n')
    cli("train", vectors, "-o", tmp_path / "a.h5", "--recipe", recipe, "-q")
    s = _report(tmp_path / "a.h5")["settings"]
    assert (s["k"], s["weights"], s["val_split"]) == ("3", "distance", 0.25)
    cli("train", vectors, "-o", tmp_path / "b.h5", "--recipe", recipe, "--k", "5", "-q")
    rep = _report(tmp_path / "b.h5")
    assert rep["model"] == "knn" and rep["settings"]["k"] == "5" and rep["params"]["k"] == 5
    # a run's report repeats its settings
    cli("train", vectors, "-o", tmp_path / "c.h5", "--recipe", tmp_path / "b.report.json", "-q")
    again = _report(tmp_path / "c.h5")
    assert again["model"] == "knn"
    assert {k: v for k, v in again["settings"].items()} == rep["settings"]


def test_bad_recipes_give_one_line_naming_the_file_and_key(cli, tmp_path, vectors):
    bad = tmp_path / "bad.toml"
    bad.write_text('model = "knn"\nneighbours = 3\n')
    res = cli("train", vectors, "-o", tmp_path / "x.h5", "--recipe", bad, expect=2)
    line = res.stderr.strip()
    assert "\n" not in line and str(bad) in line and "'neighbours'" in line
    other = tmp_path / "other.toml"
    other.write_text('model = "knn"\nepochs = 3\n')
    res = cli("train", vectors, "-o", tmp_path / "x.h5", "--recipe", other, expect=2)
    assert str(other) in res.stderr and "'epochs'" in res.stderr and "deep" in res.stderr
    res = cli("train", vectors, "-o", tmp_path / "x.h5", "--recipe", "no-such-recipe", expect=2)
    assert "no such recipe" in res.stderr
    assert not (tmp_path / "x.h5").exists()


def test_named_recipes_hold_the_papers_settings():
    from audiokit import recipes
    from audiokit.models import get
    from audiokit.training.settings import resolve

    assert {"default", "resnet-paper", "specresnet-paper"} <= set(recipes.names())
    r = recipes.load("resnet-paper")
    s = resolve(get(r.model).settings, [(r.values, r.source)])
    assert (r.model, s.input_size, s.flip, s.rotate, s.optimizer, s.epochs, s.pretrained) == \
        ("resnet18", "256/224", 0.5, 10.0, "adamw", 10, "imagenet")
    r = recipes.load("specresnet-paper")
    s = resolve(get(r.model).settings, [(r.values, r.source)])
    assert (s.optimizer, s.lr, s.scheduler, s.batch_size, s.epochs, s.patience) == ("adam", 1e-3, "plateau", 64, 50, 5)
    assert get("specresnet").settings().to_dict().get("pretrained") is None  # no ImageNet weights for it
    assert get("resnet18").settings().pretrained == "imagenet"


@pytest.mark.parametrize("columns", ["100", None])
def test_train_help_groups_the_settings_by_kind_and_lists_kinds_and_recipes(columns):
    """``train --help`` in a terminal width and piped: one section per settings group, each
    flag in its group, every registered kind and shipped recipe named."""
    import re

    from audiokit import recipes
    from audiokit.models import names

    from helpers import run

    res = run(["train", "--help"], env={"COLUMNS": columns} if columns else {})
    assert res.returncode == 0
    out = res.stdout.decode()
    titles = re.findall(r"^(\S.*):$", out, re.M)
    assert titles[:3] == ["Arguments", "Options", "Run (every kind)"]
    assert {"knn", "svm", "mlp", "svm, logreg", "mlp, logreg", "Deep: optimisation", "Deep: augmentation",
            "Deep: ResNet input", "Deep: engine"} <= set(titles)

    def section(title):
        return out.split(f"\n{title}:\n", 1)[1].split("\n\n", 1)[0]

    assert "--val-split" in section("Run (every kind)") and "--k K" in section("knn")
    assert "--C" in section("svm, logreg") and "--kernel" in section("svm")
    assert "--lr" in section("Deep: optimisation") and "--mixup" in section("Deep: augmentation")
    assert "--stem" in section("Deep: ResNet input") and "--resume" in section("Deep: engine")
    assert "--lr" not in section("Options")
    flat = " ".join(out.split())
    assert all(f"{kind} (" in flat for kind in names()) and all(f"{r} (" in flat for r in recipes.names())
    if columns:
        assert max(len(line) for line in out.splitlines() if not line.startswith("    audiokit")) <= 100
