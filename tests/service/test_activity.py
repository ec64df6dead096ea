"""Activity uploads (real upserts) and the per-day history with targets."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from service.activity import service
from service.activity.models import DailyActivity, WalkingSession
from service.errors import Invalid, NotFound
from service.evaluation.models import PendingEvaluation
from service.extensions import db
from service.patients.models import PatientProfile
from service.plans.models import PlanChange
from tests.support.factories import Seed

LONDON = zoneinfo.ZoneInfo("Europe/London")
DAY = dt.timedelta(days=1)


def _today() -> dt.date:
    return dt.datetime.now(LONDON).date()


def _backdate_plan(days: int = 7) -> None:
    """Move the seeded initial plan into the past (the seed enrols patients now)."""
    with db.transaction() as session:
        for change in session.scalars(select(PlanChange)):
            change.effective_at = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)


def _put(client: Any, seed: Seed, days: list[dict[str, Any]]) -> Any:
    return client.put(
        "/v1/me/activity/daily", json={"days": days}, headers=seed.headers("patient_a")
    )


def test_it_upserts_daily_totals_per_date_and_source(client: Any, seed: Seed) -> None:
    day = (_today() - dt.timedelta(days=1)).isoformat()
    first = _put(client, seed, [{"date": day, "steps": 3000, "source": "healthkit"}])
    assert first.status_code == 200
    assert first.json == {"upserted": 1, "evaluation": "pending"}
    days = [
        {"date": day, "steps": 4200, "distance_m": 3100.5, "source": "healthkit"},
        {"date": day, "steps": 3900, "source": "manual"},
    ]
    assert _put(client, seed, days).json == {"upserted": 2, "evaluation": "pending"}
    rows = db.session.execute(
        select(DailyActivity.source, DailyActivity.steps, DailyActivity.distance_m).order_by(
            DailyActivity.source
        )
    ).all()
    assert [tuple(r) for r in rows] == [("healthkit", 4200, 3100.5), ("manual", 3900, None)]


def _stored(patient_id: int) -> tuple[dict[str, dt.datetime], int, dt.datetime | None]:
    """Each source's updated_at, the patient's pending marks, and their phone's last upload."""
    with db.transaction() as session:
        updated = dict(
            session.execute(
                select(DailyActivity.source, DailyActivity.updated_at).where(
                    DailyActivity.patient_id == patient_id
                )
            ).all()
        )
        marks = session.scalar(
            select(PendingEvaluation.marks).where(PendingEvaluation.patient_id == patient_id)
        )
        uploaded = session.scalar(
            select(PatientProfile.last_upload_at).where(PatientProfile.user_id == patient_id)
        )
    return updated, marks or 0, uploaded


def test_a_re_sent_day_is_not_rewritten_nor_evaluated_but_the_upload_is_noted(
    client: Any, seed: Seed
) -> None:
    day = (_today() - dt.timedelta(days=1)).isoformat()
    days = [
        {"date": day, "steps": 4200, "distance_m": 3100.5, "source": "healthkit"},
        {"date": day, "steps": 3900, "source": "manual"},
    ]
    assert _put(client, seed, days).json == {"upserted": 2, "evaluation": "pending"}
    updated, marks, uploaded = _stored(seed.patient_a)
    assert marks == 1
    assert uploaded is not None

    assert _put(client, seed, days).json == {"upserted": 2, "evaluation": "none"}
    again, marks_again, uploaded_again = _stored(seed.patient_a)
    assert again == updated
    assert marks_again == 1
    assert uploaded_again is not None
    assert uploaded_again > uploaded

    # One value of one row differs (a distance where there was none): that row, and a mark.
    days[1]["distance_m"] = 2800.0
    assert _put(client, seed, days).json == {"upserted": 2, "evaluation": "pending"}
    changed, marks_changed, _ = _stored(seed.patient_a)
    assert changed["healthkit"] == updated["healthkit"]
    assert changed["manual"] > updated["manual"]
    assert marks_changed == 2


def test_a_re_sent_walk_is_not_evaluated_again(client: Any, seed: Seed) -> None:
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=3)
    walk = {
        "start": start.isoformat(),
        "end": (start + dt.timedelta(minutes=25)).isoformat(),
        "kind": "walking",
        "source": "healthkit",
    }
    answers = []
    for steps in (2600, 2600, 2700):  # new, re-sent as it is, changed
        body = {"sessions": [{**walk, "steps": steps}]}
        answer = client.post(
            "/v1/me/activity/sessions", json=body, headers=seed.headers("patient_a")
        )
        answers.append(answer.json)
    assert [a["evaluation"] for a in answers] == ["pending", "none", "pending"]
    assert {a["upserted"] for a in answers} == {1}
    assert _stored(seed.patient_a)[1] == 2


def test_it_validates_daily_uploads(client: Any, seed: Seed) -> None:
    today = _today()
    day = today.isoformat()
    cases = [
        ([{"date": day, "steps": 200_001, "source": "manual"}], "days.0.steps"),
        ([{"date": day, "steps": -1, "source": "manual"}], "days.0.steps"),
        ([{"date": day, "steps": 10, "source": "fitbit"}], "days.0.source"),
        ([{"date": "2026-02-30", "steps": 10, "source": "manual"}], "days.0.date"),
        (
            [{"date": (today + dt.timedelta(days=2)).isoformat(), "steps": 1, "source": "manual"}],
            "days.0.date",
        ),
        (
            [
                {"date": day, "steps": 1, "source": "manual"},
                {"date": day, "steps": 2, "source": "manual"},
            ],
            "days.1",
        ),
    ]
    for days, field in cases:
        response = _put(client, seed, days)
        assert response.status_code == 422, days
        assert response.json["errors"][0]["field"] == field
    too_many = [
        {"date": (today - dt.timedelta(days=i)).isoformat(), "steps": 1, "source": "manual"}
        for i in range(367)
    ]
    response = _put(client, seed, too_many)
    assert response.status_code == 422
    assert response.json["errors"][0]["field"] == "days"
    assert db.session.scalar(select(func.count()).select_from(DailyActivity)) == 0


def test_it_accepts_tomorrow_in_the_patients_zone(client: Any, seed: Seed) -> None:
    tomorrow = (_today() + dt.timedelta(days=1)).isoformat()
    response = _put(client, seed, [{"date": tomorrow, "steps": 10, "source": "manual"}])
    assert response.status_code == 200


# Pinned: 10:30 UTC is 00:30 on 1 December in Kiritimati (UTC+14) and 22:30 on 29 November at
# UTC-12, the two ends of the world's clocks.
NOW = dt.datetime(2026, 11, 30, 10, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("zone", "tomorrow"),
    [("Pacific/Kiritimati", dt.date(2026, 12, 2)), ("Etc/GMT+12", dt.date(2026, 11, 30))],
)
def test_tomorrow_is_the_patients_own_at_either_end_of_the_worlds_clocks(
    app: Flask, seed: Seed, zone: str, tomorrow: dt.date
) -> None:
    with db.transaction() as session:
        session.get_one(PatientProfile, seed.patient_a).timezone = zone
    day = {"steps": 10, "source": "manual"}
    with db.transaction() as session:
        stored = service.upsert_daily(session, seed.patient_a, [{**day, "date": tomorrow}], NOW)
    assert stored == (1, 1)
    late = [{**day, "date": tomorrow - dt.timedelta(days=2)}, {**day, "date": tomorrow + DAY}]
    with pytest.raises(Invalid) as refused, db.transaction() as session:
        service.upsert_daily(session, seed.patient_a, late, NOW)
    assert refused.value.errors == [
        {"field": "days.1.date", "message": "must not be after tomorrow"}
    ]


def test_an_upload_without_a_patient_profile_is_404_and_stores_nothing(
    app: Flask, seed: Seed
) -> None:
    with db.transaction() as session:
        session.delete(session.get_one(PatientProfile, seed.patient_a))
    with pytest.raises(NotFound), db.transaction() as session:
        service.upsert_daily(
            session, seed.patient_a, [{"date": NOW.date(), "steps": 10, "source": "manual"}], NOW
        )
    assert _stored(seed.patient_a) == ({}, 0, None)


def test_it_reports_effective_steps_never_summed(client: Any, seed: Seed) -> None:
    _backdate_plan()
    yesterday = _today() - dt.timedelta(days=1)
    before = yesterday - dt.timedelta(days=1)
    _put(
        client,
        seed,
        [
            {"date": yesterday.isoformat(), "steps": 5000, "source": "healthkit"},
            {"date": yesterday.isoformat(), "steps": 3000, "source": "manual"},
            {"date": before.isoformat(), "steps": 2000, "source": "manual"},
        ],
    )
    headers = seed.headers("patient_a")
    url = f"/v1/me/activity?from={before.isoformat()}&to={yesterday.isoformat()}"
    days = client.get(url, headers=headers).json["days"]
    assert [d["date"] for d in days] == [before.isoformat(), yesterday.isoformat()]
    assert days[1]["steps"] == 5000  # the largest value, not 8000
    assert days[1]["sources"] == {"healthkit": 5000, "manual": 3000}
    assert days[1]["met"] is True
    assert days[0] == {
        "date": before.isoformat(),
        "steps": 2000,
        "target": 4000,
        "met": False,
        "sources": {"manual": 2000},
    }
    client.patch("/v1/me", json={"primary_source": "manual"}, headers=headers)
    days = client.get(url, headers=headers).json["days"]
    assert days[1]["steps"] == 3000
    assert days[1]["met"] is False


def test_it_uses_the_target_in_force_at_the_end_of_each_day(client: Any, seed: Seed) -> None:
    today = _today()
    two_days_ago = today - dt.timedelta(days=2)
    _backdate_plan()
    with db.transaction() as session:
        # The target rose yesterday afternoon (local): yesterday's target is the new one.
        afternoon = dt.datetime.combine(today - dt.timedelta(days=1), dt.time(15), tzinfo=LONDON)
        session.add(
            PlanChange(patient_id=seed.patient_a, effective_at=afternoon, target=4400, reason="r")
        )
    url = f"/v1/me/activity?from={two_days_ago.isoformat()}&to={today.isoformat()}"
    days = client.get(url, headers=seed.headers("patient_a")).json["days"]
    assert [d["target"] for d in days] == [4000, 4400, 4400]
    assert [d["steps"] for d in days] == [None, None, None]
    assert [d["met"] for d in days] == [None, None, None]


def test_it_has_no_target_before_enrolment(client: Any, seed: Seed) -> None:
    yesterday = (_today() - dt.timedelta(days=1)).isoformat()
    _put(client, seed, [{"date": yesterday, "steps": 9000, "source": "manual"}])
    url = f"/v1/me/activity?from={yesterday}&to={yesterday}"
    days = client.get(url, headers=seed.headers("patient_a")).json["days"]
    assert days == [
        {"date": yesterday, "steps": 9000, "target": None, "met": None, "sources": {"manual": 9000}}
    ]


def test_it_defaults_to_the_last_seven_days_and_bounds_the_range(client: Any, seed: Seed) -> None:
    headers = seed.headers("patient_a")
    days = client.get("/v1/me/activity", headers=headers).json["days"]
    assert len(days) == 7
    assert days[-1]["date"] == _today().isoformat()
    reversed_range = client.get("/v1/me/activity?from=2026-03-10&to=2026-03-01", headers=headers)
    assert reversed_range.status_code == 422
    too_long = client.get("/v1/me/activity?from=2020-01-01&to=2026-01-01", headers=headers)
    assert too_long.status_code == 422
    bad_date = client.get("/v1/me/activity?from=yesterday", headers=headers)
    assert bad_date.status_code == 422
    assert bad_date.json["errors"][0] == {
        "field": "from",
        "message": "Not a valid date.",
        "in": "query",
    }


def test_it_stores_walking_sessions_idempotently(client: Any, seed: Seed) -> None:
    walk = {
        "start": "2026-11-20T08:00:00+01:00",
        "end": "2026-11-20T08:30:00+01:00",
        "kind": "walking",
        "steps": 3000,
        "source": "healthkit",
    }
    headers = seed.headers("patient_a")
    for steps in (3000, 3100):
        response = client.post(
            "/v1/me/activity/sessions",
            json={"sessions": [walk | {"steps": steps}]},
            headers=headers,
        )
        assert response.status_code == 200
        assert response.json == {"upserted": 1, "evaluation": "pending"}
    walks = list(db.session.scalars(select(WalkingSession)))
    assert len(walks) == 1
    assert walks[0].steps == 3100
    assert walks[0].start == dt.datetime(2026, 11, 20, 7, tzinfo=dt.UTC)
    assert walks[0].external_id == "healthkit:20261120T070000Z-20261120T073000Z"


def test_it_validates_walking_sessions(client: Any, seed: Seed) -> None:
    base = {"start": "2026-11-20T08:00:00Z", "end": "2026-11-20T08:30:00Z", "kind": "walking",
            "source": "manual"}  # fmt: skip
    cases = [
        (base | {"end": "2026-11-20T07:00:00Z"}, "sessions.0.end"),
        (base | {"start": "2026-11-20T08:00:00"}, "sessions.0.start"),
        (base | {"kind": "running"}, "sessions.0.kind"),
        (base | {"steps": 1.5}, "sessions.0.steps"),
    ]
    for walk, field in cases:
        response = client.post(
            "/v1/me/activity/sessions", json={"sessions": [walk]}, headers=seed.headers("patient_a")
        )
        assert response.status_code == 422, walk
        assert response.json["errors"][0]["field"] == field
    duplicate = client.post(
        "/v1/me/activity/sessions",
        json={"sessions": [base, base]},
        headers=seed.headers("patient_a"),
    )
    assert duplicate.status_code == 422
    assert duplicate.json["errors"][0]["field"] == "sessions.1"
