"""Bodies of pain and exercise reports."""

from __future__ import annotations

from marshmallow import fields, validate

from service.inputs import ApiSchema
from service.reports.models import EXERCISE_KINDS, RED_FLAGS
from service.tips.schemas import TipSchema


class PainReportCreateSchema(ApiSchema):
    """A 0-10 pain score, possibly with red-flag symptoms."""

    score = fields.Integer(required=True, strict=True, validate=validate.Range(0, 10))
    recorded_at = fields.AwareDateTime()
    location = fields.String(allow_none=True, validate=validate.Length(max=64))
    red_flags = fields.List(
        fields.String(validate=validate.OneOf(RED_FLAGS)), validate=validate.Length(max=20)
    )
    note = fields.String(allow_none=True, validate=validate.Length(max=2000))


class ExerciseCreateSchema(ApiSchema):
    """A strength or stretching session."""

    kind = fields.String(required=True, validate=validate.OneOf(EXERCISE_KINDS))
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    sets = fields.Integer(allow_none=True, strict=True, validate=validate.Range(0, 100))
    reps = fields.Integer(allow_none=True, strict=True, validate=validate.Range(0, 1000))
    duration_s = fields.Integer(allow_none=True, strict=True, validate=validate.Range(0, 86_400))
    performed_at = fields.AwareDateTime()


class ReportCreatedSchema(ApiSchema):
    """The stored report's id and the tips the report caused at once."""

    id = fields.Integer(required=True)
    tips = fields.List(fields.Nested(TipSchema), required=True)
