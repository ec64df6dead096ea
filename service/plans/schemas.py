"""Bodies of the plan endpoints."""

from __future__ import annotations

from marshmallow import fields, validate

from service.inputs import AHEAD_DAYS, ApiSchema

MIN_TARGET = 500
MAX_TARGET = 50_000


class PlanChangeSchema(ApiSchema):
    """One change of target: its local date, the new target and why."""

    date = fields.Date(required=True)
    effective_at = fields.AwareDateTime(required=True)
    target = fields.Integer(required=True)
    reason = fields.String(required=True)


class PlanSchema(ApiSchema):
    """The current daily target, any progression hold, and the history (newest first)."""

    daily_target = fields.Integer(required=True)
    progression_held_until = fields.AwareDateTime(required=True, allow_none=True)
    baseline_steps = fields.Integer(
        required=True,
        allow_none=True,
        metadata={"description": "the starting level a clinician set; null: measured"},
    )
    changed_at = fields.AwareDateTime(required=True)
    history = fields.List(fields.Nested(PlanChangeSchema), required=True)


class PlanUpdateSchema(ApiSchema):
    """A clinician's change to a patient's plan (every field optional)."""

    daily_target = fields.Integer(
        strict=True, validate=validate.Range(min=MIN_TARGET, max=MAX_TARGET)
    )
    # A hold looks ahead: up to a year after tomorrow.
    hold_progression_until = fields.AwareDateTime(
        allow_none=True, metadata={"ahead_days": AHEAD_DAYS}
    )
    # The patient's own starting level (steps.baseline), when the clinician knows it better
    # than the first week of data shows; null goes back to the measured one.
    baseline_steps = fields.Integer(
        strict=True, allow_none=True, validate=validate.Range(min=0, max=200_000)
    )
    ruleset = fields.String(
        validate=[validate.Length(min=1, max=64), validate.Regexp(r"^[a-z0-9-]+$")]
    )
