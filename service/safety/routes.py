"""Safety views for staff: /v1/clinician/episodes and a patient's episodes and clearances."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from service.accounts.auth import current_principal, require
from service.apidoc import problems, reject_non_json_bodies
from service.db import utcnow
from service.extensions import db
from service.safety import service
from service.safety.models import Clearance, SafetyEpisode
from service.safety.schemas import (
    ClearanceCreateSchema,
    ClearanceListSchema,
    ClearanceSchema,
    EpisodeListSchema,
    EpisodeQueryArgsSchema,
    EpisodeSchema,
    ResolveSchema,
)

blp = Blueprint(
    "safety",
    __name__,
    url_prefix="/v1/clinician",
    description="Safety episodes a clinician must close, and clearances.",
)
blp.before_request(reject_non_json_bodies)
STAFF = ("clinician", "admin")


@blp.route("/episodes", methods=["GET"])
@require(*STAFF)
@blp.arguments(EpisodeQueryArgsSchema(), location="query")
@blp.response(200, EpisodeListSchema)
@problems(blp, 401, 403, 422)
def list_episodes(args: dict[str, Any]) -> dict[str, Any]:
    """List safety episodes (`open=true`: still open; `unassigned=true`: no clinic)."""
    with db.transaction() as session:
        items = service.list_episodes(
            session,
            current_principal(),
            open_only=args["open"],
            unassigned=args["unassigned"],
            limit=args["limit"],
        )
        return {"items": items}


@blp.route("/episodes/<int:episode_id>/resolve", methods=["POST"])
@require(*STAFF)
@blp.arguments(ResolveSchema())
@blp.response(200, EpisodeSchema)
@problems(blp, 400, 401, 403, 404, 409, 413, 415, 422)
def resolve(body: dict[str, Any], episode_id: int) -> SafetyEpisode:
    """Decide on an open episode: resume, resume_lower (with daily_target) or keep_paused."""
    with db.transaction() as session:
        return service.resolve(session, current_principal(), episode_id, body, utcnow())


@blp.route("/patients/<int:patient_id>/episodes", methods=["GET"])
@require(*STAFF)
@blp.response(200, EpisodeListSchema)
@problems(blp, 401, 403, 404)
def patient_episodes(patient_id: int) -> dict[str, Any]:
    """List one patient's safety episodes, newest first."""
    with db.transaction() as session:
        return {"items": service.patient_episodes(session, current_principal(), patient_id)}


@blp.route("/patients/<int:patient_id>/clearances", methods=["GET"])
@require(*STAFF)
@blp.response(200, ClearanceListSchema)
@problems(blp, 401, 403, 404)
def list_clearances(patient_id: int) -> dict[str, Any]:
    """List the conditions a patient is cleared for."""
    with db.transaction() as session:
        return {"items": service.list_clearances(session, current_principal(), patient_id)}


@blp.route("/patients/<int:patient_id>/clearances", methods=["POST"])
@require(*STAFF)
@blp.arguments(ClearanceCreateSchema())
@blp.response(201, ClearanceSchema)
@problems(blp, 400, 401, 403, 404, 409, 413, 415, 422)
def record_clearance(body: dict[str, Any], patient_id: int) -> Clearance:
    """Clear a patient for a condition: the programme may step up for it again."""
    with db.transaction() as session:
        return service.record_clearance(session, current_principal(), patient_id, body, utcnow())


@blp.route("/patients/<int:patient_id>/clearances/<condition>", methods=["DELETE"])
@require(*STAFF)
@blp.response(204)
@problems(blp, 401, 403, 404)
def withdraw_clearance(patient_id: int, condition: str) -> None:
    """Withdraw a clearance: the condition holds the programme again."""
    with db.transaction() as session:
        service.withdraw_clearance(session, current_principal(), patient_id, condition)
