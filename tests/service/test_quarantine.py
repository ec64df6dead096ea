"""Implausible provider records are quarantined, not stored; the rest of the batch is stored."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pytest
import requests
from flask import Flask
from prometheus_client import REGISTRY
from sqlalchemy import select

from integrations.wearables import DailyActivity as DayRecord
from integrations.wearables import WalkingSession as WalkRecord
from service.activity.models import DailyActivity, WalkingSession
from service.connections import ingest
from service.connections.models import QuarantinedRecord
from service.extensions import db
from tests.fakes.garmin import GARMIN_USER_ID
from tests.fakes.server import load_payload
from tests.support.connections import (  # noqa: F401 - the fixture is used by name
    WEBHOOK_SECRET,
    Wearables,
    wearables,
)
from tests.support.factories import Seed

NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def now() -> dt.datetime:
    """The named users are enrolled on this module's clock."""
    return NOW


DAY = NOW.date() - dt.timedelta(days=1)


def _quarantined(kind: str, reason: str) -> float:
    value = REGISTRY.get_sample_value(
        "backstride_quarantined_records_total",
        {"provider": "oura", "kind": kind, "reason": reason},
    )
    return value or 0.0


def _day(day: dt.date = DAY, steps: int = 5000, distance: float | None = 3500.0) -> DayRecord:
    return DayRecord(day, steps, distance, 60, "oura")


def _walk(
    name: str, start: dt.datetime, minutes: float, distance: float | None = 900.0
) -> WalkRecord:
    return WalkRecord(name, start, start + dt.timedelta(minutes=minutes), 1200, distance, "oura")


def test_it_quarantines_implausible_days_and_stores_the_rest(
    app: Flask, seed: Seed, caplog: pytest.LogCaptureFixture
) -> None:
    before = _quarantined("daily", "steps")
    days = [
        _day(),
        _day(DAY - dt.timedelta(days=1), steps=250_000),
        _day(dt.date(1, 1, 1)),
        _day(NOW.date() + dt.timedelta(days=3)),
        _day(DAY - dt.timedelta(days=2), distance=-10.0),
    ]
    with caplog.at_level(logging.WARNING, "service.connections.ingest"), db.transaction() as s:
        stored = ingest.upsert_days(s, seed.patient_a, "oura", days, NOW)

    assert stored == 1
    assert db.session.scalars(select(DailyActivity.date)).all() == [DAY]
    kept = db.session.scalars(select(QuarantinedRecord).order_by(QuarantinedRecord.id)).all()
    assert [(q.provider, q.patient_id, q.kind) for q in kept] == [
        ("oura", seed.patient_a, "daily")
    ] * 4
    assert [q.reason.split(":")[0] for q in kept] == ["steps", "date", "date", "distance_m"]
    assert kept[0].record == {
        "date": (DAY - dt.timedelta(days=1)).isoformat(),
        "steps": 250_000,
        "distance_m": 3500.0,
        "active_minutes": 60,
        "source": "oura",
    }
    assert kept[0].received_at == NOW
    assert _quarantined("daily", "steps") == before + 1
    lines = [r.getMessage() for r in caplog.records if "quarantined" in r.getMessage()]
    assert len(lines) == 4
    assert f"patient {seed.patient_a}" in lines[0]


def test_it_quarantines_walks_that_end_before_they_start_or_last_over_a_day(
    app: Flask, seed: Seed
) -> None:
    start = dt.datetime.combine(DAY, dt.time(9), tzinfo=dt.UTC)
    walks = [
        _walk("good", start, 30),
        _walk("backwards", start, -5),
        _walk("endless", start, 25 * 60),
        _walk("negative", start, 30, distance=-1.0),
        _walk("ancient", dt.datetime(1, 1, 1, 12, tzinfo=dt.UTC), 30),
    ]
    with db.transaction() as session:
        stored = ingest.upsert_sessions(session, seed.patient_a, "oura", walks, NOW)

    assert stored == 1
    assert db.session.scalars(select(WalkingSession.external_id)).all() == ["good"]
    kept = db.session.scalars(select(QuarantinedRecord).order_by(QuarantinedRecord.id)).all()
    names = [q.record["external_id"] for q in kept]
    assert names == ["backwards", "endless", "negative", "ancient"]
    assert [q.reason for q in kept][:2] == [
        "end: must be after start",
        "end: a walk lasts at most 24 hours",
    ]
    assert kept[3].record["start"] == "0001-01-01T12:00:00+00:00"


def test_it_quarantines_an_implausible_garmin_push(wearables: Wearables) -> None:  # noqa: F811
    wearables.link("garmin")
    [template] = load_payload("garmin_health_dailies_push.json")
    good: dict[str, Any] = {**template, "userId": GARMIN_USER_ID, "summaryId": "good"}
    huge = {**good, "summaryId": "huge", "calendarDate": "2016-01-12", "steps": 250_000}
    answer = requests.post(
        f"{wearables.url}/v1/integrations/garmin/webhook",
        params={"secret": WEBHOOK_SECRET},
        json={"dailies": [good, huge]},
        timeout=10,
    )

    assert answer.status_code == 200, answer.text
    rows = db.session.execute(select(DailyActivity.date, DailyActivity.steps)).all()
    assert [(str(d), s) for d, s in rows] == [(good["calendarDate"], good["steps"])]
    [kept] = db.session.scalars(select(QuarantinedRecord)).all()
    assert (kept.provider, kept.patient_id, kept.kind) == (
        "garmin",
        wearables.seed.patient_a,
        "daily",
    )
    assert kept.record["steps"] == 250_000
    assert kept.reason == "steps: must be from 0 to 200,000"


def test_it_answers_a_push_naming_a_user_with_a_nul_without_failing(wearables: Wearables) -> None:  # noqa: F811
    wearables.link("garmin")
    [template] = load_payload("garmin_health_dailies_push.json")
    spoilt = {**template, "userId": "user\u0000x", "summaryId": "id\u0000x"}
    answer = requests.post(
        f"{wearables.url}/v1/integrations/garmin/webhook",
        params={"secret": WEBHOOK_SECRET},
        json={"dailies": [spoilt]},
        timeout=10,
    )

    assert answer.status_code == 200, answer.text
    assert answer.json()["received"] == 1
    assert db.session.scalars(select(DailyActivity)).all() == []


def test_it_keeps_a_walk_whose_id_holds_a_nul_under_a_digest(app: Flask, seed: Seed) -> None:
    start = dt.datetime.combine(DAY, dt.time(9), tzinfo=dt.UTC)
    with db.transaction() as session:
        ingest.upsert_sessions(session, seed.patient_a, "oura", [_walk("w\x00", start, 30)], NOW)
        ingest.upsert_sessions(session, seed.patient_a, "oura", [_walk("w\x00", start, 40)], NOW)

    [stored] = db.session.scalars(select(WalkingSession)).all()
    assert stored.external_id.startswith("sha256:")
    assert stored.end == start + dt.timedelta(minutes=40)  # the same walk, updated
