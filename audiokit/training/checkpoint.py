"""Training checkpoints: everything needed to continue a run, written atomically every epoch.

A checkpoint is a ``torch.save`` file of plain containers and tensors only (model,
optimiser, scheduler and grad-scaler state dicts, the best weights so far), plus a JSON
text ``meta`` holding the run's settings, the store's fingerprint, the epoch/step reached,
the history and the early-stopping state. It is read back with
``torch.load(weights_only=True)``, which refuses anything that would run code.

It is written to a temporary file beside the target and renamed over it, so a crash or a
second Ctrl-C while writing leaves the previous checkpoint intact.

Examples
--------
>>> import os, tempfile, torch
>>> p = os.path.join(tempfile.mkdtemp(), "run.ckpt")
>>> save_checkpoint(p, {"model": {"w": torch.zeros(2)}}, {"epoch": 1})
>>> load_checkpoint(p)["meta"]["epoch"]
1
"""

from __future__ import annotations

import json
import os

from audiokit.errors import AudiokitError, UsageError
from audiokit.io import atomic_output, json_default

FORMAT = "audiokit-checkpoint"
FORMAT_VERSION = 1


def save_checkpoint(path: str, tensors: dict, meta: dict) -> None:
    """Write ``tensors`` (nested dicts/lists of tensors and numbers) and ``meta`` (JSON) atomically."""
    import torch

    payload = dict(tensors)
    payload["format"] = FORMAT
    payload["format_version"] = FORMAT_VERSION
    payload["meta"] = json.dumps(meta, default=json_default)
    with atomic_output(path) as target:
        torch.save(payload, target.file)


def load_checkpoint(path: str) -> dict:
    """Read and validate a checkpoint; ``meta`` comes back parsed.

    Raises
    ------
    UsageError
        The file does not exist (a typo in ``--resume``).
    AudiokitError
        Truncated, not a PyTorch file, holding objects other than tensors and plain data,
        not an audiokit checkpoint, or of a newer format.
    """
    import torch

    if not os.path.exists(path):
        raise UsageError("no such checkpoint file", path=path)
    if os.path.isdir(path):
        raise UsageError("is a directory, not a checkpoint file", path=path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        msg = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
        if "weights_only" in str(exc) or "Unsupported global" in str(exc):
            reason = "refusing it: it holds objects other than tensors and plain data"
        else:
            reason = f"corrupt or truncated checkpoint ({type(exc).__name__}: {msg})"
        raise AudiokitError(reason, path=path) from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise AudiokitError("not an audiokit training checkpoint", path=path)
    if int(obj.get("format_version", 0)) > FORMAT_VERSION:
        raise AudiokitError(f"checkpoint format {obj.get('format_version')} is newer than this audiokit reads "
                            f"({FORMAT_VERSION})", path=path)
    try:
        obj["meta"] = json.loads(obj["meta"])
    except Exception:
        raise AudiokitError("corrupt checkpoint (unreadable settings)", path=path) from None
    return obj
