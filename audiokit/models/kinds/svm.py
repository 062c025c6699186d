"""``svm``: a support vector machine (RBF kernel by default) on standardised vectors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from audiokit.errors import ParameterError
from audiokit.models import register_model
from audiokit.training.settings import ClassicSettings, setting


def parse_gamma(v):
    """``gamma``: ``scale``, ``auto`` or a positive number."""
    if v in ("scale", "auto"):
        return v
    try:
        g = float(v)
    except (TypeError, ValueError):
        g = float("nan")
    if not g > 0 or g == float("inf"):
        raise ParameterError("gamma", f"must be scale, auto or a positive number, got {v!r}")
    return g


@register_model("svm", order=20, help="support vector machine")
@dataclass
class SvmSettings(ClassicSettings):
    GROUP: ClassVar[str] = "svm"
    LABEL: ClassVar[str] = "svm"

    kernel: str = setting("rbf", "Kernel.", choices=("rbf", "linear"))
    C: float = setting(1.0, "Inverse regularisation strength.", above=0.0)
    gamma: str = setting("scale", "RBF kernel width: scale | auto | a number.")

    def check(self) -> "SvmSettings":
        super().check()
        parse_gamma(self.gamma)
        return self

    def model_params(self) -> dict:
        return {"kernel": self.kernel, "C": float(self.C), "gamma": parse_gamma(self.gamma)}
