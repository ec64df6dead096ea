"""Wearable connections: link (OAuth), list, unlink; the public OAuth callback and webhooks."""

from __future__ import annotations

import html
import json
from typing import Any

from flask import Response, request
from flask_smorest import Blueprint

from integrations.wearables import WebhookRejected, WebhookResponse
from service.accounts.auth import current_principal, require
from service.apidoc import problems
from service.connections import binding, service, webhooks
from service.connections.models import WearableConnection
from service.connections.schemas import (
    AuthorizeArgsSchema,
    AuthorizeUrlSchema,
    CallbackArgsSchema,
    ConnectionListSchema,
    LinkedSchema,
    UnlinkArgsSchema,
)
from service.db import utcnow
from service.errors import problem
from service.extensions import db, get_settings

blp = Blueprint(
    "connections",
    __name__,
    url_prefix="/v1/me/connections",
    description="The patient's links to wearable providers.",
)
integrations_blp = Blueprint(
    "integrations",
    __name__,
    url_prefix="/v1/integrations",
    description="Provider-facing endpoints: OAuth callback and webhooks (verified per provider).",
)


@blp.route("", methods=["GET"])
@require("patient")
@blp.response(200, ConnectionListSchema)
@problems(blp, 401, 403)
def list_connections() -> dict[str, list[WearableConnection]]:
    """List the patient's wearable connections (never their tokens)."""
    with db.reading() as session:
        return {"items": service.list_connections(session, current_principal().user_id)}


@blp.route("/<provider>", methods=["POST"])
@require("patient")
@blp.response(200, AuthorizeUrlSchema)
@problems(blp, 401, 403, 404, 409)
def link(provider: str) -> dict[str, str]:
    """Start linking a provider: open `authorize_url` once, in a browser tab, within 5 minutes.

    The URL is this server's: it ties the browser tab to the link with a cookie, then redirects
    to the provider's consent page. Consent must be finished in that same tab.
    """
    with db.transaction() as session:
        url = service.start_link(session, current_principal().user_id, provider, get_settings())
    return {"authorize_url": url}


@blp.route("/<provider>", methods=["DELETE"])
@require("patient")
@blp.arguments(UnlinkArgsSchema(), location="query")
@blp.response(204)
@problems(blp, 401, 403, 404)
def unlink(args: dict[str, Any], provider: str) -> None:
    """Unlink a provider (revoked at the provider too); `delete_data=true` erases its data."""
    service.unlink(
        db.transaction,
        current_principal().user_id,
        provider,
        delete_data=args["delete_data"],
        settings=get_settings(),
    )


@integrations_blp.route("/<provider>/authorize", methods=["GET"])
@integrations_blp.doc(security=[])
@integrations_blp.arguments(AuthorizeArgsSchema, location="query")
@integrations_blp.response(302)
@problems(integrations_blp, 400, 404, 409, 422)
def authorize(args: dict[str, Any], provider: str) -> Response:
    """Open a link the app started (once): bind this browser with a cookie, go to consent."""
    with db.transaction() as session:
        opened = binding.open_link(session, provider, args.get("state"), get_settings(), utcnow())
    response = Response(status=302, headers={"Location": opened.consent_url})
    response.set_cookie(
        binding.COOKIE,
        opened.cookie,
        max_age=opened.max_age,
        path=opened.cookie_path,
        secure=opened.secure,
        httponly=True,
        samesite="Lax",
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@integrations_blp.route("/<provider>/callback", methods=["GET"])
@integrations_blp.doc(security=[])
@integrations_blp.arguments(CallbackArgsSchema, location="query")
@integrations_blp.response(200, LinkedSchema)
@problems(integrations_blp, 400, 403, 404, 409, 503)
def callback(args: dict[str, Any], provider: str) -> Response:
    """Finish linking (OAuth redirect; state, PKCE and the browser's binding cookie checked)."""
    settings = get_settings()
    conn = service.finish_link(
        db.transaction,
        provider,
        code=args.get("code"),
        state=args.get("state"),
        error=args.get("error"),
        browser_binding=request.cookies.get(binding.COOKIE),
        settings=settings,
    )
    if request.accept_mimetypes.best_match(["text/html", "application/json"]) == "text/html":
        response = Response(_connected_page(conn.provider), mimetype="text/html")
    else:
        body = {"provider": conn.provider, "status": conn.status}
        response = Response(json.dumps(body), mimetype="application/json")
    response.delete_cookie(binding.COOKIE, path=binding.callback_path(provider, settings))
    return response


def _connected_page(provider: str) -> str:
    name = html.escape(provider)
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Connected</title></head>"
        f"<body><h1>{name} is connected</h1>"
        "<p>You can close this page and return to the Backstride app.</p></body></html>"
    )


@integrations_blp.route("/<provider>/webhook", methods=["GET", "POST", "HEAD"])
@integrations_blp.doc(security=[])
@problems(integrations_blp, 400, 401, 403, 404)
def webhook(provider: str) -> Response:
    """Receive a provider notification or verification handshake (signature checked)."""
    try:
        with db.transaction() as session:
            outcome = webhooks.receive_webhook(
                session,
                provider,
                method=request.method,
                headers=dict(request.headers),
                query=request.args.to_dict(),
                body=request.get_data(cache=False),
                settings=get_settings(),
            )
    except WebhookRejected as exc:
        status = exc.status if exc.status in (400, 401, 403) else 403
        titles = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden"}
        return problem(status, titles[status], str(exc))
    if isinstance(outcome, WebhookResponse):
        if isinstance(outcome.body, str):
            return Response(outcome.body, status=outcome.status, content_type=outcome.content_type)
        return Response(
            json.dumps(outcome.body), status=outcome.status, content_type=outcome.content_type
        )
    return Response(
        json.dumps({"received": outcome.received, "accepted": outcome.accepted}),
        status=200,
        mimetype="application/json",
    )
