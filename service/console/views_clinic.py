"""Today (the clinic's patients by need), the alert queue, and invites."""

from __future__ import annotations

from flask import render_template, request, url_for
from markupsafe import Markup
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from service.accounts.auth import Principal
from service.alerts import service as alerts
from service.clinicians import invites, safety, worklist
from service.clinicians import service as clinicians
from service.clinicians.schemas import InviteCreateSchema
from service.console.charts import sparkline
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
from service.rulesets import service as rulesets

INVITE_FORM = InviteCreateSchema()


@blp.get("/")
@staff_page()
def today(tx: Session, principal: Principal) -> str:
    """The clinic's patients, most in need first, with search and pages."""
    search = request.args.get("q", "")[:100]
    page = request.args.get("page", default=1, type=int) or 1
    listing = worklist.today_list(tx, principal, utcnow(), search=search, page=page)
    rows = [(row, sparkline(row.series)) for row in listing["items"]]
    return render_template(
        "console/today.html", listing=listing, rows=rows, search=search, now=utcnow()
    )


@blp.get("/alerts")
@staff_page()
def alert_queue(tx: Session, principal: Principal) -> str:
    """Open safety episodes, then open alerts by severity and age."""
    return render_template(
        "console/alerts.html",
        alerts=alerts.queue(tx, principal),
        episodes=safety.open_episodes(tx, principal),
        now=utcnow(),
    )


@blp.post("/alerts/<int:alert_id>/ack")
@staff_page()
def acknowledge(tx: Session, principal: Principal, alert_id: int) -> Response:
    """Acknowledge an alert, then go back where the button was."""
    back = safe_next(request.form.get("next")) if request.form.get("next") else None
    back = back or url_for("console.alert_queue")
    try:
        with attempt(tx):
            alerts.acknowledge(tx, principal, alert_id, utcnow())
    except REFUSALS as exc:
        return refused(exc, back)
    return done("Alert acknowledged.", back)


@blp.get("/invites")
@staff_page()
def invite_list(tx: Session, principal: Principal) -> str:
    """Create an invite; the clinic's recent invites."""
    return render_template(
        "console/invites.html",
        invites=invites.recent_invites(tx, principal, utcnow()),
        rulesets=rulesets.published_slugs(tx, principal.clinic_id),
        is_admin=principal.role == "admin",
    )


@blp.post("/invites")
@staff_page()
def create_invite(tx: Session, principal: Principal) -> Response:
    """Create a one-time invite code (the API's use case) and show it with its QR code."""
    form = fields_of(request.form, "ruleset", "expires_in_days", "clinic_id")
    back = url_for("console.invite_list")
    try:
        body = load_form(INVITE_FORM, _numbers(form, "expires_in_days", "clinic_id"))
        with attempt(tx):
            invite = clinicians.create_invite(tx, principal, body, utcnow())
    except REFUSALS as exc:
        return refused(exc, back)
    return done("Invite created.", url_for("console.invite", code=invite["code"]))


def _numbers(form: dict[str, str], *names: str) -> dict[str, object]:
    """Form fields the API takes as integers (left as text when they are not numbers, so the
    schema names the field)."""
    out: dict[str, object] = dict(form)
    for name in names:
        if name in form and form[name].isdigit():
            out[name] = int(form[name])
    return out


@blp.get("/invites/<string:code>")
@staff_page()
def invite(tx: Session, principal: Principal, code: str) -> str:
    """One invite: its code to read out and a QR code for the patient's phone."""
    card = invites.invite_card(tx, principal, code[:32], utcnow())
    return render_template("console/invite.html", invite=card, qr=Markup(card["qr_svg"]))  # noqa: S704 - segno's SVG of our own code
