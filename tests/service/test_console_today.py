"""The Today list: patients ranked by need, set-based at any size, with search and pages."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event

from service.accounts.auth import Principal
from service.accounts.models import Clinic
from service.activity.models import DailyActivity
from service.alerts.models import ClinicianAlert
from service.clinicians import worklist
from service.connections.models import WearableConnection
from service.extensions import db
from service.patients.models import PatientProfile
from service.plans.models import PlanChange
from service.reports.models import PainReport
from tests.support.console import signed_in
from tests.support.factories import Seed, make_patient

LONDON = zoneinfo.ZoneInfo("Europe/London")
# Pinned: every date below is counted from this instant, and the list is asked at it.
NOW = dt.datetime(2026, 11, 20, 15, 0, tzinfo=dt.UTC)


@pytest.fixture
def now() -> dt.datetime:
    """The named users are enrolled on this module's clock."""
    return NOW


YESTERDAY = dt.date(2026, 11, 19)


def _steps(
    session: Any,
    patient_id: int,
    values: dict[int, int],
    source: str = "manual",
    *,
    at: dt.datetime = NOW,
) -> None:
    """Steps on the days `back` days before `at`'s local date (1 = yesterday)."""
    yesterday = at.astimezone(LONDON).date() - dt.timedelta(days=1)
    for back, steps in values.items():
        session.add(
            DailyActivity(
                patient_id=patient_id,
                date=yesterday - dt.timedelta(days=back - 1),
                source=source,
                steps=steps,
                updated_at=at - dt.timedelta(hours=back),
            )
        )


def _clinic_with_needs(seed: Seed, at: dt.datetime = NOW) -> dict[str, int]:
    """Patients with every kind of need at `at` (this module's clock unless a test that cannot
    pin it says otherwise), in patient A's clinic (target 4,000 each)."""
    enrolled = at - dt.timedelta(days=60)
    with db.transaction() as session:
        clinic = session.get(Clinic, seed.clinic_id)
        people = {
            name: make_patient(clinic, email=f"{name}@today.example", enrolled_at=enrolled).id
            for name in ("steady", "quiet", "slow", "flare", "alerted", "sore")
        }
        full = dict.fromkeys(range(1, 15), 4500)
        _steps(session, people["steady"], full, at=at)
        _steps(session, people["slow"], dict.fromkeys(range(1, 15), 2000), at=at)
        _steps(session, people["quiet"], {6: 5000, 7: 5000}, at=at)
        for name in ("flare", "alerted", "sore"):
            _steps(session, people[name], full, at=at)
        session.add_all(
            [
                PainReport(
                    patient_id=people["flare"], score=8, recorded_at=at - dt.timedelta(hours=5)
                ),
                *(
                    PainReport(
                        patient_id=people["sore"], score=6, recorded_at=at - dt.timedelta(days=d)
                    )
                    for d in (1, 2, 3)
                ),
                ClinicianAlert(
                    clinic_id=seed.clinic_id,
                    patient_id=people["alerted"],
                    severity="warning",
                    message="Check in",
                    created_at=at - dt.timedelta(hours=2),
                ),
                WearableConnection(
                    patient_id=people["steady"],
                    provider="sandbox",
                    last_sync_at=at - dt.timedelta(minutes=10),
                ),
            ]
        )
        # The phones' last uploads: steady's is older than its wearable's sync.
        for name, ago in (("slow", dt.timedelta(minutes=30)), ("steady", dt.timedelta(hours=3))):
            session.get(PatientProfile, people[name]).last_upload_at = at - ago
        # A's seeded patients (A and B) have no data at all.
    return people


def _principal(seed: Seed) -> Principal:
    return Principal(user_id=seed.clinician, role="clinician", clinic_id=seed.clinic_id)


def test_it_ranks_the_clinics_patients_by_need(app: Flask, seed: Seed) -> None:
    people = _clinic_with_needs(seed)
    with db.transaction() as session:
        listing = worklist.today_list(session, _principal(seed), NOW)
    order = [row.id for row in listing["items"]]
    by_id = {row.id: row for row in listing["items"]}
    assert order[:3] == [people["alerted"], people["flare"], people["sore"]]
    # Off track or without data: nothing for longest first, then the lowest share of target.
    assert order[3:7] == [seed.patient_a, seed.patient_b, people["quiet"], people["slow"]]
    assert order[7:] == [people["steady"]]
    assert [row.need for row in listing["items"]][:3] == ["Open alerts", "Pain", "Pain"]
    assert by_id[people["alerted"]].reasons[0] == "1 open alert (warning)"
    assert by_id[people["flare"]].reasons == ["Pain flare: 8/10 in the last 48 hours"]
    assert by_id[people["sore"]].reasons == [
        "Persistent pain: 6.0/10 on average over 3 reports this week"
    ]
    assert by_id[people["quiet"]].reasons == ["No step data for 5 days"]
    assert by_id[seed.patient_a].reasons == ["No step data in the last 2 weeks"]
    assert by_id[people["slow"]].reasons == ["Walking 50% of the target this week"]
    steady = by_id[people["steady"]]
    assert steady.reasons == ["On track"]
    assert steady.met_14d == 14
    assert steady.mean_7d == 4500
    # "Last sync": the later of the phone's last upload and a wearable's last sync.
    assert steady.last_sync == NOW - dt.timedelta(minutes=10)
    assert by_id[people["slow"]].last_sync == NOW - dt.timedelta(minutes=30)
    assert by_id[people["quiet"]].last_sync is None
    assert by_id[people["flare"]].latest_pain == 8
    assert dict(listing["tiers"]) == {
        "Safety episode": 0,
        "Open alerts": 1,
        "Pain": 2,
        "Off track or no data": 4,
        "On track": 1,
    }


def test_it_draws_28_days_of_steps_against_the_days_target(app: Flask, seed: Seed) -> None:
    people = _clinic_with_needs(seed)
    with db.transaction() as session:
        # The target went up to 5,000 three days ago: the series shows each day's own target.
        session.add(
            PlanChange(
                patient_id=people["steady"],
                effective_at=dt.datetime.combine(
                    YESTERDAY - dt.timedelta(days=2), dt.time(9), tzinfo=LONDON
                ),
                target=5000,
                reason="progress",
            )
        )
    with db.transaction() as session:
        listing = worklist.today_list(session, _principal(seed), NOW, search="steady")
    (row,) = listing["items"]
    assert len(row.series) == 28
    assert row.series[-1] == (YESTERDAY, 4500, 5000)
    assert row.series[-3] == (YESTERDAY - dt.timedelta(days=2), 4500, 5000)
    assert row.series[-4] == (YESTERDAY - dt.timedelta(days=3), 4500, 4000)
    assert row.series[0] == (YESTERDAY - dt.timedelta(days=27), None, 4000)
    # With the higher target, three of the last 14 days were missed.
    assert row.met_14d == 11


def test_it_takes_the_primary_source_and_never_sums(app: Flask, seed: Seed) -> None:
    with db.transaction() as session:
        _steps(session, seed.patient_a, {1: 3000}, source="manual")
        _steps(session, seed.patient_a, {1: 9000}, source="healthkit")
        _steps(session, seed.patient_b, {1: 3000}, source="manual")
        _steps(session, seed.patient_b, {1: 2000}, source="healthkit")
    with db.transaction() as session:
        listing = worklist.today_list(session, _principal(seed), NOW)
    by_id = {row.id: row for row in listing["items"]}
    assert by_id[seed.patient_a].steps[YESTERDAY] == 9000  # no primary source: the largest
    assert by_id[seed.patient_b].steps[YESTERDAY] == 3000


def test_it_searches_and_pages(app: Flask, seed: Seed) -> None:
    people = _clinic_with_needs(seed)
    principal = _principal(seed)
    with db.transaction() as session:
        first = worklist.today_list(session, principal, NOW, page=1, per_page=3)
        third = worklist.today_list(session, principal, NOW, page=3, per_page=3)
        beyond = worklist.today_list(session, principal, NOW, page=99, per_page=3)
        found = worklist.today_list(session, principal, NOW, search="FLARE@today")
        by_id = worklist.today_list(session, principal, NOW, search=str(people["slow"]))
        wild = worklist.today_list(session, principal, NOW, search="%")
    assert (first["total"], first["pages"]) == (8, 3)
    assert [row.id for row in first["items"]] == [
        people["alerted"], people["flare"], people["sore"],
    ]  # fmt: skip
    assert [row.id for row in third["items"]] == [people["slow"], people["steady"]]
    assert beyond["page"] == 3
    assert [row.id for row in found["items"]] == [people["flare"]]
    assert [row.id for row in by_id["items"]] == [people["slow"]]
    assert wild["items"] == []  # a literal %, not a wildcard


def test_it_keeps_to_the_callers_clinic(app: Flask, seed: Seed) -> None:
    _clinic_with_needs(seed)
    south = Principal(
        user_id=seed.other_clinician, role="clinician", clinic_id=seed.other_clinic_id
    )
    admin = Principal(user_id=seed.admin, role="admin", clinic_id=None)
    with db.transaction() as session:
        assert worklist.today_list(session, south, NOW)["total"] == 0
        assert worklist.today_list(session, admin, NOW)["total"] == 8


def test_it_ranks_with_a_fixed_number_of_queries(app: Flask, seed: Seed) -> None:
    statements: list[str] = []

    def _log(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    def run() -> int:
        statements.clear()
        event.listen(db.engine, "before_cursor_execute", _log)
        try:
            with db.transaction() as session:
                worklist.today_list(session, _principal(seed), NOW)
        finally:
            event.remove(db.engine, "before_cursor_execute", _log)
        return len(statements)

    _clinic_with_needs(seed)
    few = run()
    with db.transaction() as session:
        clinic = session.get(Clinic, seed.clinic_id)
        for i in range(40):
            patient = make_patient(
                clinic, email=f"more{i}@today.example", enrolled_at=NOW - dt.timedelta(days=60)
            )
            _steps(session, patient.id, {1: 1000 + i, 2: 5000})
    many = run()
    assert many == few
    assert many <= 14


def test_it_shows_the_list_on_the_today_page(app: Flask, seed: Seed) -> None:
    # The page asks at the real time, so its patients' data is dated from it (read once).
    people = _clinic_with_needs(seed, at=dt.datetime.now(dt.UTC))
    browser = signed_in(app, seed.clinician)
    page = browser.get("/console/").get_data(as_text=True)
    assert page.index("alerted@today.example") < page.index("steady@today.example")
    assert f'data-patient="{people["alerted"]}"' in page
    assert 'role="img" aria-label="Steps over 28 days' in page
    searched = browser.get("/console/?q=sore").get_data(as_text=True)
    assert "sore@today.example" in searched
    assert "steady@today.example" not in searched
