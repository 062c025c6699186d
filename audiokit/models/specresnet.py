"""Spec-ResNet: the Spec-ResNet paper's residual CNN for log-mel spectrograms, trained from scratch.

Layout (the paper's figure 4 and section 2.1.5)::

    input (1, n_mels, frames)
    conv 7×7 / 2, 64 ─ BN ─ ReLU ─ max-pool 3×3 / 2
    stage 1: residual block,  64 channels, stride 1 (identity skip)
    stage 2: residual block,  96 channels, stride 2 (1×1 projection skip + BN)
    stage 3: residual block, 128 channels, stride 2 (1×1 projection skip + BN)
    stage 4: residual block, 256 channels, stride 2 (1×1 projection skip + BN)
    global average pooling ─ fully connected (n_classes) ─ softmax (in the loss / predict_proba)

A residual block is two 3×3 convolutions, each followed by BN (ReLU after the first and
after the sum), with a skip connection that adds the block's input (the paper's
``y = F(x) + x``). The paper names neither the widths nor the number of blocks per stage;
it gives the parameter count: 1,404,678 for six classes. One block per stage with the
widths above gives 1,413,894 for six classes (0.7 % off); the more common doubling
(32, 64, 128, 256) gives only 1.23 M. ``tests/test_deep_models.py`` checks the count.

Why hand-written: torchvision's ``ResNet`` class fixes the stem at 64 channels and
doubles every stage, and insists on ``BasicBlock`` lists per stage; building the paper's
network from its documented pieces is shorter and clearer than bending that class.

Examples
--------
>>> import torch
>>> net = SpecResNet(n_classes=6)
>>> sum(p.numel() for p in net.parameters())
1413894
>>> net(torch.zeros(2, 1, 64, 48)).shape
torch.Size([2, 6])
"""

from __future__ import annotations

import torch
from torch import nn

#: Channels of the stem and of the four stages.
WIDTHS = (64, 96, 128, 256)


class ResidualBlock(nn.Module):
    """Two 3×3 conv–BN layers with ReLU, plus an identity or 1×1-projection skip."""

    def __init__(self, c_in: int, c_out: int, *, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.skip: nn.Module
        if stride != 1 or c_in != c_out:
            self.skip = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))
        else:
            self.skip = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.skip(x))


class SpecResNet(nn.Module):
    """The Spec-ResNet classifier: logits ``(n, n_classes)`` for inputs ``(n, in_chans, H, W)``.

    Parameters
    ----------
    n_classes : int
        Output classes.
    in_chans : int
        Input channels (1 for a log-mel spectrogram).
    widths : tuple of 4 ints
        Channels of stage 1..4; the stem has ``widths[0]``.
    """

    def __init__(self, *, n_classes: int, in_chans: int = 1, widths: tuple[int, ...] = WIDTHS):
        super().__init__()
        if len(widths) != 4 or min(widths) < 1:
            raise ValueError(f"widths must be 4 positive channel counts, got {widths}")
        w = tuple(int(x) for x in widths)
        self.widths = w
        self.stem = nn.Sequential(
            nn.Conv2d(in_chans, w[0], 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(w[0]),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        self.stage1 = ResidualBlock(w[0], w[0], stride=1)
        self.stage2 = ResidualBlock(w[0], w[1], stride=2)
        self.stage3 = ResidualBlock(w[1], w[2], stride=2)
        self.stage4 = ResidualBlock(w[2], w[3], stride=2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(w[3], n_classes)
        for m in self.modules():  # He initialisation, as torchvision's ResNets do
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.stage4(self.stage3(self.stage2(self.stage1(x))))
        return self.fc(torch.flatten(self.pool(x), 1))
