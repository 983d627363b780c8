"""Closed intervals for quantities that are only known within bounds.

Compute estimates, utilisation and hardware figures are uncertain; carrying ``[lo, hi]``
through the arithmetic lets a threshold check say "crosses", "below" or "may cross"
instead of pretending to a point value.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, model_validator


class Interval(BaseModel):
    """A closed interval ``[lo, hi]`` of non-negative reals with an optional central value."""

    model_config = ConfigDict(frozen=True)

    lo: float
    hi: float
    central: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Interval:
        if not (math.isfinite(self.lo) and math.isfinite(self.hi)):
            raise ValueError("interval bounds must be finite")
        if self.lo > self.hi:
            raise ValueError(f"interval lower bound {self.lo} exceeds upper bound {self.hi}")
        if self.central is not None and not (self.lo <= self.central <= self.hi):
            raise ValueError("central value must lie inside the interval")
        return self

    @classmethod
    def point(cls, value: float) -> Interval:
        return cls(lo=value, hi=value, central=value)

    @property
    def mid(self) -> float:
        """The central value if given, else the geometric mean (quantities span decades)."""
        if self.central is not None:
            return self.central
        if self.lo > 0:
            return math.sqrt(self.lo * self.hi)
        return (self.lo + self.hi) / 2

    def __mul__(self, other: Interval | float) -> Interval:
        o = other if isinstance(other, Interval) else Interval.point(float(other))
        products = [self.lo * o.lo, self.lo * o.hi, self.hi * o.lo, self.hi * o.hi]
        central = None
        if self.central is not None and o.central is not None:
            central = self.central * o.central
        return Interval(lo=min(products), hi=max(products), central=central)

    __rmul__ = __mul__

    def __add__(self, other: Interval | float) -> Interval:
        o = other if isinstance(other, Interval) else Interval.point(float(other))
        central = None
        if self.central is not None and o.central is not None:
            central = self.central + o.central
        return Interval(lo=self.lo + o.lo, hi=self.hi + o.hi, central=central)

    __radd__ = __add__

    def overlaps(self, other: Interval) -> bool:
        return self.lo <= other.hi and other.lo <= self.hi

    def contains(self, value: float) -> bool:
        return self.lo <= value <= self.hi

    def widen(self, factor: float) -> Interval:
        """Multiply the upper bound and divide the lower by ``factor`` (>= 1)."""
        return Interval(lo=self.lo / factor, hi=self.hi * factor, central=self.central)

    def __str__(self) -> str:
        if self.lo == self.hi:
            return f"{self.lo:.3g}"
        mid = f" (central {self.central:.3g})" if self.central is not None else ""
        return f"[{self.lo:.3g}, {self.hi:.3g}]{mid}"
