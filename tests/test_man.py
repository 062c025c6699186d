"""Man pages: one per command plus audiokit.1, generated from the CLI; stale pages fail; each
renders with man/groff without a warning and shows every option, examples and exit status."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))  # tools/gen.py: not in the package
import gen as _gen  # noqa: E402

MAN = _gen.REPO / "man"
COMMANDS = {name: (cmd, ctx) for name, cmd, ctx in _gen.subcommands()}
PAGES = ["audiokit.1"] + [f"audiokit-{n}.1" for n in COMMANDS]


def test_checked_in_pages_are_current():
    bad = _gen.stale(completions=False, man=True)
    assert not bad, f"stale man pages {bad}; run: python tools/gen.py"


def _render(page: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "MAN_KEEP_FORMATTING"}
    env.update(MANWIDTH="200", LANG="C.UTF-8")
    return subprocess.run(["man", "-l", str(MAN / page)], capture_output=True, env=env, timeout=60)


@pytest.mark.skipif(not shutil.which("groff"), reason="groff not installed")
@pytest.mark.parametrize("page", PAGES)
def test_groff_renders_without_warnings(page):
    res = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", str(MAN / page)], capture_output=True,
                         timeout=60)
    assert res.returncode == 0 and res.stderr == b"", res.stderr.decode()


@pytest.mark.skipif(not shutil.which("man"), reason="man not installed")
@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_man_shows_every_option_examples_and_exit_status(name):
    res = _render(f"audiokit-{name}.1")
    assert res.returncode == 0, res.stderr.decode()
    assert b"warning" not in res.stderr.lower(), res.stderr.decode()
    text = res.stdout.decode()
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXAMPLES", "EXIT STATUS", "SEE ALSO"):
        assert f"\n{section}\n" in text, f"{name}: no {section} section"
    cmd, ctx = COMMANDS[name]
    for p in cmd.get_params(ctx):
        if p.param_type_name == "option" and not p.hidden:
            for opt in p.opts:
                assert opt in text, f"audiokit-{name}(1) lacks {opt}"  # plain ASCII hyphens, copyable
    ep = _gen.parse_epilog(cmd.epilog)
    first_example = ep["examples"][0].splitlines()[0].strip()
    assert first_example in text  # verbatim, backslashes and quotes intact
    assert " ".join(ep["exit_status"].split()[:6]) in " ".join(text.split())


@pytest.mark.skipif(not shutil.which("man"), reason="man not installed")
def test_root_page_lists_every_command_and_exit_codes():
    text = _render("audiokit.1").stdout.decode()
    for name in COMMANDS:
        assert f"audiokit-{name}(1)" in text
    for code in ("0 success", "1 the work failed", "2 usage error", "130 interrupted"):
        assert code in " ".join(text.split())


@pytest.mark.skipif(not shutil.which("man"), reason="man not installed")
def test_regex_examples_survive_roff_escaping():
    text = _render("audiokit-featurize.1").stdout.decode()
    assert r"--label-regex '^\d+-\d+-(\d+)-'" in text
