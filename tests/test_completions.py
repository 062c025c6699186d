"""Shell completions: the checked-in files are what the CLI generates, and completing through
them gives subcommands, flags, the choices of --model/--features/--method/--device, and file
names everywhere else. bash is driven for real (the script is sourced and its function
called as readline would); zsh and fish, where not installed, through the exact protocol
their scripts use (the same environment variables, the same 'audiokit' call)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))  # tools/gen.py: not in the package
import gen as _gen  # noqa: E402
from helpers import run

ROOT = _gen.REPO
BASH = ROOT / "completions" / "audiokit.bash"
COMMANDS = [name for name, _, _ in _gen.subcommands()]


def test_checked_in_completions_are_current():
    bad = _gen.stale(completions=True, man=False)
    assert not bad, f"stale completion files {bad}; run: python tools/gen.py"


def test_scripts_hold_no_completion_logic_of_their_own():
    """Each file only hands the command line back to 'audiokit' (typer/click do the work)."""
    for shell, fname in _gen.COMPLETION_FILES.items():
        text = (ROOT / "completions" / fname).read_text()
        assert f"_AUDIOKIT_COMPLETE=complete_{shell}" in text
        assert "featurize" not in text and "--model" not in text  # nothing about the CLI is hard-coded
    assert (ROOT / "completions" / "_audiokit").read_text().startswith("#compdef audiokit\n")


def _bash_complete(*cases: list[str]) -> list[list[str]]:
    """Complete each command line (its last word is the one being completed) through the
    sourced bash script; returns the COMPREPLY of each."""
    script = [f"source {BASH}", "complete -p audiokit"]
    for words in cases:
        arr = " ".join(f"'{w}'" for w in words)
        script += [f"COMP_WORDS=({arr}); COMP_CWORD={len(words) - 1}; COMPREPLY=()",
                   "_audiokit_completion audiokit", 'printf "%s\\n" "${COMPREPLY[@]}"', "echo @@"]
    res = run("\n".join(script), shell=True, timeout=120)
    assert res.returncode == 0, res.stderr.decode()
    out = res.stdout.decode()
    head, _, rest = out.partition("\n")
    assert head == "complete -o default -F _audiokit_completion audiokit"  # -o default: file names
    replies = rest.split("@@\n")[:-1]
    return [[w for w in r.splitlines() if w] for r in replies]


@pytest.mark.slow
def test_bash_completes_commands_flags_choices_and_files():
    cases = [
        ["audiokit", ""],
        ["audiokit", "tr"],
        ["audiokit", "featurize", "--wor"],
        ["audiokit", "train", "--model", ""],
        ["audiokit", "featurize", "--features", "mfcc"],
        ["audiokit", "eval", "--device", "c"],
        ["audiokit", "featurize", "da"],   # a path: nothing from audiokit, bash falls back to files
        ["audiokit", "predict", "model.h5", "--format", ""],
    ]
    if "pitch" in COMMANDS:
        cases.append(["audiokit", "pitch", "--method", ""])
    got = _bash_complete(*cases)
    assert set(got[0]) == set(COMMANDS)
    assert got[1] == ["train"]
    assert got[2] == ["--workers"]
    assert set(got[3]) == {"knn", "svm", "mlp", "logreg", "resnet18", "resnet34", "resnet50", "specresnet"}
    assert set(got[4]) == {"mfcc", "mfcc-stats"}
    assert set(got[5]) == {"cpu", "cuda", "cuda:0"}
    assert got[6] == []
    assert set(got[7]) == {"csv", "jsonl", "table"}
    if "pitch" in COMMANDS:
        from audiokit.pitch import METHODS

        assert set(got[8]) == set(METHODS) and "hps" in got[8]


def _protocol(shell: str, line: str, **extra) -> subprocess.CompletedProcess:
    env = {"_AUDIOKIT_COMPLETE": f"complete_{shell}", "_TYPER_COMPLETE_ARGS": line, **extra}
    return run([], env=env, timeout=60)


def test_zsh_protocol_completes_flags_and_choices():
    res = _protocol("zsh", "audiokit train --model ")
    out = res.stdout.decode()
    assert res.returncode == 0 and out.startswith("_arguments '*: :((")
    assert '"specresnet"' in out and '"knn"' in out
    files = _protocol("zsh", "audiokit featurize da").stdout.decode().strip()
    assert files == "_files"  # paths: zsh's own file completion
    if shutil.which("zsh"):
        res = subprocess.run(["zsh", "-n", str(ROOT / "completions" / "_audiokit")], capture_output=True)
        assert res.returncode == 0, res.stderr


def test_fish_protocol_completes_subcommands_with_help():
    res = _protocol("fish", "audiokit ", _TYPER_COMPLETE_FISH_ACTION="get-args")
    lines = res.stdout.decode().splitlines()
    assert {ln.split("\t")[0] for ln in lines} == set(COMMANDS)
    assert all("\t" in ln for ln in lines)  # each with its one-line help
    # a path position: "is-args" fails, so fish completes file names
    assert _protocol("fish", "audiokit info st", _TYPER_COMPLETE_FISH_ACTION="is-args").returncode == 1
    if shutil.which("fish"):
        res = subprocess.run(["fish", "--no-execute", str(ROOT / "completions" / "audiokit.fish")],
                             capture_output=True)
        assert res.returncode == 0, res.stderr


def test_show_completion_matches_the_checked_in_bash_file():
    """'audiokit --show-completion bash' (what a user would run) prints the same script."""
    res = run(["--show-completion", "bash"], env={"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"})
    assert res.returncode == 0, res.stderr
    assert res.stdout.decode().strip() in BASH.read_text()
