"""The patient's activity: daily totals and walks from the phone, and the per-day history."""

from __future__ import annotations

import json
from typing import Any

from flask import Response
from flask_smorest import Blueprint

from service.accounts.auth import current_principal, require
from service.activity import service
from service.activity.schemas import (
    ActivityHistorySchema,
    ActivityQueryArgsSchema,
    DailyUploadSchema,
    SessionUploadSchema,
    UpsertedSchema,
)
from service.apidoc import problems, reject_non_json_bodies
from service.db import utcnow
from service.extensions import db

blp = Blueprint("activity", __name__, url_prefix="/v1/me/activity", description="Steps and walks.")
blp.before_request(reject_non_json_bodies)


@blp.route("/daily", methods=["PUT"])
@require("patient")
@blp.arguments(DailyUploadSchema())
@blp.response(200, UpsertedSchema)
@problems(blp, 400, 401, 403, 413, 415, 422)
def put_daily(body: dict[str, Any]) -> Response:
    """Store daily step totals (idempotent per date and source); the rules run within a minute."""
    with db.transaction() as session:
        stored = service.upsert_daily(session, current_principal().user_id, body["days"], utcnow())
    return _upserted(stored)


@blp.route("/sessions", methods=["POST"])
@require("patient")
@blp.arguments(SessionUploadSchema())
@blp.response(200, UpsertedSchema)
@problems(blp, 400, 401, 403, 413, 415, 422)
def post_sessions(body: dict[str, Any]) -> Response:
    """Store walking sessions (idempotent per source and start/end or external id); rules follow."""
    with db.transaction() as session:
        stored = service.upsert_sessions(
            session, current_principal().user_id, body["sessions"], utcnow()
        )
    return _upserted(stored)


def _upserted(stored: service.Upserted) -> Response:
    """The upload's answer: what was stored, and whether the rules will run on it shortly.

    Written by hand, not dumped through UpsertedSchema (which still documents it): phones
    upload often, and the dump cost more than these two fields are worth.
    """
    body = {"upserted": stored.records, "evaluation": "pending" if stored.changed else "none"}
    return Response(json.dumps(body), mimetype="application/json")


@blp.route("", methods=["GET"])
@require("patient")
@blp.arguments(ActivityQueryArgsSchema(), location="query")
@blp.response(200, ActivityHistorySchema)
@problems(blp, 400, 401, 403, 422)
def get_activity(args: dict[str, Any]) -> dict[str, Any]:
    """List each local day's effective steps, target and whether it was met."""
    with db.reading() as session:
        days = service.activity_days(
            session, current_principal().user_id, args.get("from_"), args.get("to"), utcnow()
        )
    return {"days": days}
