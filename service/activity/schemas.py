"""Bodies of the patient's activity uploads and activity history."""

from __future__ import annotations

import datetime as dt
from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from service.activity.plausibility import (
    MAX_DAILY_DISTANCE_M,
    MAX_DAILY_STEPS,
    MAX_SESSION,
    MINUTES_A_DAY,
)
from service.inputs import ApiSchema, Entries
from service.patients.models import UPLOAD_SOURCES

MAX_DAYS = 366
MAX_SESSIONS = 500
# The plausibility limits every source shares (providers' records past them are quarantined).
STEPS = validate.Range(0, MAX_DAILY_STEPS)
DISTANCE = validate.Range(0, MAX_DAILY_DISTANCE_M)
# Upload lists are `Entries` (`Nested(many=True)` that loads well-formed entries field by field,
# service/inputs.py), not `List(Nested)`: a 30-day upload validates in about a tenth of the time
# `List(Nested)` took. Errors still name the entry (`days.3.steps`); a non-list keeps List's
# message.
NOT_A_LIST = "Not a valid list."


class DailyActivityInSchema(ApiSchema):
    """One source's total for one local day."""

    date = fields.Date(required=True)
    steps = fields.Integer(required=True, strict=True, validate=STEPS)
    distance_m = fields.Float(allow_none=True, validate=DISTANCE)
    active_minutes = fields.Integer(
        allow_none=True, strict=True, validate=validate.Range(0, MINUTES_A_DAY)
    )
    source = fields.String(required=True, validate=validate.OneOf(UPLOAD_SOURCES))


class DailyUploadSchema(ApiSchema):
    """Daily totals from the phone; one entry per (date, source)."""

    days = Entries(
        DailyActivityInSchema,
        many=True,
        required=True,
        validate=validate.Length(max=MAX_DAYS),
        error_messages={"type": NOT_A_LIST},
    )

    @validates_schema
    def _unique_days(self, data: dict[str, Any], **_kwargs: Any) -> None:
        seen: set[tuple[dt.date, str]] = set()
        for index, day in enumerate(data["days"]):
            key = (day["date"], day["source"])
            if key in seen:
                raise ValidationError(
                    {"days": {index: [f"duplicate entry for {key[0]} from {key[1]}"]}}
                )
            seen.add(key)


class WalkingSessionInSchema(ApiSchema):
    """A walk with a start and an end (aware datetimes)."""

    start = fields.AwareDateTime(required=True)
    end = fields.AwareDateTime(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(("walking",)))
    steps = fields.Integer(allow_none=True, strict=True, validate=STEPS)
    distance_m = fields.Float(allow_none=True, validate=DISTANCE)
    source = fields.String(required=True, validate=validate.OneOf(UPLOAD_SOURCES))
    external_id = fields.String(validate=validate.Length(min=1, max=128))

    @validates_schema
    def _ordered(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if data["end"] <= data["start"]:
            raise ValidationError("must be after start", "end")
        if data["end"] - data["start"] > MAX_SESSION:
            raise ValidationError("a session lasts at most 24 hours", "end")


class SessionUploadSchema(ApiSchema):
    """Walking sessions from the phone."""

    sessions = Entries(
        WalkingSessionInSchema,
        many=True,
        required=True,
        validate=validate.Length(max=MAX_SESSIONS),
        error_messages={"type": NOT_A_LIST},
    )


class UpsertedSchema(ApiSchema):
    """How many records the upload stored, and whether an evaluation is pending.

    New activity does not answer with tips: the patient is marked for an `activity` evaluation
    that runs within a minute (`pending`), once for several uploads; its tips reach the inbox
    and the phone from there. `none` when nothing new arrived: an empty upload, or one that only
    re-sent records already stored with the same values.
    """

    upserted = fields.Integer(required=True)
    evaluation = fields.String(
        required=True,
        validate=validate.OneOf(["pending", "none"]),
        metadata={
            "description": "`pending`: the rules run on this data within a minute; `none`: "
            "nothing new or changed arrived."
        },
    )


class ActivityQueryArgsSchema(ApiSchema):
    """A range of local dates (defaults: the last 7 days up to today)."""

    from_ = fields.Date(data_key="from")
    to = fields.Date()


class ActivityDaySchema(ApiSchema):
    """One local day: effective steps, that day's target, whether it was met, per-source values."""

    date = fields.Date(required=True)
    steps = fields.Integer(required=True, allow_none=True)
    target = fields.Integer(required=True, allow_none=True)
    met = fields.Boolean(required=True, allow_none=True)
    sources = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)


class ActivityHistorySchema(ApiSchema):
    """Days in ascending order."""

    days = fields.List(fields.Nested(ActivityDaySchema), required=True)
