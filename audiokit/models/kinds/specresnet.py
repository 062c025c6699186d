"""``specresnet``: the Spec-ResNet paper's residual CNN, trained from scratch on log-mels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from audiokit.models import register_model
from audiokit.training.settings import DeepSettings


@register_model("specresnet", order=140,
                help="Spec-ResNet, trained from scratch; the default for log-mel frames")
@dataclass
class SpecResNetSettings(DeepSettings):
    LABEL: ClassVar[str] = "specresnet"
