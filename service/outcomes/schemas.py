"""Schemas of the outcomes report (`GET /v1/clinician/outcomes`)."""

from __future__ import annotations

from marshmallow import fields, validate

from rules.schema import MAX_ID_LENGTH, SLUG
from service.inputs import ApiSchema


class OutcomesQueryArgsSchema(ApiSchema):
    """Which decisions to report: one rule set (its slug) and a range of UTC dates."""

    ruleset = fields.String(
        validate=[
            validate.Regexp(SLUG, error="not a rule-set slug (a-z, 0-9 and '-')"),
            validate.Length(max=MAX_ID_LENGTH),
        ]
    )
    from_ = fields.Date(data_key="from")
    to = fields.Date()


class EffectSchema(ApiSchema):
    """An estimated effect on log(steps in the next 60 minutes + 0.5), with its 95% interval."""

    estimate = fields.Float(required=True, allow_none=True)
    low = fields.Float(required=True, allow_none=True)
    high = fields.Float(required=True, allow_none=True)
    decisions = fields.Integer(required=True)
    patients = fields.Integer(required=True)
    note = fields.String(required=True, allow_none=True)


class WeekEffectSchema(EffectSchema):
    """The effect among decisions in one week of enrolment (0: the first week)."""

    week = fields.Integer(required=True)


class RuleOutcomeSchema(ApiSchema):
    """One randomised rule (variant null: all its variants) or one of its variants."""

    ruleset = fields.String(required=True)
    rule_id = fields.String(required=True)
    variant = fields.Integer(required=True, allow_none=True)
    decisions = fields.Integer(required=True)
    sent = fields.Integer(required=True)
    randomised_out = fields.Integer(required=True)
    ineligible = fields.Integer(required=True)
    pending = fields.Integer(required=True, metadata={"description": "outcome not computed yet"})
    patients = fields.Integer(required=True)
    read_rate = fields.Float(required=True, allow_none=True)
    helpful_rate = fields.Float(required=True, allow_none=True)
    mean_steps_60m_sent = fields.Float(required=True, allow_none=True)
    mean_steps_60m_not_sent = fields.Float(required=True, allow_none=True)
    effect = fields.Nested(EffectSchema, required=True)
    by_week = fields.List(fields.Nested(WeekEffectSchema), required=True)


class OutcomesReportSchema(ApiSchema):
    """The outcomes of the caller's clinic's randomised rules."""

    ruleset = fields.String(required=True, allow_none=True)
    from_ = fields.Date(data_key="from", required=True, allow_none=True)
    to = fields.Date(required=True, allow_none=True)
    outcome = fields.String(required=True)
    items = fields.List(fields.Nested(RuleOutcomeSchema), required=True)
