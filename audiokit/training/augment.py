"""Train-time augmentation of batches of spectrograms, on whatever device the batch is on.

Every transform works on a whole batch ``(B, n_mels, frames)`` with per-item random
parameters drawn from one ``torch.Generator`` on the batch's device, so on a GPU nothing
leaves the GPU and nothing waits for the host. The engine reseeds that generator for
every step from ``(seed, epoch, step, rank)``, which makes runs repeatable and a resumed
run identical to an uninterrupted one.

Transforms, in the order applied:

``crop``        keep a window of (1 − ``crop``) of the frames at a random place per item (a random
                crop of a longer item; the batch gets narrower, and eval and predict see whole
                items: the networks pool over time)
``time_shift``  roll each item by up to ± this fraction of its frames (circular)
``flip``        reverse time with probability ``flip`` (the ResNet paper's horizontal flip)
``rotate``      rotate by a uniform angle in ± ``rotate`` degrees (the ResNet paper's ±10°),
                uncovered corners filled with the training mean
``freq_warp``   stretch or squeeze the frequency axis by a factor in 1 ± ``freq_warp``, anchored
                at the lowest band (vocal tract length perturbation, Jaitly & Hinton 2013: another
                speaker's formants, another instrument's register); bands pushed in from above
                get the fill
``specaugment`` SpecAugment masking (Park et al. 2019): ``freq_masks`` bands of up to
                ``freq_width`` mel bins and ``time_masks`` spans of up to ``time_width``
                frames set to the training mean
``mixup``       mix pairs of items and their one-hot targets, λ ~ Beta(α, α) (Zhang et al. 2018)

Why hand-written: torchvision's v2 transforms draw one set of random parameters per call
(one angle, one flip decision for the whole batch) and torchaudio is not a dependency;
per-item parameters for a batch on the GPU are a few tensor operations each.

Examples
--------
>>> import torch
>>> aug = Augment(time_shift=0.1, flip=0.5, rotate=10, specaugment=True)
>>> g = torch.Generator().manual_seed(0)
>>> aug(torch.zeros(4, 32, 40), g, fill=0.0).shape
torch.Size([4, 32, 40])
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F


@dataclass
class Augment:
    """The transforms' parameters. The defaults are the identity (every transform off), what
    ``Augment()`` means to the transform; a run's defaults are not here but in
    :class:`audiokit.training.settings.DeepSettings` (one field per transform, on by default
    through ``augment``), which builds this with :meth:`DeepSettings.augmentation`. The
    SpecAugment mask counts and widths are no settings: they are fixed here."""

    time_shift: float = 0.0
    flip: float = 0.0
    rotate: float = 0.0
    freq_warp: float = 0.0
    specaugment: bool = False
    freq_masks: int = 2
    freq_width: int = 8
    time_masks: int = 2
    time_width: int = 10
    mixup: float = 0.0
    eq: float = 0.0
    crop: float = 0.0

    @property
    def active(self) -> bool:
        return bool(self.crop or self.time_shift or self.flip or self.rotate or self.freq_warp or self.eq
                    or self.specaugment)

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        parts = []
        if self.crop:
            parts.append(f"crop {100 * (1 - self.crop):g} % of the frames")
        if self.time_shift:
            parts.append(f"time-shift ±{100 * self.time_shift:g} %")
        if self.flip:
            parts.append(f"flip p={self.flip:g}")
        if self.rotate:
            parts.append(f"rotate ±{self.rotate:g}°")
        if self.freq_warp:
            parts.append(f"freq-warp ±{100 * self.freq_warp:g} %")
        if self.eq:
            parts.append(f"eq ±{self.eq:g} dB")
        if self.specaugment:
            parts.append(f"specaugment {self.freq_masks}×F≤{self.freq_width} {self.time_masks}×T≤{self.time_width}")
        if self.mixup:
            parts.append(f"mixup α={self.mixup:g}")
        return ", ".join(parts) or "none"

    # -- the transforms ------------------------------------------------------------------------------
    def __call__(self, x: torch.Tensor, gen: torch.Generator, *, fill: float | None) -> torch.Tensor:
        """The augmented batch (a new tensor; ``x`` is not modified). ``fill``: the value of
        uncovered or masked cells: the training mean, or None for each item's own mean (for a
        model that normalises each item: a mask at another level would shift the item's statistics)."""
        if not self.active:
            return x
        B, H, W = x.shape
        dev = x.device

        def rand(*shape):
            return torch.rand(*shape, generator=gen, device=dev)

        if self.crop:
            w = max(1, W - int(round(self.crop * W)))
            start = torch.floor(rand(B) * (W - w + 1)).long()
            cols = start[:, None] + torch.arange(w, device=dev)[None, :]
            x = torch.gather(x, 2, cols[:, None, :].expand(B, H, w))
            W = w
        if fill is None:
            fill = x.mean(dim=(1, 2), keepdim=True)
        if self.time_shift:
            max_shift = max(1, int(round(self.time_shift * W)))
            shift = torch.floor(rand(B) * (2 * max_shift + 1)).long() - max_shift
            cols = (torch.arange(W, device=dev)[None, :] - shift[:, None]) % W
            x = torch.gather(x, 2, cols[:, None, :].expand(B, H, W))
        if self.flip:
            x = torch.where((rand(B) < self.flip)[:, None, None], x.flip(-1), x)
        if self.rotate:
            a = (rand(B) * 2 - 1) * math.radians(self.rotate)
            cos, sin = torch.cos(a), torch.sin(a)
            # Rotation in pixel space, written in affine_grid's normalised coordinates (x over W, y over H).
            theta = torch.stack([torch.stack([cos, -sin * H / W, torch.zeros_like(a)], 1),
                                 torch.stack([sin * W / H, cos, torch.zeros_like(a)], 1)], 1)
            grid = F.affine_grid(theta.to(x.dtype), [B, 1, H, W], align_corners=False)
            x = F.grid_sample((x - fill)[:, None], grid, mode="bilinear", padding_mode="zeros",
                              align_corners=False)[:, 0] + fill
        if self.freq_warp:
            # Row y_out samples row y_in = s·y_out + (s − 1) in affine_grid's [-1, 1] coordinates, s = 1/α:
            # the lowest band stays where it is and a band at f moves to α·f.
            s = 1 / (1 + (rand(B) * 2 - 1) * self.freq_warp)
            zero, one = torch.zeros_like(s), torch.ones_like(s)
            theta = torch.stack([torch.stack([one, zero, zero], 1), torch.stack([zero, s, s - 1], 1)], 1)
            grid = F.affine_grid(theta.to(x.dtype), [B, 1, H, W], align_corners=True)
            x = F.grid_sample((x - fill)[:, None], grid, mode="bilinear", padding_mode="zeros",
                              align_corners=True)[:, 0] + fill
        if self.eq:
            # A smooth random gain curve over the bands (3 cosines, the k-th at most eq/k dB): another
            # microphone, room or instrument body colours the spectrum this way.
            k = torch.arange(1, 4, device=dev, dtype=x.dtype)
            h = (torch.arange(H, device=dev, dtype=x.dtype) + 0.5) / H
            a = (rand(B, 3).to(x.dtype) * 2 - 1) * self.eq / k
            x = x + (a[:, :, None] * torch.cos(math.pi * k[None, :, None] * h[None, None, :])).sum(1)[:, :, None]
        if self.specaugment:
            masked = torch.zeros(B, H, W, dtype=torch.bool, device=dev)
            masked = masked | _band_masks(B, H, self.freq_masks, self.freq_width, rand)[:, :, None]
            masked = masked | _band_masks(B, W, self.time_masks, self.time_width, rand)[:, None, :]
            if isinstance(fill, torch.Tensor):
                x = torch.where(masked, fill, x)
            else:
                x = x.masked_fill(masked, float(fill))  # a Python scalar: no host-to-device copy
        return x

    def mix(self, x: torch.Tensor, y: torch.Tensor, n_classes: int, gen: torch.Generator, lam: float):
        """Mixup: ``(x mixed, soft targets)``; ``lam`` is drawn by the caller on the host (no sync)."""
        perm = torch.randperm(x.shape[0], generator=gen, device=x.device)
        # scatter_ rather than F.one_hot, which checks the label range on the host (a sync on CUDA)
        onehot = torch.zeros(x.shape[0], n_classes, device=x.device).scatter_(1, y[:, None], 1.0)
        return lam * x + (1 - lam) * x[perm], lam * onehot + (1 - lam) * onehot[perm]


def _band_masks(B: int, size: int, count: int, width: int, rand) -> torch.Tensor:
    """``(B, size)`` bool: ``count`` random spans of 0..``width`` cells per item."""
    width = min(width, size)
    if count <= 0 or width <= 0:
        return torch.zeros(B, size, dtype=torch.bool, device=rand(1).device)
    w = torch.floor(rand(B, count) * (width + 1))
    start = torch.floor(rand(B, count) * (size - w + 1))
    pos = torch.arange(size, device=w.device, dtype=w.dtype)[None, None, :]
    return ((pos >= start[..., None]) & (pos < (start + w)[..., None])).any(dim=1)
