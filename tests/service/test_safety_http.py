"""Over real HTTP: a red-flag report opens an episode the clinician sees; a scheduled decision
during it sends only safety tips; the clinician's `resolve` closes it, on the audit trail."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from service.audit.models import AuditEvent
from service.evaluation.population import evaluate_due
from service.extensions import db
from service.patients.models import PatientProfile
from tests.conftest import LiveServer
from tests.service.test_e2e_program import Api, _register
from tests.support.factories import Seed


def _due(patient_id: int, now: dt.datetime) -> None:
    with db.transaction() as session:
        profile = session.get(PatientProfile, patient_id)
        assert profile is not None
        profile.next_decision_at = now - dt.timedelta(minutes=1)


def test_it_pauses_a_red_flag_patient_until_the_clinician_resolves_it(
    live_server: LiveServer, seed: Seed
) -> None:
    clinician = Api(live_server.url, seed.tokens["clinician"])
    patient = _register(live_server, clinician, "saddle@example.org")
    pid = patient.patient_id  # type: ignore[attr-defined]
    reported = patient.call(
        "POST",
        "/v1/me/pain",
        json={"score": 7, "red_flags": ["numbness_saddle", "bladder_bowel_change"]},
    )
    assert reported.status_code == 201, reported.text
    [tip] = reported.json()["tips"]
    assert tip["category"] == "safety"
    assert "go to your nearest emergency department now" in tip["text"]
    assert "_" not in tip["text"]

    listed = clinician.call("GET", "/v1/clinician/episodes", params={"open": "true"})
    assert listed.status_code == 200, listed.text
    [episode] = listed.json()["items"]
    assert (episode["patient_id"], episode["tier"]) == (pid, "emergency")
    outsider = Api(live_server.url, seed.tokens["other_clinician"])
    assert outsider.call("GET", "/v1/clinician/episodes", params={"open": "true"}).json() == {
        "items": []
    }

    # A decision time four days on: the flags are past 72 h, the episode is not.
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=4)
    _due(pid, later)
    assert evaluate_due(later).evaluated == 1
    inbox = patient.call("GET", "/v1/me/tips").json()["items"]
    assert len(inbox) == 2
    assert {t["category"] for t in inbox} == {"safety"}
    assert inbox[0]["title"] == "Your walking plan is on hold"
    history = clinician.call("GET", f"/v1/clinician/patients/{pid}/episodes").json()["items"]
    assert [e["id"] for e in history] == [episode["id"]]

    resolved = clinician.call(
        "POST",
        f"/v1/clinician/episodes/{episode['id']}/resolve",
        json={"decision": "resume", "note": "Seen in the emergency department: scan clear."},
    )
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["resolution"] == "resume"
    assert resolved.json()["closed_at"] is not None
    assert clinician.call("GET", "/v1/clinician/episodes", params={"open": "true"}).json() == {
        "items": []
    }
    [event] = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "safety_episode.resolve")
    ).all()
    assert (event.actor_id, event.clinic_id, event.target_id) == (
        seed.clinician,
        seed.clinic_id,
        str(episode["id"]),
    )
    assert event.details == {
        "patient_id": pid,
        "decision": "resume",
        "note": "Seen in the emergency department: scan clear.",
    }
