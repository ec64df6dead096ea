"""Schemas of the clinician alert views."""

from __future__ import annotations

from marshmallow import fields

from service.inputs import ApiSchema, page_size


class AlertQueryArgsSchema(ApiSchema):
    """Filters of the alert list."""

    open = fields.Boolean(load_default=None, allow_none=True)
    unassigned = fields.Boolean(
        load_default=False,
        metadata={"description": "only patients without a clinic (the admins' queue)"},
    )
    limit = page_size(100)


class AlertSchema(ApiSchema):
    """An alert raised by a rule for one of the clinic's patients."""

    id = fields.Integer(dump_only=True)
    patient_id = fields.Integer(dump_only=True)
    rule_id = fields.String(dump_only=True, allow_none=True)
    severity = fields.String(dump_only=True)
    message = fields.String(dump_only=True)
    evaluation_id = fields.Integer(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)
    acked_at = fields.DateTime(dump_only=True, allow_none=True)
    acked_by = fields.Integer(dump_only=True, allow_none=True)


class AlertListSchema(ApiSchema):
    """Alerts, urgent first, newest first."""

    items = fields.List(fields.Nested(AlertSchema), required=True)
