"""The CLI as one product: every command documents itself the same way and shared flags are
spelled the same everywhere. Walks the click command tree that typer builds, so a command
added later is checked without touching this file."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))  # tools/gen.py: not in the package
from gen import command_tree, parse_epilog, subcommands  # noqa: E402

COMMANDS = {name: (cmd, ctx) for name, cmd, ctx in subcommands()}

#: the one spelling of each shared flag (long, short), and the words people try instead
CANONICAL = {
    "--output": {"--output", "-o"},
    "--workers": {"--workers", "-j"},
    "--device": {"--device"},
    "--json": {"--json"},
    "--quiet": {"--quiet", "-q"},
    "--verbose": {"--verbose", "-v"},
    "--seed": {"--seed"},
    "--skip-errors": {"--skip-errors"},
    "--threads": {"--threads"},  # threads inside one process; --workers counts processes
}
SYNONYMS = {"--out", "--outfile", "--output-file", "--jobs", "--n-jobs", "--num-workers", "--nproc",
            "--gpu", "--gpus", "--cuda", "--silent", "--debug", "--random-seed", "--random-state",
            "--ignore-errors", "--keep-going", "--json-output", "--as-json"}
#: options whose help comes from audiokit/cli/_common.py and so must read the same everywhere
SHARED_HELP = {"--workers", "--device", "--json", "--quiet", "--verbose", "--seed", "--skip-errors", "--threads"}
#: names that break the lower-case kebab rule on purpose: scikit-learn's own parameter name
NAME_EXCEPTIONS = {"--C"}


def _options(cmd, ctx):
    return [p for p in cmd.get_params(ctx) if p.param_type_name == "option"]


def test_the_command_tree_has_the_design_commands():
    assert {"featurize", "info", "train", "eval", "predict"} <= set(COMMANDS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_stands_alone_with_examples_and_exit_status(cli, name):
    for flag in ("--help", "-h"):
        out = cli(name, flag).stdout
        assert f"Usage: audiokit {name}" in out
        assert "Examples:" in out and "Exit status:" in out, f"{name} {flag} lacks Examples/Exit status"
    cmd, _ = COMMANDS[name]
    ep = parse_epilog(cmd.epilog)
    help_lines = {ln.strip() for ln in out.splitlines()}
    for block in ep["examples"]:  # printed as written, not rewrapped into running text
        for line in block.splitlines():
            assert line.strip() in help_lines, f"audiokit {name} --help mangles the example {line.strip()!r}"
    runs = [ln for block in ep["examples"] for ln in block.splitlines() if f"audiokit {name}" in ln]
    assert runs, f"audiokit {name}: no example runs the command itself"
    status = ep["exit_status"]
    assert re.search(r"\b0\b", status) and re.search(r"\b1\b", status), f"{name}: exit status must say 0 and 1"
    assert (cmd.help or "").strip(), f"{name} has no description"


def _example_invocations(name: str):
    """Each 'audiokit NAME ...' in the command's examples, as argv lists (pipes, comments and
    line continuations handled)."""
    cmd, _ = COMMANDS[name]
    for block in parse_epilog(cmd.epilog)["examples"]:
        text = re.sub(r"\\\n\s*", " ", block)
        for line in text.splitlines():
            line = line.split("  #")[0].strip()
            for part in line.split("|"):
                words = shlex.split(part.split(">")[0])
                if words[:2] == ["audiokit", name]:
                    yield words[2:]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_example_parses(name):
    """The flags used in --help examples exist (they drift when a flag is renamed)."""
    cmd, ctx = COMMANDS[name]
    examples = list(_example_invocations(name))
    assert examples
    for argv in examples:
        sub = cmd.make_context(name, list(argv), parent=ctx)  # raises on an unknown flag or bad value
        sub.close()


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_shared_flags_are_spelled_the_same(name):
    cmd, ctx = COMMANDS[name]
    opts = _options(cmd, ctx)
    seen = {}
    for p in opts:
        names = set(p.opts) | set(p.secondary_opts)
        for canon, spelling in CANONICAL.items():
            if names & spelling:
                assert set(p.opts) == spelling, f"audiokit {name}: {sorted(p.opts)} should be {sorted(spelling)}"
                seen[canon] = p
        assert not names & SYNONYMS, f"audiokit {name}: use the shared spelling, not {names & SYNONYMS}"
        for n in p.opts:
            if n.startswith("--") and n not in NAME_EXCEPTIONS:
                assert re.fullmatch(r"--[a-z0-9]+(-[a-z0-9]+)*", n), f"audiokit {name}: {n} is not kebab-case"
    assert "--quiet" in seen and "--verbose" in seen, f"audiokit {name} lacks --quiet/--verbose"
    for flag in ("--json", "--quiet", "--verbose", "--skip-errors"):
        if flag in seen:
            assert seen[flag].is_flag, f"audiokit {name}: {flag} must be a flag, not take a value"


def test_shared_flags_have_one_help_text():
    texts: dict[str, set] = {}
    for name, (cmd, ctx) in COMMANDS.items():
        for p in _options(cmd, ctx):
            long = next((o for o in p.opts if o.startswith("--")), None)
            if long in SHARED_HELP:
                texts.setdefault(long, set()).add(p.help)
    for flag, helps in texts.items():
        assert len(helps) == 1, f"{flag} is described differently across commands: {helps}"


def test_commands_offer_the_flags_their_work_needs():
    """Machine-readable output, device choice and parallelism where DESIGN.md puts them."""
    def longs(name):
        cmd, ctx = COMMANDS[name]
        return {o for p in _options(cmd, ctx) for o in p.opts}

    for name in ("info", "train", "eval", "pitch"):
        if name in COMMANDS:
            assert "--json" in longs(name), name
    for name in ("train", "eval", "predict"):
        assert "--device" in longs(name), name
    for name in ("featurize", "predict"):
        assert "--workers" in longs(name), name
    for name in ("featurize", "train"):
        assert "--output" in longs(name), name


def test_root_help_lists_every_command_and_version(cli):
    out = cli("--help").stdout
    for name in COMMANDS:
        assert re.search(rf"^\s+{name}\s", out, re.M), f"{name} missing from 'audiokit --help'"
    assert cli("--version").stdout.startswith("audiokit ")
    group, ctx = command_tree()
    assert "-h" in next(p for p in group.get_params(ctx) if "--help" in p.opts).opts


def test_usage_errors_exit_2_with_one_line(cli):
    for name in COMMANDS:
        res = cli(name, "--no-such-flag", expect=2)
        assert "No such option" in res.stderr or "no such option" in res.stderr.lower(), name
        assert "Traceback" not in res.stderr
