"""Questionnaires, their answers and safety episodes as FHIR R4 (Questionnaire,
QuestionnaireResponse, Flag), in a patient's Bundle and the clinic's bulk export, checked by
the official R4 JSON schema and the fhir.resources models."""

from __future__ import annotations

import datetime as dt
from typing import Any

import requests

from rules.instruments import PEG, load_instrument, score
from service.extensions import db
from service.questionnaires.models import ClinicInstrument, Questionnaire, QuestionnaireResponse
from service.safety.models import SafetyEpisode
from tests.conftest import LiveServer
from tests.service.test_fhir_export import _files, _kick_off, _poll
from tests.support.authz_questionnaires import SLEEP
from tests.support.factories import Seed
from tests.support.fhir import bundle_errors, ndjson_errors, of_type

FHIR = {"Accept": "application/fhir+json"}


def _answered(session: Any, patient_id: int, instrument: str, answers: dict[str, int], at: Any,
              value: float) -> None:  # fmt: skip
    asked = Questionnaire(
        patient_id=patient_id, instrument=instrument, status="answered", created_at=at
    )
    session.add(asked)
    session.flush()
    session.add(
        QuestionnaireResponse(
            questionnaire_id=asked.id,
            patient_id=patient_id,
            instrument=instrument,
            answers=answers,
            score=value,
            answered_at=at,
        )
    )


def _record(seed: Seed) -> dt.datetime:
    """Two PEGs and a sleep check of patient A, a PEG of B, an open and a closed episode of A."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    sleep = load_instrument(SLEEP)
    with db.transaction() as session:
        session.add(
            ClinicInstrument(
                clinic_id=seed.clinic_id, instrument=sleep.id, title=sleep.title, yaml_text=SLEEP
            )
        )
        first = {"pain": 7, "enjoyment": 6, "activity": 6}
        later = {"pain": 4, "enjoyment": 3, "activity": 3}
        _answered(session, seed.patient_a, "peg", first, now - dt.timedelta(days=3),
                  score(PEG, first))  # fmt: skip
        _answered(session, seed.patient_a, "peg", later, now - dt.timedelta(days=1),
                  score(PEG, later))  # fmt: skip
        _answered(session, seed.patient_a, "sleep-check", {"nights": 2},
                  now - dt.timedelta(days=1), 2.0)  # fmt: skip
        _answered(session, seed.patient_b, "peg", first, now - dt.timedelta(days=2), 6.3)
        session.add_all(
            [
                SafetyEpisode(
                    patient_id=seed.patient_a,
                    tier="urgent",
                    flags=["fever"],
                    opened_at=now - dt.timedelta(days=2),
                    closed_at=now - dt.timedelta(days=1, hours=20),
                    resolution="resume_lower",
                ),
                SafetyEpisode(
                    patient_id=seed.patient_a,
                    tier="emergency",
                    flags=["numbness_saddle", "leg_weakness"],
                    opened_at=now - dt.timedelta(hours=5),
                ),
            ]
        )
    return now


def test_a_patients_bundle_carries_questionnaires_answers_and_flags(
    live_server: LiveServer, seed: Seed
) -> None:
    _record(seed)
    response = requests.get(
        f"{live_server.url}/v1/clinician/patients/{seed.patient_a}/fhir",
        headers={**FHIR, **seed.headers("clinician")},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert bundle_errors(bundle) == []
    resources = [entry["resource"] for entry in bundle["entry"]]

    questionnaires = {q["url"]: q for q in of_type(resources, "Questionnaire")}
    sleep_url = f"urn:backstride:clinic:{seed.clinic_id}:questionnaire:sleep-check"
    assert set(questionnaires) == {"urn:backstride:questionnaire:peg", sleep_url}
    peg = questionnaires["urn:backstride:questionnaire:peg"]
    assert [i["linkId"] for i in peg["item"]] == ["pain", "enjoyment", "activity", "score"]
    assert peg["item"][0]["type"] == "integer"
    assert [e["valueInteger"] for e in peg["item"][0]["extension"]] == [0, 10]
    assert "Krebs" in peg["copyright"]

    answers = of_type(resources, "QuestionnaireResponse")
    assert len(answers) == 3  # A's only
    pegs = [a for a in answers if a["questionnaire"] == "urn:backstride:questionnaire:peg|1"]
    scores = [a["item"][-1] for a in pegs]
    assert [(s["linkId"], s["answer"][0]["valueDecimal"]) for s in scores] == [
        ("score", 6.3),
        ("score", 3.3),
    ]
    assert pegs[0]["item"][0]["answer"] == [{"valueInteger": 7}]
    assert {a["status"] for a in answers} == {"completed"}
    patient_url = next(
        e["fullUrl"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
    )
    assert {a["subject"]["reference"] for a in answers} == {patient_url}

    closed, open_ = of_type(resources, "Flag")
    assert (closed["status"], open_["status"]) == ("inactive", "active")
    assert closed["category"][0]["coding"][0]["code"] == "clinical"
    assert open_["code"]["coding"][0]["code"] == "emergency"
    assert "numbness in the saddle area" in open_["code"]["text"]
    assert "paused until a clinician reviews it" in open_["code"]["text"]
    assert "lower target" in closed["code"]["text"]
    assert "end" in closed["period"]
    assert "end" not in open_["period"]


def test_the_clinic_export_has_questionnaires_answers_and_flags(
    live_server: LiveServer, seed: Seed
) -> None:
    _record(seed)
    kick_off = _kick_off(live_server, seed)
    assert kick_off.status_code == 202, kick_off.text
    done = _poll(kick_off.headers["Content-Location"], seed.headers("clinician"))
    assert done.status_code == 200, done.text
    manifest = done.json()
    counts = {o["type"]: o["count"] for o in manifest["output"]}
    assert counts["Questionnaire"] == 2
    assert counts["QuestionnaireResponse"] == 4  # A's three and B's one
    assert counts["Flag"] == 2
    files = _files(manifest, seed.headers("clinician"))
    assert ndjson_errors(files) == []
    only = _kick_off(live_server, seed, "?_type=Patient,Flag")
    assert only.status_code == 202, only.text
    flags = _poll(only.headers["Content-Location"], seed.headers("clinician")).json()
    assert [o["type"] for o in flags["output"]] == ["Patient", "Flag"]
