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


class ActiveWeekSchema(ApiSchema):
    """Patients active in one week of enrolment, among those who lived through it."""

    week = fields.Integer(required=True)
    eligible = fields.Integer(required=True)
    active = fields.Integer(required=True)
    share = fields.Float(required=True, allow_none=True)


class CompletionSchema(ApiSchema):
    """Patients active in week 11 among those enrolled at least 12 weeks."""

    eligible = fields.Integer(required=True)
    completed = fields.Integer(required=True)
    share = fields.Float(required=True, allow_none=True)


class StepsChangeSchema(ApiSchema):
    """Change in mean daily steps from week 0 to the latest full week (up to week 11)."""

    patients = fields.Integer(required=True)
    mean = fields.Float(required=True, allow_none=True)
    median = fields.Float(required=True, allow_none=True)


class PainMilestoneSchema(ApiSchema):
    """Pain at 4, 8 or 12 weeks against week 0; IMMPACT shares (30% and 50% less pain)."""

    week = fields.Integer(required=True)
    patients = fields.Integer(required=True)
    mean_change_pct = fields.Float(required=True, allow_none=True)
    share_30 = fields.Float(required=True, allow_none=True)
    share_50 = fields.Float(required=True, allow_none=True)


class PegMilestoneSchema(ApiSchema):
    """PEG score change at 4, 8 or 12 weeks from the first answer."""

    week = fields.Integer(required=True)
    patients = fields.Integer(required=True)
    mean_change = fields.Float(required=True, allow_none=True)


class EngagementBandSchema(ApiSchema):
    """A third of the patients by reports per week, with its engagement and improvement."""

    band = fields.String(required=True)
    patients = fields.Integer(required=True)
    reports_per_week = fields.Float(required=True, allow_none=True)
    tips_read_per_week = fields.Float(required=True, allow_none=True)
    helpful_share = fields.Float(required=True, allow_none=True)
    mean_pain_change_pct = fields.Float(required=True, allow_none=True)
    mean_steps_change = fields.Float(required=True, allow_none=True)


class ProgrammeGroupSchema(ApiSchema):
    """One clinic's patients on one rule set (and its published version)."""

    clinic_id = fields.Integer(required=True)
    clinic = fields.String(required=True)
    ruleset = fields.String(required=True)
    version = fields.Integer(required=True, allow_none=True)
    enrolled = fields.Integer(required=True)
    active_by_week = fields.List(fields.Nested(ActiveWeekSchema), required=True)
    completed_12_weeks = fields.Nested(CompletionSchema, required=True)
    steps_change = fields.Nested(StepsChangeSchema, required=True)
    pain = fields.List(fields.Nested(PainMilestoneSchema), required=True)
    peg = fields.List(fields.Nested(PegMilestoneSchema), required=True)
    engagement = fields.List(fields.Nested(EngagementBandSchema), required=True)


class ProgrammeOutcomesSchema(ApiSchema):
    """The programme outcomes of the caller's clinic (admins: every clinic)."""

    as_of = fields.AwareDateTime(required=True)
    groups = fields.List(fields.Nested(ProgrammeGroupSchema), required=True)
