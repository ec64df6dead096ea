"""The shape of one catalogue entry (`rules.facts` assembles the catalogue from them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from rules.kinds import Kind


@dataclass(frozen=True)
class Fact:
    """One fact: its dotted name, type, unit and precise definition.

    `nullable`: whether the fact can be null (no data); the others always have a value (a count
    is 0, a set is empty). `low`/`high`: the range of a number (the loader bounds arithmetic
    with it); `grid`: the step its values come in (1 for whole numbers, 0.1 when rounded to one
    decimal). `codes`: for a coded string or set, each code and the words a patient reads.
    """

    name: str
    type: Kind  # number, bool, string or set (never numset or null)
    unit: str
    description: str
    definition: str
    nullable: bool = True
    low: float | None = None
    high: float | None = None
    grid: float = 1
    codes: Mapping[str, str] | None = None
