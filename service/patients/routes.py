"""Sign-up (/v1/auth/register), and the patient's own profile and push devices: /v1/me."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask_smorest import Blueprint

from service.accounts.auth import current_principal, require
from service.accounts.schemas import RegisteredSchema, RegisterSchema
from service.apidoc import problems, reject_non_json_bodies
from service.db import utcnow
from service.extensions import db, endpoint_resolver, get_settings, limiter, login_limit
from service.patients import service
from service.patients.schemas import (
    ClinicJoinSchema,
    DeviceCreateSchema,
    DeviceSchema,
    ProfileSchema,
    ProfileUpdateSchema,
)

blp = Blueprint("me", __name__, url_prefix="/v1/me", description="The patient's own profile.")
blp.before_request(reject_non_json_bodies)
# Sign-up sits beside sign-in under /v1/auth, but creating a patient is this package's use case.
signup_blp = Blueprint("signup", __name__, url_prefix="/v1/auth", description="Sign-up.")
signup_blp.before_request(reject_non_json_bodies)


def _login_limit() -> str:
    return login_limit()


@signup_blp.route("/register", methods=["POST"])
@limiter.limit(_login_limit, scope="auth-register")
@signup_blp.arguments(RegisterSchema())
@signup_blp.response(201, RegisteredSchema)
@problems(signup_blp, 400, 409, 413, 415, 429, 422)
@signup_blp.doc(security=[])
def register(body: dict[str, Any]) -> dict[str, Any]:
    """Sign up as a patient (an invite code links a clinic, clinician and rule set)."""
    with db.transaction() as session:
        token = service.register_patient(
            session,
            get_settings(),
            email=body["email"],
            password=body["password"],
            timezone=body["timezone"],
            invite_code=body.get("invite_code"),
            now=utcnow(),
        )
    return {
        "patient_id": token.user_id,
        "access_token": token.access_token,
        "token_type": token.token_type,
        "expires_in": token.expires_in,
    }


@blp.route("", methods=["GET"])
@require("patient")
@blp.response(200, ProfileSchema)
@problems(blp, 401, 403)
def get_me() -> dict[str, Any]:
    """Show the caller's profile."""
    with db.reading() as session:
        return service.profile_view(
            session, service.get_profile(session, current_principal().user_id)
        )


@blp.route("", methods=["PATCH"])
@require("patient")
@blp.arguments(ProfileUpdateSchema())
@blp.response(200, ProfileSchema)
@problems(blp, 400, 401, 403, 413, 415, 422)
def patch_me(body: dict[str, Any]) -> dict[str, Any]:
    """Change some of the caller's profile settings."""
    with db.transaction() as session:
        profile = service.update_profile(session, current_principal().user_id, body, utcnow())
        return service.profile_view(session, profile)


@blp.route("/clinic", methods=["POST"])
@require("patient")
@blp.arguments(ClinicJoinSchema())
@blp.response(200, ProfileSchema)
@problems(blp, 400, 401, 403, 409, 413, 415, 422)
def join_clinic(body: dict[str, Any]) -> dict[str, Any]:
    """Join a clinic with its invite code (for a patient who registered without one)."""
    with db.transaction() as session:
        profile = service.join_clinic(
            session, current_principal().user_id, body["invite_code"], utcnow()
        )
        return service.profile_view(session, profile)


@blp.route("/devices", methods=["POST"])
@require("patient")
@blp.arguments(DeviceCreateSchema())
@blp.response(201, DeviceSchema)
@problems(blp, 400, 401, 403, 413, 415, 422)
def add_device(body: dict[str, Any]) -> dict[str, Any]:
    """Register a push token (idempotent; moves the token to the caller)."""
    if body["platform"] == "web":
        # Resolved before the transaction: no lock is held while DNS answers.
        service.check_web_endpoint(body["token"], endpoint_resolver(current_app))
    with db.transaction() as session:
        device_id = service.register_device(
            session, current_principal().user_id, body["platform"], body["token"], utcnow()
        )
    return {"id": device_id}


@blp.route("/devices/<int:device_id>", methods=["DELETE"])
@require("patient")
@blp.response(204)
@problems(blp, 401, 403, 404)
def remove_device(device_id: int) -> None:
    """Forget one of the caller's devices."""
    with db.transaction() as session:
        service.delete_device(session, current_principal().user_id, device_id)
