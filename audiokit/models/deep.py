"""Deep classifiers (ResNet-18/34/50, Spec-ResNet) on log-mel stores: network, model file, inference.

A deep model is an :class:`AudioNet`: a :class:`Frontend` that turns raw store items
``(n, n_mels, frames)`` (dB) into the network's input, then the backbone. The frontend
holds the input normalisation statistics of the training data as buffers, so they travel
in the state dict and every consumer (validation, eval, predict) applies the same
transform:

``standardize`` (Spec-ResNet, ResNets with ``--stem sum``)
    ``(x - mean) / std`` with the training set's mean and standard deviation (scalars).
``imagenet`` (ResNets with ``--stem repeat``, the ResNet paper)
    the spectrogram as an image in [0, 1], ``(x - min) / (max - min)`` with the training
    set's range, repeated on three channels and normalised with ImageNet's per-channel
    mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225).

An optional resize (``input_size``: ``N``, ``HxW``, or the paper's ``256/224`` = resize to
256×256 then centre-crop 224×224) runs inside the frontend on the model's device.

The model file stores the whole state dict as plain arrays ``state_dict/<key>`` and the
architecture in ``params`` (JSON); loading rebuilds the network from ``params`` and copies
the arrays in (nothing is unpickled, nothing downloaded).

Examples
--------
>>> import numpy as np
>>> from audiokit.features import FeatureConfig
>>> net = build_network("specresnet", n_classes=3, in_shape=(32, 24))
>>> clf = DeepClassifier(kind="specresnet", class_names=["a", "b", "c"],
...                      feature_config=FeatureConfig(kind="logmel", n_mels=32, duration=1.0),
...                      net=net, params=network_params("specresnet", n_classes=3, in_shape=(32, 24)))
>>> clf.predict_proba(np.zeros((2, 32, 24), np.float32)).shape
(2, 3)
"""

from __future__ import annotations

import math
import re
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from audiokit.errors import ModelFileError, ParameterError, UsageError
from audiokit.models import names
from audiokit.models.resnet import is_resnet

#: ``input_size`` ``auto`` (the default): a ResNet's sides shorter than this are scaled up to it,
#: since a ResNet divides each side by 32 (docs/deep-training.md, "How the defaults were chosen").
#: Spec-ResNet keeps its items as they are under ``auto``.
AUTO_MIN_SIDE = 128
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Feature kinds a CNN can take: 2-D time-frequency images.
IMAGE_FEATURES = ("logmel", "mfcc")


# -- devices ----------------------------------------------------------------------------------------

def resolve_device(spec: str = "auto"):
    """``--device auto|cpu|cuda|cuda:N`` → a ``torch.device``; a missing GPU is a clear error.

    Raises
    ------
    UsageError
        ``cuda``/``cuda:N`` without a usable CUDA GPU, or a malformed name.
    """

    s = (spec or "auto").strip().lower()
    if s == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")
    if s == "cpu":
        return torch.device("cpu")
    m = re.fullmatch(r"cuda(?::(\d+))?", s)
    if not m:
        raise ParameterError("device", f"must be auto, cpu, cuda or cuda:N, got {spec!r}")
    if not torch.cuda.is_available():
        raise ParameterError("device", f"{spec}: no CUDA GPU is available here (torch.cuda.is_available() is False; "
                         f"torch {torch.__version__}); use cpu or auto")
    n = torch.cuda.device_count()
    idx = int(m.group(1)) if m.group(1) is not None else torch.cuda.current_device()
    if idx >= n:
        raise ParameterError("device", f"{spec}: this machine has {n} CUDA device(s), cuda:0..cuda:{n - 1}")
    return torch.device("cuda", idx)


def amp_dtype(device):
    """The autocast dtype on ``device``: bf16 where the GPU supports it, else fp16; None on CPU."""

    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


# -- input size -------------------------------------------------------------------------------------

def parse_input_size(spec) -> dict | None:
    """``--input-size``: ``none`` → None; ``224`` → resize 224×224; ``128x256`` → resize to H×W;
    ``256/224`` → resize 256×256 then centre-crop 224×224 (the ResNet paper); ``auto`` → scale
    each side shorter than :data:`AUTO_MIN_SIDE` up to it, keep longer sides (resolved against
    the item shape by :func:`resolve_input_size`).

    >>> parse_input_size("256/224")
    {'resize': [256, 256], 'crop': [224, 224]}
    >>> parse_input_size("none") is None
    True
    """
    if spec is None or isinstance(spec, dict):
        return spec
    s = str(spec).strip().lower()
    if s in ("", "none", "native"):
        return None
    if s == "auto":
        return {"auto": AUTO_MIN_SIDE}

    def hw(t: str) -> list[int]:
        parts = t.split("x")
        if len(parts) == 1:
            parts = parts * 2
        v = [int(p) for p in parts]
        if len(v) != 2 or min(v) < 8 or max(v) > 4096:
            raise ValueError
        return v

    try:
        if "/" in s:
            a, b = s.split("/", 1)
            resize, crop = hw(a), hw(b)
            if crop[0] > resize[0] or crop[1] > resize[1]:
                raise ValueError
            return {"resize": resize, "crop": crop}
        return {"resize": hw(s), "crop": None}
    except ValueError:
        raise ParameterError("input_size", f"must be auto, none, N, HxW or N/M (resize then centre-crop, e.g. 256/224), "
                         f"sizes 8..4096, got {spec!r}") from None


def resolve_input_size(size: dict | None, in_shape: Sequence[int], kind: str) -> dict | None:
    """A concrete resize for ``auto``: for a ResNet each side at least ``AUTO_MIN_SIDE`` (None when
    both are); for Spec-ResNet, None (native size).

    >>> resolve_input_size({"auto": 128}, (64, 63), "resnet18")
    {'resize': [128, 128], 'crop': None}
    >>> resolve_input_size({"auto": 128}, (64, 63), "specresnet") is None
    True
    """
    if not size or "auto" not in size:
        return size
    if not is_resnet(kind):
        return None
    m = int(size["auto"])
    h, w = int(in_shape[0]), int(in_shape[1])
    if h >= m and w >= m:
        return None
    return {"resize": [max(h, m), max(w, m)], "crop": None}


def output_shape(in_shape: Sequence[int], input_size: dict | None) -> tuple[int, int]:
    """The image size the backbone sees."""
    if input_size is None:
        return int(in_shape[0]), int(in_shape[1])
    size = input_size.get("crop") or input_size["resize"]
    return int(size[0]), int(size[1])


# -- the network ---------------------------------------------------------------------------------------

#: ``standardize``: the training items' mean and std; ``item``: each item's own; ``imagenet``: the
#: ResNet paper's [0, 1] image with ImageNet's per-channel statistics.
FRONTENDS = ("standardize", "item", "imagenet")
#: ``train --normalize`` values and the frontend each gives a one-channel network.
NORMALIZE = {"dataset": "standardize", "item": "item"}


class Frontend(nn.Module):
    """Raw items ``(n, H, W)`` in dB → normalised ``(n, C, H', W')`` network input."""

    def __init__(self, *, mode: str = "standardize", input_size: dict | None = None):
        super().__init__()
        if mode not in FRONTENDS:
            raise ValueError(f"unknown frontend mode {mode!r}")
        self.mode = mode
        self.input_size = input_size
        self.channels = 3 if mode == "imagenet" else 1
        # Statistics of the training data, set by set_stats() before training; saved with the weights.
        self.register_buffer("mean", torch.zeros(()))
        self.register_buffer("std", torch.ones(()))
        self.register_buffer("lo", torch.zeros(()))
        self.register_buffer("hi", torch.ones(()))
        self.register_buffer("img_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("img_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def set_stats(self, *, mean: float, std: float, lo: float, hi: float) -> None:
        with torch.no_grad():
            self.mean.fill_(float(mean))
            self.std.fill_(max(float(std), 1e-6))
            self.lo.fill_(float(lo))
            self.hi.fill_(float(hi) if hi > lo else float(lo) + 1.0)

    def stats(self) -> dict:
        return {k: float(getattr(self, k)) for k in ("mean", "std", "lo", "hi")}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.unsqueeze(1).float()
        if self.mode == "imagenet":
            x = (x - self.lo) / (self.hi - self.lo)
        elif self.mode == "item":
            # Each item's own mean and spread: a recording's level and gain drop out (utterance CMVN).
            mean = x.mean(dim=(-2, -1), keepdim=True)
            x = (x - mean) / x.std(dim=(-2, -1), keepdim=True).clamp(min=1e-3)
        else:
            x = (x - self.mean) / self.std
        if self.input_size is not None:
            r = self.input_size["resize"]
            if tuple(x.shape[-2:]) != tuple(r):
                down = r[0] < x.shape[-2] or r[1] < x.shape[-1]
                x = F.interpolate(x, size=tuple(r), mode="bilinear", align_corners=False, antialias=bool(down))
            c = self.input_size.get("crop")
            if c:
                top, left = (r[0] - c[0]) // 2, (r[1] - c[1]) // 2
                x = x[..., top:top + c[0], left:left + c[1]]
        if self.mode == "imagenet":
            x = (x.expand(-1, 3, -1, -1) - self.img_mean) / self.img_std
        return x


class AudioNet(nn.Module):
    """Frontend + backbone: logits for raw store items ``(n, H, W)``."""

    def __init__(self, frontend: Frontend, backbone: nn.Module):
        super().__init__()
        self.frontend = frontend
        self.backbone = backbone
        #: Feed the backbone NHWC tensors (set together with ``.to(memory_format=channels_last)``).
        self.channels_last = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.frontend(x)
        if self.channels_last:
            z = z.contiguous(memory_format=torch.channels_last)
        return self.backbone(z)


def default_stem(kind: str) -> str | None:
    """The stem a ResNet gets when ``--stem`` is not given (see docs/deep-training.md)."""
    return "sum" if is_resnet(kind) else None


def network_params(kind: str, *, n_classes: int, in_shape: Sequence[int], stem: str | None = None,
                   input_size=None, widths: Sequence[int] | None = None, pretrained: str = "none",
                   normalize: str = "dataset") -> dict:
    """The JSON ``params`` that rebuild a network: architecture, input shape and transform."""
    if kind not in names("PyTorch"):
        raise UsageError(f"not a deep model kind: {kind!r}")
    if len(in_shape) != 2:
        raise UsageError(f"a CNN takes 2-D items (mel bands × frames); these items have shape {tuple(in_shape)}")
    p = {"arch": kind, "n_classes": int(n_classes), "in_shape": [int(v) for v in in_shape],
         "input_size": resolve_input_size(parse_input_size(input_size), in_shape, kind), "pretrained": pretrained}
    if normalize not in NORMALIZE:
        raise UsageError(f"normalize must be one of {', '.join(NORMALIZE)}, got {normalize!r}")
    if is_resnet(kind):
        p["stem"] = stem or default_stem(kind)
        p["frontend"] = "imagenet" if p["stem"] == "repeat" else NORMALIZE[normalize]
    else:
        from audiokit.models.specresnet import WIDTHS

        if stem not in (None, "sum"):
            raise ParameterError("stem", "applies to the ResNets; specresnet takes one channel as it is")
        p["widths"] = [int(w) for w in (widths or WIDTHS)]
        p["frontend"] = NORMALIZE[normalize]
    h, w = output_shape(p["in_shape"], p["input_size"])
    if min(h, w) < 8:
        raise ParameterError("input_size", f"gives items of {h}×{w}, too small for a CNN (at least 8×8); resize "
                             f"them larger, or featurize with more mel bands or a longer duration")
    return p


def build_network(kind: str, *, n_classes: int, in_shape: Sequence[int], stem: str | None = None,
                  input_size=None, widths: Sequence[int] | None = None, pretrained: str | None = None,
                  pretrained_state=None, params: dict | None = None):
    """An :class:`AudioNet` for ``kind``, randomly initialised or from pretrained weights.

    ``params`` (from :func:`network_params` or a model file) overrides the other settings.
    """
    if params is None:
        params = network_params(kind, n_classes=n_classes, in_shape=in_shape, stem=stem, input_size=input_size,
                                widths=widths)
    kind = params["arch"]
    front = Frontend(mode=params.get("frontend", "standardize"), input_size=params.get("input_size"))
    if is_resnet(kind):
        from audiokit.models.resnet import build_resnet

        backbone = build_resnet(kind, n_classes=params["n_classes"], stem=params["stem"], pretrained=pretrained,
                                state=pretrained_state)
    else:
        from audiokit.models.specresnet import SpecResNet

        backbone = SpecResNet(n_classes=params["n_classes"], in_chans=1, widths=tuple(params["widths"]))
    return AudioNet(front, backbone)


def count_parameters(net) -> int:
    return int(sum(p.numel() for p in net.parameters()))


# -- the classifier ------------------------------------------------------------------------------------

class DeepClassifier:
    """A trained deep model: the :class:`audiokit.models.Classifier` protocol for eval and predict.

    Parameters
    ----------
    kind, class_names, feature_config
        As in the model file.
    net : AudioNet
        The network (frontend + backbone) with its weights.
    params : dict
        Its :func:`network_params`.
    device : str or torch.device
        Where inference runs (``auto``: a GPU when present).
    """

    def __init__(self, *, kind: str, class_names: Sequence[str], feature_config, net, params: dict,
                 training: dict | None = None, metrics: dict | None = None, device="cpu",
                 batch_size: int | None = None):

        self.kind = kind
        self.class_names = list(class_names)
        self.feature_config = feature_config
        self.params = dict(params)
        self.training = dict(training or {})
        self.metrics = dict(metrics or {})
        self.device = device if isinstance(device, torch.device) else resolve_device(str(device))
        self.net = net.to(self.device).eval()
        self.net.to(memory_format=torch.channels_last)  # NHWC: the fast convolutions on CUDA and CPU alike
        self.net.channels_last = True
        self.batch_size = batch_size or (512 if self.device.type == "cuda" else 64)

    @property
    def item_shape(self) -> tuple[int, int]:
        return tuple(self.params["in_shape"])

    def predict_logits(self, X) -> np.ndarray:
        """Logits ``(n, n_classes)`` float32 for items ``X`` ``(n, H, W)``, in batches (AMP on CUDA)."""

        X = np.asarray(X, dtype=np.float32)
        if X.ndim == 2 and tuple(X.shape) == self.item_shape:
            X = X[None]
        if X.ndim != 3 or tuple(X.shape[1:]) != self.item_shape:
            raise UsageError(f"{self.kind} model takes items of shape {self.item_shape} (mel bands × frames), "
                             f"got {tuple(X.shape[1:]) if X.ndim >= 2 else X.shape}")
        n_classes = len(self.class_names)
        if len(X) == 0:
            return np.zeros((0, n_classes), np.float32)
        dtype = amp_dtype(self.device)
        out = []
        with torch.inference_mode(), torch.autocast(device_type=self.device.type, dtype=dtype,
                                                    enabled=dtype is not None):
            for s in range(0, len(X), self.batch_size):
                xb = torch.from_numpy(X[s:s + self.batch_size])
                if self.device.type == "cuda":
                    xb = xb.pin_memory().to(self.device, non_blocking=True)
                out.append(self.net(xb).float())
            logits = torch.cat(out).cpu().numpy()
        return logits

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities ``(n, n_classes)`` (softmax of the logits, float64 rows summing to 1)."""
        z = self.predict_logits(X).astype(np.float64)
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(axis=1, keepdims=True)

    def to_modelfile(self):
        """The model file: the state dict as plain arrays, the architecture as JSON."""
        from audiokit.modelfile import ModelFile

        return ModelFile(kind=self.kind, class_names=list(self.class_names), feature_config=self.feature_config,
                         arrays=state_arrays(self.net), params=dict(self.params), training=dict(self.training),
                         metrics=dict(self.metrics))


def state_arrays(net) -> dict[str, np.ndarray]:
    """``{"state_dict/<key>": array}`` of a module (on CPU, plain numpy; bf16 is widened to fp32)."""

    out = {}
    for k, v in net.state_dict().items():
        t = v.detach().cpu()
        if t.dtype in (torch.bfloat16, torch.float16):
            t = t.float()
        out[f"state_dict/{k}"] = t.contiguous().numpy().copy()
    return out


def load_state_arrays(net, arrays: dict, *, path: str = "") -> None:
    """Copy ``state_dict/<key>`` arrays into ``net``; any missing, extra or misshapen key is an error."""

    prefix = "state_dict/"
    sd = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
    ref = net.state_dict()
    missing = sorted(set(ref) - set(sd))
    extra = sorted(set(sd) - set(ref))
    if missing or extra:
        detail = (f"{len(missing)} missing (e.g. {', '.join(missing[:3])})" if missing else "") + \
                 ("; " if missing and extra else "") + \
                 (f"{len(extra)} unexpected (e.g. {', '.join(extra[:3])})" if extra else "")
        raise ModelFileError(f"weights do not fit the {net.__class__.__name__} its params describe: {detail}",
                             path=path or None)
    tensors = {}
    for k, r in ref.items():
        a = np.asarray(sd[k])
        if tuple(a.shape) != tuple(r.shape):
            raise ModelFileError(f"weight {k} has shape {tuple(a.shape)}, the architecture needs {tuple(r.shape)}",
                                 path=path or None)
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise ModelFileError(f"weight {k} holds NaN or infinite values", path=path or None)
        tensors[k] = torch.from_numpy(np.ascontiguousarray(a)).to(r.dtype)
    net.load_state_dict(tensors, strict=True)


def from_modelfile(mf, *, device: str = "auto") -> DeepClassifier:
    """Rebuild a deep classifier from a loaded :class:`audiokit.modelfile.ModelFile`."""
    path = mf.path or None
    if mf.kind not in names("PyTorch"):
        raise ModelFileError(f"not a deep model kind: {mf.kind!r}", path=path)
    p = dict(mf.params or {})
    need = ("arch", "n_classes", "in_shape", "frontend")
    lack = [k for k in need if k not in p]
    if lack or p.get("arch") != mf.kind:
        raise ModelFileError(f"{mf.kind} model lacks its architecture parameters ({', '.join(lack) or 'arch'})",
                             path=path)
    if int(p["n_classes"]) != len(mf.class_names):
        raise ModelFileError(f"model has {p['n_classes']} outputs but {len(mf.class_names)} class names", path=path)
    try:
        net = build_network(mf.kind, n_classes=int(p["n_classes"]), in_shape=p["in_shape"], params=p)
    except UsageError as exc:
        raise ModelFileError(f"unusable architecture parameters: {exc.reason}", path=path) from None
    load_state_arrays(net, mf.arrays, path=mf.path)
    return DeepClassifier(kind=mf.kind, class_names=mf.class_names, feature_config=mf.feature_config, net=net,
                          params=p, training=mf.training, metrics=mf.metrics, device=device)


def check_item_shape(shape: Sequence[int], *, feature_kind: str, path: str | None = None) -> None:
    """Refuse stores a CNN cannot take (``mfcc-stats``/``f0-range`` vectors, or no fixed duration)."""
    from audiokit.errors import AudiokitError

    if feature_kind not in IMAGE_FEATURES or len(shape) != 2:
        raise AudiokitError(f"the deep models take 2-D time-frequency items (logmel features); "
                            f"this store holds {feature_kind} items of shape {tuple(shape)}", path=path)
    if math.prod(shape) == 0:
        raise AudiokitError("the store's items are empty", path=path)
