from conftest import run


def test_help_and_version_do_not_import_heavy_modules():
    code = ("import sys; from audiokit.cli import app; "
            "bad=[m for m in ('torch','torchvision','librosa','h5py','numpy') if m in sys.modules]; "
            "print(','.join(bad))")
    import subprocess, sys
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
    r = run(["--version"])
    assert r.returncode == 0 and r.stdout.decode().startswith("audiokit ")
