"""Rule sets: list and versions, the editor (problems at their lines), diff, simulate,
publish and assign. Clinicians of a clinic only, as in the API."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from flask import render_template, request, url_for
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

import rules
from service.accounts.auth import Principal
from service.clinicians import service as clinicians
from service.clinicians import worklist
from service.console.charts import day_chart
from service.console.web import REFUSALS, attempt, blp, done, load_form, refused, staff_page
from service.db import utcnow
from service.errors import Invalid, field_error
from service.rulesets import service as rulesets
from service.rulesets.examples import EXAMPLES, example_range
from service.rulesets.schemas import SimulateRequestSchema

CLINICIAN = "clinician"
SIMULATE_FORM = SimulateRequestSchema()
MAX_TEXT = 512 * 1024


@blp.get("/rulesets")
@staff_page(CLINICIAN)
def ruleset_list(tx: Session, principal: Principal) -> str:
    """The clinic's rule sets."""
    return render_template("console/rulesets.html", rulesets=rulesets.list_rulesets(tx, principal))


@blp.get("/rulesets/<string:slug>")
@staff_page(CLINICIAN)
def ruleset(tx: Session, principal: Principal, slug: str) -> str:
    """One rule set's versions, with publish, diff, simulate and assign."""
    versions = rulesets.list_versions(tx, principal, slug)
    return render_template("console/ruleset.html", slug=slug, versions=versions)


@blp.get("/rulesets/<string:slug>/versions/<int:number>")
@staff_page(CLINICIAN)
def version(tx: Session, principal: Principal, slug: str, number: int) -> str:
    """One version's YAML with line numbers."""
    found = rulesets.get_version(tx, principal, slug, number)
    return render_template("console/version.html", version=found, lines=found["yaml"].splitlines())


@blp.route("/editor", methods=["GET", "POST"])
@staff_page(CLINICIAN)
def editor(tx: Session, principal: Principal) -> Response | tuple[str, int] | str:
    """Edit YAML; check it (problems at their lines) or save it as a new draft version."""
    slug = request.values.get("slug", "")
    if request.method == "GET":
        start = request.args.get("from", type=int)
        text = (
            rulesets.get_version(tx, principal, slug, start)["yaml"]
            if slug and start
            else rules.default_ruleset_text()
        )
        return _editor_page(text, slug, None, [], status=200)
    text = request.form.get("yaml", "").replace("\r\n", "\n")
    if len(text) > MAX_TEXT:
        return _editor_page(text[:MAX_TEXT], slug, "too long", [], status=413)
    try:
        checked = rulesets.check(text)
    except Invalid as exc:
        return _editor_page(text, slug, "invalid", exc.errors or [], status=422)
    if request.form.get("action") != "save":
        return _editor_page(text, slug, "valid", checked.warnings, status=200)
    try:
        with attempt(tx):
            saved, new = rulesets.create_version(tx, principal, text, utcnow())
    except REFUSALS as exc:
        return _editor_page(text, slug, "refused", [{"message": exc.detail}], status=exc.status)
    message = (
        f"Saved as version {saved['version']} (a draft: publish it to put it in use)."
        if new
        else f"Nothing new: this text is already version {saved['version']} ({saved['status']})."
    )
    return done(message, url_for("console.ruleset", slug=saved["ruleset"]))


def _editor_page(
    text: str, slug: str, outcome: str | None, issues: list[dict[str, Any]], *, status: int
) -> tuple[str, int]:
    by_line: dict[int, list[str]] = defaultdict(list)
    for issue in issues:
        if issue.get("line"):
            by_line[int(issue["line"])].append(issue["message"])
    lines = text.split("\n")
    page = render_template(
        "console/editor.html",
        text=text,
        slug=slug,
        lines=lines,
        rows=len(lines) + 2,
        outcome=outcome,
        issues=issues,
        by_line=dict(by_line),
    )
    return page, status


@blp.get("/rulesets/<string:slug>/diff")
@staff_page(CLINICIAN)
def diff(tx: Session, principal: Principal, slug: str) -> str:
    """What changed between two versions (difflib's unified diff)."""
    versions = rulesets.list_versions(tx, principal, slug)
    numbers = [v["version"] for v in versions]
    new = request.args.get("to", default=numbers[0] if numbers else 1, type=int)
    old = request.args.get("from", default=max(new - 1, 1), type=int)
    lines = rulesets.diff_versions(tx, principal, slug, old, new)
    return render_template(
        "console/diff.html", slug=slug, old=old, new=new, numbers=numbers, lines=lines
    )


@blp.get("/rulesets/<string:slug>/simulate")
@staff_page(CLINICIAN)
def simulate(tx: Session, principal: Principal, slug: str) -> Response | tuple[str, int] | str:
    """Replay a version on one of the clinic's patients or a built-in history, as a chart."""
    versions = rulesets.list_versions(tx, principal, slug)
    patients = worklist.patient_choices(tx, principal)
    source = request.args.get("source", "")
    result, error = None, None
    if source:
        try:
            body = load_form(SIMULATE_FORM, _simulate_body(request.args, source))
            with attempt(tx):
                result = rulesets.simulate(tx, principal, slug, body)
        except REFUSALS as exc:
            error = exc.detail
    days = _chart_days(result["days"]) if result else []
    page = render_template(
        "console/simulate.html",
        slug=slug,
        versions=versions,
        patients=patients,
        examples=EXAMPLES,
        source=source,
        chosen_version=request.args.get("version", ""),
        result=result,
        days=days,
        chart=day_chart(days) if days else None,
        error=error,
    )
    return page, (422 if error else 200)


def _simulate_body(args: Any, source: str) -> dict[str, Any]:
    """The API's simulate body from the form: a version, and a patient or an example."""
    kind, _, value = source.partition(":")
    today = utcnow().date()
    body: dict[str, Any] = {}
    if args.get("version", "").isdigit():
        body["version"] = int(args["version"])
    if kind == "patient" and value.isdigit():
        body["patient_id"] = int(value)
        first = today - dt.timedelta(days=27)
        body["from"], body["to"] = first.isoformat(), today.isoformat()
    elif kind == "example" and value in EXAMPLES:
        body["example"] = value
        first, last = example_range(value, today - dt.timedelta(days=1))
        body["from"], body["to"] = first.isoformat(), last.isoformat()
    else:
        raise field_error("source", "choose a patient or a built-in history")
    return body


def _chart_days(days: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Simulated days in the shape the patient page's chart and table read."""
    return [
        {
            "date": day["date"],
            "steps": day["steps"],
            "target": day["target"],
            "met": None
            if day["steps"] is None or day["target"] is None
            else day["steps"] >= day["target"],
            "pain": day["pain"],
            "pain_reports": [{"score": score} for score in day["pain"]],
            "exercise": [],
            "fired": day["fired"],
            "alerts": day["alerts"],
            "tips": [
                {
                    "title": sent["title"],
                    "why": sent["why"],
                    "category": "urgent" if sent["urgent"] else "tip",
                    "helpful": None,
                    "done": None,
                    "read_at": None,
                    "rule_id": sent["rule"],
                }
                for sent in day["sent"]
            ],
        }
        for day in days
    ]


@blp.post("/rulesets/<string:slug>/versions/<int:number>/publish")
@staff_page(CLINICIAN)
def publish(tx: Session, principal: Principal, slug: str, number: int) -> Response:
    """Publish a version: patients following this rule set use it from now on."""
    back = url_for("console.ruleset", slug=slug)
    try:
        with attempt(tx):
            rulesets.publish_version(tx, principal, slug, number, utcnow())
    except REFUSALS as exc:
        return refused(exc, back)
    return done(f"Version {number} is published: patients on {slug} follow it now.", back)


@blp.post("/rulesets/<string:slug>/assign")
@staff_page(CLINICIAN)
def assign(tx: Session, principal: Principal, slug: str) -> Response:
    """Assign this rule set to a patient (the plan change the API makes)."""
    back = url_for("console.ruleset", slug=slug) + "#assign"
    try:
        patient_id = worklist.find_patient(tx, principal, request.form.get("patient", ""))
        with attempt(tx):
            clinicians.change_plan(tx, principal, patient_id, {"ruleset": slug}, utcnow())
    except REFUSALS as exc:
        return refused(exc, back)
    return done(f"Patient {patient_id} now follows {slug}.", back)
