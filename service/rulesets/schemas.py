"""Schemas of the rule-set management API."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from marshmallow import Schema, ValidationError, fields, validate

from service.reports.models import EXERCISE_KINDS, RED_FLAGS


def _zone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError("not an IANA time zone") from exc


class RuleSetIssueSchema(Schema):
    """One validation problem, pointing into the YAML."""

    line = fields.Integer(required=True)
    column = fields.Integer(required=True)
    path = fields.String(required=True)
    message = fields.String(required=True)


class RuleSetProblemSchema(Schema):
    """problem+json for an invalid rule set: every issue with its line and column."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String()
    errors = fields.List(fields.Nested(RuleSetIssueSchema))


class RuleSetWarningSchema(Schema):
    """Advice that does not block an upload."""

    path = fields.String(required=True)
    message = fields.String(required=True)


class ValidationResultSchema(Schema):
    """The answer to a valid rule set."""

    valid = fields.Boolean(required=True)
    warnings = fields.List(fields.Nested(RuleSetWarningSchema), required=True)


class VersionCreatedSchema(Schema):
    """A stored draft version."""

    ruleset = fields.String(required=True)
    version = fields.Integer(required=True)
    status = fields.String(required=True)


class RuleSetSummarySchema(Schema):
    """A clinic's rule set."""

    slug = fields.String(required=True)
    title = fields.String(required=True)
    is_default = fields.Boolean(required=True)
    published_version = fields.Integer(allow_none=True)
    latest_version = fields.Integer(allow_none=True)
    created_at = fields.DateTime(required=True)


class RuleSetListSchema(Schema):
    """The clinic's rule sets."""

    items = fields.List(fields.Nested(RuleSetSummarySchema), required=True)


class VersionSchema(Schema):
    """One immutable version (`yaml` only when a single version is asked for)."""

    ruleset = fields.String(required=True)
    version = fields.Integer(required=True)
    status = fields.String(required=True, metadata={"enum": ["draft", "published", "retired"]})
    author_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime(required=True)
    published_at = fields.DateTime(allow_none=True)
    yaml = fields.String()


class VersionListSchema(Schema):
    """Every version of a rule set, newest first."""

    items = fields.List(fields.Nested(VersionSchema), required=True)


class HistoryDaySchema(Schema):
    """One day's steps in a posted history."""

    date = fields.Date(required=True)
    steps = fields.Integer(required=True, validate=validate.Range(0, 200_000))
    distance_m = fields.Float(allow_none=True, validate=validate.Range(0, 500_000))
    source = fields.String(load_default="manual", validate=validate.Length(1, 32))


class HistoryPainSchema(Schema):
    """A pain report in a posted history."""

    recorded_at = fields.AwareDateTime(required=True)
    score = fields.Integer(required=True, validate=validate.Range(0, 10))
    red_flags = fields.List(fields.String(validate=validate.OneOf(RED_FLAGS)), load_default=list)


class HistoryExerciseSchema(Schema):
    """An exercise session in a posted history."""

    performed_at = fields.AwareDateTime(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(EXERCISE_KINDS))


class HistorySchema(Schema):
    """A patient history to simulate on, without storing it."""

    timezone = fields.String(load_default="UTC", validate=[validate.Length(1, 64), _zone])
    enrolled_at = fields.AwareDateTime()
    conditions = fields.List(fields.String(), load_default=list)
    primary_source = fields.String(allow_none=True)
    shoes_changed_on = fields.Date(allow_none=True)
    days = fields.List(
        fields.Nested(HistoryDaySchema), load_default=list, validate=validate.Length(max=800)
    )
    pain = fields.List(
        fields.Nested(HistoryPainSchema), load_default=list, validate=validate.Length(max=2000)
    )
    exercise = fields.List(
        fields.Nested(HistoryExerciseSchema), load_default=list, validate=validate.Length(max=2000)
    )


class SimulateRequestSchema(Schema):
    """What to simulate: a version (default: newest) on a stored patient or a posted history."""

    version = fields.Integer(validate=validate.Range(min=1))
    patient_id = fields.Integer(validate=validate.Range(min=1))
    history = fields.Nested(HistorySchema)
    from_ = fields.Date(required=True, data_key="from")
    to = fields.Date(required=True)


class SimulatedDaySchema(Schema):
    """One simulated day."""

    date = fields.Date(required=True)
    steps = fields.Integer(allow_none=True)
    target = fields.Integer(allow_none=True)
    held = fields.Boolean(required=True)
    facts = fields.Dict(keys=fields.String(), required=True)
    fired = fields.List(fields.String(), required=True)
    tips = fields.List(fields.String(), required=True)
    alerts = fields.List(fields.String(), required=True)


class SimulationSchema(Schema):
    """The day-by-day replay."""

    ruleset = fields.String(required=True)
    version = fields.Integer(required=True)
    days = fields.List(fields.Nested(SimulatedDaySchema), required=True)
