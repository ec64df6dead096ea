"""Request and response bodies of the auth endpoints."""

from __future__ import annotations

from marshmallow import fields, validate

from service.inputs import ApiSchema


class RegisterSchema(ApiSchema):
    """A patient signing up, possibly with a clinician's invite code."""

    email = fields.Email(required=True, validate=validate.Length(max=320))
    password = fields.String(required=True, validate=validate.Length(min=8, max=256))
    timezone = fields.String(required=True, validate=validate.Length(min=1, max=64))
    invite_code = fields.String(validate=validate.Length(min=1, max=32), allow_none=True)


class RegisteredSchema(ApiSchema):
    """The new patient's id and a first access token."""

    patient_id = fields.Integer(required=True)
    access_token = fields.String(required=True)
    token_type = fields.String(required=True)
    expires_in = fields.Integer(required=True)


class TokenRequestSchema(ApiSchema):
    """Credentials for an access token."""

    email = fields.String(required=True, validate=validate.Length(min=1, max=320))
    password = fields.String(required=True, validate=validate.Length(min=1, max=256))


class TokenSchema(ApiSchema):
    """An access token and the role it carries."""

    access_token = fields.String(required=True)
    token_type = fields.String(required=True)
    expires_in = fields.Integer(required=True)
    role = fields.String(required=True)
