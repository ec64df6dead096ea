"""Schemas of the rule-set management API."""

from __future__ import annotations

from marshmallow import fields, validate

from service.inputs import AHEAD_DAYS, ApiSchema
from service.rulesets.examples import EXAMPLES


class RuleSetTextSchema(ApiSchema):
    """A rule set sent as JSON (for clients that cannot send application/yaml)."""

    yaml = fields.String(required=True, validate=validate.Length(min=1))


class RuleSetIssueSchema(ApiSchema):
    """One validation problem, pointing into the YAML (`line`, `column`, `path`), or a field of
    a JSON body that is not `{"yaml": "..."}` (`field`, `in`)."""

    line = fields.Integer()
    column = fields.Integer()
    path = fields.String()
    field = fields.String()
    in_ = fields.String(data_key="in")
    message = fields.String(required=True)


class RuleSetProblemSchema(ApiSchema):
    """problem+json for an invalid rule set: every issue with its line and column."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String()
    errors = fields.List(fields.Nested(RuleSetIssueSchema))


class RuleSetWarningSchema(ApiSchema):
    """Advice that does not block an upload."""

    path = fields.String(required=True)
    message = fields.String(required=True)


class ValidationResultSchema(ApiSchema):
    """The answer to a valid rule set."""

    valid = fields.Boolean(required=True)
    warnings = fields.List(fields.Nested(RuleSetWarningSchema), required=True)


class VersionCreatedSchema(ApiSchema):
    """A stored draft version."""

    ruleset = fields.String(required=True)
    version = fields.Integer(required=True)
    status = fields.String(required=True)


class RuleSetSummarySchema(ApiSchema):
    """A clinic's rule set."""

    slug = fields.String(required=True)
    title = fields.String(required=True)
    is_default = fields.Boolean(required=True)
    published_version = fields.Integer(allow_none=True)
    latest_version = fields.Integer(allow_none=True)
    created_at = fields.DateTime(required=True)


class RuleSetListSchema(ApiSchema):
    """The clinic's rule sets."""

    items = fields.List(fields.Nested(RuleSetSummarySchema), required=True)


class VersionSchema(ApiSchema):
    """One immutable version (`yaml` only when a single version is asked for)."""

    ruleset = fields.String(required=True)
    version = fields.Integer(required=True)
    status = fields.String(required=True, metadata={"enum": ["draft", "published", "retired"]})
    author_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime(required=True)
    published_at = fields.DateTime(allow_none=True)
    yaml = fields.String()


class VersionListSchema(ApiSchema):
    """Every version of a rule set, newest first."""

    items = fields.List(fields.Nested(VersionSchema), required=True)


HISTORY_EXAMPLE = {
    "timezone": "Europe/London",
    "enrolled_at": "2026-10-01T08:00:00+01:00",
    "daily_steps": [{"date": "2026-10-01", "steps": 4200}, {"date": "2026-10-02", "steps": 4600}],
    "pain": [{"at": "2026-10-02T19:00:00+01:00", "score": 3, "red_flags": []}],
    "exercise": [{"kind": "stretch", "at": "2026-10-02T18:00:00+01:00"}],
}


class SimulateRequestSchema(ApiSchema):
    """What to simulate: a version (default: newest) on a stored patient, a posted history or
    a built-in example (`six_weeks` has fixed dates in 2026; a persona's 28 days end at `to`)."""

    version = fields.Integer(validate=validate.Range(min=1))
    patient_id = fields.Integer(validate=validate.Range(min=1))
    history = fields.Dict(
        metadata={
            "description": "A patient history in the rules engine's format, the one "
            "`python -m rules simulate` reads (see `rules/history.py` and "
            "`rules/examples/six_weeks.json`); checked by the engine, errors name each field.",
            "example": HISTORY_EXAMPLE,
        }
    )
    example = fields.String(validate=validate.OneOf(sorted(EXAMPLES)))
    # A simulation may run on into the coming year (days without data yet).
    from_ = fields.Date(required=True, data_key="from", metadata={"ahead_days": AHEAD_DAYS})
    to = fields.Date(required=True, metadata={"ahead_days": AHEAD_DAYS})


class SimulatedTipSchema(ApiSchema):
    """A tip the simulation sent, as the patient would read its title and reason."""

    tip = fields.String(required=True)
    rule = fields.String(required=True)
    title = fields.String(required=True)
    why = fields.String(required=True)
    urgent = fields.Boolean(required=True)


class SimulatedDaySchema(ApiSchema):
    """One simulated day."""

    date = fields.Date(required=True)
    steps = fields.Integer(allow_none=True)
    target = fields.Integer(allow_none=True)
    held = fields.Boolean(required=True)
    facts = fields.Dict(keys=fields.String(), required=True)
    fired = fields.List(fields.String(), required=True)
    tips = fields.List(fields.String(), required=True)
    sent = fields.List(fields.Nested(SimulatedTipSchema), required=True)
    alerts = fields.List(fields.String(), required=True)
    pain = fields.List(fields.Integer(), required=True)
    episode = fields.String(
        allow_none=True, metadata={"description": "tier of the safety episode open at day end"}
    )
    safety = fields.List(
        fields.String(),
        metadata={"description": "episodes opened, escalated or resolved that day, in words"},
    )


class SimulationSchema(ApiSchema):
    """The day-by-day replay."""

    ruleset = fields.String(required=True)
    version = fields.Integer(required=True)
    days = fields.List(fields.Nested(SimulatedDaySchema), required=True)
