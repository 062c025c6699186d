"""torchvision ResNet-18/34/50 for one-channel spectrograms: pretrained weights, stem adaptation.

* ``pretrained="imagenet"`` goes through torchvision's weights API
  (``ResNet18_Weights.DEFAULT.get_state_dict``), which downloads the file once to the
  torch hub cache (``$TORCH_HOME/hub/checkpoints``). Offline, the error names the file to
  fetch and where to put it, and the ``--pretrained PATH`` alternative.
* ``pretrained=PATH`` reads a state dict in torchvision's key layout with
  ``torch.load(..., weights_only=True)`` (no code is executed); a file of another
  architecture is refused with the keys and shapes that do not fit.
* The last fully connected layer is replaced by one with ``n_classes`` outputs (the paper).
* ``stem="sum"``: ``conv1`` takes one channel; its pretrained kernels are the sum of the
  RGB kernels (what timm does for ``in_chans=1``), so a grey image gives the same response
  as the same image repeated on three channels. ``stem="repeat"``: ``conv1`` keeps its three
  channels and the input is repeated (the frontend in :mod:`audiokit.models.deep`).

Examples
--------
>>> net = build_resnet("resnet18", n_classes=4, stem="sum", pretrained=None)
>>> tuple(net.conv1.weight.shape), net.fc.out_features
((64, 1, 7, 7), 4)
"""

from __future__ import annotations

import os
from typing import Mapping

from audiokit.errors import AudiokitError, ParameterError, UsageError

def archs() -> tuple[str, ...]:
    """The ResNet kinds: those registered with :class:`~audiokit.models.kinds.resnet.ResNetSettings`
    (each is the name of its torchvision builder)."""
    from audiokit.models import registry
    from audiokit.models.kinds.resnet import ResNetSettings

    return tuple(k.name for k in registry() if k.settings is ResNetSettings)


def is_resnet(kind: str) -> bool:
    return kind in archs()


def _stems() -> tuple[str, ...]:
    from audiokit.models.kinds.resnet import ResNetSettings

    return ResNetSettings.__dataclass_fields__["stem"].metadata["choices"]


def _ctor(arch: str):
    import torchvision.models as tvm

    if arch not in archs():
        raise UsageError(f"unknown ResNet {arch!r}; choose one of {', '.join(archs())}")
    return tvm.get_model_builder(arch)


def imagenet_weights(arch: str):
    """torchvision's default ImageNet weights enum member for ``arch``."""
    import torchvision.models as tvm

    return tvm.get_model_weights(arch).DEFAULT


def imagenet_cache_file(arch: str) -> str:
    """Where torchvision keeps (or would download) the ImageNet weights of ``arch``."""
    import torch.hub

    url = imagenet_weights(arch).url
    return os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(url))


def load_imagenet_state(arch: str) -> dict:
    """The ImageNet state dict of ``arch`` through torchvision's weights API (cached download)."""
    w = imagenet_weights(arch)
    cache = imagenet_cache_file(arch)
    try:
        return w.get_state_dict(progress=False, check_hash=True, weights_only=True)
    except Exception as exc:  # URLError, HTTPError, socket errors, a truncated cached file
        reason = getattr(exc, "reason", None) or exc
        raise AudiokitError(
            f"cannot get the ImageNet weights of {arch} ({type(exc).__name__}: {reason}). Offline? Fetch "
            f"{w.url} and put it at {cache} (or set TORCH_HOME), or give pretrained as the path of that "
            f"file, or none to train from scratch", path=cache) from None


def read_state_file(path: str) -> dict:
    """A state dict from a ``.pth``/``.pt`` file, read with ``weights_only=True`` (no pickle code runs).

    Accepts a plain state dict, or one wrapped as ``{"state_dict": ...}`` / ``{"model": ...}``;
    a ``module.`` prefix (DistributedDataParallel) is removed.
    """
    import torch

    if not os.path.exists(path):
        raise ParameterError("pretrained", "is imagenet, none or a state-dict file; no such file", path=path)
    if os.path.isdir(path):
        raise UsageError("is a directory, not a state-dict file", path=path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        msg = str(exc)
        if "Unsupported global" in msg:
            # A class or function reference in the pickle: torch's own message goes on to suggest
            # weights_only=False, i.e. running the file's code, so it is not repeated.
            raise AudiokitError("refusing it: it holds objects other than tensors and plain data (a pickle "
                                "that could run code); audiokit loads weights only", path=path) from None
        # Keep torch's specific reason ("Unsupported operand 110", "invalid load key"), never its advice.
        lines = [ln.strip() for ln in msg.splitlines() if ln.strip()]
        detail = next((ln for ln in lines if ln.startswith(("Unsupported", "invalid", "PytorchStreamReader"))),
                      lines[0] if lines and "weights_only" not in lines[0] else type(exc).__name__)
        raise AudiokitError(f"not a loadable PyTorch state dict ({detail[:200]})",
                            path=path) from None
    for key in ("state_dict", "model"):
        if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            obj = obj[key]
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise AudiokitError("not a state dict (expected a mapping of parameter names to tensors)", path=path)
    sd = dict(obj)
    if all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return sd


def _reference(arch: str) -> dict:
    """Keys and shapes of ``arch``'s state dict (built on the meta device: no memory, no init)."""
    import torch

    with torch.device("meta"):
        return _ctor(arch)(weights=None).state_dict()


def check_state(arch: str, sd: Mapping, *, path: str) -> None:
    """Refuse a state dict that is not ``arch`` in torchvision's key layout (the FC is ignored)."""
    ref = _reference(arch)
    body = {k for k in ref if not k.startswith("fc.")}
    have = {k for k in sd if not k.startswith("fc.")}
    missing = sorted(body - have)
    unexpected = sorted(have - body)
    shapes = [k for k in sorted(body & have) if tuple(sd[k].shape) != tuple(ref[k].shape)]
    if not (missing or unexpected or shapes):
        return
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys (e.g. {', '.join(missing[:3])})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys (e.g. {', '.join(unexpected[:3])})")
    if shapes:
        k = shapes[0]
        problems.append(f"{len(shapes)} shape mismatches (e.g. {k}: file {tuple(sd[k].shape)}, "
                        f"{arch} {tuple(ref[k].shape)})")
    guess = [a for a in archs() if a != arch and _fits(a, sd)]
    hint = f"; it looks like a {guess[0]} (train that kind)" if guess else ""
    raise AudiokitError(f"not a {arch} state dict in torchvision's key layout: {'; '.join(problems)}{hint}",
                        path=path)


def _fits(arch: str, sd: Mapping) -> bool:
    ref = _reference(arch)
    body = [k for k in ref if not k.startswith("fc.")]
    return all(k in sd and tuple(sd[k].shape) == tuple(ref[k].shape) for k in body)


def pretrained_state(arch: str, spec: str | None) -> tuple[dict | None, str]:
    """``(state_dict or None, description)`` for ``--pretrained imagenet|none|PATH``."""
    if spec is None or spec == "none":
        return None, "none"
    if spec == "imagenet":
        sd = load_imagenet_state(arch)
        check_state(arch, sd, path=imagenet_cache_file(arch))
        return sd, f"imagenet ({imagenet_weights(arch)})"
    sd = read_state_file(spec)
    check_state(arch, sd, path=spec)
    return sd, f"file {os.path.abspath(spec)}"


def build_resnet(arch: str, *, n_classes: int, stem: str = "sum", pretrained: str | None = None,
                 state: Mapping | None = None):
    """A torchvision ResNet with a new ``n_classes`` FC, adapted to one-channel input.

    Parameters
    ----------
    arch : {"resnet18", "resnet34", "resnet50"}
    n_classes : int
    stem : {"sum", "repeat"}
        ``sum``: a one-channel ``conv1`` (pretrained kernels summed over RGB);
        ``repeat``: the three-channel ``conv1`` as is (the caller repeats the input).
    pretrained : "imagenet", "none", a file path, or None
        Where the initial weights come from (ignored when ``state`` is given).
    state : mapping, optional
        An already-read pretrained state dict in torchvision's layout (e.g. shared by CV folds).
    """
    import torch
    from torch import nn

    if stem not in _stems():
        raise ParameterError("stem", f"must be one of {', '.join(_stems())}, got {stem!r}")
    net = _ctor(arch)(weights=None)
    if state is None and pretrained not in (None, "none"):
        state, _ = pretrained_state(arch, pretrained)
    if stem == "sum":
        old = net.conv1
        net.conv1 = nn.Conv2d(1, old.out_channels, old.kernel_size, stride=old.stride, padding=old.padding,
                              bias=False)
        nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
    if state is not None:
        sd = {k: v for k, v in state.items() if not k.startswith("fc.")}
        if stem == "sum":
            with torch.no_grad():
                sd["conv1.weight"] = sd["conv1.weight"].sum(dim=1, keepdim=True)
        missing, unexpected = net.load_state_dict(sd, strict=False)
        bad = [k for k in missing if not k.startswith("fc.")] + list(unexpected)
        if bad:  # check_state ran before; this guards callers that pass ``state`` directly
            raise AudiokitError(f"pretrained state does not fit {arch}: {', '.join(bad[:5])}")
    net.fc = nn.Linear(net.fc.in_features, n_classes)
    return net
