"""Bodies of the patient's own profile and device endpoints."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from rules.facts import CONDITIONS
from service.activity.models import SOURCES

HHMM = validate.Regexp(r"^([01]\d|2[0-3]):[0-5]\d$", error="must be HH:MM (24-hour)")
LOCALE = validate.Regexp(
    r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$", error="must be a language tag like en or en-GB"
)


class QuietHoursSchema(Schema):
    """A patient-local window in which pushes wait (may cross midnight)."""

    start = fields.String(required=True, validate=HHMM)
    end = fields.String(required=True, validate=HHMM)

    @validates_schema
    def _not_empty(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if data["start"] == data["end"]:
            raise ValidationError("start and end must differ", "end")


class ProfileSchema(Schema):
    """The patient's profile as they see it."""

    id = fields.Integer(dump_only=True)
    email = fields.String(dump_only=True)
    timezone = fields.String(dump_only=True)
    locale = fields.String(dump_only=True)
    conditions = fields.List(fields.String(), dump_only=True)
    quiet_hours = fields.Nested(QuietHoursSchema, dump_only=True, allow_none=True)
    max_tips_per_day = fields.Integer(dump_only=True, allow_none=True)
    shoes_changed_on = fields.Date(dump_only=True, allow_none=True)
    primary_source = fields.String(dump_only=True, allow_none=True)
    clinic_id = fields.Integer(dump_only=True, allow_none=True)
    clinician_id = fields.Integer(dump_only=True, allow_none=True)
    enrolled_at = fields.AwareDateTime(dump_only=True)


class ProfileUpdateSchema(Schema):
    """The profile fields a patient may change (all optional; null clears where allowed)."""

    timezone = fields.String(validate=validate.Length(min=1, max=64))
    locale = fields.String(validate=LOCALE)
    conditions = fields.List(
        fields.String(validate=validate.OneOf(sorted(CONDITIONS))),
        validate=validate.Length(max=len(CONDITIONS)),
    )
    quiet_hours = fields.Nested(QuietHoursSchema, allow_none=True)
    max_tips_per_day = fields.Integer(
        strict=True, allow_none=True, validate=validate.Range(min=0, max=20)
    )
    shoes_changed_on = fields.Date(allow_none=True)
    primary_source = fields.String(allow_none=True, validate=validate.OneOf(SOURCES))


class DeviceCreateSchema(Schema):
    """A push token to register for this patient."""

    platform = fields.String(required=True, validate=validate.OneOf(("ios", "android", "web")))
    token = fields.String(required=True, validate=validate.Length(min=1, max=4096))


class DeviceSchema(Schema):
    """A registered device."""

    id = fields.Integer(dump_only=True)
