"""`Entries` (service/inputs.py) loads upload lists without marshmallow's per-entry machinery; it
must answer exactly as the schema would: the same rows for a valid list, the same error messages
naming the same entries for anything else."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import Schema, ValidationError, fields, validate

from service.activity.schemas import (
    MAX_DAYS,
    NOT_A_LIST,
    DailyActivityInSchema,
    DailyUploadSchema,
)
from service.inputs import Entries
from service.patients.models import UPLOAD_SOURCES


class _PlainUploadSchema(DailyUploadSchema):
    """DailyUploadSchema (its checks across entries too) with marshmallow's own list, for
    reference."""

    days = fields.Nested(
        DailyActivityInSchema,
        many=True,
        required=True,
        validate=validate.Length(max=MAX_DAYS),
        error_messages={"type": NOT_A_LIST},
    )


def _load(schema: Schema, body: dict[str, Any]) -> tuple[str, Any]:
    try:
        return "ok", schema.load(body)["days"]
    except ValidationError as exc:
        return "error", exc.messages


DATES = st.one_of(
    st.dates().map(lambda d: d.isoformat()),  # out of the supported range for most
    st.sampled_from(["2026-11-27", "2026-02-30", "27/11/2026", "", "2026-11-27T10:00:00Z"]),
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
    fast = _load(DailyUploadSchema(), {"days": days})
    plain = _load(_PlainUploadSchema(), {"days": days})
    assert fast == plain


def test_well_formed_days_take_the_shortcut_and_load_as_the_schema_does() -> None:
    days = [
        {"date": f"2026-11-{n:02d}", "steps": 1000 * n, "source": UPLOAD_SOURCES[0]}
        for n in range(1, 8)
    ] + [{"date": "2026-11-08", "steps": 0, "distance_m": 12.5, "source": UPLOAD_SOURCES[-1]}]
    field = DailyUploadSchema().fields["days"]
    assert isinstance(field, Entries)
    assert field._plan() is not None  # the schema qualifies: the shortcut is what runs
    assert _load(DailyUploadSchema(), {"days": days}) == _load(_PlainUploadSchema(), {"days": days})
    assert _load(DailyUploadSchema(), {"days": days})[1][7]["distance_m"] == 12.5
