"""Auth endpoints: sign in, revoke every token of the caller (sign-up is in `patients`)."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from service.accounts import service
from service.accounts.auth import current_principal, require
from service.accounts.schemas import TokenRequestSchema, TokenSchema
from service.apidoc import problems, reject_non_json_bodies
from service.db import utcnow
from service.extensions import db, get_settings, sign_in_limit

blp = Blueprint("auth", __name__, url_prefix="/v1/auth", description="Sign-up and sign-in.")
blp.before_request(reject_non_json_bodies)


@blp.route("/token", methods=["POST"])
@sign_in_limit
@blp.arguments(TokenRequestSchema())
@blp.response(200, TokenSchema)
@problems(blp, 400, 401, 413, 415, 429, 422)
@blp.doc(security=[])
def token(body: dict[str, Any]) -> dict[str, Any]:
    """Exchange an email and password for an access token (failures lock the account a while)."""
    issued = service.sign_in(
        db.transaction, get_settings(), body["email"], body["password"], utcnow()
    )
    return {
        "access_token": issued.access_token,
        "token_type": issued.token_type,
        "expires_in": issued.expires_in,
        "role": issued.role,
    }


@blp.route("/revoke", methods=["POST"])
@require()
@blp.response(204)
@problems(blp, 401, 415)
def revoke() -> None:
    """Revoke every access token of the caller, this one included."""
    with db.transaction() as session:
        service.revoke_tokens(session, current_principal().user_id)
