"""Exceptions that the CLI turns into one clear line and an exit status.

Every failure that a user can cause (a bad file, a bad flag value, a model that
does not fit a store) is raised as an :class:`AudiokitError` subclass carrying
the offending path and a human reason. The CLI prints ``audiokit: PATH: REASON``
and exits with :attr:`AudiokitError.exit_code`; only ``--verbose`` adds the
traceback.
"""

from __future__ import annotations

import os


class AudiokitError(Exception):
    """A failure of the work (exit status 1)."""

    exit_code = 1

    def __init__(self, reason: str, *, path: str | os.PathLike | None = None):
        super().__init__(reason)
        self.reason = reason
        self.path = None if path is None else os.fspath(path)

    def __str__(self) -> str:
        text = f"{self.path}: {self.reason}" if self.path else self.reason
        # One line whatever the file is called: a newline or other control character in a name
        # (legal on Linux, or from a manifest) is shown escaped, as Python's repr would.
        return text.translate(_CONTROL) if any(ord(c) < 32 or ord(c) == 127 for c in text) else text


_CONTROL = {i: repr(chr(i))[1:-1] for i in (*range(32), 127)}


class UsageError(AudiokitError):
    """Bad flags or arguments (exit status 2)."""

    exit_code = 2


class ParameterError(UsageError):
    """A bad value of a named parameter (exit status 2).

    The library names the parameter as Python callers spell it (``lr must be positive``);
    the CLI shows the command-line flag instead (``--lr must be positive``) through
    :meth:`for_cli`, so library code never needs to know a flag.

    >>> str(ParameterError("lr", "must be positive, got -1"))
    'lr must be positive, got -1'
    >>> ParameterError("weight_decay", "must be >= 0").for_cli()
    '--weight-decay must be >= 0'
    """

    def __init__(self, param: str, reason: str, *, path: str | os.PathLike | None = None):
        super().__init__(f"{param} {reason}", path=path)
        self.param = param
        self.detail = reason

    def for_cli(self, flags: dict[str, str] | None = None) -> str:
        """This error's line with the parameter shown as its flag (``flags`` maps names whose
        flag is not ``--`` plus the name with dashes)."""
        flag = (flags or {}).get(self.param) or "--" + self.param.replace("_", "-")
        text = f"{flag} {self.detail}"
        return str(AudiokitError(text, path=self.path))


class AudioError(AudiokitError):
    """An audio file that cannot be used: unreadable, empty, non-finite, too short."""


class StoreError(AudiokitError):
    """A feature store that is missing, corrupt, of another version or configuration."""


class ModelFileError(AudiokitError):
    """A model file that is missing, corrupt, of another version or kind."""


def os_reason(exc: OSError) -> str:
    """A short reason for a failed file operation: "no space left on device", "disk quota
    exceeded", ... (the system's own words for the rest, one line)."""
    import errno

    known = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded",
             errno.EFBIG: "file too large (for the file system, or the process's file size limit)",
             errno.EIO: "input/output error", errno.EROFS: "read-only file system"}
    if exc.errno in known:
        return known[exc.errno]
    text = (exc.strerror or str(exc) or type(exc).__name__).strip().splitlines()[0]
    return text[:200]
