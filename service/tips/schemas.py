"""Bodies of the tips inbox."""

from __future__ import annotations

from marshmallow import fields

from service.inputs import ApiSchema, page_size


class TipSchema(ApiSchema):
    """A tip as the inbox shows it, with why it was sent."""

    id = fields.Integer(required=True)
    rule_id = fields.String(required=True)
    category = fields.String(required=True)
    title = fields.String(required=True)
    text = fields.String(required=True)
    created_at = fields.AwareDateTime(required=True)
    read_at = fields.AwareDateTime(required=True, allow_none=True)
    why = fields.String(required=True)
    urgent = fields.Boolean(required=True)
    asks = fields.String(required=True, allow_none=True)
    helpful = fields.Boolean(required=True, allow_none=True)
    done = fields.Boolean(required=True, allow_none=True)


class TipQueryArgsSchema(ApiSchema):
    """Inbox filters and the page to read."""

    unread = fields.Boolean()
    # Checked by the use case: a cursor it did not hand out is a 400, not a 422.
    cursor = fields.String(metadata={"opaque": True})
    limit = page_size(20)


class TipPageSchema(ApiSchema):
    """A page of tips, newest first; pass `next_cursor` back for the next page."""

    items = fields.List(fields.Nested(TipSchema), required=True)
    next_cursor = fields.String(required=True, allow_none=True)


class TipFeedbackSchema(ApiSchema):
    """Whether a tip helped, and whether the patient did it."""

    helpful = fields.Boolean(required=True)
    done = fields.Boolean(allow_none=True)
