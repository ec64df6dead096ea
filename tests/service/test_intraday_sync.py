"""Intraday steps from the providers whose API has them: a sync stores them, and the proximal
outcome of a decision is counted from them (SPEC §11.4)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from sqlalchemy import select

from service.activity.models import IntradaySteps
from service.connections.sync import sync_due_connections
from service.evaluation import service
from service.extensions import db
from service.outcomes import proximal
from service.outcomes.models import DecisionRecord
from tests.support.connections import (  # noqa: F401 - the fixture is used by name
    WEBHOOK_SECRET,
    Wearables,
    wearables,
)
from tests.support.outcomes import MRT_YAML, follow, mrt_ruleset

ALWAYS = MRT_YAML.replace("probability: 0.5", "probability: 1")
LONDON = ZoneInfo("Europe/London")  # patient A's zone
# Providers whose documented API counts steps more finely than a day.
INTRADAY = ["withings", "google_health", "polar", "garmin"]


def _garmin_hook(env: Wearables, body: dict[str, Any]) -> None:
    answer = requests.post(
        f"{env.url}/v1/integrations/garmin/webhook",
        params={"secret": WEBHOOK_SECRET},
        json=body,
        timeout=10,
    )
    assert answer.status_code == 200, answer.text


def _decision_time(now: dt.datetime) -> dt.datetime:
    """Yesterday 12:00 in patient A's zone: inside the fetch's intraday days, outside quiet
    hours, and a whole hour of it already past."""
    yesterday = now.astimezone(LONDON).date() - dt.timedelta(days=1)
    return dt.datetime.combine(yesterday, dt.time(12), LONDON).astimezone(dt.UTC)


@pytest.mark.parametrize("provider", INTRADAY)
def test_a_sync_stores_intraday_steps_and_the_proximal_outcome_uses_them(
    wearables: Wearables,  # noqa: F811
    provider: str,
) -> None:
    now = dt.datetime.now(dt.UTC)  # the sync reads the real clock, as its fixture does
    at = _decision_time(now)
    fake = wearables.fakes[provider]
    # Minutes from five before the decision to ten after its hour, 10-16 steps each.
    fake.intraday = {at + dt.timedelta(minutes=m): 10 + m % 7 for m in range(-5, 70)}
    expected = sum(10 + m % 7 for m in range(60))
    with db.transaction():
        ruleset_id = mrt_ruleset(wearables.seed.clinic_id, ALWAYS)
        follow(wearables.seed.patient_a, ruleset_id)
    with db.transaction() as session:
        service.evaluate(session, [wearables.seed.patient_a], "schedule", at)
    fake.zone = LONDON  # Polar writes wall-clock times in the user's zone
    wearables.link(provider)
    if provider == "garmin":  # Garmin is never polled: a ping names what to pull
        day = at.date()
        _garmin_hook(wearables, fake.ping("epochs", day, day))

    assert sync_due_connections(dt.datetime.now(dt.UTC)) == 1

    rows = db.session.scalars(
        select(IntradaySteps).where(IntradaySteps.source == provider).order_by(IntradaySteps.start)
    ).all()
    assert rows
    assert all(r.patient_id == wearables.seed.patient_a for r in rows)
    assert sum(r.steps for r in rows) == sum(fake.intraday.values())
    assert sum(r.steps for r in rows if at <= r.start < at + dt.timedelta(hours=1)) == expected
    proximal.run_due(at + dt.timedelta(days=3))
    db.session.remove()
    records = db.session.scalars(
        select(DecisionRecord).where(DecisionRecord.patient_id == wearables.seed.patient_a)
    ).all()
    assert records
    for record in records:
        assert (record.steps_60m, record.steps_60m_source) == (expected, "intraday")


def test_pushed_garmin_epochs_are_stored_per_quarter_hour(wearables: Wearables) -> None:  # noqa: F811
    wearables.link("garmin")
    fake = wearables.fakes["garmin"]
    at = _decision_time(dt.datetime.now(dt.UTC))
    fake.intraday = {at + dt.timedelta(minutes=m): 20 for m in range(10)}  # 10 of 15 minutes
    fake.intraday[at + dt.timedelta(minutes=15)] = 7

    _garmin_hook(wearables, {"epochs": fake.epochs(at, at + dt.timedelta(minutes=30))})

    rows = db.session.scalars(
        select(IntradaySteps).where(IntradaySteps.source == "garmin").order_by(IntradaySteps.start)
    ).all()
    # WALKING and SEDENTARY epochs of a quarter hour are one count of the whole quarter.
    assert [(r.start, r.minutes, r.steps) for r in rows] == [
        (at, 15, 200),
        (at + dt.timedelta(minutes=15), 15, 7),
    ]
