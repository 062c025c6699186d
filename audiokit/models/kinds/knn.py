"""``knn``: k nearest neighbours on standardised vectors (the KNN paper's model)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from audiokit.errors import ParameterError
from audiokit.models import register_model
from audiokit.training.settings import ClassicSettings, setting


def parse_k(spec) -> list[int]:
    """``k``: ``"8"`` → ``[8]``; ``"1..40"`` → 1…40; ``"1..40:2"`` → 1, 3, …, 39; ``"1,3,5"``.

    >>> parse_k("1..5"), parse_k("3..9:3"), parse_k("8"), parse_k("5,1,3")
    ([1, 2, 3, 4, 5], [3, 6, 9], [8], [1, 3, 5])
    """
    s = str(spec).replace(" ", "")
    try:
        m = re.fullmatch(r"(\d+)\.\.(\d+)(?::(\d+))?", s)
        if m:
            lo, hi, step = int(m[1]), int(m[2]), int(m[3] or 1)
            if lo < 1 or hi < lo or step < 1:
                raise ValueError
            ks = list(range(lo, hi + 1, step))
        else:
            ks = sorted({int(x) for x in s.split(",")})
        if not ks or min(ks) < 1:
            raise ValueError
        return ks
    except ValueError:
        raise ParameterError("k", f"must be a positive number, a range like 1..40 (or 1..40:2), or a list like "
                                  f"1,3,5; got {spec!r}") from None


@register_model("knn", order=10,
                help="k nearest neighbours, Euclidean by default; a k range is swept by CV accuracy")
@dataclass
class KnnSettings(ClassicSettings):
    GROUP: ClassVar[str] = "knn"
    LABEL: ClassVar[str] = "knn"

    k: str = setting("8", "Neighbours: a number, or a range/list swept by CV accuracy: '1..40', '1..40:2', "
                          "'1,3,5' (ties go to the smaller k).")
    metric: str = setting("euclidean", "Distance.", choices=("euclidean", "manhattan", "chebyshev", "cosine"))
    weights: str = setting("uniform", "Neighbour votes.", choices=("uniform", "distance"))

    def check(self) -> "KnnSettings":
        super().check()
        self.k = str(self.k)
        parse_k(self.k)
        return self

    @property
    def ks(self) -> list[int]:
        return parse_k(self.k)

    def model_params(self) -> dict:
        return {"k": self.ks[0], "metric": self.metric, "weights": self.weights}
