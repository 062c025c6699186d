import pytest

from helpers import modules_after, run


def test_help_and_version_do_not_import_heavy_modules():
    code = ("import sys; from audiokit.cli import app; "
            "bad=[m for m in ('torch','torchvision','librosa','h5py','numpy') if m in sys.modules]; "
            "print(','.join(bad))")
    import subprocess, sys
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
    r = run(["--version"])
    assert r.returncode == 0 and r.stdout.decode().startswith("audiokit ")


@pytest.mark.slow
def test_each_kind_imports_only_its_own_library(tmp_path):
    """predict with a KNN does not import PyTorch; with a Spec-ResNet it imports neither
    scikit-learn nor torchvision."""
    from helpers import TONE_CLASSES, make_tones

    audio = make_tones(tmp_path / "tones", per_class=4, speakers=2)
    one = next(audio.rglob("*.wav"))
    mfcc, logmel = tmp_path / "m.h5", tmp_path / "l.h5"
    assert len(TONE_CLASSES) >= 2
    for args in (["featurize", audio, "-f", "mfcc-stats", "--sr", "8000", "-o", mfcc, "-q"],
                 ["featurize", audio, "--sr", "8000", "--n-mels", "32", "--duration", "0.5", "-o", logmel, "-q"],
                 ["train", mfcc, "--model", "knn", "--k", "1", "-o", tmp_path / "knn.h5", "-q"],
                 ["train", logmel, "--model", "specresnet", "--epochs", "1", "--batch-size", "4", "-o",
                  tmp_path / "cnn.h5", "-q"]):
        run([str(a) for a in args]).check_returncode()
    assert "torch" not in modules_after(["predict", tmp_path / "knn.h5", one, "-q"])
    deep = modules_after(["predict", tmp_path / "cnn.h5", one, "-q"])
    assert "torch" in deep and "sklearn" not in deep and "torchvision" not in deep


def test_featurize_and_predict_of_spectral_kinds_do_not_import_librosa(tmp_path):
    """The spectral features are computed in numpy (audiokit/features/dsp.py): featurizing
    logmel, mfcc and mfcc-stats, and predicting with a model trained on mfcc-stats, import neither
    librosa nor scipy.signal nor numba (over a second of start-up together)."""
    from helpers import make_tones

    audio = make_tones(tmp_path / "tones", per_class=3, speakers=1, sr=16000)
    one = next(audio.rglob("*.wav"))
    heavy = ("librosa", "scipy.signal", "numba")
    store = tmp_path / "m.h5"
    for i, args in enumerate((["-f", "mfcc-stats", "-o", store], ["-f", "mfcc-stats", "--stats", "mfcc"],
                              ["-f", "mfcc", "--duration", "0.5"], ["-f", "logmel", "--duration", "0.5"])):
        if "-o" not in args:
            args = [*args, "-o", tmp_path / f"s{i}.h5"]
        assert modules_after(["featurize", audio, *args, "-q"], heavy) == [], args
    run(["train", store, "--model", "logreg", "--val-split", "0", "-o", tmp_path / "lr.h5", "-q"]).check_returncode()
    assert modules_after(["predict", tmp_path / "lr.h5", one, "-q"], heavy) == []


def test_classic_predict_and_eval_import_neither_sklearn_nor_torch(cli, tmp_path):
    """A knn or logreg model trained by the CLI predicts a file and is evaluated on a store with
    numpy alone: scikit-learn's import was most of a one-file predict's start-up."""
    from helpers import make_tones

    audio = make_tones(tmp_path / "tones", per_class=6, speakers=2)
    one = next(audio.rglob("*.wav"))
    store = tmp_path / "m.h5"
    cli("featurize", audio, "-f", "mfcc-stats", "--sr", "8000", "-o", store, "-q")
    for kind in ("knn", "logreg"):
        model = tmp_path / f"{kind}.h5"
        cli("train", store, "--model", kind, "--val-split", "0", "-o", model, "-q")
        for argv in (["predict", model, one, "-q"], ["eval", model, store, "-q"]):
            assert modules_after(argv, heavy=("sklearn", "torch", "scipy", "librosa")) == [], (kind, argv[0])


def test_every_command_runs_without_librosa_installed(tmp_path):
    """librosa is only the tests' reference (pyproject's dev extra): with its import made to fail,
    as on a machine without it, featurize, train, eval, predict and pitch still work."""
    import subprocess
    import sys

    from helpers import make_tones

    audio = make_tones(tmp_path / "tones", per_class=3, speakers=2, sr=16000)
    one = next(audio.rglob("*.wav"))
    store, model = tmp_path / "m.h5", tmp_path / "lr.h5"
    block = ("import sys\n"
             "class NoLibrosa:\n"
             "    def find_spec(self, name, path=None, target=None):\n"
             "        if name.split('.')[0] in ('librosa', 'numba'):\n"
             "            raise ImportError(f'{name} is not installed')\n"
             "sys.meta_path.insert(0, NoLibrosa())\n"
             "from audiokit.cli import main\n"
             "sys.argv[0] = 'audiokit'\n"
             "main()\n")
    for argv in (["featurize", audio, "-f", "mfcc-stats", "-o", store, "-q"],
                 ["train", store, "--model", "logreg", "--val-split", "0", "-o", model, "-q"],
                 ["eval", model, store, "-q"],
                 ["predict", model, one, "-q"],
                 ["pitch", one, one, "-q"]):
        r = subprocess.run([sys.executable, "-c", block, *map(str, argv)], capture_output=True, text=True)
        assert r.returncode == 0, (argv[0], r.stderr)
    assert model.exists()
