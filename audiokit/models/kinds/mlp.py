"""``mlp``: a multi-layer perceptron on standardised vectors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from audiokit.errors import ParameterError
from audiokit.models import register_model
from audiokit.training.settings import ClassicSettings, setting


def parse_hidden(v) -> list[int]:
    """``hidden``: ``"256,128"`` (or a list) → ``[256, 128]``."""
    try:
        sizes = ([int(x) for x in v.replace(" ", "").split(",") if x] if isinstance(v, str)
                 else [int(x) for x in v])
    except (TypeError, ValueError):
        sizes = []
    if not sizes or min(sizes) < 1:
        raise ParameterError("hidden", f"must be positive layer sizes like 256,128, got {v!r}")
    return sizes


@register_model("mlp", order=30, help="multi-layer perceptron")
@dataclass
class MlpSettings(ClassicSettings):
    GROUP: ClassVar[str] = "mlp"
    LABEL: ClassVar[str] = "mlp"

    hidden: str = setting("128", "Hidden layer sizes, e.g. 256,128.")
    alpha: float = setting(1e-4, "L2 penalty.", min=0.0)
    max_iter: int = setting(500, "Iteration limit.", min=1)

    def check(self) -> "MlpSettings":
        super().check()
        if not isinstance(self.hidden, str):
            self.hidden = ",".join(str(x) for x in self.hidden)
        parse_hidden(self.hidden)
        return self

    def model_params(self) -> dict:
        return {"hidden": parse_hidden(self.hidden), "alpha": float(self.alpha), "max_iter": int(self.max_iter)}
