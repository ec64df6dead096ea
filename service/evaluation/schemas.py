"""Schemas of the evaluation history view."""

from __future__ import annotations

from marshmallow import fields, validate

from service.inputs import ApiSchema, page_size


class EvaluationQueryArgsSchema(ApiSchema):
    """Paging of a patient's evaluations (newest first; `before` is an evaluation id)."""

    limit = page_size(20)
    before = fields.Integer(validate=validate.Range(min=1))


class EvaluationErrorSchema(ApiSchema):
    """Why an evaluation failed: the stage, the rule that raised (when known), the error."""

    stage = fields.String(
        required=True,
        metadata={"description": "`load` (the version does not compile), `facts` or `rules`"},
    )
    rule_id = fields.String(allow_none=True)
    error = fields.String(required=True, metadata={"description": "the error's type"})
    message = fields.String(required=True)


class EvaluationSchema(ApiSchema):
    """One evaluation: the facts it saw, what fired and why, what was applied."""

    id = fields.Integer(required=True)
    trigger = fields.String(required=True)
    decision_key = fields.String(allow_none=True)
    ruleset_version_id = fields.Integer(allow_none=True)
    evaluated_at = fields.DateTime(required=True)
    facts = fields.Dict(keys=fields.String(), required=True)
    fired = fields.List(fields.String(), required=True)
    suppressed = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    traces = fields.List(fields.Dict(), required=True)
    actions = fields.Dict(keys=fields.String(), required=True)
    status = fields.String(
        required=True,
        validate=validate.OneOf(["ok", "failed"]),
        metadata={"description": "`failed`: the rule set raised; nothing was applied"},
    )
    error = fields.Nested(EvaluationErrorSchema, allow_none=True)
    explain = fields.String(required=True)


class EvaluationListSchema(ApiSchema):
    """A page of evaluations and the cursor of the next one."""

    items = fields.List(fields.Nested(EvaluationSchema), required=True)
    next_before = fields.Integer(allow_none=True)
