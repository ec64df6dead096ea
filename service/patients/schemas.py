"""Bodies of the patient's own profile and device endpoints."""

from __future__ import annotations

import ipaddress
import json
from typing import Any
from urllib.parse import urlsplit

from marshmallow import ValidationError, fields, validate, validates_schema

from integrations.netguard import UnsafeEndpoint, canonical_host, is_public
from rules.facts import CONDITIONS
from service.channels import PLATFORMS
from service.inputs import ApiSchema
from service.patients.models import SOURCES

HHMM = validate.Regexp(r"^([01]\d|2[0-3]):[0-5]\d$", error="must be HH:MM (24-hour)")
LOCALE = validate.Regexp(
    r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$", error="must be a language tag like en or en-GB"
)


def web_subscription_problem(token: str) -> str | None:
    """Why a Web Push subscription is unusable as written, or None (its name is resolved later)."""
    try:
        subscription = json.loads(token)
        endpoint = urlsplit(subscription["endpoint"])
        keys = subscription["keys"]
        if not (isinstance(keys, dict) and keys.get("p256dh") and keys.get("auth")):
            return "a Web Push subscription needs keys.p256dh and keys.auth"
        host = endpoint.hostname or ""
    except (ValueError, TypeError, KeyError, AttributeError):
        return "must be a Web Push subscription: {endpoint, keys: {p256dh, auth}}"
    if endpoint.scheme != "https" or not host:
        return "the subscription endpoint must be an https URL"
    try:
        name = canonical_host(host)
    except UnsafeEndpoint as exc:
        return f"the subscription endpoint must be a public host: {exc}"
    if _ip_literal(name) is False:
        return "the subscription endpoint must be a public host"
    return None


def _ip_literal(name: str) -> bool | None:
    """Whether an IP-literal host is public; None when the host is a name."""
    try:
        return is_public(ipaddress.ip_address(name))
    except ValueError:
        return None


class QuietHoursSchema(ApiSchema):
    """A patient-local window in which pushes wait (may cross midnight)."""

    start = fields.String(required=True, validate=HHMM)
    end = fields.String(required=True, validate=HHMM)

    @validates_schema
    def _not_empty(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if data["start"] == data["end"]:
            raise ValidationError("start and end must differ", "end")


class ProfileSchema(ApiSchema):
    """The patient's profile as they see it."""

    id = fields.Integer(dump_only=True)
    email = fields.String(dump_only=True)
    timezone = fields.String(dump_only=True)
    locale = fields.String(dump_only=True)
    conditions = fields.List(fields.String(), dump_only=True)
    quiet_hours = fields.Nested(QuietHoursSchema, dump_only=True, allow_none=True)
    max_tips_per_day = fields.Integer(dump_only=True, allow_none=True)
    shoes_changed_on = fields.Date(dump_only=True, allow_none=True)
    primary_source = fields.String(dump_only=True, allow_none=True)
    clinic_id = fields.Integer(dump_only=True, allow_none=True)
    clinician_id = fields.Integer(dump_only=True, allow_none=True)
    enrolled_at = fields.AwareDateTime(dump_only=True)


class ProfileUpdateSchema(ApiSchema):
    """The profile fields a patient may change (all optional; null clears where allowed)."""

    timezone = fields.String(validate=validate.Length(min=1, max=64))
    locale = fields.String(validate=LOCALE)
    conditions = fields.List(
        fields.String(validate=validate.OneOf(sorted(CONDITIONS))),
        validate=validate.Length(max=len(CONDITIONS)),
    )
    quiet_hours = fields.Nested(QuietHoursSchema, allow_none=True)
    max_tips_per_day = fields.Integer(
        strict=True, allow_none=True, validate=validate.Range(min=0, max=20)
    )
    shoes_changed_on = fields.Date(allow_none=True)
    primary_source = fields.String(allow_none=True, validate=validate.OneOf(SOURCES))


class DeviceCreateSchema(ApiSchema):
    """A push token to register for this patient."""

    platform = fields.String(required=True, validate=validate.OneOf(PLATFORMS))
    token = fields.String(required=True, validate=validate.Length(min=1, max=4096))

    @validates_schema
    def _web_subscription(self, data: dict[str, Any], **_kwargs: Any) -> None:
        # A Web Push "token" is a subscription whose endpoint we will POST to: only a public
        # https endpoint, so a client cannot make the delivery worker call into our network.
        if data.get("platform") == "web":
            problem = web_subscription_problem(data.get("token", ""))
            if problem:
                raise ValidationError(problem, field_name="token")


class DeviceSchema(ApiSchema):
    """A registered device."""

    id = fields.Integer(dump_only=True)


class ClinicJoinSchema(ApiSchema):
    """An invite code from a clinic, for a patient who registered without one."""

    invite_code = fields.String(required=True, validate=validate.Length(min=1, max=32))
