"""Clinician alerts and a patient's evaluation history."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from service.evaluation import hooks
from service.extensions import db
from service.reports.models import PainReport
from tests.support.factories import Seed

NOW = dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def now() -> dt.datetime:
    """The named users are enrolled on this module's clock."""
    return NOW


def _red_flag(patient_id: int) -> None:
    with db.transaction() as session:
        session.add(
            PainReport(patient_id=patient_id, score=7, recorded_at=NOW, red_flags=["leg_weakness"])
        )
        hooks.after_pain_report(session, patient_id, NOW)


def test_it_lists_open_alerts_of_the_clinic_and_acknowledges_them(client: Any, seed: Seed) -> None:
    _red_flag(seed.patient_a)
    listing = client.get("/v1/clinician/alerts?open=true", headers=seed.headers("clinician"))
    assert listing.status_code == 200
    [alert] = listing.json["items"]
    assert (alert["patient_id"], alert["severity"]) == (seed.patient_a, "urgent")
    other = client.get("/v1/clinician/alerts?open=true", headers=seed.headers("other_clinician"))
    assert other.json["items"] == []
    denied = client.post(
        f"/v1/clinician/alerts/{alert['id']}/ack", headers=seed.headers("other_clinician")
    )
    assert denied.status_code == 404
    acked = client.post(
        f"/v1/clinician/alerts/{alert['id']}/ack", headers=seed.headers("clinician")
    )
    assert acked.status_code == 200
    assert acked.json["acked_by"] == seed.clinician
    again = client.post(
        f"/v1/clinician/alerts/{alert['id']}/ack", headers=seed.headers("clinician")
    )
    assert again.json["acked_at"] == acked.json["acked_at"]
    still_open = client.get("/v1/clinician/alerts?open=true", headers=seed.headers("clinician"))
    assert still_open.json["items"] == []
    everything = client.get("/v1/clinician/alerts", headers=seed.headers("admin"))
    assert len(everything.json["items"]) == 1


def test_it_shows_a_patients_evaluations_with_traces(client: Any, seed: Seed) -> None:
    _red_flag(seed.patient_a)
    response = client.get(
        f"/v1/clinician/patients/{seed.patient_a}/evaluations", headers=seed.headers("clinician")
    )
    assert response.status_code == 200
    [evaluation] = response.json["items"]
    assert evaluation["trigger"] == "pain_report"
    assert evaluation["fired"][0] == "red-flag-emergency"
    assert evaluation["facts"]["pain.red_flags"] == ["leg_weakness"]
    assert "red-flag-emergency: FIRED" in evaluation["explain"]
    assert response.json["next_before"] is None
    other = client.get(
        f"/v1/clinician/patients/{seed.patient_a}/evaluations",
        headers=seed.headers("other_clinician"),
    )
    assert other.status_code == 403
