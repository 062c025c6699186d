"""Labels, groups and folds for items: from directory names, file-name regexes or a CSV manifest.

An :class:`Item` is one row of a future store: a path (two for ``f0-range`` pairs),
a label (``None``: unlabelled), a group (speaker, actor, singer) and a fold.

Sources
-------
``dir``       the name of the file's parent directory (``data/violin/x.wav`` → ``violin``)
``regex``     the first capture group (or the group named ``label``) of a regex searched in the
              file name, optionally mapped through ``--label-map`` (RAVDESS: ``01=neutral,…``)
``manifest``  a CSV file ``path,label[,group][,fold]`` (a header row of column names is optional
              and may order the columns; relative paths are relative to the manifest's directory)
``none``      unlabelled
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from pathlib import Path

from audiokit.errors import AudiokitError, UsageError

LABEL_SOURCES = ("dir", "regex", "manifest", "none")


@dataclass
class Item:
    path: str
    label: str | None = None
    group: str | None = None
    fold: int | None = None
    #: The second file of an ``f0-range`` pair (the high note); ``path`` is the low note.
    path2: str | None = None


def compile_regex(pattern: str | None, flag: str) -> re.Pattern | None:
    if pattern is None:
        return None
    try:
        rx = re.compile(pattern)
    except (re.error, OverflowError, RecursionError) as exc:  # "a{99999999999}" overflows, not re.error
        raise UsageError(f"{flag}: invalid regular expression '{pattern}' ({exc})") from exc
    if rx.groups < 1:
        raise UsageError(f"{flag}: the regular expression needs a capture group, e.g. '^(\\d+)_'")
    return rx


def regex_field(rx: re.Pattern, path: str, name: str) -> str:
    """The ``name`` group (or first group) of ``rx`` searched in the file name of ``path``."""
    base = os.path.basename(path)
    m = rx.search(base)
    if m is None:
        raise AudiokitError(f"file name does not match the {name} regex '{rx.pattern}'", path=path)
    value = m.group(name) if name in rx.groupindex else m.group(1)
    if value is None or value == "":
        raise AudiokitError(f"the {name} regex '{rx.pattern}' captured nothing", path=path)
    return value


def parse_label_map(spec: str | None) -> dict[str, str] | None:
    """``"01=neutral,03=happy"`` or the path of a file with one ``code=name`` (or ``code,name``) per line."""
    if spec is None:
        return None
    if os.path.isfile(spec):
        try:
            with open(spec, encoding="utf-8") as f:
                entries = [ln.strip() for ln in f if ln.strip() and not ln.lstrip().startswith("#")]
        except OSError as exc:
            raise UsageError(f"--label-map: cannot read the file ({exc.strerror or exc})", path=spec) from exc
        except UnicodeDecodeError as exc:
            raise UsageError("--label-map: the file is not UTF-8 text", path=spec) from exc
    else:
        entries = [e.strip() for e in spec.split(",") if e.strip()]
    out: dict[str, str] = {}
    for e in entries:
        sep = "=" if "=" in e else ("," if "," in e else None)
        if sep is None:
            raise UsageError(f"--label-map: expected CODE=NAME, got {e!r}")
        k, v = (s.strip() for s in e.split(sep, 1))
        if not k or not v:
            raise UsageError(f"--label-map: expected CODE=NAME, got {e!r}")
        out[k] = v
    if not out:
        raise UsageError("--label-map is empty")
    return out


def label_items(
    paths: list[str],
    *,
    source: str = "dir",
    label_regex: str | None = None,
    label_map: dict[str, str] | None = None,
    group_regex: str | None = None,
) -> list[Item]:
    """Attach labels and groups to audio paths (sources ``dir``, ``regex`` or ``none``).

    Raises :class:`AudiokitError` naming the first file whose name does not fit.
    Use :func:`label_item` to label one path at a time (to skip bad ones).
    """
    lrx = compile_regex(label_regex, "--label-regex")
    grx = compile_regex(group_regex, "--group-regex")
    return [label_item(p, source=source, lrx=lrx, label_map=label_map, grx=grx) for p in paths]


def label_item(path: str, *, source: str, lrx: re.Pattern | None, label_map: dict[str, str] | None,
               grx: re.Pattern | None) -> Item:
    if source == "dir":
        label = Path(os.path.abspath(path)).parent.name or None
    elif source == "regex":
        if lrx is None:
            raise UsageError("--label-source regex needs --label-regex")
        label = regex_field(lrx, path, "label")
    elif source == "none":
        label = None
    else:
        raise UsageError(f"unknown label source {source!r}; choose one of {', '.join(LABEL_SOURCES)}")
    if label is not None and label_map is not None:
        if label not in label_map:
            raise AudiokitError(f"label {label!r} is not in --label-map", path=path)
        label = label_map[label]
    group = regex_field(grx, path, "group") if grx is not None else None
    return Item(path=path, label=label, group=group)


def read_manifest(manifest: str, *, pairs: bool = False, label_map: dict[str, str] | None = None) -> list[Item]:
    """Read a CSV manifest.

    Single files: ``path,label[,group][,fold]``. Pairs (``f0-range``): ``low,high,label[,group]``.
    A first row made only of column names (``path``/``file``, ``low``, ``high``, ``label``, ``group``,
    ``fold``) is a header and says the columns' order; an empty label cell means unlabelled. Relative paths are taken relative to the manifest's directory.
    """
    if manifest == "-":
        raise UsageError("--manifest cannot be '-'; give a file")
    try:
        with open(manifest, newline="", encoding="utf-8") as f:
            rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    except OSError as exc:
        raise AudiokitError(f"cannot read manifest ({exc.strerror or exc})", path=manifest) from exc
    except UnicodeDecodeError as exc:
        raise AudiokitError("manifest is not UTF-8 text", path=manifest) from exc
    except csv.Error as exc:  # e.g. a stray quote swallowing the rest: "field larger than field limit"
        raise AudiokitError(f"not a readable CSV manifest ({exc})", path=manifest) from exc
    cols = ["low", "high", "label", "group"] if pairs else ["path", "label", "group", "fold"]
    # A header is a first row made only of column names (in any order): path (or file), low, high,
    # label, group, fold. A data row never is: its first cell is a file name.
    known = {"path", "file", "low", "high", "label", "group", "fold"}
    has_header = bool(rows) and all(c.strip().lower() in known for c in rows[0] if c.strip())
    if has_header:
        header = [c.strip().lower() for c in rows[0]]
        rows = rows[1:]
        need = cols[:2] if pairs else cols[:1]
        header = ["path" if h == "file" else h for h in header]
        missing = [c for c in need if c not in header]
        if missing:
            raise AudiokitError(f"manifest header lacks column(s) {', '.join(missing)}", path=manifest)
        index = {c: header.index(c) for c in cols if c in header}
    else:
        index = {c: i for i, c in enumerate(cols)}
    base = os.path.dirname(os.path.abspath(manifest))

    def cell(row: list[str], name: str) -> str | None:
        i = index.get(name)
        if i is None or i >= len(row):
            return None
        v = row[i].strip()
        return v or None

    def resolve(p: str) -> str:
        return p if os.path.isabs(p) else os.path.join(base, p)

    items: list[Item] = []
    for n, row in enumerate(rows, start=2 if has_header else 1):
        first = cell(row, cols[0])
        if first is None:
            raise AudiokitError(f"line {n}: empty path", path=manifest)
        label = cell(row, "label")
        if label is not None and label_map is not None:
            if label not in label_map:
                raise AudiokitError(f"line {n}: label {label!r} is not in --label-map", path=manifest)
            label = label_map[label]
        fold = None
        if not pairs and cell(row, "fold") is not None:
            try:
                fold = int(cell(row, "fold"))
            except ValueError as exc:
                raise AudiokitError(f"line {n}: fold must be an integer", path=manifest) from exc
        second = None
        if pairs:
            second = cell(row, "high")
            if second is None:
                raise AudiokitError(f"line {n}: a pair needs two paths (low,high,label)", path=manifest)
            second = resolve(second)
        items.append(Item(path=resolve(first), label=label, group=cell(row, "group"), fold=fold, path2=second))
    if not items:
        raise AudiokitError("manifest lists no items", path=manifest)
    return items


def find_pairs(paths: list[str], *, source: str = "dir", label_map: dict[str, str] | None = None,
               label_regex: str | None = None) -> tuple[list[Item], list[tuple[str, str]]]:
    """Pair ``*low*`` and ``*high*`` files of the same singer (same directory, same name but for
    ``low``/``high``). The group is the singer: the directory plus the name with ``low`` removed.

    Returns the pairs and a list of ``(path, reason)`` for files left without a partner.
    """
    lrx = compile_regex(label_regex, "--label-regex")
    lows: dict[tuple[str, str], str] = {}
    highs: dict[tuple[str, str], str] = {}
    unpaired: list[tuple[str, str]] = []
    for p in paths:
        d, name = os.path.split(p)
        low_name = name.lower()
        if "low" in low_name and "high" not in low_name:
            i = low_name.index("low")
            side, key = lows, (d, low_name[:i] + "\0" + low_name[i + 3:])
        elif "high" in low_name and "low" not in low_name:
            i = low_name.index("high")
            side, key = highs, (d, low_name[:i] + "\0" + low_name[i + 4:])
        else:
            unpaired.append((p, "name contains neither 'low' nor 'high'"))
            continue
        if key in side:  # "aLOW.wav" beside "alow.wav": one partner each, the other is reported
            unpaired.append((p, f"{os.path.basename(side[key])} already pairs the same way "
                                "(names that differ only in case)"))
            continue
        side[key] = p
    items = []
    for key in sorted(lows.keys() | highs.keys()):
        if key not in highs:
            unpaired.append((lows[key], "no matching *high* file"))
            continue
        if key not in lows:
            unpaired.append((highs[key], "no matching *low* file"))
            continue
        low = lows[key]
        it = label_item(low, source=source, lrx=lrx, label_map=label_map, grx=None)
        d, stem = key
        singer = os.path.splitext(stem.replace("\0", ""))[0].strip("_- .") or os.path.basename(d)
        items.append(Item(path=low, label=it.label, group=os.path.join(os.path.basename(d), singer),
                          path2=highs[key]))
    return items, unpaired
