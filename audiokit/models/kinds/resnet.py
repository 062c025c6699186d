"""``resnet18``, ``resnet34``, ``resnet50``: torchvision ResNets on log-mel images (the ResNet paper)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from audiokit.models import register_model
from audiokit.training.settings import DeepSettings, setting

@register_model("resnet18", order=110, help="ResNet-18, ImageNet weights by default")
@register_model("resnet34", order=120, help="ResNet-34")
@register_model("resnet50", order=130, help="ResNet-50, the deeper variant")
@dataclass
class ResNetSettings(DeepSettings):
    GROUP: ClassVar[str] = "Deep: ResNet input"
    LABEL: ClassVar[str] = "the ResNets"

    pretrained: str = setting("imagenet", "imagenet (torchvision weights, downloaded once) | none | PATH of a "
                                          "torchvision-layout state dict.")
    stem: str = setting("sum", "One channel into the RGB stem: sum (pretrained kernels summed) | repeat (channel "
                               "repeated, ImageNet mean/std).", choices=("sum", "repeat"))
