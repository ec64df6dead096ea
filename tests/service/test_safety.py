"""Safety episodes, clearances and patients without a clinic, through the API (SPEC §11.1)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

import rules
from service.alerts.models import ClinicianAlert
from service.audit.models import AuditEvent
from service.db import utcnow
from service.evaluation import service as evaluation
from service.extensions import db
from service.patients.models import PatientProfile
from service.plans.models import Plan, PlanChange
from service.safety.models import SafetyEpisode
from tests.support.factories import Seed

EMERGENCY = {"score": 6, "red_flags": ["numbness_saddle", "bladder_bowel_change"]}


def _report(client: Any, headers: dict[str, str], body: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.post("/v1/me/pain", json=body, headers=headers)
    assert response.status_code == 201, response.json
    tips: list[dict[str, Any]] = response.json["tips"]
    return tips


def _episodes(client: Any, seed: Seed, who: str = "clinician", **query: str) -> list[Any]:
    response = client.get("/v1/clinician/episodes", query_string=query, headers=seed.headers(who))
    assert response.status_code == 200, response.json
    items: list[Any] = response.json["items"]
    return items


def _resolve(
    client: Any, seed: Seed, episode_id: int, body: dict[str, Any], who: str = "clinician"
) -> Any:
    return client.post(
        f"/v1/clinician/episodes/{episode_id}/resolve", json=body, headers=seed.headers(who)
    )


def test_it_opens_one_episode_and_attaches_a_repeated_report(client: Any, seed: Seed) -> None:
    tips = _report(client, seed.headers("patient_a"), EMERGENCY)
    assert [t["rule_id"] for t in tips] == ["red-flag-emergency"]
    assert tips[0]["title"] == "Go to an emergency department now"
    again = _report(client, seed.headers("patient_a"), {"score": 5, "red_flags": ["leg_weakness"]})
    assert [t["rule_id"] for t in again] == ["red-flag-emergency"]
    [episode] = _episodes(client, seed, open="true")
    assert episode["patient_id"] == seed.patient_a
    assert episode["tier"] == "emergency"
    assert episode["flags"] == ["bladder_bowel_change", "leg_weakness", "numbness_saddle"]
    assert episode["reports"] == 1
    assert episode["evaluation_id"] is not None
    assert episode["closed_at"] is None
    alerts = db.session.scalars(select(ClinicianAlert)).all()
    assert [(a.severity, a.rule_id) for a in alerts] == [("urgent", "red-flag-emergency")]
    assert _episodes(client, seed, "other_clinician") == []


def test_it_escalates_an_urgent_episode_and_alerts_again(client: Any, seed: Seed) -> None:
    tips = _report(client, seed.headers("patient_a"), {"score": 4, "red_flags": ["fever"]})
    assert [t["rule_id"] for t in tips] == ["red-flag-urgent"]
    assert "contact your clinician or your GP today" in tips[0]["text"]
    _report(client, seed.headers("patient_a"), EMERGENCY)
    [episode] = _episodes(client, seed, open="true")
    assert episode["tier"] == "emergency"
    assert episode["escalated_at"] is not None
    severities = db.session.scalars(select(ClinicianAlert.rule_id)).all()
    assert sorted(severities) == ["red-flag-emergency", "red-flag-urgent"]


def test_it_sends_only_safety_tips_at_a_decision_time_during_the_episode(
    client: Any, seed: Seed
) -> None:
    _report(client, seed.headers("patient_a"), {"score": 7, "red_flags": ["trauma"]})
    later = utcnow() + dt.timedelta(hours=80)  # past the 72 h of the flag
    with db.transaction() as session:
        outcome = evaluation.evaluate_one(session, seed.patient_a, "schedule", later)
    decision = outcome.decision
    assert decision is not None
    assert {tip.category for tip in decision.tips} == {"safety"}
    assert [tip.tip_id for tip in decision.tips] == ["plan-on-hold"]
    assert outcome.facts is not None
    assert outcome.facts["safety.episode_open"] is True
    assert outcome.facts["plan.progression_held"] is True
    held_back = [r for r in decision.suppressed.values() if r.startswith("safety episode open")]
    assert held_back


def test_it_records_each_decision_and_closes_only_on_resume(client: Any, seed: Seed) -> None:
    _report(client, seed.headers("patient_a"), EMERGENCY)
    [episode] = _episodes(client, seed, open="true")
    paused = _resolve(
        client, seed, episode["id"], {"decision": "keep_paused", "note": "Seen in A&E, MRI booked."}
    )
    assert paused.status_code == 200, paused.json
    assert paused.json["closed_at"] is None
    assert [r["decision"] for r in paused.json["reviews"]] == ["keep_paused"]
    resumed = _resolve(client, seed, episode["id"], {"decision": "resume", "note": "MRI clear."})
    assert resumed.status_code == 200, resumed.json
    assert resumed.json["resolution"] == "resume"
    assert resumed.json["closed_by"] == seed.clinician
    assert [r["note"] for r in resumed.json["reviews"]] == [
        "Seen in A&E, MRI booked.",
        "MRI clear.",
    ]
    again = _resolve(client, seed, episode["id"], {"decision": "resume", "note": "twice"})
    assert again.status_code == 409
    assert _episodes(client, seed, open="true") == []
    assert db.session.scalar(select(ClinicianAlert.acked_by)) == seed.clinician
    audit = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [(e.action, e.target_id, e.details["decision"]) for e in audit] == [
        ("safety_episode.resolve", str(episode["id"]), "keep_paused"),
        ("safety_episode.resolve", str(episode["id"]), "resume"),
    ]
    # The flags the clinician assessed no longer count: the next report does not reopen it.
    tips = _report(client, seed.headers("patient_a"), {"score": 2})
    assert not any(t["category"] == "safety" for t in tips)
    assert _episodes(client, seed, open="true") == []


def test_it_sets_the_target_on_resume_lower(client: Any, seed: Seed) -> None:
    _report(client, seed.headers("patient_a"), {"score": 4, "red_flags": ["fever"]})
    [episode] = _episodes(client, seed, open="true")
    lowered = _resolve(
        client,
        seed,
        episode["id"],
        {"decision": "resume_lower", "daily_target": 2500, "note": "Back after the flu."},
        who="admin",
    )
    assert lowered.status_code == 200, lowered.json
    plan = db.session.get(Plan, seed.patient_a)
    assert plan is not None
    assert plan.daily_target == 2500
    change = db.session.scalars(select(PlanChange).order_by(PlanChange.id.desc())).first()
    assert change is not None
    assert (change.target, change.reason, change.changed_by) == (2500, "resume_lower", seed.admin)


def test_it_names_the_field_of_a_bad_decision(client: Any, seed: Seed) -> None:
    _report(client, seed.headers("patient_a"), {"score": 4, "red_flags": ["fever"]})
    [episode] = _episodes(client, seed, open="true")
    cases = [
        ({"decision": "resume_lower", "note": "n"}, "daily_target"),
        ({"decision": "resume", "daily_target": 3000, "note": "n"}, "daily_target"),
        ({"decision": "close", "note": "n"}, "decision"),
        ({"decision": "resume"}, "note"),
        ({"decision": "resume", "note": ""}, "note"),
        ({"decision": "resume_lower", "daily_target": 10, "note": "n"}, "daily_target"),
    ]
    for body, field in cases:
        response = _resolve(client, seed, episode["id"], body)
        assert response.status_code == 422, (body, response.json)
        assert response.mimetype == "application/problem+json"
        assert field in {error["field"] for error in response.json["errors"]}, response.json
    assert _resolve(client, seed, 999_999, {"decision": "resume", "note": "n"}).status_code == 404
    outsider = _resolve(
        client, seed, episode["id"], {"decision": "resume", "note": "n"}, "other_clinician"
    )
    assert outsider.status_code == 404


def test_it_lets_a_clearance_resume_progression(client: Any, seed: Seed) -> None:
    headers = seed.headers("clinician")
    patched = client.patch(
        "/v1/me", json={"conditions": ["recent_surgery"]}, headers=seed.headers("patient_a")
    )
    assert patched.status_code == 200
    url = f"/v1/clinician/patients/{seed.patient_a}/clearances"

    def uncleared() -> frozenset[str]:
        with db.transaction() as session:
            outcome = evaluation.evaluate_one(session, seed.patient_a, "exercise_report", utcnow())
        assert outcome.facts is not None
        value = outcome.facts["patient.uncleared_conditions"]
        assert isinstance(value, frozenset)
        return value

    assert uncleared() == {"recent_surgery"}
    body = {"condition": "recent_surgery", "note": "Six-week review: healed well."}
    created = client.post(url, json=body, headers=headers)
    assert created.status_code == 201, created.json
    assert (created.json["condition"], created.json["cleared_by"]) == (
        "recent_surgery",
        seed.clinician,
    )
    assert uncleared() == frozenset()
    assert client.post(url, json=body, headers=headers).status_code == 409
    bad = client.post(url, json={"condition": "flu", "note": "n"}, headers=headers)
    assert bad.status_code == 422
    assert bad.json["errors"][0]["field"] == "condition"
    listed = client.get(url, headers=headers).json["items"]
    assert [c["condition"] for c in listed] == ["recent_surgery"]
    assert client.delete(f"{url}/recent_surgery", headers=headers).status_code == 204
    assert client.delete(f"{url}/recent_surgery", headers=headers).status_code == 404
    assert uncleared() == {"recent_surgery"}
    actions = db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions == ["clearance.record", "clearance.withdraw"]


def test_it_queues_a_patient_without_a_clinic_for_the_admins_until_they_join_one(
    client: Any, seed: Seed
) -> None:
    registered = client.post(
        "/v1/auth/register",
        json={
            "email": "alone@example.org",
            "password": "walk-every-day",
            "timezone": "Europe/London",
        },
    )
    assert registered.status_code == 201, registered.json
    patient = {"Authorization": f"Bearer {registered.json['access_token']}"}
    pid = registered.json["patient_id"]
    tips = _report(client, patient, {"score": 5, "red_flags": ["trauma"]})
    [tip] = tips
    assert "please contact your GP (family doctor) today" in tip["text"]
    assert "care team" not in tip["text"]
    queue = client.get(
        "/v1/clinician/alerts",
        query_string={"open": "true", "unassigned": "true"},
        headers=seed.headers("admin"),
    )
    assert [(a["patient_id"], a["severity"]) for a in queue.json["items"]] == [(pid, "urgent")]
    [queued] = _episodes(client, seed, "admin", open="true", unassigned="true")
    assert queued["patient_id"] == pid
    assert _episodes(client, seed, open="true") == []
    assert (
        _resolve(client, seed, queued["id"], {"decision": "resume", "note": "n"}).status_code == 404
    )
    invite = client.post("/v1/clinician/invites", json={}, headers=seed.headers("clinician"))
    joined = client.post(
        "/v1/me/clinic", json={"invite_code": invite.json["code"]}, headers=patient
    )
    assert joined.status_code == 200, joined.json
    assert joined.json["clinic_id"] == seed.clinic_id
    assert [e["id"] for e in _episodes(client, seed, open="true")] == [queued["id"]]
    assert _episodes(client, seed, "admin", open="true", unassigned="true") == []
    profile = db.session.get(PatientProfile, pid)
    assert profile is not None
    assert profile.clinician_id == seed.clinician
    twice = client.post("/v1/me/clinic", json={"invite_code": invite.json["code"]}, headers=patient)
    assert twice.status_code == 409


def test_it_refuses_an_unknown_invite_code_by_field(client: Any) -> None:
    registered = client.post(
        "/v1/auth/register",
        json={"email": "alone2@example.org", "password": "walk-every-day", "timezone": "UTC"},
    )
    patient = {"Authorization": f"Bearer {registered.json['access_token']}"}
    response = client.post("/v1/me/clinic", json={"invite_code": "NOPE1234"}, headers=patient)
    assert response.status_code == 422
    assert response.json["errors"][0]["field"] == "invite_code"
    assert db.session.scalar(select(SafetyEpisode.id)) is None


def test_it_simulates_a_stored_patient_with_their_episode_and_its_resolution(
    client: Any, seed: Seed
) -> None:
    yaml = rules.default_ruleset_text()
    headers = {**seed.headers("clinician"), "Content-Type": "application/yaml"}
    assert client.post("/v1/rulesets", data=yaml, headers=headers).status_code == 201
    _report(client, seed.headers("patient_a"), EMERGENCY)
    [episode] = _episodes(client, seed, open="true")
    _resolve(client, seed, episode["id"], {"decision": "resume", "note": "All clear."})
    today = dt.datetime.now(ZoneInfo("Europe/London")).date()
    body = {"patient_id": seed.patient_a, "from": str(today), "to": str(today)}
    response = client.post(
        "/v1/rulesets/low-back-walking/simulate", json=body, headers=seed.headers("clinician")
    )
    assert response.status_code == 200, response.json
    [day] = response.json["days"]
    assert [event.split(" ", 1)[1] for event in day["safety"]] == [
        "episode opened (emergency)",
        "resume: episode closed",
    ]
    assert day["episode"] is None
