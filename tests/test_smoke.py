import pytest

from helpers import run


def test_help_and_version_do_not_import_heavy_modules():
    code = ("import sys; from audiokit.cli import app; "
            "bad=[m for m in ('torch','torchvision','librosa','h5py','numpy') if m in sys.modules]; "
            "print(','.join(bad))")
    import subprocess, sys
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
    r = run(["--version"])
    assert r.returncode == 0 and r.stdout.decode().startswith("audiokit ")


def _modules_after(argv, heavy=("torch", "torchvision", "sklearn")) -> list[str]:
    """Run the CLI in a fresh interpreter and list which heavy packages it imported."""
    import subprocess, sys
    code = ("import sys\nfrom audiokit.cli import app\n"
            f"try:\n    app({[str(a) for a in argv]!r}, prog_name='audiokit')\nexcept SystemExit as e:\n"
            "    assert not e.code, e.code\n"
            f"print(' '.join(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stderr.strip().splitlines()[-1].split() if r.stderr.strip() else []


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
    assert "torch" not in _modules_after(["predict", tmp_path / "knn.h5", one, "-q"])
    deep = _modules_after(["predict", tmp_path / "cnn.h5", one, "-q"])
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
        assert _modules_after(["featurize", audio, *args, "-q"], heavy) == [], args
    run(["train", store, "--model", "logreg", "--val-split", "0", "-o", tmp_path / "lr.h5", "-q"]).check_returncode()
    assert _modules_after(["predict", tmp_path / "lr.h5", one, "-q"], heavy) == []
