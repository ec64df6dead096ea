"""Catalogue entries and reference definition of questionnaire scores (SPEC §11.3-§11.4).

`prom.<instrument>.latest` and `prom.<instrument>.change` for every built-in instrument
(`rules.instruments.BUILTIN`: the PEG). A clinic's own instruments are scored and stored by
the service, but their scores are not facts: the catalogue is the same for every clinic, so a
rule set validates the same way wherever it runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType

from rules.fact_model import Fact
from rules.instruments import BUILTIN
from rules.kinds import Kind


@dataclass
class PromScore:
    """One scored questionnaire response (`at`: when the patient answered)."""

    instrument: str
    at: datetime
    score: float


def _facts(instrument_id: str) -> list[Fact]:
    instrument = BUILTIN[instrument_id]
    low, high = instrument.score_low, instrument.score_high
    return [
        Fact(
            f"prom.{instrument_id}.latest",
            Kind.NUMBER,
            "score",
            f"latest {instrument.title} score",
            f"Score of the {instrument_id} response with the greatest answered time <= now "
            "(ties: the one stored last); null if none.",
            nullable=True,
            low=low,
            high=high,
            grid=0.1,
        ),
        Fact(
            f"prom.{instrument_id}.change",
            Kind.NUMBER,
            "points",
            f"change in the {instrument_id} score since the first one",
            f"prom.{instrument_id}.latest minus the score of the earliest {instrument_id} "
            "response answered <= now (ties: the one stored first), rounded to 1 decimal; null "
            "with fewer than two responses. Negative is better (less pain and interference).",
            nullable=True,
            low=low - high,
            high=high - low,
            grid=0.1,
        ),
    ]


PROM_FACTS = [fact for instrument_id in BUILTIN for fact in _facts(instrument_id)]


def prom_facts(scores: Iterable[PromScore], now: datetime) -> dict[str, object]:
    """The prom.* facts at `now` from the patient's scored responses, in the order stored."""
    out: dict[str, object] = {}
    stored = list(scores)
    for instrument_id in BUILTIN:
        mine = [(s.at, index, s.score) for index, s in enumerate(stored) if s.at <= now]
        mine = [entry for entry in mine if stored[entry[1]].instrument == instrument_id]
        mine.sort()
        latest = mine[-1][2] if mine else None
        out[f"prom.{instrument_id}.latest"] = latest
        out[f"prom.{instrument_id}.change"] = (
            round(mine[-1][2] - mine[0][2], 1) if len(mine) >= 2 else None
        )
    return out


NO_SCORES: Mapping[str, object] = MappingProxyType(prom_facts((), datetime(2000, 1, 1, tzinfo=UTC)))
"""The prom facts of a patient who has answered nothing (every one null)."""
