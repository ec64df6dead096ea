"""The patient's tips inbox: /v1/me/tips."""

from __future__ import annotations

import json
from typing import Any

from flask import Response
from flask_smorest import Blueprint

from service.accounts.auth import current_principal, require
from service.apidoc import problems, reject_non_json_bodies
from service.db import utcnow
from service.extensions import db
from service.tips import service
from service.tips.schemas import TipFeedbackSchema, TipPageSchema, TipQueryArgsSchema, TipSchema

blp = Blueprint("tips", __name__, url_prefix="/v1/me/tips", description="The tips inbox.")
blp.before_request(reject_non_json_bodies)


@blp.route("", methods=["GET"])
@require("patient")
@blp.arguments(TipQueryArgsSchema(), location="query")
@blp.response(200, TipPageSchema)
@problems(blp, 400, 401, 403, 422)
def list_tips(args: dict[str, Any]) -> Response:
    """List the caller's tips, newest first (keyset pages)."""
    with db.reading() as session:
        tips, next_cursor = service.list_tips(
            session,
            current_principal().user_id,
            unread=args.get("unread"),
            cursor=args.get("cursor"),
            limit=args["limit"],
        )
    # Serialised by hand, not through TipPageSchema: the inbox is the hottest read and
    # marshmallow would double its cost. The schema still documents it (and the fuzz test
    # checks the two agree).
    body = {"items": [service.tip_json(tip) for tip in tips], "next_cursor": next_cursor}
    return Response(json.dumps(body), mimetype="application/json")


@blp.route("/<int:tip_id>/read", methods=["POST"])
@require("patient")
@blp.response(200, TipSchema)
@problems(blp, 401, 403, 404, 415)
def read_tip(tip_id: int) -> dict[str, Any]:
    """Mark a tip read."""
    with db.transaction() as session:
        tip = service.mark_read(session, current_principal().user_id, tip_id, utcnow())
        return service.tip_view(tip)


@blp.route("/<int:tip_id>/opened", methods=["POST"])
@require("patient")
@blp.response(200, TipSchema)
@problems(blp, 401, 403, 404, 415)
def open_tip(tip_id: int) -> dict[str, Any]:
    """Note that the tip's push notification was opened."""
    with db.transaction() as session:
        tip = service.mark_opened(session, current_principal().user_id, tip_id, utcnow())
        return service.tip_view(tip)


@blp.route("/<int:tip_id>/feedback", methods=["POST"])
@require("patient")
@blp.arguments(TipFeedbackSchema())
@blp.response(200, TipSchema)
@problems(blp, 400, 401, 403, 404, 413, 415, 422)
def tip_feedback(body: dict[str, Any], tip_id: int) -> dict[str, Any]:
    """Say whether a tip helped and whether you did it."""
    with db.transaction() as session:
        tip = service.give_feedback(
            session,
            current_principal().user_id,
            tip_id,
            helpful=body["helpful"],
            done=body.get("done"),
            now=utcnow(),
        )
        return service.tip_view(tip)
