"""Clinician alerts: /v1/clinician/alerts (own clinic; admins see all clinics)."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from service.accounts.auth import current_principal, require
from service.alerts import service
from service.alerts.models import ClinicianAlert
from service.alerts.schemas import AlertListSchema, AlertQueryArgsSchema, AlertSchema
from service.apidoc import problems, reject_non_json_bodies
from service.db import utcnow
from service.extensions import db

blp = Blueprint(
    "alerts", __name__, url_prefix="/v1/clinician/alerts", description="Clinician alerts."
)
blp.before_request(reject_non_json_bodies)
STAFF = ("clinician", "admin")


@blp.route("", methods=["GET"])
@require(*STAFF)
@blp.arguments(AlertQueryArgsSchema(), location="query")
@blp.response(200, AlertListSchema)
@problems(blp, 401, 403, 422)
def list_alerts(args: dict[str, Any]) -> dict[str, Any]:
    """List alerts (`open=true`: not yet acknowledged; `unassigned=true`: no clinic)."""
    with db.transaction() as session:
        items = service.list_alerts(
            session,
            current_principal(),
            args["open"],
            args["limit"],
            unassigned=args["unassigned"],
        )
        return {"items": items}


@blp.route("/<int:alert_id>/ack", methods=["POST"])
@require(*STAFF)
@blp.response(200, AlertSchema)
@problems(blp, 401, 403, 404, 415)
def acknowledge(alert_id: int) -> ClinicianAlert:
    """Acknowledge an alert."""
    with db.transaction() as session:
        return service.acknowledge(session, current_principal(), alert_id, utcnow())
