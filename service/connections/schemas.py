"""Bodies and answers of the wearable-connection routes (tokens never leave the server)."""

from __future__ import annotations

from marshmallow import EXCLUDE, fields, validate

from service.inputs import ApiSchema


class ConnectionSchema(ApiSchema):
    """A patient's link to one provider, without any credential."""

    provider = fields.String(dump_only=True)
    status = fields.String(dump_only=True)
    scopes = fields.List(fields.String(), dump_only=True)
    last_sync_at = fields.AwareDateTime(dump_only=True, allow_none=True)
    next_sync_at = fields.AwareDateTime(dump_only=True, allow_none=True)
    last_error = fields.String(dump_only=True, allow_none=True)
    linked_at = fields.AwareDateTime(dump_only=True, attribute="created_at")


class ConnectionListSchema(ApiSchema):
    """All of a patient's connections."""

    items = fields.List(fields.Nested(ConnectionSchema), dump_only=True)


class AuthorizeUrlSchema(ApiSchema):
    """Where to send the patient's browser to give consent."""

    authorize_url = fields.String(dump_only=True)


class AuthorizeArgsSchema(ApiSchema):
    """The start link the app opens: the state it was issued with."""

    state = fields.String(validate=validate.Length(max=64))


class UnlinkArgsSchema(ApiSchema):
    """Options of an unlink."""

    delete_data = fields.Boolean(load_default=False)


class CallbackArgsSchema(ApiSchema):
    """What the provider appends to the redirect URI."""

    code = fields.String()
    state = fields.String()
    error = fields.String()
    error_description = fields.String()

    class Meta:
        # Providers add their own parameters (scope, authuser, prompt...); they are ignored.
        unknown = EXCLUDE


class LinkedSchema(ApiSchema):
    """The answer of a successful OAuth callback (JSON clients)."""

    provider = fields.String(dump_only=True)
    status = fields.String(dump_only=True)
