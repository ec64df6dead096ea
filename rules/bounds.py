"""Static ranges of numeric expressions, so overflow is refused when a rule set is loaded.

Every number an expression computes gets an interval from the fact catalogue's ranges, the
literals and the rule set's own settings. An expression whose known range passes `LIMIT` is an
error at load time (a rule cannot multiply its way past what a float holds exactly). Division
by something that can come arbitrarily close to zero has no known range; such values are
checked where they are used (a target or a text), at run time, by `rules.runtime`.

`places` tracks the decimal grid a value lies on (whole multiples of 10**-places): a non-zero
value on a grid is at least that big, which bounds a division by it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

LIMIT = 1e15
"""The largest magnitude a literal or a statically known result may have."""

_MAX_PLACES = 12


@dataclass(frozen=True)
class Bound:
    """An interval [lo, hi] (infinite when unknown), its decimal grid, its least non-zero size."""

    lo: float = -math.inf
    hi: float = math.inf
    places: int | None = None
    tiny: float = 0.0

    @property
    def known(self) -> bool:
        """Whether the interval is finite."""
        return math.isfinite(self.lo) and math.isfinite(self.hi)

    @property
    def magnitude(self) -> float:
        """The largest absolute value in the interval."""
        return max(abs(self.lo), abs(self.hi))

    @property
    def least(self) -> float:
        """A lower bound on the size of any non-zero value (0 when unknown)."""
        grid = 10.0**-self.places if self.places is not None else 0.0
        if self.lo > 0 or self.hi < 0:
            grid = max(grid, min(abs(self.lo), abs(self.hi)))
        return max(grid, self.tiny)


UNKNOWN = Bound()


def exact(value: float) -> Bound:
    """The bound of a literal or a setting."""
    return Bound(value, value, _places(value), abs(value))


def span(low: float | None, high: float | None, grid: float = 1) -> Bound:
    """The bound of a fact with a catalogue range (unknown without one)."""
    if low is None or high is None:
        return UNKNOWN
    return Bound(low, high, 0 if grid >= 1 else _places(grid))


def _places(value: float) -> int | None:
    if isinstance(value, int) or float(value).is_integer():
        return 0
    for places in range(1, _MAX_PLACES + 1):
        scaled = value * 10**places
        if round(scaled) != 0 and abs(scaled - round(scaled)) < 1e-9 * abs(scaled):
            return places
    return None


def _grid(*places: int | None) -> int | None:
    return None if any(p is None for p in places) else max(p for p in places if p is not None)


def _finite(*bounds: Bound) -> bool:
    return all(b.known for b in bounds)


def add(a: Bound, b: Bound) -> Bound:
    """a + b."""
    if not _finite(a, b):
        return Bound(places=_grid(a.places, b.places))
    return Bound(a.lo + b.lo, a.hi + b.hi, _grid(a.places, b.places))


def negate(a: Bound) -> Bound:
    """-a."""
    return Bound(-a.hi, -a.lo, a.places, a.tiny)


def sub(a: Bound, b: Bound) -> Bound:
    """a - b."""
    return add(a, negate(b))


def mul(a: Bound, b: Bound) -> Bound:
    """a * b."""
    places = None if a.places is None or b.places is None else a.places + b.places
    tiny = a.least * b.least
    if not _finite(a, b):
        return Bound(places=places, tiny=tiny)
    corners = (a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi)
    return Bound(min(corners), max(corners), places, tiny)


def div(a: Bound, b: Bound) -> Bound:
    """a / b for b != 0 (division by zero gives null)."""
    least = b.least
    tiny = a.least / b.magnitude if b.known and b.magnitude > 0 else 0.0
    if not a.known or least <= 0:
        return Bound(tiny=tiny)
    top = a.magnitude / least
    return Bound(-top, top, None, tiny)


def mod(a: Bound, b: Bound) -> Bound:
    """a % b for b != 0: smaller than |b|, on the finer of the two grids."""
    places = _grid(a.places, b.places)
    if not b.known:
        return Bound(places=places)
    return Bound(-b.magnitude, b.magnitude, places)


def union(*bounds: Bound) -> Bound:
    """A value that is one of these (min, max, clamp, either branch of an `if`)."""
    places = _grid(*(b.places for b in bounds))
    tiny = min(b.least for b in bounds)
    if not _finite(*bounds):
        return Bound(places=places, tiny=tiny)
    return Bound(min(b.lo for b in bounds), max(b.hi for b in bounds), places, tiny)


def absolute(a: Bound) -> Bound:
    """abs(a)."""
    if not a.known:
        return Bound(0.0, math.inf, a.places, a.tiny)
    low = 0.0 if a.lo <= 0 <= a.hi else min(abs(a.lo), abs(a.hi))
    return Bound(low, a.magnitude, a.places, a.tiny)


def rounded(a: Bound, digits: int) -> Bound:
    """round(a, digits): within half a unit of a, on that grid."""
    if not a.known:
        return Bound(places=digits)
    step = 0.5 * 10.0**-digits
    return Bound(a.lo - step, a.hi + step, digits)


def too_big(bound: Bound) -> bool:
    """Whether a statically known value can pass LIMIT."""
    return bound.known and bound.magnitude > LIMIT
