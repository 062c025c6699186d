"""No import cycles among audiokit's modules (imports inside functions count), found by
tools/import_cycles.py."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT / "tools" / "import_cycles.py"



def _tool():
    spec = importlib.util.spec_from_file_location("import_cycles", TOOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_audiokit_has_no_import_cycles():
    tool = _tool()
    found = {tuple(c) for c in tool.cycles(tool.import_graph(ROOT / "audiokit"))}
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(c + (c[0],)) for c in sorted(found))


def test_the_tool_finds_cycles_through_functions_and_skips_type_checking(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg import b\n")
    (pkg / "b.py").write_text(textwrap.dedent("""
        def f():
            from pkg.sub import c
    """))
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "c.py").write_text("from .. import a\n")  # relative, back to the start
    (pkg / "d.py").write_text(textwrap.dedent("""
        from typing import TYPE_CHECKING
        if TYPE_CHECKING:
            from pkg import e
    """))
    (pkg / "e.py").write_text("import pkg.d\n")
    tool = _tool()
    assert tool.cycles(tool.import_graph(pkg)) == [["pkg.a", "pkg.b", "pkg.sub.c"]]
    res = subprocess.run([sys.executable, str(TOOL), str(pkg)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 1 and res.stdout == "pkg.a -> pkg.b -> pkg.sub.c -> pkg.a\n"
    (pkg / "sub" / "c.py").write_text("")
    res = subprocess.run([sys.executable, str(TOOL), str(pkg)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and res.stdout == ""
