"""Upload lists load well-formed entries without the schema machinery, exactly as the schema
would, and leave everything else to the schema (so errors read as before)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from marshmallow import ValidationError, fields, validate

from service.activity.schemas import (
    MAX_DAYS,
    NOT_A_LIST,
    DailyActivityInSchema,
    DailyUploadSchema,
    SessionUploadSchema,
)
from service.inputs import ApiSchema


class PlainUploadSchema(ApiSchema):
    """The upload as plain marshmallow loads it (no shortcut)."""

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
