"""The clinician read API: invites, summaries, timeline, plan changes, audit."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, func, select

from service.accounts.models import Clinic, Invite
from service.activity.models import DailyActivity
from service.alerts.models import ClinicianAlert
from service.audit.models import AuditEvent
from service.extensions import db
from service.patients.models import PatientProfile
from service.plans.models import Plan, PlanChange
from service.reports.models import ExerciseSession, PainReport
from service.rulesets.models import RuleSet
from service.tips.models import Tip
from tests.support.factories import Seed, make_patient

LONDON = zoneinfo.ZoneInfo("Europe/London")


@contextmanager
def count_queries() -> Iterator[list[str]]:
    """Collect the SQL statements run while the block executes."""
    statements: list[str] = []

    def _log(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", _log)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", _log)


def _today() -> dt.date:
    return dt.datetime.now(LONDON).date()


def _add_history(seed: Seed) -> dt.datetime:
    """Steps from two sources, pain, an exercise, a tip and alerts for patient A."""
    now = dt.datetime.now(dt.UTC)
    today = _today()
    with db.transaction() as session:
        # Days 1 and 2 are in the 7-day window; day 9 is not.
        for back, steps in ((1, 5000), (2, 3000), (9, 99_000)):
            day = today - dt.timedelta(days=back)
            session.add(
                DailyActivity(patient_id=seed.patient_a, date=day, source="manual", steps=steps)
            )
            session.add(
                DailyActivity(
                    patient_id=seed.patient_a, date=day, source="healthkit", steps=steps - 1000
                )
            )
        noon = dt.datetime.combine(today - dt.timedelta(days=1), dt.time(12), tzinfo=LONDON)
        pid, clinic = seed.patient_a, seed.clinic_id
        session.add_all(
            [
                PainReport(patient_id=pid, score=3, recorded_at=now - dt.timedelta(days=3)),
                PainReport(patient_id=pid, score=7, recorded_at=noon, red_flags=["fever"]),
                ExerciseSession(
                    patient_id=pid, kind="stretch", name="hamstrings", performed_at=noon
                ),
                Tip(
                    patient_id=pid,
                    rule_id="pain-flare",
                    tip_key="rest",
                    category="pain",
                    title="Ease off",
                    text="Rest",
                    why="pain.latest >= 7 -> 7 >= 7 true",
                    created_at=noon + dt.timedelta(minutes=1),
                ),
                ClinicianAlert(clinic_id=clinic, patient_id=pid, severity="urgent", message="!"),
                ClinicianAlert(
                    clinic_id=clinic, patient_id=pid, severity="info", message="seen", acked_at=now
                ),
            ]
        )
        for change in session.scalars(select(PlanChange)):
            change.effective_at = now - dt.timedelta(days=30)
    return noon


def test_it_creates_single_use_invites_with_a_ruleset(client: Any, seed: Seed) -> None:
    with db.transaction() as session:
        session.add(RuleSet(clinic_id=seed.clinic_id, slug="gentle", title="Gentle"))
    response = client.post(
        "/v1/clinician/invites",
        json={"ruleset": "gentle", "expires_in_days": 3},
        headers=seed.headers("clinician"),
    )
    assert response.status_code == 201
    invite = db.session.get(Invite, response.json["code"])
    assert invite is not None
    assert invite.ruleset_id is not None
    assert response.json["ruleset"] == "gentle"
    expires = dt.datetime.fromisoformat(response.json["expires_at"])
    assert (
        dt.timedelta(days=2, hours=23) < expires - dt.datetime.now(dt.UTC) <= dt.timedelta(days=3)
    )
    # Another clinic's slug is unknown here.
    other = client.post(
        "/v1/clinician/invites", json={"ruleset": "gentle"}, headers=seed.headers("other_clinician")
    )
    assert other.status_code == 422
    assert other.json["errors"][0]["field"] == "ruleset"
    registered = client.post(
        "/v1/auth/register",
        json={"email": "p@x.example", "password": "long enough", "timezone": "UTC",
              "invite_code": response.json["code"]},
    )  # fmt: skip
    assert registered.status_code == 201
    me = client.get(
        f"/v1/clinician/patients/{registered.json['patient_id']}", headers=seed.headers("clinician")
    )
    assert me.json["ruleset"] == "gentle"
    assert me.json["clinician_id"] == seed.clinician
    events = db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert events[0] == "invite.create"


def test_it_lets_admins_invite_into_a_named_clinic(client: Any, seed: Seed) -> None:
    headers = seed.headers("admin")
    missing = client.post("/v1/clinician/invites", json={}, headers=headers)
    assert missing.status_code == 422
    assert missing.json["errors"][0]["field"] == "clinic_id"
    ok = client.post(
        "/v1/clinician/invites", json={"clinic_id": seed.other_clinic_id}, headers=headers
    )
    assert ok.status_code == 201
    cross = client.post(
        "/v1/clinician/invites", json={"clinic_id": seed.other_clinic_id},
        headers=seed.headers("clinician"),
    )  # fmt: skip
    assert cross.status_code == 403


def test_it_summarises_the_clinics_patients(client: Any, seed: Seed) -> None:
    _add_history(seed)
    response = client.get("/v1/clinician/patients", headers=seed.headers("clinician"))
    assert response.status_code == 200
    items = {item["id"]: item for item in response.json["items"]}
    assert set(items) == {seed.patient_a, seed.patient_b}
    a = items[seed.patient_a]
    assert a["steps_avg_7d"] == 4000.0  # mean of 5000 and 3000: the largest source, not summed
    assert a["target"] == 4000
    assert a["latest_pain"] == 7
    assert a["open_alerts"] == 1
    b = items[seed.patient_b]
    assert (b["steps_avg_7d"], b["latest_pain"], b["open_alerts"]) == (None, None, 0)
    south = client.get("/v1/clinician/patients", headers=seed.headers("other_clinician"))
    assert south.json["items"] == []
    admin = client.get("/v1/clinician/patients", headers=seed.headers("admin"))
    assert {item["id"] for item in admin.json["items"]} == {seed.patient_a, seed.patient_b}


def test_it_summarises_with_a_fixed_number_of_queries(
    client: Any, seed: Seed, now: dt.datetime
) -> None:
    headers = seed.headers("clinician")
    with count_queries() as few:
        client.get("/v1/clinician/patients", headers=headers)
    with db.transaction() as session:
        clinic = session.get(Clinic, seed.clinic_id)
        for i in range(15):
            make_patient(clinic, email=f"extra{i}@patients.example", enrolled_at=now)
    with count_queries() as many:
        response = client.get("/v1/clinician/patients", headers=headers)
    assert len(response.json["items"]) == 17
    assert len(many) == len(few)
    assert len(many) <= 10


def test_it_shows_a_patients_timeline_with_why(client: Any, seed: Seed) -> None:
    noon = _add_history(seed)
    yesterday = _today() - dt.timedelta(days=1)
    first = yesterday - dt.timedelta(days=1)
    url = (
        f"/v1/clinician/patients/{seed.patient_a}/timeline"
        f"?from={first.isoformat()}&to={yesterday.isoformat()}"
    )
    response = client.get(url, headers=seed.headers("clinician"))
    assert response.status_code == 200
    days = response.json["days"]
    assert [d["date"] for d in days] == [first.isoformat(), yesterday.isoformat()]
    day = days[1]
    assert (day["steps"], day["target"], day["met"]) == (5000, 4000, True)
    assert [p["score"] for p in day["pain"]] == [7]
    assert day["pain"][0]["red_flags"] == ["fever"]
    assert [e["name"] for e in day["exercise"]] == ["hamstrings"]
    assert day["tips"][0]["rule_id"] == "pain-flare"
    assert day["tips"][0]["why"].startswith("pain.latest >= 7")
    assert dt.datetime.fromisoformat(day["pain"][0]["recorded_at"]) == noon
    assert days[0]["pain"] == []
    assert days[0]["steps"] == 3000
    default = client.get(
        f"/v1/clinician/patients/{seed.patient_a}/timeline", headers=seed.headers("admin")
    )
    assert len(default.json["days"]) == 14


def test_it_changes_a_plan_with_history_and_audit(client: Any, seed: Seed) -> None:
    hold = (dt.datetime.now(dt.UTC) + dt.timedelta(days=7)).replace(microsecond=0)
    response = client.patch(
        f"/v1/clinician/patients/{seed.patient_a}/plan",
        json={"daily_target": 3500, "hold_progression_until": hold.isoformat()},
        headers=seed.headers("clinician"),
    )
    assert response.status_code == 200
    assert response.json["daily_target"] == 3500
    assert dt.datetime.fromisoformat(response.json["progression_held_until"]) == hold
    assert [(h["target"], h["reason"]) for h in response.json["history"]] == [
        (3500, "clinician"),
        (4000, "initial"),
    ]
    plan = db.session.get(Plan, seed.patient_a, populate_existing=True)
    assert plan is not None
    assert plan.daily_target == 3500
    change = db.session.scalar(select(PlanChange).where(PlanChange.reason == "clinician"))
    assert change is not None
    assert change.changed_by == seed.clinician
    audit = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "plan.update"))
    assert audit is not None
    assert (audit.actor_id, audit.clinic_id, audit.target_id) == (
        seed.clinician, seed.clinic_id, str(seed.patient_a),
    )  # fmt: skip
    assert audit.details["daily_target"] == 3500
    patient_view = client.get("/v1/me/plan", headers=seed.headers("patient_a")).json
    assert patient_view["daily_target"] == 3500


def test_it_keeps_clinicians_to_their_own_clinic(client: Any, seed: Seed) -> None:
    base = f"/v1/clinician/patients/{seed.patient_a}"
    headers = seed.headers("other_clinician")
    assert client.get(base, headers=headers).status_code == 403
    assert client.get(f"{base}/timeline", headers=headers).status_code == 403
    response = client.patch(f"{base}/plan", json={"daily_target": 9000}, headers=headers)
    assert response.status_code == 403
    plan = db.session.get(Plan, seed.patient_a, populate_existing=True)
    assert plan is not None
    assert plan.daily_target == 4000
    assert client.get("/v1/clinician/patients/999999", headers=headers).status_code == 404


def test_it_validates_plan_changes(client: Any, seed: Seed) -> None:
    url = f"/v1/clinician/patients/{seed.patient_a}/plan"
    headers = seed.headers("clinician")
    for body, field in (
        ({"daily_target": 10}, "daily_target"),
        ({"ruleset": "no-such-set"}, "ruleset"),
        ({"hold_progression_until": "next week"}, "hold_progression_until"),
    ):
        response = client.patch(url, json=body, headers=headers)
        assert response.status_code == 422, body
        assert response.json["errors"][0]["field"] == field


def test_it_refuses_to_assign_an_unpublished_rule_set_but_invites_to_it(
    client: Any, seed: Seed
) -> None:
    with db.transaction() as session:
        session.add(RuleSet(clinic_id=seed.clinic_id, slug="draft-only", title="Draft"))
    headers = seed.headers("clinician")
    response = client.patch(
        f"/v1/clinician/patients/{seed.patient_a}/plan", json={"ruleset": "draft-only"},
        headers=headers,
    )  # fmt: skip
    assert response.status_code == 409
    assert "no published version" in response.json["detail"]
    assert response.json["errors"] == [{"field": "ruleset", "message": "no published version"}]
    profile = db.session.get(PatientProfile, seed.patient_a, populate_existing=True)
    assert profile is not None
    assert profile.ruleset_id is None
    # An invite may name a draft: its patient follows the rule set once it is published.
    invite = client.post("/v1/clinician/invites", json={"ruleset": "draft-only"}, headers=headers)
    assert invite.status_code == 201
    assert db.session.scalar(select(func.count()).select_from(Invite)) == 1
