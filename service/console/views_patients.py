"""The patient page: chart and table, plan, alerts, tips and feedback, evaluations, and the
forms that change the plan, assign a rule set and send a word from the clinician."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from flask import render_template, request, session, url_for
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from service.accounts.auth import Principal
from service.alerts import service as alerts
from service.clinicians import messages, safety
from service.clinicians import service as clinicians
from service.clinicians.schemas import MessageCreateSchema
from service.console.charts import day_chart, tip_summary
from service.console.web import (
    REFUSALS,
    attempt,
    blp,
    done,
    fields_of,
    load_form,
    refused,
    staff_page,
)
from service.db import utcnow
from service.errors import field_error
from service.evaluation import queries
from service.patients.access import patient_in_scope
from service.plans import service as plans
from service.plans.schemas import PlanUpdateSchema
from service.questionnaires import service as questionnaires
from service.rulesets import service as rulesets

RANGES = (14, 28, 56, 90)
PLAN_FORM = PlanUpdateSchema()
MESSAGE_FORM = MessageCreateSchema()
REASONS = {
    "initial": "Starting target",
    "clinician": "Changed by a clinician",
    "resume_lower": "Set when a clinician closed a safety episode",
}


def _draft_key(patient_id: int) -> str:
    return f"draft:{patient_id}"


def chart_days(days: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Timeline days (the API's) as the chart and its table read them."""
    return [
        {
            "date": day["date"],
            "steps": day["steps"],
            "target": day["target"],
            "met": day["met"],
            "pain": [p["score"] for p in day["pain"]],
            "pain_reports": day["pain"],
            "exercise": day["exercise"],
            "tips": day["tips"],
        }
        for day in days
    ]


def plan_reason(reason: str) -> str:
    """A plan change's reason in words: the rule that changed it, or who did."""
    return REASONS.get(reason, f"Rule {reason}")


@blp.get("/patients/<int:patient_id>")
@staff_page()
def patient(tx: Session, principal: Principal, patient_id: int) -> str:
    """Everything about one patient on one page."""
    now = utcnow()
    days_shown = request.args.get("days", default=28, type=int)
    days_shown = days_shown if days_shown in RANGES else 28
    detail = clinicians.patient_detail(tx, principal, patient_id, now)
    zone = zoneinfo.ZoneInfo(detail["timezone"])
    today = now.astimezone(zone).date()
    timeline = clinicians.timeline(
        tx,
        principal,
        patient_id,
        first=today - dt.timedelta(days=days_shown - 1),
        last=today,
        now=now,
    )
    days = chart_days(timeline["days"])
    tips = [tip for day in reversed(days) for tip in reversed(day["tips"])]
    suggestions = messages.suggestions(tx, principal, patient_id)
    picked = next((s for s in suggestions if s["tip"] == request.args.get("tip")), None)
    draft = session.pop(_draft_key(patient_id), None)
    return render_template(
        "console/patient.html",
        patient=detail,
        days=days,
        days_shown=days_shown,
        ranges=RANGES,
        chart=day_chart(days),
        tips=tips,
        tip_summary=tip_summary,
        plan=plans.plan_view(tx, patient_id, zone) if detail["target"] is not None else None,
        plan_reason=plan_reason,
        alerts=alerts.for_patient(tx, principal, patient_id),
        evaluations=queries.list_evaluations(tx, principal, patient_id, 10, None)["items"],
        suggestions=suggestions,
        picked=picked,
        draft=draft,
        rulesets=rulesets.published_slugs(tx, detail["clinic_id"]),
        safety=safety.patient_safety(tx, principal, patient_id),
        scores=questionnaires.score_table(tx, patient_id, detail["clinic_id"]),
    )


@blp.post("/patients/<int:patient_id>/plan")
@staff_page()
def change_plan(tx: Session, principal: Principal, patient_id: int) -> Response:
    """Change the target, hold progression, or assign a rule set (the API's use case)."""
    back = url_for("console.patient", patient_id=patient_id) + "#plan"
    form = fields_of(request.form, "daily_target", "hold_until", "ruleset")
    try:
        profile = patient_in_scope(tx, principal, patient_id)
        body: dict[str, Any] = {}
        if "daily_target" in form:
            body["daily_target"] = (
                int(form["daily_target"])
                if form["daily_target"].isdigit()
                else form["daily_target"]
            )
        if "ruleset" in form:
            body["ruleset"] = form["ruleset"]
        if request.form.get("clear_hold"):
            body["hold_progression_until"] = None
        elif "hold_until" in form:
            body["hold_progression_until"] = _end_of_local_day(form["hold_until"], profile.timezone)
        if not body:
            raise field_error("daily_target", "change the target, the hold or the rule set")
        loaded = load_form(PLAN_FORM, body)
        with attempt(tx):
            clinicians.change_plan(tx, principal, patient_id, loaded, utcnow())
    except REFUSALS as exc:
        return refused(exc, back)
    return done("Plan updated.", back)


def _end_of_local_day(text: str, timezone: str) -> str:
    """A date from the form as the end of that day in the patient's zone (ISO 8601)."""
    try:
        day = dt.date.fromisoformat(text)
    except ValueError as exc:
        raise field_error("hold_progression_until", "give a date like 2026-12-31") from exc
    return plans.end_of_day(day, zoneinfo.ZoneInfo(timezone)).isoformat()


@blp.post("/patients/<int:patient_id>/messages")
@staff_page()
def send_message(tx: Session, principal: Principal, patient_id: int) -> Response:
    """Send a word from the clinician to the patient's inbox and phone."""
    back = url_for("console.patient", patient_id=patient_id) + "#message"
    form = fields_of(request.form, "text", "title", "tip")
    try:
        body = load_form(MESSAGE_FORM, form)
        with attempt(tx):
            messages.send_message(tx, principal, patient_id, body, utcnow())
    except REFUSALS as exc:
        # Keep what was written, so a refused message is not lost.
        session[_draft_key(patient_id)] = {k: form.get(k, "") for k in ("title", "text", "tip")}
        return refused(exc, back)
    return done("Message sent to the patient's inbox and phone.", back)
