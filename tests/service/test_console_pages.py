"""Console pages over the API's use cases: patient page, alerts, invites and rule sets."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

from flask import Flask
from sqlalchemy import select

import rules
from service.activity.models import DailyActivity
from service.alerts.models import ClinicianAlert
from service.db import utcnow
from service.evaluation.service import evaluate_one
from service.extensions import db
from service.patients.models import PatientProfile
from service.plans.models import PlanChange
from service.reports.models import ExerciseSession, PainReport
from service.rulesets.models import RuleSet
from service.rulesets.service import add_version, publish
from service.tips.models import Tip
from tests.support.console import post_form, signed_in
from tests.support.factories import Seed

LONDON = zoneinfo.ZoneInfo("Europe/London")
DEFAULT = rules.default_ruleset_text()
TYPO = DEFAULT.replace("(pain.latest >= 8", "(pain.lastest >= 8", 1)


def _history(seed: Seed) -> None:
    """A week of patient A: steps, a pain report, a stretch, a tip with feedback, evaluations."""
    now = dt.datetime.now(dt.UTC)
    today = now.astimezone(LONDON).date()
    yesterday_noon = dt.datetime.combine(today - dt.timedelta(days=1), dt.time(12), tzinfo=LONDON)
    with db.transaction() as session:
        # Enrolled a month ago, on a target of 4,000 from then on.
        for change in session.scalars(select(PlanChange)):
            change.effective_at = now - dt.timedelta(days=30)
        for back in range(1, 8):
            session.add(
                DailyActivity(
                    patient_id=seed.patient_a,
                    date=today - dt.timedelta(days=back),
                    source="manual",
                    steps=3000 + back * 250,
                )
            )
        session.add_all(
            [
                PainReport(patient_id=seed.patient_a, score=8, recorded_at=yesterday_noon),
                ExerciseSession(
                    patient_id=seed.patient_a,
                    kind="stretch",
                    name="hamstrings",
                    performed_at=yesterday_noon,
                ),
                Tip(
                    patient_id=seed.patient_a,
                    rule_id="walking-form",
                    tip_key="walking-form",
                    category="form",
                    title="Walk tall",
                    text="Picture a string lifting your head.",
                    why="You walked on most days this week.",
                    created_at=yesterday_noon + dt.timedelta(minutes=5),
                    helpful=True,
                ),
            ]
        )
    with db.transaction() as session:
        evaluate_one(session, seed.patient_a, "pain_report", now)


def test_it_shows_the_patient_with_chart_table_plan_and_why(app: Flask, seed: Seed) -> None:
    _history(seed)
    page = signed_in(app, seed.clinician).get(f"/console/patients/{seed.patient_a}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    # The chart's text alternative: one row per day, steps against that day's target.
    table = html[html.index('id="chart-table"') :]
    rows = re.findall(r"<tr>\s*<th scope=\"row\">(.*?)</th>(.*?)</tr>", table, re.S)
    assert len(rows) == 28
    yesterday = rows[-2][1]
    assert "4,000" in yesterday  # the target
    assert "8/10" in yesterday
    assert "stretch: hamstrings" in yesterday
    assert "Walk tall" in yesterday
    # A focusable tip marker says what went out, why, and the feedback.
    marker = re.search(r'<g class="marker" tabindex="0" role="img" aria-label="([^"]+)"', html)
    assert marker is not None
    assert "Walk tall. Why: You walked on most days this week. Feedback: helpful." in marker[1]
    assert "Starting target" in html  # the plan history's reason in words
    # The evaluation the pain report triggered, as a tree of its rules and conditions.
    assert "pain_report: " in html
    assert "<code>pain.latest &gt;= 7</code> is <code>8 &gt;= 7</code>, so True" in html


def test_it_acknowledges_alerts_from_the_queue_in_order(app: Flask, seed: Seed) -> None:
    now = dt.datetime.now(dt.UTC)
    with db.transaction() as session:
        for severity, hours, message in (
            ("info", 9, "Old info"),
            ("urgent", 1, "New urgent"),
            ("urgent", 5, "Old urgent"),
            ("warning", 3, "A warning"),
        ):
            session.add(
                ClinicianAlert(
                    clinic_id=seed.clinic_id,
                    patient_id=seed.patient_a,
                    severity=severity,
                    message=message,
                    created_at=now - dt.timedelta(hours=hours),
                )
            )
    browser = signed_in(app, seed.clinician)
    html = browser.get("/console/alerts").get_data(as_text=True)
    order = [html.index(m) for m in ("Old urgent", "New urgent", "A warning", "Old info")]
    assert order == sorted(order)
    first = db.session.scalar(select(ClinicianAlert).where(ClinicianAlert.message == "Old urgent"))
    assert first is not None
    done = post_form(browser, f"/console/alerts/{first.id}/ack")
    assert done.status_code == 303
    assert done.headers["Location"] == "/console/alerts"
    db.session.refresh(first)
    assert first.acked_by == seed.clinician
    assert "Old urgent" not in browser.get("/console/alerts").get_data(as_text=True)
    south = signed_in(app, seed.other_clinician)
    other = db.session.scalar(select(ClinicianAlert).where(ClinicianAlert.message == "A warning"))
    assert other is not None
    assert post_form(south, f"/console/alerts/{other.id}/ack").status_code == 404
    db.session.refresh(other)
    assert other.acked_at is None


def test_it_creates_an_invite_with_a_qr_code(app: Flask, seed: Seed) -> None:
    browser = signed_in(app, seed.clinician)
    created = post_form(browser, "/console/invites", {"expires_in_days": "5"})
    assert created.status_code == 303
    code = created.headers["Location"].rsplit("/", 1)[-1]
    card = browser.get(created.headers["Location"]).get_data(as_text=True)
    assert f'<code class="code">{code}</code>' in card
    assert f"<title>QR code of the invite code {code}</title>" in card
    assert '<path class="qrline" stroke="#000" d="M' in card
    registered = app.test_client().post(
        "/v1/auth/register",
        json={"email": "new@x.example", "password": "long enough", "timezone": "UTC",
              "invite_code": code},
    )  # fmt: skip
    assert registered.status_code == 201
    listing = browser.get("/console/invites").get_data(as_text=True)
    assert code in listing
    assert "used" in listing
    bad = post_form(browser, "/console/invites", {"expires_in_days": "400"})
    assert bad.status_code == 303
    assert "expires_in_days" in browser.get("/console/invites").get_data(as_text=True)


def test_it_shows_problems_at_their_lines_in_the_editor(app: Flask, seed: Seed) -> None:
    browser = signed_in(app, seed.clinician)
    response = post_form(browser, "/console/editor", {"yaml": TYPO, "action": "save"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    line = next(n for n, text in enumerate(TYPO.splitlines(), 1) if "pain.lastest" in text)
    assert f'<span class="bad">{line}</span>' in html
    assert f'<li value="{line}" id="L{line}" class="bad">' in html
    assert f"Line {line}: unknown fact &#39;pain.lastest&#39;" in html
    assert db.session.scalar(select(RuleSet)) is None  # nothing saved
    # An embedded test that fails shows at the test's own line.
    failing = DEFAULT.replace(
        "expect: {fires: [red-flag-emergency]", "expect: {fires: [walking-form]", 1
    )
    assert failing != DEFAULT
    tested = post_form(browser, "/console/editor", {"yaml": failing, "action": "check"})
    assert tested.status_code == 422
    test_line = next(
        n
        for n, text in enumerate(failing.splitlines(), 1)
        if "an emergency flag sends the patient" in text
    )
    assert (
        f"Line {test_line}: test &#39;an emergency flag sends the patient to emergency care "
        "and stops everything else&#39; failed" in tested.get_data(as_text=True)
    )
    valid = post_form(browser, "/console/editor", {"yaml": DEFAULT, "action": "check"})
    assert valid.status_code == 200
    assert "Valid: it loads and every embedded test passes." in valid.get_data(as_text=True)


def test_it_saves_diffs_simulates_publishes_and_assigns(app: Flask, seed: Seed) -> None:
    browser = signed_in(app, seed.clinician)
    for text in (DEFAULT, DEFAULT.replace("title: ", "title: Gentler ", 1)):
        saved = post_form(browser, "/console/editor", {"yaml": text, "action": "save"})
        assert saved.status_code == 303
        assert saved.headers["Location"] == "/console/rulesets/low-back-walking"
    versions = browser.get("/console/rulesets/low-back-walking").get_data(as_text=True)
    assert "Publish version 2" in versions
    diff = browser.get("/console/rulesets/low-back-walking/diff?from=1&to=2")
    lines = diff.get_data(as_text=True)
    assert re.search(r'<span class="del">-title: ', lines)
    assert re.search(r'<span class="add">\+title: Gentler ', lines)
    simulated = browser.get(
        "/console/rulesets/low-back-walking/simulate?version=2&source=example:red_flag"
    )
    assert simulated.status_code == 200
    html = simulated.get_data(as_text=True)
    assert 'id="sim-table"' in html
    assert "Go to an emergency department now" in html
    on_patient = browser.get(
        f"/console/rulesets/low-back-walking/simulate?source=patient:{seed.patient_a}"
    )
    assert on_patient.status_code == 200
    # Not yet published: assigning is refused, and the page says why.
    refused = post_form(
        browser, "/console/rulesets/low-back-walking/assign", {"patient": "a@patients.example"}
    )
    assert refused.status_code == 303
    assert "no published version" in browser.get(refused.headers["Location"]).get_data(as_text=True)
    published = post_form(browser, "/console/rulesets/low-back-walking/versions/2/publish")
    assert published.status_code == 303
    assigned = post_form(
        browser, "/console/rulesets/low-back-walking/assign", {"patient": "A@patients.example"}
    )
    assert assigned.status_code == 303
    profile = db.session.get(PatientProfile, seed.patient_a, populate_existing=True)
    assert profile is not None
    ruleset = db.session.scalar(select(RuleSet).where(RuleSet.slug == "low-back-walking"))
    assert ruleset is not None
    assert (profile.ruleset_id, ruleset.published_version) == (ruleset.id, 2)


def test_it_changes_the_plan_from_the_patient_page(app: Flask, seed: Seed) -> None:
    with db.transaction() as session:
        draft, _ = add_version(session, seed.clinic_id, DEFAULT, seed.clinician, utcnow())
    browser = signed_in(app, seed.clinician)
    url = f"/console/patients/{seed.patient_a}/plan"
    refused = post_form(browser, url, {"ruleset": "low-back-walking"})
    assert "no published version yet" in browser.get(refused.headers["Location"]).get_data(
        as_text=True
    )
    with db.transaction() as session:
        publish(session, session.merge(draft), 1, utcnow())
    hold = (dt.datetime.now(LONDON) + dt.timedelta(days=30)).date()
    changed = post_form(
        browser,
        url,
        {"daily_target": "5200", "hold_until": hold.isoformat(), "ruleset": "low-back-walking"},
    )
    assert changed.status_code == 303
    page = browser.get(changed.headers["Location"]).get_data(as_text=True)
    assert "Plan updated." in page
    assert "Changed by a clinician" in page
    ends = dt.datetime.combine(hold + dt.timedelta(days=1), dt.time(0), tzinfo=LONDON)
    assert f"progression held until {ends.astimezone(dt.UTC):%d %b %Y, %H:%M} UTC" in page
    too_low = post_form(browser, url, {"daily_target": "10", "hold_until": "2099-01-01"})
    shown = browser.get(too_low.headers["Location"]).get_data(as_text=True)
    assert "daily_target" in shown
    # Each problem once, however many times the API's schema has been instantiated.
    assert shown.count("hold_progression_until: must be a date") == 1
