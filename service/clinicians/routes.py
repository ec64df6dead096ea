"""The clinician read API: /v1/clinician (a clinic's own patients; admins see all)."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from service.accounts.auth import current_principal, require
from service.apidoc import problems, reject_non_json_bodies
from service.clinicians import messages, service
from service.clinicians.schemas import (
    InviteCreateSchema,
    InviteSchema,
    MessageCreateSchema,
    PatientDetailSchema,
    PatientListSchema,
    TimelineQueryArgsSchema,
    TimelineSchema,
)
from service.db import utcnow
from service.extensions import db
from service.plans.schemas import PlanSchema, PlanUpdateSchema
from service.tips.schemas import TipSchema

blp = Blueprint(
    "clinician", __name__, url_prefix="/v1/clinician", description="Clinicians' patient views."
)
blp.before_request(reject_non_json_bodies)
STAFF = ("clinician", "admin")


@blp.route("/invites", methods=["POST"])
@require(*STAFF)
@blp.arguments(InviteCreateSchema())
@blp.response(201, InviteSchema)
@problems(blp, 400, 401, 403, 413, 415, 422)
def create_invite(body: dict[str, Any]) -> dict[str, Any]:
    """Create a one-time invite code for a new patient."""
    with db.transaction() as session:
        return service.create_invite(session, current_principal(), body, utcnow())


@blp.route("/patients", methods=["GET"])
@require(*STAFF)
@blp.response(200, PatientListSchema)
@problems(blp, 401, 403)
def list_patients() -> dict[str, Any]:
    """Summarise the caller's patients: 7-day steps, target, latest pain, open alerts."""
    with db.transaction() as session:
        return {"items": service.list_patients(session, current_principal(), utcnow())}


@blp.route("/patients/<int:patient_id>", methods=["GET"])
@require(*STAFF)
@blp.response(200, PatientDetailSchema)
@problems(blp, 401, 403, 404)
def get_patient(patient_id: int) -> dict[str, Any]:
    """Show one patient's summary, profile and plan."""
    with db.transaction() as session:
        return service.patient_detail(session, current_principal(), patient_id, utcnow())


@blp.route("/patients/<int:patient_id>/timeline", methods=["GET"])
@require(*STAFF)
@blp.arguments(TimelineQueryArgsSchema(), location="query")
@blp.response(200, TimelineSchema)
@problems(blp, 400, 401, 403, 404, 422)
def get_timeline(args: dict[str, Any], patient_id: int) -> dict[str, Any]:
    """Show a patient's days: steps, target, pain, exercise, and tips with why."""
    with db.transaction() as session:
        return service.timeline(
            session,
            current_principal(),
            patient_id,
            first=args.get("from_"),
            last=args.get("to"),
            now=utcnow(),
        )


@blp.route("/patients/<int:patient_id>/plan", methods=["PATCH"])
@require(*STAFF)
@blp.arguments(PlanUpdateSchema())
@blp.response(200, PlanSchema)
@problems(blp, 400, 401, 403, 404, 409, 413, 415, 422)
def patch_plan(body: dict[str, Any], patient_id: int) -> dict[str, Any]:
    """Change a patient's target, progression hold or rule set."""
    with db.transaction() as session:
        return service.change_plan(session, current_principal(), patient_id, body, utcnow())


@blp.route("/patients/<int:patient_id>/messages", methods=["POST"])
@require(*STAFF)
@blp.arguments(MessageCreateSchema())
@blp.response(201, TipSchema)
@problems(blp, 400, 401, 403, 404, 413, 415, 422)
def send_message(body: dict[str, Any], patient_id: int) -> dict[str, Any]:
    """Send the patient a personal message: their inbox and phone, category `clinician`."""
    with db.transaction() as session:
        return messages.send_message(session, current_principal(), patient_id, body, utcnow())
