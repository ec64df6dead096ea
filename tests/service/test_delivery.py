"""The push outbox and the delivery policy: rows with the tip, quiet hours, local days."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy import func, select

from service import create_app
from service.config import Settings
from service.delivery.outbox import configured_channels, enqueue
from service.delivery.policy import (
    local_day_bounds,
    quiet_window,
    window_around,
)
from service.evaluation.facts import compute, load_contexts
from service.extensions import db, get_settings
from service.patients.models import PatientProfile
from service.tips.models import Tip
from tests.support.delivery import (
    APNS_TOKEN,
    UTC,
    PushEnv,
    add_device,
    add_tip,
    all_deliveries,
    push_env,
)
from tests.support.factories import Seed

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
NIGHT = (dt.time(21), dt.time(8))
# Before every moment the tests below enqueue at: the users, devices and tips share this clock.
NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def now() -> dt.datetime:
    """The named users and their devices are registered on this module's clock."""
    return NOW


@pytest.fixture
def env(base_settings: Settings, tmp_path: Path, seed: Seed) -> Iterator[PushEnv]:
    """An app with FCM and APNs configured (fakes running), over the seeded users."""
    # Built directly (not with make_app): `seed` already empties the database afterwards.
    with push_env(lambda **push: create_app(base_settings.replace(**push)), tmp_path) as env:
        yield env


def _set_quiet(patient_id: int, start: str | None, end: str | None) -> None:
    with db.transaction() as session:
        profile = session.get(PatientProfile, patient_id)
        assert profile is not None
        profile.quiet_start, profile.quiet_end = start, end


def _enqueue_one(patient_id: int, now: dt.datetime, **kwargs: Any) -> int:
    urgent = kwargs.pop("urgent", False)
    with db.transaction() as session:
        tip = add_tip(session, patient_id, urgent=urgent, created_at=now)
        return enqueue(session, [tip], now, **kwargs)


def test_it_writes_one_delivery_per_device_in_the_tips_transaction(
    env: PushEnv, seed: Seed
) -> None:
    now = dt.datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    with db.transaction() as session:
        android = add_device(session, seed.patient_a, "android", "fcm-a", at=now)
        ios = add_device(session, seed.patient_a, "ios", APNS_TOKEN, at=now)
        add_device(session, seed.patient_b, "android", "fcm-b", at=now)  # someone else's phone
    with db.transaction() as session:
        tips = [add_tip(session, seed.patient_a, created_at=now) for _ in range(2)]
        assert enqueue(session, tips, now) == 4
    rows = all_deliveries()
    assert {(r.tip_id, r.device_id, r.channel) for r in rows} == {
        (tip.id, device.id, channel)
        for tip in tips
        for device, channel in ((android, "fcm"), (ios, "apns"))
    }
    assert all(r.status == "pending" and r.attempts == 0 for r in rows)
    assert all(r.next_attempt_at == now for r in rows)
    assert all(r.expires_at == now + dt.timedelta(hours=24) for r in rows)


def test_it_writes_neither_tip_nor_delivery_when_the_transaction_fails(
    env: PushEnv, seed: Seed, now: dt.datetime
) -> None:
    with db.transaction() as session:
        add_device(session, seed.patient_a, at=now)

    def evaluate_then_fail() -> None:
        with db.transaction() as session:
            tip = add_tip(session, seed.patient_a, created_at=now)
            assert enqueue(session, [tip], now) == 1
            raise RuntimeError("the evaluation failed after the tips were written")

    with pytest.raises(RuntimeError, match="evaluation failed"):
        evaluate_then_fail()
    assert all_deliveries() == []
    assert db.session.scalar(select(func.count(Tip.id))) == 0


def test_it_writes_no_deliveries_without_push_credentials(
    app: Flask, seed: Seed, now: dt.datetime
) -> None:
    assert configured_channels(get_settings()) == frozenset()
    with db.transaction() as session:
        add_device(session, seed.patient_a, at=now)
        tip = add_tip(session, seed.patient_a, created_at=now)
        assert enqueue(session, [tip], now) == 0
    assert all_deliveries() == []
    assert db.session.scalar(select(func.count(Tip.id))) == 1  # the inbox alone serves


def test_it_skips_devices_whose_channel_is_not_configured(
    env: PushEnv, seed: Seed, now: dt.datetime
) -> None:
    assert configured_channels(get_settings()) == {"fcm", "apns"}
    with db.transaction() as session:
        add_device(session, seed.patient_a, "web", '{"endpoint": "https://push.example/1"}', at=now)
        tip = add_tip(session, seed.patient_a, created_at=now)
        assert enqueue(session, [tip], now) == 0
        add_device(session, seed.patient_a, "android", "fcm-a", at=now)
        assert enqueue(session, [tip], now, channels={"webpush"}) == 1
    assert [row.channel for row in all_deliveries()] == ["webpush"]


def test_it_holds_a_push_until_the_patients_quiet_hours_end(
    env: PushEnv, seed: Seed, now: dt.datetime
) -> None:
    _set_quiet(seed.patient_a, "21:00", "08:00")
    with db.transaction() as session:
        add_device(session, seed.patient_a, at=now)
    late = dt.datetime(2026, 6, 1, 22, 30, tzinfo=LONDON)  # BST, inside the window
    assert _enqueue_one(seed.patient_a, late.astimezone(UTC)) == 1
    row = all_deliveries()[0]
    assert row.next_attempt_at == dt.datetime(2026, 6, 2, 8, 0, tzinfo=LONDON)
    assert row.quiet_hours == "21:00-08:00"
    # Tips keep their 24 hours of useful life from when they were written.
    assert row.expires_at == late + dt.timedelta(hours=24)


def test_it_pushes_at_once_outside_quiet_hours(env: PushEnv, seed: Seed, now: dt.datetime) -> None:
    _set_quiet(seed.patient_a, "21:00", "08:00")
    with db.transaction() as session:
        add_device(session, seed.patient_a, at=now)
    noon = dt.datetime(2026, 6, 1, 12, 0, tzinfo=LONDON).astimezone(UTC)
    _enqueue_one(seed.patient_a, noon)
    assert all_deliveries()[0].next_attempt_at == noon


def test_it_lets_urgent_tips_through_quiet_hours_for_longer(
    env: PushEnv, seed: Seed, now: dt.datetime
) -> None:
    _set_quiet(seed.patient_a, "21:00", "08:00")
    with db.transaction() as session:
        add_device(session, seed.patient_a, at=now)
    late = dt.datetime(2026, 6, 1, 23, 0, tzinfo=LONDON).astimezone(UTC)
    _enqueue_one(seed.patient_a, late, urgent=True)
    row = all_deliveries()[0]
    assert row.next_attempt_at == late
    assert row.expires_at == late + dt.timedelta(hours=72)
    assert row.quiet_hours is None


def test_it_uses_the_rule_sets_quiet_hours_in_the_patients_zone(
    env: PushEnv, seed: Seed, now: dt.datetime
) -> None:
    # patient_b lives in New York and has no quiet hours of their own.
    with db.transaction() as session:
        add_device(session, seed.patient_b, at=now)
    ten_pm = dt.datetime(2026, 1, 15, 22, 0, tzinfo=NEW_YORK)  # 03:00 UTC the next day
    assert _enqueue_one(seed.patient_b, ten_pm.astimezone(UTC), quiet_hours=NIGHT) == 1
    one_am = dt.datetime(2026, 1, 16, 1, 0, tzinfo=NEW_YORK)  # after midnight, same window
    per_patient = {seed.patient_b: NIGHT}  # a batch spanning rule sets passes a mapping
    _enqueue_one(seed.patient_b, one_am.astimezone(UTC), quiet_hours=per_patient)
    first, second = all_deliveries()
    morning = dt.datetime(2026, 1, 16, 8, 0, tzinfo=NEW_YORK)
    assert first.next_attempt_at == morning == second.next_attempt_at
    assert morning.astimezone(UTC).hour == 13


def test_it_prefers_the_patients_own_quiet_hours(
    env: PushEnv, seed: Seed, now: dt.datetime
) -> None:
    _set_quiet(seed.patient_a, "13:00", "15:00")  # a nap, not crossing midnight
    with db.transaction() as session:
        add_device(session, seed.patient_a, at=now)
    nap = dt.datetime(2026, 1, 15, 14, 0, tzinfo=LONDON).astimezone(UTC)
    night = dt.datetime(2026, 1, 15, 23, 0, tzinfo=LONDON).astimezone(UTC)
    _enqueue_one(seed.patient_a, nap, quiet_hours=NIGHT)
    _enqueue_one(seed.patient_a, night, quiet_hours=NIGHT)
    during_nap, at_night = all_deliveries()
    assert during_nap.next_attempt_at == dt.datetime(2026, 1, 15, 15, 0, tzinfo=LONDON)
    assert at_night.next_attempt_at == night


def test_it_computes_quiet_windows_across_a_dst_change() -> None:
    # London springs forward on 2026-03-29: 21:00 GMT to 08:00 BST is ten hours long.
    window = window_around(NIGHT, LONDON, dt.datetime(2026, 3, 28, 23, 0, tzinfo=UTC))
    assert window is not None
    assert window.start == dt.datetime(2026, 3, 28, 21, 0, tzinfo=UTC)
    assert window.end == dt.datetime(2026, 3, 29, 7, 0, tzinfo=UTC)
    # Falling back (2026-10-25) makes the same window twelve hours long.
    window = window_around(NIGHT, LONDON, dt.datetime(2026, 10, 25, 3, 0, tzinfo=UTC))
    assert window is not None
    assert window.end - window.start == dt.timedelta(hours=12)


def test_it_reports_the_next_window_when_outside_and_none_without_hours() -> None:
    noon = dt.datetime(2026, 6, 1, 11, 0, tzinfo=UTC)  # 12:00 BST
    window = window_around(NIGHT, LONDON, noon)
    assert window is not None
    assert not window.contains(noon)
    assert window.start == dt.datetime(2026, 6, 1, 21, 0, tzinfo=LONDON)
    assert window_around(None, LONDON, noon) is None
    assert window_around((dt.time(8), dt.time(8)), LONDON, noon) is None


def test_it_reads_the_quiet_window_from_the_profile_or_the_fallback(app: Flask, seed: Seed) -> None:
    profile = db.session.get(PatientProfile, seed.patient_b)
    assert profile is not None
    at = dt.datetime(2026, 1, 15, 3, 0, tzinfo=UTC)  # 22:00 in New York
    window = quiet_window(profile, NIGHT, at)
    assert window is not None
    assert window.contains(at)
    assert quiet_window(profile, None, at) is None


def test_it_counts_the_tip_budget_per_patient_local_day(app: Flask, seed: Seed) -> None:
    with db.transaction() as session:
        # 23:30 and 00:30 in New York fall on two local days, although both are "today" in UTC.
        add_tip(session, seed.patient_b, created_at=dt.datetime(2026, 1, 15, 4, 30, tzinfo=UTC))
        add_tip(session, seed.patient_b, created_at=dt.datetime(2026, 1, 15, 5, 30, tzinfo=UTC))
        add_tip(
            session,
            seed.patient_b,
            urgent=True,
            created_at=dt.datetime(2026, 1, 15, 6, 0, tzinfo=UTC),
        )
    profile = db.session.get(PatientProfile, seed.patient_b)
    assert profile is not None
    now = dt.datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    start, end = local_day_bounds(profile, now)
    assert start == dt.datetime(2026, 1, 15, 0, 0, tzinfo=NEW_YORK)
    assert end - start == dt.timedelta(hours=24)
    # The budget's count is the `tips.sent_today` fact (one definition): the local day's tips,
    # the urgent one included (urgent tips are exempt from suppression, not from the count).
    facts, _ = compute(db.session(), load_contexts(db.session(), [seed.patient_b]).values(), now)[
        seed.patient_b
    ]
    assert facts["tips.sent_today"] == 2
