"""Schemas of the safety views: episodes, decisions on them, clearances."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from rules.reference import RESOLUTIONS
from service.inputs import ApiSchema, page_size
from service.plans.schemas import MAX_TARGET, MIN_TARGET
from service.safety.models import CLEARABLE

NOTE = validate.Length(min=1, max=2000)


class EpisodeQueryArgsSchema(ApiSchema):
    """Filters of the episode list."""

    open = fields.Boolean(load_default=None, allow_none=True)
    unassigned = fields.Boolean(
        load_default=False,
        metadata={"description": "only patients without a clinic (the admins' queue)"},
    )
    limit = page_size(100)


class ReviewSchema(ApiSchema):
    """A clinician's decision on an episode."""

    decision = fields.String(dump_only=True)
    daily_target = fields.Integer(dump_only=True, allow_none=True)
    note = fields.String(dump_only=True)
    decided_at = fields.DateTime(dump_only=True)
    decided_by = fields.Integer(dump_only=True, allow_none=True)


class EpisodeSchema(ApiSchema):
    """A safety episode: open while `closed_at` is null; the programme is paused meanwhile."""

    id = fields.Integer(dump_only=True)
    patient_id = fields.Integer(dump_only=True)
    tier = fields.String(dump_only=True, metadata={"description": "emergency or urgent"})
    flags = fields.List(fields.String(), dump_only=True)
    opened_at = fields.DateTime(dump_only=True)
    evaluation_id = fields.Integer(dump_only=True, allow_none=True)
    escalated_at = fields.DateTime(dump_only=True, allow_none=True)
    reports = fields.Integer(
        dump_only=True, metadata={"description": "flagged reports attached after it opened"}
    )
    last_report_at = fields.DateTime(dump_only=True, allow_none=True)
    closed_at = fields.DateTime(dump_only=True, allow_none=True)
    closed_by = fields.Integer(dump_only=True, allow_none=True)
    resolution = fields.String(dump_only=True, allow_none=True)
    reviews = fields.List(fields.Nested(ReviewSchema), dump_only=True)


class EpisodeListSchema(ApiSchema):
    """Episodes: open first, emergency first, newest first."""

    items = fields.List(fields.Nested(EpisodeSchema), required=True)


class ResolveSchema(ApiSchema):
    """A decision on an open episode."""

    decision = fields.String(required=True, validate=validate.OneOf(RESOLUTIONS))
    daily_target = fields.Integer(
        strict=True,
        validate=validate.Range(min=MIN_TARGET, max=MAX_TARGET),
        metadata={"description": "the new daily target; required with resume_lower only"},
    )
    note = fields.String(required=True, validate=NOTE)

    @validates_schema
    def _target_with_resume_lower(self, data: dict[str, Any], **kwargs: Any) -> None:
        lower = data.get("decision") == "resume_lower"
        if lower and data.get("daily_target") is None:
            raise ValidationError("is required with resume_lower", "daily_target")
        if not lower and "daily_target" in data:
            raise ValidationError("only resume_lower sets a target", "daily_target")


class ClearanceCreateSchema(ApiSchema):
    """A clinician's clearance of a condition."""

    condition = fields.String(required=True, validate=validate.OneOf(CLEARABLE))
    note = fields.String(required=True, validate=NOTE)


class ClearanceSchema(ApiSchema):
    """A condition the patient is cleared for."""

    id = fields.Integer(dump_only=True)
    patient_id = fields.Integer(dump_only=True)
    condition = fields.String(dump_only=True)
    note = fields.String(dump_only=True)
    cleared_at = fields.DateTime(dump_only=True)
    cleared_by = fields.Integer(dump_only=True, allow_none=True)


class ClearanceListSchema(ApiSchema):
    """The conditions a patient is cleared for."""

    items = fields.List(fields.Nested(ClearanceSchema), required=True)
