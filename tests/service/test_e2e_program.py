"""End to end over real HTTP: a patient's program from invite to progression, pain and red flags,
and a clinician's rule set from typo to publication."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import requests
from sqlalchemy import select

import rules
from service.alerts.models import ClinicianAlert
from service.evaluation.models import Evaluation
from service.evaluation.population import evaluate_due
from service.extensions import db
from service.patients.models import PatientProfile
from service.plans.models import PlanChange
from service.rulesets.models import RuleSet, RuleSetVersion
from tests.conftest import LiveServer
from tests.support.factories import Seed

ZONE = "Europe/London"
DEFAULT = rules.default_ruleset_text()


class Api:
    """A tiny HTTP client for one caller."""

    def __init__(self, base: str, token: str | None = None) -> None:
        self.base = base
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.request(method, self.base + path, timeout=15, **kwargs)


def _register(server: LiveServer, clinician: Api, email: str, ruleset: str | None = None) -> Api:
    body = {"ruleset": ruleset} if ruleset else {}
    invite = clinician.call("POST", "/v1/clinician/invites", json=body)
    assert invite.status_code == 201, invite.text
    registered = requests.post(
        server.url + "/v1/auth/register",
        json={
            "email": email,
            "password": "walk-every-day",
            "timezone": ZONE,
            "invite_code": invite.json()["code"],
        },
        timeout=15,
    )
    assert registered.status_code == 201, registered.text
    api = Api(server.url, registered.json()["access_token"])
    api.patient_id = registered.json()["patient_id"]  # type: ignore[attr-defined]
    return api


def _backdate_enrolment(patient_id: int, days: int) -> None:
    """Pretend the patient registered `days` ago (the API only takes data up to tomorrow)."""
    with db.transaction() as session:
        ago = dt.timedelta(days=days)
        for change in session.scalars(
            select(PlanChange).where(PlanChange.patient_id == patient_id)
        ):
            change.effective_at -= ago
        profile = session.get(PatientProfile, patient_id)
        assert profile is not None
        profile.enrolled_at -= ago


def _due_now(patient_id: int, now: dt.datetime) -> None:
    with db.transaction() as session:
        profile = session.get(PatientProfile, patient_id)
        assert profile is not None
        profile.next_decision_at = now - dt.timedelta(minutes=1)


def _upload_days(patient: Api, days: int, steps: int) -> None:
    today = dt.datetime.now(ZoneInfo(ZONE)).date()
    body = {
        "days": [
            {"date": str(today - dt.timedelta(days=n)), "steps": steps, "source": "healthkit"}
            for n in range(1, days + 1)
        ]
    }
    response = patient.call("PUT", "/v1/me/activity/daily", json=body)
    assert response.status_code == 200, response.text


def test_it_raises_the_target_by_at_most_ten_percent_after_two_good_weeks(
    live_server: LiveServer, seed: Seed
) -> None:
    clinician = Api(live_server.url, seed.tokens["clinician"])
    patient = _register(live_server, clinician, "walker@example.org")
    pid = patient.patient_id  # type: ignore[attr-defined]
    assert patient.call("GET", "/v1/me/plan").json()["daily_target"] == 4000
    # Past the first four weeks, so the goal is not (re)set from the first week's level.
    _backdate_enrolment(pid, 30)
    _upload_days(patient, 14, 5200)
    now = dt.datetime.now(dt.UTC)
    _due_now(pid, now)
    result = evaluate_due(now)
    assert result.evaluated == 1
    plan = patient.call("GET", "/v1/me/plan").json()
    assert 4000 < plan["daily_target"] <= 4400
    tips = patient.call("GET", "/v1/me/tips").json()["items"]
    assert any(t["rule_id"] == "progress" for t in tips)
    # The same decision point again changes nothing; a week on, the cap still holds.
    assert evaluate_due(now).evaluated == 0
    later = now + dt.timedelta(days=7)
    _due_now(pid, later)
    evaluate_due(later)
    again = patient.call("GET", "/v1/me/plan").json()
    assert again["daily_target"] <= round(plan["daily_target"] * 1.1)


def test_it_sets_the_goal_from_the_first_week_of_walking(
    live_server: LiveServer, seed: Seed
) -> None:
    clinician = Api(live_server.url, seed.tokens["clinician"])
    patient = _register(live_server, clinician, "active@example.org")
    pid = patient.patient_id  # type: ignore[attr-defined]
    _backdate_enrolment(pid, 8)
    _upload_days(patient, 7, 6600)
    now = dt.datetime.now(dt.UTC)
    _due_now(pid, now)
    assert evaluate_due(now).evaluated == 1
    # Well above the initial 4,000: the weekly cap counts from the patient's own level.
    assert patient.call("GET", "/v1/me/plan").json()["daily_target"] == 6600
    tips = patient.call("GET", "/v1/me/tips").json()["items"]
    assert any(t["rule_id"] == "goal-from-baseline" and "6,600" in t["text"] for t in tips)


def test_it_starts_from_the_clinicians_baseline_when_one_is_set(
    live_server: LiveServer, seed: Seed
) -> None:
    clinician = Api(live_server.url, seed.tokens["clinician"])
    patient = _register(live_server, clinician, "known@example.org")
    pid = patient.patient_id  # type: ignore[attr-defined]
    _backdate_enrolment(pid, 8)
    _upload_days(patient, 7, 6600)
    path = f"/v1/clinician/patients/{pid}/plan"
    bad = clinician.call("PATCH", path, json={"baseline_steps": -5})
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["baseline_steps"]
    changed = clinician.call("PATCH", path, json={"baseline_steps": 3000})
    assert changed.status_code == 200, changed.text
    assert changed.json()["baseline_steps"] == 3000
    now = dt.datetime.now(dt.UTC)
    _due_now(pid, now)
    assert evaluate_due(now).evaluated == 1
    # The clinician's value, not the 6,600 the first week showed.
    assert patient.call("GET", "/v1/me/plan").json()["daily_target"] == 3000


def test_it_answers_pain_8_with_rest_a_cut_and_a_hold(live_server: LiveServer, seed: Seed) -> None:
    clinician = Api(live_server.url, seed.tokens["clinician"])
    patient = _register(live_server, clinician, "sore@example.org")
    response = patient.call("POST", "/v1/me/pain", json={"score": 8})
    assert response.status_code == 201, response.text
    tips = response.json()["tips"]
    assert [t["rule_id"] for t in tips] == ["pain-flare"]
    assert "8/10" in tips[0]["text"]
    inbox = patient.call("GET", "/v1/me/tips").json()["items"]
    assert [t["id"] for t in inbox] == [tips[0]["id"]]
    assert inbox[0]["why"]
    plan = patient.call("GET", "/v1/me/plan").json()
    assert plan["daily_target"] == 3200
    assert plan["progression_held_until"] is not None


def test_it_alerts_the_clinician_urgently_on_a_red_flag(
    live_server: LiveServer, seed: Seed
) -> None:
    clinician = Api(live_server.url, seed.tokens["clinician"])
    patient = _register(live_server, clinician, "flag@example.org")
    pid = patient.patient_id  # type: ignore[attr-defined]
    response = patient.call(
        "POST", "/v1/me/pain", json={"score": 6, "red_flags": ["bladder_bowel_change"]}
    )
    assert response.status_code == 201, response.text
    assert all(t["rule_id"] == "red-flag-emergency" for t in response.json()["tips"])
    alerts = clinician.call("GET", "/v1/clinician/alerts", params={"open": "true"}).json()["items"]
    assert [(a["patient_id"], a["severity"]) for a in alerts] == [(pid, "urgent")]
    outsider = Api(live_server.url, seed.tokens["other_clinician"])
    assert outsider.call("GET", "/v1/clinician/alerts").json()["items"] == []
    # No progression while the red flag stands, even at a scheduled decision time.
    now = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    _due_now(pid, now)
    evaluate_due(now)
    tips = patient.call("GET", "/v1/me/tips").json()["items"]
    assert not any(t["rule_id"] == "progress" for t in tips)
    assert db.session.scalar(select(ClinicianAlert.severity)) == "urgent"


def test_it_takes_a_clinicians_rule_set_from_typo_to_the_next_evaluation(
    live_server: LiveServer, seed: Seed
) -> None:
    clinician = Api(live_server.url, seed.tokens["clinician"])
    yaml = {"Content-Type": "application/yaml"}
    ours = DEFAULT.replace("ruleset: low-back-walking", "ruleset: north-walking", 1)
    typo = ours.replace("(pain.latest >= 8", "(pain.lastest >= 8", 1)
    bad = clinician.call("POST", "/v1/rulesets", data=typo.encode(), headers=yaml)
    assert bad.status_code == 422
    line = next(n for n, text in enumerate(typo.splitlines(), 1) if "pain.lastest" in text)
    assert bad.json()["errors"][0]["line"] == line
    assert "did you mean 'pain.latest'" in bad.json()["errors"][0]["message"]
    good = clinician.call("POST", "/v1/rulesets", data=ours.encode(), headers=yaml)
    assert good.status_code == 201, good.text
    assert good.json() == {"ruleset": "north-walking", "version": 1, "status": "draft"}
    patient = _register(live_server, clinician, "follower@example.org", ruleset="north-walking")
    pid = patient.patient_id  # type: ignore[attr-defined]
    today = dt.datetime.now(ZoneInfo(ZONE)).date()
    simulated = clinician.call(
        "POST",
        "/v1/rulesets/north-walking/simulate",
        json={"patient_id": pid, "from": str(today - dt.timedelta(days=3)), "to": str(today)},
    )
    assert simulated.status_code == 200, simulated.text
    assert len(simulated.json()["days"]) == 4
    published = clinician.call("POST", "/v1/rulesets/north-walking/versions/1/publish")
    assert published.json()["status"] == "published"
    response = patient.call("POST", "/v1/me/pain", json={"score": 3})
    assert response.status_code == 201
    version_id = db.session.scalar(
        select(RuleSetVersion.id)
        .join(RuleSet, RuleSet.id == RuleSetVersion.ruleset_id)
        .where(RuleSet.slug == "north-walking", RuleSetVersion.version == 1)
    )
    used = db.session.scalars(
        select(Evaluation.ruleset_version_id).where(Evaluation.patient_id == pid)
    ).all()
    assert used[-1] == version_id
