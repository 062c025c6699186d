"""``logreg``: logistic regression on standardised vectors (the default for vector stores)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from audiokit.models import register_model
from audiokit.training.settings import ClassicSettings, setting


@register_model("logreg", order=40, help="logistic regression")
@dataclass
class LogregSettings(ClassicSettings):
    GROUP: ClassVar[str] = "logreg"
    LABEL: ClassVar[str] = "logreg"

    C: float = setting(1.0, "Inverse regularisation strength.", above=0.0)
    max_iter: int = setting(2000, "Iteration limit.", min=1)

    def model_params(self) -> dict:
        return {"C": float(self.C), "max_iter": int(self.max_iter)}
