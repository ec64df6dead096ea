"""Upload lists load well-formed entries without the schema machinery, exactly as the schema
would, and leave everything else to the schema (so errors read as before)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError, fields, validate

from service.activity.schemas import (
    MAX_DAYS,
    NOT_A_LIST,
    DailyActivityInSchema,
    DailyUploadSchema,
    SessionUploadSchema,
)
from service.patients.models import UPLOAD_SOURCES


class PlainUploadSchema(DailyUploadSchema):
    """The upload as plain marshmallow loads it (no shortcut; the checks across entries kept)."""

    days = fields.Nested(
        DailyActivityInSchema,
        many=True,
        required=True,
        validate=validate.Length(max=MAX_DAYS),
        error_messages={"type": NOT_A_LIST},
    )


TODAY = dt.datetime.now(dt.UTC).date()
GOOD = {"date": (TODAY - dt.timedelta(days=1)).isoformat(), "steps": 4000, "source": "healthkit"}
FULL = {**GOOD, "distance_m": 3100, "active_minutes": 40}
NULLS = {**GOOD, "distance_m": None, "active_minutes": None}


def _outcome(schema: Any, days: Any) -> Any:
    try:
        return schema.load({"days": days})
    except ValidationError as exc:
        return ("error", exc.messages)


@pytest.mark.parametrize(
    "entry",
    [
        GOOD,
        FULL,
        NULLS,
        {**GOOD, "distance_m": "12.5"},  # Float takes a numeric string
        {**GOOD, "steps": True},
        {**GOOD, "steps": "4000"},
        {**GOOD, "steps": -1},
        {**GOOD, "steps": None},
        {**GOOD, "distance_m": float("nan")},
        {**GOOD, "date": "20261129"},
        {**GOOD, "date": "1999-12-31"},
        {**GOOD, "date": (TODAY + dt.timedelta(days=30)).isoformat()},
        {**GOOD, "source": "fitbit"},
        {**GOOD, "source": "health\x00kit"},
        {**GOOD, "extra": 1},
        {"steps": 1, "source": "manual"},
        "not an entry",
    ],
)
def test_it_loads_each_entry_exactly_as_the_schema_does(entry: Any) -> None:
    days = [dict(FULL, date=(TODAY - dt.timedelta(days=i + 2)).isoformat()) for i in range(3)]
    days.insert(1, entry)
    assert _outcome(DailyUploadSchema(), days) == _outcome(PlainUploadSchema(), days)


def test_it_keeps_the_list_checks_and_the_types_of_a_plain_load() -> None:
    loaded = DailyUploadSchema().load({"days": [FULL]})["days"][0]
    assert loaded == PlainUploadSchema().load({"days": [FULL]})["days"][0]
    assert isinstance(loaded["date"], dt.date)
    assert isinstance(loaded["distance_m"], float)
    assert list(loaded) == ["date", "steps", "distance_m", "active_minutes", "source"]
    too_many = [
        dict(GOOD, date=(TODAY - dt.timedelta(days=i)).isoformat()) for i in range(MAX_DAYS + 1)
    ]
    for days in ({"a": 1}, "days", too_many):
        assert _outcome(DailyUploadSchema(), days) == _outcome(PlainUploadSchema(), days)
        assert _outcome(DailyUploadSchema(), days)[0] == "error"


def test_it_leaves_schemas_with_their_own_checks_to_marshmallow() -> None:
    # Walks check start < end in a schema hook: no shortcut could copy that, so none is taken.
    assert SessionUploadSchema().fields["sessions"]._plan() is None  # type: ignore[attr-defined]
    assert DailyUploadSchema().fields["days"]._plan() is not None  # type: ignore[attr-defined]


DATES = st.one_of(
    st.dates().map(lambda d: d.isoformat()),  # out of the supported range for most
    st.sampled_from([GOOD["date"], "2026-02-30", "27/11/2026", "", "2026-11-27T10:00:00Z"]),
    st.integers(),
    st.none(),
)
COUNTS = st.one_of(
    st.integers(min_value=-5, max_value=120_000),
    st.sampled_from([2**63, -(2**63) - 1, 1.5, 3.0, True, "4000", None]),
)
VALUES: dict[str, st.SearchStrategy[Any]] = {
    "date": DATES,
    "steps": COUNTS,
    "distance_m": st.one_of(st.floats(allow_nan=True), st.integers(-10, 10**6), st.none()),
    "active_minutes": COUNTS,
    "source": st.one_of(st.sampled_from(UPLOAD_SOURCES), st.sampled_from(["", "fitbit", "x\x00"])),
    "extra": st.integers(),
}


@st.composite
def entries(draw: st.DrawFn) -> Any:
    keys = draw(
        st.sets(st.sampled_from(sorted(VALUES)), min_size=0, max_size=len(VALUES)).map(sorted)
    )
    if draw(st.integers(0, 3)) > 0:  # mostly well-formed entries, as phones send
        optional = draw(st.lists(st.sampled_from(["distance_m", "active_minutes"]), unique=True))
        keys = ["date", "steps", "source", *optional]
    entry = {key: draw(VALUES[key]) for key in keys}
    return draw(st.one_of(st.just(entry), st.just(entry), st.sampled_from([[], "x", None])))


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.lists(entries(), max_size=6), st.sampled_from([{}, "days", 3, None])))
def test_entries_answer_as_the_schema_does(days: Any) -> None:
    fast = _outcome(DailyUploadSchema(), days)
    plain = _outcome(PlainUploadSchema(), days)
    assert fast == plain
