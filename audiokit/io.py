"""Files and pipes: atomic writes, spooling for ``-``, HDF5 opening, JSON of numpy values,
and the names of the files written beside a model.

Every writer of a result file (store, model file, report, checkpoint, history, PNG, table)
goes through :func:`atomic_output`: the data goes to a temporary file in the target's
directory that replaces the target only when the writer finishes without an exception, so an
interrupted or failed run never leaves a half file under the target's name.

Examples
--------
>>> import os, tempfile
>>> p = os.path.join(tempfile.mkdtemp(), "out.txt")
>>> with atomic_output(p) as target:
...     with open(target.file, "w") as f:
...         _ = f.write("done")
>>> open(p).read()
'done'
>>> try:
...     with atomic_output(p) as target:
...         with open(target.file, "w") as f:
...             _ = f.write("half")
...         raise KeyboardInterrupt
... except KeyboardInterrupt:
...     pass
>>> open(p).read(), sorted(os.listdir(os.path.dirname(p)))
('done', ['out.txt'])
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sys
import tempfile
from typing import Iterator

import numpy as np

from audiokit.errors import AudiokitError, StoreError, UsageError, os_reason

#: An HDF5 file on a pipe (``-o -``, ``-`` as input) is held in memory up to this size, then in
#: an anonymous temporary file in $TMPDIR: HDF5 seeks, so a pipe cannot be read or written in
#: place, and a store of many GB must not need as much RAM (``sort`` spills the same way).
SPOOL_BYTES = 64 << 20


def spool():
    """A seekable buffer for a file on a pipe: memory up to :data:`SPOOL_BYTES`, then an
    unlinked file in $TMPDIR (gone with the process, even after SIGKILL)."""
    return tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES, mode="w+b")


def spool_stdin(stdin=None):
    """Spool an HDF5 file arriving on stdin (``-``) into a seekable :func:`spool`; refuses a
    terminal and empty input."""
    stream = stdin if stdin is not None else sys.stdin
    if hasattr(stream, "isatty") and stream.isatty():
        raise UsageError("'-' reads an HDF5 file from stdin, but stdin is a terminal; pipe one in")
    buf = spool()
    try:
        shutil.copyfileobj(stream.buffer if hasattr(stream, "buffer") else stream, buf, 1 << 20)
    except OSError as exc:
        buf.close()
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            raise StoreError(f"cannot buffer the HDF5 file read from stdin in {tempfile.gettempdir()}: "
                             f"{os_reason(exc)} (set TMPDIR to a larger disk)", path="-") from None
        raise StoreError(f"cannot read stdin: {os_reason(exc)}", path="-") from None
    except BaseException:
        buf.close()
        raise
    if buf.tell() == 0:
        buf.close()
        raise StoreError("empty input on stdin; expected an HDF5 file", path="-")
    buf.seek(0)
    return buf


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class AtomicTarget:
    """A temporary path beside ``target`` that becomes ``target`` on :meth:`commit`.

    Writers use it through :func:`atomic_output`, which commits and aborts for them.
    ``target == "-"``: a :func:`spool` whose bytes go to stdout on commit.
    :meth:`abort` removes the temporary file and leaves ``target`` untouched.
    A symbolic link as target is followed: the file it points to is replaced, the link stays.

    ``/dev/null``, a FIFO, ``/dev/stdout``: there is nothing to replace atomically, and a rename
    over it would destroy the device node, so such a target is written directly: :attr:`file` is
    its path for writers that write in one pass (text, PNG), or, with ``seekable=True`` (HDF5
    writers, which seek), a :func:`spool` whose bytes are written to the target on commit, as for
    ``-``.
    """

    def __init__(self, target: str, *, stdout=None, seekable: bool = False):
        self.target = target
        self.to_stdout = target == "-"
        self._stdout = stdout
        self.special = not self.to_stdout and os.path.exists(target) and not os.path.isfile(target) \
            and not os.path.isdir(target)
        self.buffer = None
        self.tmp = None
        if self.to_stdout or (self.special and seekable):
            self.buffer = spool()
        elif self.special:
            pass
        else:
            self._real = os.path.realpath(target) if os.path.islink(target) else target
            d = os.path.dirname(os.path.abspath(self._real))
            if not os.path.isdir(d):
                raise AudiokitError("output directory does not exist", path=d)
            if os.path.isdir(target):
                raise UsageError("output is a directory", path=target)
            fd, self.tmp = tempfile.mkstemp(dir=d, prefix=f".{os.path.basename(self._real)}.", suffix=".tmp")
            try:
                # mkstemp makes the file private (0600); give the result the permissions any
                # new file gets (0666 less the umask), as `cp` or `>` would.
                os.fchmod(fd, 0o666 & ~_umask())
            finally:
                os.close(fd)

    @property
    def file(self):
        """What to write to: the temp path, the special target's path, or the in-memory buffer."""
        if self.buffer is not None:
            return self.buffer
        return self.target if self.special else self.tmp

    def commit(self) -> None:
        if self.to_stdout:
            out = self._stdout or sys.stdout.buffer
            self._copy_out(out)
            out.flush()
        elif self.special:
            if self.buffer is not None:
                with open(self.target, "wb") as f:
                    self._copy_out(f)
        else:
            with open(self.tmp, "rb+") as f:
                os.fsync(f.fileno())
            os.replace(self.tmp, self._real)
            self.tmp = None

    def _copy_out(self, out) -> None:
        self.buffer.seek(0)
        shutil.copyfileobj(self.buffer, out, 1 << 20)
        self.buffer.close()

    def abort(self) -> None:
        if self.buffer is not None:
            self.buffer.close()
        if self.tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.tmp)
            self.tmp = None


@contextlib.contextmanager
def atomic_output(path: str, *, seekable: bool = False, stdout=None) -> Iterator[AtomicTarget]:
    """Write ``path`` atomically: the block writes to ``target.file`` (a temporary path beside
    ``path``, or a seekable buffer for ``-`` and, with ``seekable=True``, for devices and FIFOs);
    when the block ends normally the result replaces ``path``, and when it raises anything
    (KeyboardInterrupt included) the temporary file is removed and ``path`` is left as it was.
    ``stdout``: the binary stream ``-`` goes to (default: ``sys.stdout.buffer``)."""
    target = AtomicTarget(path, stdout=stdout, seekable=seekable)
    try:
        yield target
        target.commit()
    except BaseException:
        target.abort()
        raise


# -- HDF5 from a path or a pipe ---------------------------------------------------------------------

def h5_text(v) -> str:
    """Text from an HDF5 string or attribute ("" for a missing one): invalid UTF-8 becomes U+FFFD.
    h5py hands undecodable bytes of a variable-length string back as lone surrogates, which no
    stream can print."""
    if v is None:
        return ""
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    s = str(v)
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        s = s.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return s


def open_h5(path: str, *, what: str, error=StoreError, stdin=None):
    """Open an HDF5 file (or ``-``: stdin, spooled) read-only, turning every failure into one
    clear ``error``; returns ``(h5py.File, name to show)``."""
    import h5py

    name = "<stdin>" if path == "-" else path
    if path != "-":
        if not os.path.exists(path):
            raise error("no such file", path=path)
        if os.path.isdir(path):
            raise error("is a directory", path=path)
        if not os.access(path, os.R_OK):
            raise error("permission denied", path=path)
    src = spool_stdin(stdin) if path == "-" else path
    try:
        h5 = h5py.File(src, "r")
    except Exception as exc:
        raise error(f"not a readable {what} (not HDF5, or truncated)", path=name) from exc
    try:
        h5.attrs.get("format")  # a damaged root object (bit flips) fails here, deep in HDF5
    except Exception as exc:
        h5.close()
        raise error(f"corrupt {what} ({type(exc).__name__}: {exc})", path=name) from exc
    return h5, name


# -- JSON ---------------------------------------------------------------------------------------------

def json_default(o):
    """``default=`` for :func:`json.dumps`: numpy scalars and arrays as plain numbers and lists,
    paths as text, anything else as its ``str``.

    >>> import json
    >>> json.dumps({"n": np.int64(3), "x": np.arange(2.0)}, default=json_default)
    '{"n": 3, "x": [0.0, 1.0]}'
    """
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, os.PathLike):
        return os.fspath(o)
    return str(o)


def to_jsonable(obj):
    """``obj`` with every numpy value (at any depth of dicts, lists and tuples) made plain."""
    if isinstance(obj, dict):
        return {k: to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, (np.generic, np.ndarray)):
        return json_default(obj)
    return obj


# -- files beside a model -------------------------------------------------------------------------------

_HDF5_EXTENSIONS = (".h5", ".hdf5", ".hdf")


def _beside(model_path: str, suffix: str) -> str:
    root, ext = os.path.splitext(model_path)
    return f"{root if ext.lower() in _HDF5_EXTENSIONS else model_path}{suffix}"


def report_path(model_path: str) -> str:
    """The run's report beside a model: ``model.h5`` → ``model.report.json``.

    >>> report_path("runs/model.h5"), report_path("runs/model")
    ('runs/model.report.json', 'runs/model.report.json')
    """
    return _beside(model_path, ".report.json")


def checkpoint_path(model_path: str) -> str | None:
    """The training checkpoint beside a model: ``model.h5`` → ``model.ckpt``; none for stdout.

    >>> checkpoint_path("m.h5"), checkpoint_path("-")
    ('m.ckpt', None)
    """
    return None if model_path == "-" else _beside(model_path, ".ckpt")


def history_path(model_path: str) -> str | None:
    """The per-epoch history beside a model: ``model.h5`` → ``model.history.csv``; none for stdout.

    >>> history_path("m.hdf5")
    'm.history.csv'
    """
    return None if model_path == "-" else _beside(model_path, ".history.csv")
