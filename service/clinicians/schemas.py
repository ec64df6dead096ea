"""Bodies of the clinician endpoints."""

from __future__ import annotations

from marshmallow import fields, validate

from service.inputs import ApiSchema
from service.patients.schemas import QuietHoursSchema
from service.tips.schemas import TipSchema

SLUG = [validate.Length(min=1, max=64), validate.Regexp(r"^[a-z0-9-]+$")]


class InviteCreateSchema(ApiSchema):
    """An invite for a new patient; admins without a clinic name one."""

    ruleset = fields.String(validate=SLUG)
    expires_in_days = fields.Integer(strict=True, validate=validate.Range(min=1, max=90))
    clinic_id = fields.Integer(strict=True, validate=validate.Range(min=1))


class InviteSchema(ApiSchema):
    """A one-time code to give a patient, and when it stops working."""

    code = fields.String(required=True)
    expires_at = fields.AwareDateTime(required=True)
    ruleset = fields.String(required=True, allow_none=True)


class PatientSummarySchema(ApiSchema):
    """One patient at a glance."""

    id = fields.Integer(required=True)
    email = fields.String(required=True)
    clinic_id = fields.Integer(required=True, allow_none=True)
    steps_avg_7d = fields.Float(required=True, allow_none=True)
    target = fields.Integer(required=True, allow_none=True)
    latest_pain = fields.Integer(required=True, allow_none=True)
    latest_pain_at = fields.AwareDateTime(required=True, allow_none=True)
    open_alerts = fields.Integer(required=True)


class PatientListSchema(ApiSchema):
    """The patients the caller may see."""

    items = fields.List(fields.Nested(PatientSummarySchema), required=True)


class PatientDetailSchema(PatientSummarySchema):
    """A patient's summary with their profile and plan."""

    timezone = fields.String(required=True)
    locale = fields.String(required=True)
    conditions = fields.List(fields.String(), required=True)
    quiet_hours = fields.Nested(QuietHoursSchema, required=True, allow_none=True)
    primary_source = fields.String(required=True, allow_none=True)
    clinician_id = fields.Integer(required=True, allow_none=True)
    ruleset = fields.String(required=True, allow_none=True)
    enrolled_at = fields.AwareDateTime(required=True)
    progression_held_until = fields.AwareDateTime(required=True, allow_none=True)


class TimelineQueryArgsSchema(ApiSchema):
    """A range of the patient's local dates (default: the last 14 days)."""

    from_ = fields.Date(data_key="from")
    to = fields.Date()


class TimelinePainSchema(ApiSchema):
    """A pain report on the timeline."""

    id = fields.Integer(required=True)
    score = fields.Integer(required=True)
    recorded_at = fields.AwareDateTime(required=True)
    location = fields.String(required=True, allow_none=True)
    red_flags = fields.List(fields.String(), required=True)
    note = fields.String(required=True, allow_none=True)


class TimelineExerciseSchema(ApiSchema):
    """An exercise session on the timeline."""

    id = fields.Integer(required=True)
    kind = fields.String(required=True)
    name = fields.String(required=True)
    sets = fields.Integer(required=True, allow_none=True)
    reps = fields.Integer(required=True, allow_none=True)
    duration_s = fields.Integer(required=True, allow_none=True)
    performed_at = fields.AwareDateTime(required=True)


class TimelineDaySchema(ApiSchema):
    """Everything that happened on one of the patient's local days."""

    date = fields.Date(required=True)
    steps = fields.Integer(required=True, allow_none=True)
    target = fields.Integer(required=True, allow_none=True)
    met = fields.Boolean(required=True, allow_none=True)
    sources = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    pain = fields.List(fields.Nested(TimelinePainSchema), required=True)
    exercise = fields.List(fields.Nested(TimelineExerciseSchema), required=True)
    tips = fields.List(fields.Nested(TipSchema), required=True)


class TimelineSchema(ApiSchema):
    """The patient's days in ascending order."""

    patient_id = fields.Integer(required=True)
    days = fields.List(fields.Nested(TimelineDaySchema), required=True)


class MessageCreateSchema(ApiSchema):
    """A clinician's personal message to a patient (optionally started from a rule-set tip)."""

    text = fields.String(required=True, validate=validate.Length(min=1, max=1000))
    title = fields.String(validate=validate.Length(min=1, max=120))
    tip = fields.String(validate=[validate.Length(min=1, max=64)])
