"""Questionnaire instruments (SPEC §11.4): the built-in PEG and clinics' own, as YAML.

An instrument has an id (a slug), a title, a short introduction the patient reads, items each
answered with a whole number on an anchored scale (`low`..`high`, with the words at each end),
and a scoring rule: the `mean` or the `sum` of the item answers, rounded to `decimals`.

A clinic's instrument is YAML loaded like a rule set (`rules.source`: safe, position-keeping,
no aliases) and checked with marshmallow; every problem is an `Issue` with line and column,
raised together as `InstrumentError`:

```yaml
instrument: sleep-check          # slug, [a-z0-9-]+
title: Sleep and your back
intro: Think about the last seven nights.
scoring: {method: mean, decimals: 1}
items:
  - id: nights
    text: How many nights did back pain wake you?
    scale: {low: 0, high: 7, low_label: none, high_label: every night}
```

`answer_problems(instrument, answers)` says, per item, what is wrong with a patient's answers
(missing, not a whole number, out of range, unknown item); `score` scores complete answers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from rules.errors import Issue, RuleSetError
from rules.schema import flatten_errors
from rules.source import Document, load_document

MAX_ITEMS = 50
MAX_INSTRUMENT_ID = 32  # "ask-<id>" must fit the 64-character tip key, with room to spare
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
SCORING = ("mean", "sum")


@dataclass(frozen=True)
class Item:
    """One question: its id, text and the anchored whole-number scale it is answered on."""

    id: str
    text: str
    low: int
    high: int
    low_label: str
    high_label: str


@dataclass(frozen=True)
class Instrument:
    """A questionnaire: items and how their answers make one score."""

    id: str
    title: str
    intro: str
    items: tuple[Item, ...]
    method: str = "mean"
    decimals: int = 1
    version: str = "1"
    source_text: str = ""

    @property
    def score_low(self) -> float:
        """The lowest score the instrument can give."""
        lows = [item.low for item in self.items]
        return float(min(lows) if self.method == "mean" else sum(lows))

    @property
    def score_high(self) -> float:
        """The highest score the instrument can give."""
        highs = [item.high for item in self.items]
        return float(max(highs) if self.method == "mean" else sum(highs))


# The PEG (Krebs EE et al., "Development and initial validation of the PEG, a three-item scale
# assessing pain intensity and interference", J Gen Intern Med 2009;24(6):733-738): pain on
# average, interference with enjoyment of life and with general activity, each 0-10 over the
# past week, scored as the mean of the three. The wording below is our own short phrasing of
# those three items, not the published text.
PEG = Instrument(
    id="peg",
    title="PEG: pain, enjoyment and activity",
    intro="Three quick questions about the past week. There are no right or wrong answers.",
    items=(
        Item(
            "pain",
            "Over the past week, how bad has your pain been on average?",
            0,
            10,
            "no pain",
            "pain as bad as you can imagine",
        ),
        Item(
            "enjoyment",
            "Over the past week, how much has pain got in the way of enjoying life?",
            0,
            10,
            "not at all",
            "completely",
        ),
        Item(
            "activity",
            "Over the past week, how much has pain got in the way of your everyday activities?",
            0,
            10,
            "not at all",
            "completely",
        ),
    ),
)

BUILTIN: dict[str, Instrument] = {PEG.id: PEG}
"""Instruments every clinic has; a clinic's own may not reuse these ids."""


class _AnyInstrument(frozenset[str]):
    """Every instrument id (iterating gives the built-in ones, for hints)."""

    def __contains__(self, item: object) -> bool:
        return isinstance(item, str)


TRUSTED = _AnyInstrument(BUILTIN)
"""For `load_ruleset(..., instruments=TRUSTED)`: recompiling a stored rule set whose `ask`
actions were checked against its clinic's instruments when it was uploaded."""


class InstrumentError(RuleSetError):
    """An instrument failed to load; `.errors` lists every issue (line, column, path)."""


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class _Whole(fields.Integer):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError("must be a whole number")
        return value


class _Text(fields.String):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str):
            raise ValidationError(f"must be a string, got {type(value).__name__}")
        if not value.strip():
            raise ValidationError("must not be empty")
        return value


_ID = [
    validate.Regexp(SLUG, error="ids use a-z, 0-9 and '-'"),
    validate.Length(max=MAX_INSTRUMENT_ID),
]
_BOUND = validate.Range(min=-1000, max=1000)


class _ScaleSchema(_Strict):
    low = _Whole(required=True, validate=_BOUND)
    high = _Whole(required=True, validate=_BOUND)
    low_label = _Text(required=True, validate=validate.Length(max=100))
    high_label = _Text(required=True, validate=validate.Length(max=100))

    @validates_schema
    def _ordered(self, data: dict[str, Any], **kwargs: Any) -> None:
        if {"low", "high"} <= data.keys() and data["low"] >= data["high"]:
            raise ValidationError("high must be greater than low", "high")


class _ItemSchema(_Strict):
    id = _Text(required=True, validate=_ID)
    text = _Text(required=True, validate=validate.Length(max=500))
    scale = fields.Nested(_ScaleSchema, required=True)


class _ScoringSchema(_Strict):
    method = _Text(required=True, validate=validate.OneOf(SCORING))
    decimals = _Whole(load_default=1, validate=validate.Range(min=0, max=2))


class _InstrumentSchema(_Strict):
    instrument = _Text(required=True, validate=_ID)
    title = _Text(required=True, validate=validate.Length(max=200))
    intro = _Text(load_default="", validate=validate.Length(max=1000))
    version = _Text(load_default="1", validate=validate.Length(max=20))
    scoring = fields.Nested(_ScoringSchema, required=True)
    items = fields.List(
        fields.Nested(_ItemSchema), required=True, validate=validate.Length(min=1, max=MAX_ITEMS)
    )


def load_instrument(text: str, source: str = "<string>") -> Instrument:
    """Load and check a clinic's instrument YAML; raise InstrumentError listing every problem."""
    document, issues = load_document(text)
    if document is None or issues:
        raise InstrumentError(issues, source)
    if not isinstance(document.data, dict):
        raise InstrumentError([document.issue((), "the instrument must be a mapping")], source)
    try:
        data = _InstrumentSchema().load(document.data)
    except ValidationError as exc:
        raise InstrumentError(
            [_issue(document, path, message) for path, message in flatten_errors(exc.messages)],
            source,
        ) from None
    if data["instrument"] in BUILTIN:
        issues.append(
            document.issue(("instrument",), f"'{data['instrument']}' is built in: pick another id")
        )
    seen: set[str] = set()
    for index, item in enumerate(data["items"]):
        if item["id"] in seen:
            issues.append(
                document.issue(("items", index, "id"), f"duplicate item id '{item['id']}'")
            )
        seen.add(item["id"])
    if issues:
        raise InstrumentError(issues, source)
    return Instrument(
        id=data["instrument"],
        title=data["title"],
        intro=data["intro"],
        items=tuple(
            Item(
                item["id"],
                item["text"],
                item["scale"]["low"],
                item["scale"]["high"],
                item["scale"]["low_label"],
                item["scale"]["high_label"],
            )
            for item in data["items"]
        ),
        method=data["scoring"]["method"],
        decimals=data["scoring"]["decimals"],
        version=data["version"],
        source_text=text,
    )


def _issue(document: Document, path: tuple[str | int, ...], message: str) -> Issue:
    if message == "Unknown field.":
        return document.issue(path, f"unknown key '{path[-1]}'", at_key=True)
    if message == "Missing data for required field.":
        return document.issue(path, f"missing required key '{path[-1]}'")
    return document.issue(path, message.removesuffix("."))


def answer_problems(instrument: Instrument, answers: Mapping[str, object]) -> dict[str, str]:
    """Item id -> what is wrong with its answer (empty when every item is answered in range)."""
    problems: dict[str, str] = {}
    known = [item.id for item in instrument.items]
    for name in answers:
        if name not in known:
            problems[str(name)] = f"not an item of {instrument.id} (items: {', '.join(known)})"
    for item in instrument.items:
        if item.id not in answers or answers[item.id] is None:
            problems[item.id] = "is not answered"
            continue
        value = answers[item.id]
        if isinstance(value, bool) or not isinstance(value, int):
            problems[item.id] = f"must be a whole number from {item.low} to {item.high}"
        elif not item.low <= value <= item.high:
            problems[item.id] = f"must be from {item.low} to {item.high}"
    return problems


def score(instrument: Instrument, answers: Mapping[str, int]) -> float:
    """The instrument's score of complete, valid answers (check `answer_problems` first)."""
    values = [answers[item.id] for item in instrument.items]
    total = sum(values)
    raw = total / len(values) if instrument.method == "mean" else total
    # round() on the exact fraction: half-way cases go to the even neighbour, as Python does
    # everywhere else in the engine; the PEG's thirds never land half-way.
    return float(round(raw, instrument.decimals))
