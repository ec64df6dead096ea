"""A patient's programme as a FHIR R4 Bundle, over real HTTP, checked by independent validators."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import requests
from sqlalchemy import select, update

from service.accounts.models import User
from service.activity.models import DailyActivity
from service.activity.service import effective_steps, steps_by_day
from service.audit.models import AuditEvent
from service.bootstrap import seed_demo
from service.connections.sync import sync_due_connections
from service.evaluation.population import evaluate_due
from service.extensions import db, get_settings
from service.patients.models import PatientProfile
from service.plans.models import Plan, PlanChange
from service.reports.models import PainReport
from service.tips.models import Tip
from tests.conftest import LiveServer
from tests.support.factories import Seed, make_patient, token_for
from tests.support.fhir import bundle_errors, of_type, schema_errors

LONDON = ZoneInfo("Europe/London")
FHIR = {"Accept": "application/fhir+json"}


def _at(day: dt.date, hour: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=LONDON).astimezone(dt.UTC)


def programme(seed: Seed) -> dt.date:
    """Four days of patient A's programme (and a day of B's); returns A's local today."""
    now = dt.datetime.now(dt.UTC)
    today = now.astimezone(LONDON).date()
    day = [today - dt.timedelta(days=n) for n in range(4)]  # day[0] is today
    rows = [
        (seed.patient_a, day[3], "garmin", 5000),
        (seed.patient_a, day[3], "healthkit", 6200),
        (seed.patient_a, day[2], "healthkit", 7000),
        (seed.patient_a, day[1], "manual", 3000),
        (seed.patient_a, day[0], "garmin", 1200),
        (seed.patient_b, day[1], "garmin", 9999),
    ]
    with db.transaction() as session:
        session.execute(
            update(PatientProfile)
            .where(PatientProfile.user_id == seed.patient_a)
            .values(primary_source="garmin")
        )
        session.add_all(
            DailyActivity(patient_id=p, date=d, source=s, steps=n, updated_at=now)
            for p, d, s, n in rows
        )
        session.add(
            PainReport(
                patient_id=seed.patient_a,
                score=7,
                recorded_at=_at(day[2], 10),
                location="lower_back",
                red_flags=["night_pain", "fever"],
                note="Worse after the long walk",
            )
        )
        session.add(PainReport(patient_id=seed.patient_b, score=2, recorded_at=_at(day[2], 9)))
        session.execute(
            update(PlanChange)
            .where(PlanChange.patient_id == seed.patient_a)
            .values(effective_at=now - dt.timedelta(days=20))
        )
        session.add_all(
            [
                PlanChange(
                    patient_id=seed.patient_a,
                    effective_at=now - dt.timedelta(days=5),
                    target=4500,
                    reason="progress-up",
                ),
                PlanChange(
                    patient_id=seed.patient_a,
                    effective_at=_at(day[1], 12),
                    target=4200,
                    reason="clinician",
                    changed_by=seed.clinician,
                ),
            ]
        )
        session.execute(
            update(Plan)
            .where(Plan.patient_id == seed.patient_a)
            .values(daily_target=4200, progression_held_until=now + dt.timedelta(days=3))
        )
        session.add_all(
            [
                Tip(
                    patient_id=seed.patient_a,
                    rule_id="pain-flare-rest",
                    tip_key="rest",
                    category="pain",
                    title="Go easy today",
                    text="Take a shorter walk today and rest your back.",
                    why="You rated your back 7/10 today.",
                    created_at=_at(day[2], 11),
                    read_at=_at(day[2], 12),
                    helpful=True,
                ),
                Tip(
                    patient_id=seed.patient_a,
                    rule_id="red-flag",
                    tip_key="red-flag",
                    category="safety",
                    title="Please contact your clinician",
                    text="Call your GP today about the fever.",
                    urgent=True,
                    created_at=_at(day[2], 11),
                ),
                Tip(
                    patient_id=seed.patient_b,
                    rule_id="r",
                    tip_key="k",
                    category="general",
                    title="B's tip",
                    text="Not A's",
                    created_at=_at(day[2], 11),
                ),
            ]
        )
    return today


def _get(server: LiveServer, seed: Seed, query: str = "", who: str = "clinician") -> Any:
    return requests.get(
        f"{server.url}/v1/clinician/patients/{seed.patient_a}/fhir{query}",
        headers={**FHIR, **seed.headers(who)},
        timeout=30,
    )


def _resources(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [entry["resource"] for entry in bundle["entry"]]


def _steps(resources: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        o["effectivePeriod"]["start"][:10]: o
        for o in of_type(resources, "Observation")
        if o["code"]["coding"][0]["code"] == "41950-7"
    }


def test_it_exports_a_patients_programme_as_a_valid_r4_bundle(
    live_server: LiveServer, seed: Seed
) -> None:
    today = programme(seed)
    response = _get(live_server, seed)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/fhir+json"
    bundle = response.json()
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "collection"
    assert bundle_errors(bundle) == []
    resources = _resources(bundle)

    (patient,) = of_type(resources, "Patient")
    assert patient["identifier"] == [
        {"use": "usual", "system": f"urn:backstride:clinic:{seed.clinic_id}:patient",
         "value": str(seed.patient_a)}
    ]  # fmt: skip
    assert not {"name", "telecom", "birthDate", "address"} & set(patient)
    assert "a@patients.example" not in response.text

    steps = _steps(resources)
    day = [(today - dt.timedelta(days=n)).isoformat() for n in range(4)]
    # The primary source (garmin) wins day 3 over a larger healthkit value; never summed.
    assert {d: o["valueQuantity"]["value"] for d, o in steps.items()} == {
        day[3]: 5000, day[2]: 7000, day[1]: 3000, day[0]: 1200,
    }  # fmt: skip
    assert steps[day[0]]["status"] == "preliminary"
    assert {steps[d]["status"] for d in day[1:]} == {"final"}
    quantity = steps[day[3]]["valueQuantity"]
    assert (quantity["system"], quantity["code"]) == ("http://unitsofmeasure.org", "/d")
    assert steps[day[3]]["category"][0]["coding"][0]["code"] == "activity"
    devices = {f"urn:uuid:{d['id']}": d for d in of_type(resources, "Device")}
    assert devices[steps[day[3]]["device"]["reference"]]["deviceName"][0]["name"] == "Garmin"
    assert steps[day[3]]["note"][0]["text"].endswith("Other sources: Apple Health: 6,200 steps.")
    assert "device" not in steps[day[1]]  # entered by hand: the patient is the performer

    (pain,) = [
        o for o in of_type(resources, "Observation") if o["code"]["coding"][0]["code"] == "72514-3"
    ]
    assert pain["valueQuantity"] == {
        "value": 7, "unit": "{score}", "system": "http://unitsofmeasure.org", "code": "{score}",
    }  # fmt: skip
    assert pain["bodySite"] == {"text": "lower back"}
    flags = [c["code"]["text"] for c in pain["component"]]
    assert flags == ["Pain at night that does not ease with rest", "Fever with the back pain"]
    assert all(c["valueBoolean"] is True for c in pain["component"])

    goals = of_type(resources, "Goal")
    assert [g["lifecycleStatus"] for g in goals] == ["completed", "completed", "active"]
    assert [g["target"][0]["detailQuantity"]["value"] for g in goals] == [4000, 4500, 4200]
    assert goals[0]["statusReason"] == "Replaced by a target of 4,500 steps a day."
    assert goals[2]["expressedBy"] == {"display": "Care team"}
    assert goals[2]["note"][-1]["text"].startswith("Increases are on hold until ")

    communications = of_type(resources, "Communication")
    assert [c["payload"][0]["contentString"] for c in communications] == [
        "Take a shorter walk today and rest your back.",
        "Call your GP today about the fever.",
    ]
    rest, safety = communications
    assert rest["reasonCode"] == [{"text": "You rated your back 7/10 today."}]
    assert rest["sent"].startswith(day[2])
    assert "found it helpful" in rest["note"][1]["text"]
    assert safety["priority"] == "urgent"
    assert safety["category"][0]["coding"][0]["code"] == "alert"


def test_it_gives_every_record_the_same_id_on_every_export(
    live_server: LiveServer, seed: Seed
) -> None:
    programme(seed)
    first, second = _get(live_server, seed).json(), _get(live_server, seed).json()
    assert [e["fullUrl"] for e in first["entry"]] == [e["fullUrl"] for e in second["entry"]]
    assert first["id"] != second["id"]  # the Bundle is a new snapshot each time


def test_it_keeps_to_the_window_of_local_days(live_server: LiveServer, seed: Seed) -> None:
    today = programme(seed)
    first, last = today - dt.timedelta(days=2), today - dt.timedelta(days=1)
    bundle = _get(live_server, seed, f"?from={first}&to={last}").json()
    assert bundle_errors(bundle) == []
    resources = _resources(bundle)
    assert sorted(_steps(resources)) == [first.isoformat(), last.isoformat()]
    assert len(of_type(resources, "Communication")) == 2
    # The goals in force during the window: 4,500 (until the clinician's change) and 4,200.
    targets = [g["target"][0]["detailQuantity"]["value"] for g in of_type(resources, "Goal")]
    assert targets == [4500, 4200]
    empty = _get(
        live_server,
        seed,
        f"?from={today - dt.timedelta(days=40)}&to={today - dt.timedelta(days=30)}",
    ).json()
    assert [r["resourceType"] for r in _resources(empty)] == ["Organization", "Patient"]


def test_it_answers_errors_as_operation_outcomes(live_server: LiveServer, seed: Seed) -> None:
    base = f"{live_server.url}/v1/clinician/patients"
    mine = f"{base}/{seed.patient_a}/fhir"
    staff = seed.headers("clinician")
    cases = [
        (mine, {}, 401, "login"),
        (mine, seed.headers("other_clinician"), 403, "forbidden"),
        (mine, seed.headers("patient_a"), 403, "forbidden"),
        (f"{base}/999999/fhir", staff, 404, "not-found"),
        (f"{base}/abc/fhir", staff, 404, "not-found"),
        (f"{mine}?from=2026-02-30", staff, 422, "invalid"),
        (f"{mine}?from=2026-03-02&to=2026-03-01", staff, 422, "invalid"),
        (f"{mine}?_format=xml", staff, 406, "not-supported"),
    ]  # fmt: skip
    for url, headers, status, code in cases:
        response = requests.get(url, headers={**FHIR, **headers}, timeout=30)
        assert response.status_code == status, (url, response.text)
        assert response.headers["Content-Type"] == "application/fhir+json"
        body = response.json()
        assert schema_errors(body) == []
        assert body["resourceType"] == "OperationOutcome"
        assert body["issue"][0]["code"] == code
    invalid = requests.get(
        f"{base}/{seed.patient_a}/fhir?from=2026-03-02&to=2026-03-01",
        headers=seed.headers("clinician"), timeout=30,
    ).json()  # fmt: skip
    assert invalid["issue"][0]["expression"] == ["from"]
    xml = requests.get(
        f"{base}/{seed.patient_a}/fhir",
        headers={"Accept": "application/fhir+xml", **seed.headers("clinician")}, timeout=30,
    )  # fmt: skip
    assert xml.status_code == 406
    unauthenticated = requests.get(f"{base}/{seed.patient_a}/fhir", timeout=30)
    assert unauthenticated.headers["WWW-Authenticate"].startswith("Bearer")


def test_it_refuses_a_patient_outside_any_clinic(
    live_server: LiveServer, seed: Seed, now: dt.datetime
) -> None:
    with db.transaction():
        loner = make_patient(None, email="loner@patients.example", enrolled_at=now).id
    response = requests.get(
        f"{live_server.url}/v1/clinician/patients/{loner}/fhir",
        headers={**FHIR, **seed.headers("admin")},
        timeout=30,
    )
    assert response.status_code == 409
    assert response.json()["issue"][0]["code"] == "conflict"


def test_it_accepts_plain_json_and_wildcards(live_server: LiveServer, seed: Seed) -> None:
    for accept in ("application/json", "*/*", "application/fhir+json;q=0.9, text/html"):
        response = requests.get(
            f"{live_server.url}/v1/clinician/patients/{seed.patient_a}/fhir",
            headers={"Accept": accept, **seed.headers("clinician")},
            timeout=30,
        )
        assert response.status_code == 200, accept
        assert response.headers["Content-Type"] == "application/fhir+json"


def test_it_audits_each_bundle_read(live_server: LiveServer, seed: Seed) -> None:
    _get(live_server, seed, "?to=2026-01-31")
    _get(live_server, seed, who="admin")
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "fhir.bundle.read").order_by(AuditEvent.id)
    ).all()
    assert [(e.actor_id, e.target_id) for e in events] == [
        (seed.clinician, str(seed.patient_a)),
        (seed.admin, str(seed.patient_a)),
    ]
    assert events[0].details == {"from": None, "to": "2026-01-31"}


def test_it_exports_a_demo_patient_with_their_daily_totals(live_server: LiveServer) -> None:
    now = dt.datetime.now(dt.UTC)
    with db.transaction() as session:
        patient_ids = seed_demo(session, get_settings(), now)
        clinician = session.scalar(
            select(PatientProfile.clinician_id).where(PatientProfile.user_id == patient_ids[0])
        )
        token = token_for(session.get(User, clinician))
    assert sync_due_connections(now) == len(patient_ids)
    evaluate_due(now)
    patient_id = patient_ids[0]
    response = requests.get(
        f"{live_server.url}/v1/clinician/patients/{patient_id}/fhir",
        headers={**FHIR, "Authorization": f"Bearer {token}"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert bundle_errors(bundle) == []
    resources = _resources(bundle)
    profile = db.session.get(PatientProfile, patient_id)
    stored = steps_by_day(db.session, [patient_id], dt.date(2000, 1, 1), dt.date(2100, 1, 1))
    expected = {
        day.isoformat(): effective_steps(sources, profile.primary_source)
        for day, sources in stored[patient_id].items()
    }
    assert len(expected) >= 20
    got = {d: o["valueQuantity"]["value"] for d, o in _steps(resources).items()}
    assert got == expected
    assert of_type(resources, "Communication"), "the demo's first evaluation sent tips"
    assert all(g["lifecycleStatus"] == "active" for g in of_type(resources, "Goal")[-1:])
