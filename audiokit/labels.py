"""Labels, groups and folds for items: from directory names, file-name regexes or a CSV manifest.

An :class:`Item` is one row of a future store: a path (two for ``f0-range`` pairs),
a label (``None``: unlabelled), a group (speaker, actor, singer) and a fold.

Sources
-------
``dir``       the first folder below the input directory the file was found in (torchvision's
              ImageFolder rule: ``featurize data/`` labels ``data/violin/s1/x.wav`` ``violin``); a
              file directly in that directory gets the directory's own name; a file given by
              itself (or on stdin) gets its parent directory's name (:func:`dir_label`)
``regex``     the first capture group (or the group named ``label``) of a regex searched in the
              file name, optionally mapped through ``--label-map`` (RAVDESS: ``01=neutral,…``)
``manifest``  a CSV (or tab-separated) file ``path,label[,group][,fold]`` (a header row of column
              names is optional and may order the columns and use other common names; relative
              paths are relative to the manifest's directory; :func:`read_manifest`)
``none``      unlabelled
"""

from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

from audiokit.errors import AudiokitError, ParameterError, UsageError

LABEL_SOURCES = ("dir", "regex", "manifest", "none")


@dataclass
class Item:
    path: str
    label: str | None = None
    group: str | None = None
    fold: int | None = None
    #: The second file of an ``f0-range`` pair (the high note); ``path`` is the low note.
    path2: str | None = None
    #: Position in the full input list (before ``--shard``), so merged shards keep the input order.
    index: int | None = None


def compile_regex(pattern: str | None, param: str) -> re.Pattern | None:
    """``pattern`` compiled; a :class:`ParameterError` naming ``param`` when it is invalid or has
    no capture group."""
    if pattern is None:
        return None
    try:
        rx = re.compile(pattern)
    except (re.error, OverflowError, RecursionError) as exc:  # "a{99999999999}" overflows, not re.error
        raise ParameterError(param, f"is not a valid regular expression: '{pattern}' ({exc})") from exc
    if rx.groups < 1:
        raise ParameterError(param, "needs a capture group, e.g. '^(\\d+)_'")
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
            raise ParameterError("label_map", f"cannot be read ({exc.strerror or exc})", path=spec) from exc
        except UnicodeDecodeError as exc:
            raise ParameterError("label_map", "is not UTF-8 text", path=spec) from exc
    else:
        entries = [e.strip() for e in spec.split(",") if e.strip()]
    out: dict[str, str] = {}
    for e in entries:
        sep = "=" if "=" in e else ("," if "," in e else None)
        if sep is None:
            raise ParameterError("label_map", f"expects CODE=NAME, got {e!r}")
        k, v = (s.strip() for s in e.split(sep, 1))
        if not k or not v:
            raise ParameterError("label_map", f"expects CODE=NAME, got {e!r}")
        out[k] = v
    if not out:
        raise ParameterError("label_map", "is empty")
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
    lrx = compile_regex(label_regex, "label_regex")
    grx = compile_regex(group_regex, "group_regex")
    return [label_item(p, source=source, lrx=lrx, label_map=label_map, grx=grx) for p in paths]


def dir_label(path: str, root: str | None = None) -> str | None:
    """The label of ``path`` by its folders.

    ``root`` is the input directory the file was found in: the label is the first folder below
    it (``root/violin/s1/a.ogg`` → ``violin``, torchvision's ImageFolder rule), or ``root``'s
    own name for a file directly in it. Without a root (a file named by itself, or read from
    stdin) it is the name of the file's parent directory.

    >>> dir_label("data/violin/s1/a.ogg", "data"), dir_label("data/violin/a.ogg")
    ('violin', 'violin')
    >>> dir_label("data/violin/s1/a.ogg"), dir_label("data/violin/a.ogg", "data/violin")
    ('s1', 'violin')
    """
    if root is not None:
        rel = os.path.relpath(os.path.abspath(path), os.path.abspath(root))
        parts = rel.split(os.sep)
        if len(parts) > 1 and parts[0] not in (os.curdir, os.pardir):
            return parts[0]
        if parts[0] != os.pardir:
            return Path(os.path.abspath(root)).name or None
    return Path(os.path.abspath(path)).parent.name or None


def label_item(path: str, *, source: str, lrx: re.Pattern | None, label_map: dict[str, str] | None,
               grx: re.Pattern | None, root: str | None = None) -> Item:
    """Label and group one path; ``root``: the input directory it was found in (:func:`dir_label`)."""
    if source == "dir":
        label = dir_label(path, root)
    elif source == "regex":
        if lrx is None:
            raise ParameterError("label_regex", "is needed for labels from a regex (label source 'regex')")
        label = regex_field(lrx, path, "label")
    elif source == "none":
        label = None
    else:
        raise UsageError(f"unknown label source {source!r}; choose one of {', '.join(LABEL_SOURCES)}")
    if label is not None and label_map is not None:
        if label not in label_map:
            raise AudiokitError(f"label {label!r} is not in the label map", path=path)
        label = label_map[label]
    group = regex_field(grx, path, "group") if grx is not None else None
    return Item(path=path, label=label, group=group)


#: Column names a manifest header may use (compared lower-case, without spaces, ``_`` and ``-``),
#: the first of each being the canonical one: spreadsheets and datasets spell them many ways
#: (ESC-50: ``filename,fold,target,category``).
COLUMN_ALIASES = {
    "path": ("path", "file", "filename", "filepath"),
    "low": ("low", "lowpath", "lowfile"),
    "high": ("high", "highpath", "highfile"),
    "label": ("label", "class", "category"),
    "group": ("group", "speaker", "actor", "player", "singer"),
    "fold": ("fold",),
}


def _column_key(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name.strip().lower())


def _expected_columns(cols: list[str]) -> str:
    return "; ".join(c if len(COLUMN_ALIASES[c]) == 1 else f"{c} (or {', '.join(COLUMN_ALIASES[c][1:])})"
                     for c in cols)


def _delimiter(first_line: str) -> str:
    """A tab when the first line has one (a spreadsheet's "tab-separated values"), a semicolon when
    it has semicolons but no comma (spreadsheets in locales with a decimal comma), else a comma."""
    if "\t" in first_line:
        return "\t"
    if ";" in first_line and "," not in first_line:
        return ";"
    return ","


def read_manifest(manifest: str, *, pairs: bool = False, label_map: dict[str, str] | None = None) -> list[Item]:
    """Read a CSV manifest, as a spreadsheet or a script writes it.

    Single files: ``path,label[,group][,fold]``. Pairs (``f0-range``): ``low,high,label[,group]``.
    Comma-, tab- or semicolon-separated (the first line decides), UTF-8 with or without a byte-order
    mark. A first row that names a column (:data:`COLUMN_ALIASES`: ``path``/``file``/``filename``/
    ``filepath``, ``label``/``class``/``category``, ``group``/``speaker``/``actor``/``player``,
    ``fold``; any case, spaces or ``_``) and no file name is a header: it says the columns' order,
    and other columns are ignored. A first row of words that name no known column is refused, naming
    the columns expected and those found. An empty label cell means unlabelled (``featurize`` warns
    with the count). Relative paths are taken relative to the manifest's directory.
    """
    if manifest == "-":
        raise ParameterError("manifest", "cannot be '-'; give a file")
    try:
        with open(manifest, newline="", encoding="utf-8-sig") as f:  # -sig: Excel's "CSV UTF-8" has a BOM
            text = f.read()
        first = next((ln for ln in text.splitlines() if ln.strip()), "")
        rows = [r for r in csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(first))
                if r and any(c.strip() for c in r)]
    except OSError as exc:
        raise AudiokitError(f"cannot read manifest ({exc.strerror or exc})", path=manifest) from exc
    except UnicodeDecodeError as exc:
        raise AudiokitError("manifest is not UTF-8 text", path=manifest) from exc
    except csv.Error as exc:  # e.g. a stray quote swallowing the rest: "field larger than field limit"
        raise AudiokitError(f"not a readable CSV manifest ({exc})", path=manifest) from exc
    cols = ["low", "high", "label", "group"] if pairs else ["path", "label", "group", "fold"]
    need = cols[:2] if pairs else cols[:1]
    alias = {a: c for c in cols for a in COLUMN_ALIASES[c]}
    base = os.path.dirname(os.path.abspath(manifest))

    def looks_like_audio(cell: str) -> bool:  # a file name: it has an extension, or the file is there
        cell = cell.strip()
        return bool(cell) and (bool(os.path.splitext(cell)[1])
                               or os.path.isfile(cell if os.path.isabs(cell) else os.path.join(base, cell)))

    # A header is a first row that names at least one known column and no file; a data row's
    # path cell is a file name. A first row of words only, none of them a known column and none a
    # file, is a header we do not understand: refused rather than read as a file called "name".
    head = rows[0] if rows else []
    named = [_column_key(c) in alias for c in head]
    has_header = bool(head) and any(named) and not any(looks_like_audio(c) for c in head)
    if head and not has_header and head[0].strip() and not any(looks_like_audio(c) for c in head) \
            and not any("/" in c or os.sep in c for c in head):
        raise AudiokitError(f"the first row is not a header audiokit knows: expected columns "
                            f"{_expected_columns(cols)}; found {', '.join(c.strip() for c in head)}", path=manifest)
    if has_header:
        header = [alias.get(_column_key(c)) for c in head]
        rows = rows[1:]
        missing = [c for c in need if c not in header]
        if missing:
            raise AudiokitError(f"manifest header lacks column(s) {_expected_columns(missing)}; found "
                                f"{', '.join(c.strip() for c in head)}", path=manifest)
        index = {c: header.index(c) for c in cols if c in header}
    else:
        index = {c: i for i, c in enumerate(cols)}

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
                raise AudiokitError(f"line {n}: label {label!r} is not in the label map", path=manifest)
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
               label_regex: str | None = None,
               roots: dict[str, str] | None = None) -> tuple[list[Item], list[tuple[str, str]]]:
    """Pair ``*low*`` and ``*high*`` files of the same singer (same directory, same name but for
    ``low``/``high``). The group is the singer: the directory plus the name with ``low`` removed.
    ``roots`` maps a path to the input directory it was found in (labels: :func:`dir_label`).

    Returns the pairs and a list of ``(path, reason)`` for files left without a partner.
    """
    lrx = compile_regex(label_regex, "label_regex")
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
        it = label_item(low, source=source, lrx=lrx, label_map=label_map, grx=None,
                        root=(roots or {}).get(low))
        d, stem = key
        singer = os.path.splitext(stem.replace("\0", ""))[0].strip("_- .") or os.path.basename(d)
        items.append(Item(path=low, label=it.label, group=os.path.join(os.path.basename(d), singer),
                          path2=highs[key]))
    return items, unpaired
