"""Safety on the console: a clinician's decision on an episode, a clearance for a condition."""

from __future__ import annotations

from typing import Any

from flask import request, url_for
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from service.accounts.auth import Principal
from service.console.web import (
    REFUSALS,
    attempt,
    blp,
    done,
    fields_of,
    load_form,
    refused,
    safe_next,
    staff_page,
)
from service.db import utcnow
from service.safety import service
from service.safety.schemas import ClearanceCreateSchema, ResolveSchema

RESOLVE_FORM = ResolveSchema()
CLEARANCE_FORM = ClearanceCreateSchema()
DONE = {
    "resume": "Episode closed: the programme resumes.",
    "resume_lower": "Episode closed: the programme resumes at the new target.",
    "keep_paused": "Decision recorded: the programme stays paused.",
}


@blp.post("/episodes/<int:episode_id>/resolve")
@staff_page()
def resolve_episode(tx: Session, principal: Principal, episode_id: int) -> Response:
    """Record a decision on a safety episode (the API's use case), then go back."""
    back = safe_next(request.form.get("next")) if request.form.get("next") else None
    back = back or url_for("console.alert_queue")
    form: dict[str, Any] = fields_of(request.form, "decision", "daily_target", "note")
    if form.get("decision") != "resume_lower":
        form.pop("daily_target", None)  # the field is on the form whatever the choice
    elif str(form.get("daily_target", "")).isdigit():
        form["daily_target"] = int(form["daily_target"])
    try:
        body = load_form(RESOLVE_FORM, form)
        with attempt(tx):
            service.resolve(tx, principal, episode_id, body, utcnow())
    except REFUSALS as exc:
        return refused(exc, back)
    return done(DONE[body["decision"]], back)


@blp.post("/patients/<int:patient_id>/clearances")
@staff_page()
def record_clearance(tx: Session, principal: Principal, patient_id: int) -> Response:
    """Clear the patient for a condition (the API's use case)."""
    back = url_for("console.patient", patient_id=patient_id) + "#safety"
    try:
        body = load_form(CLEARANCE_FORM, fields_of(request.form, "condition", "note"))
        with attempt(tx):
            service.record_clearance(tx, principal, patient_id, body, utcnow())
    except REFUSALS as exc:
        return refused(exc, back)
    return done("Clearance recorded: the programme may step up for it again.", back)
