"""Fundamental frequency estimation and voice types (placeholder until the pitch issue lands)."""

from __future__ import annotations

import numpy as np

METHODS = ("hps",)


def estimate_f0(y: np.ndarray, *, sr: int, method: str = "hps", fmin: float = 50.0, fmax: float = 2000.0,
                harmonics: int = 5) -> float | None:
    raise NotImplementedError
