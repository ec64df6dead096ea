"""The sync use case against fake providers: data lands, faults reschedule, refresh runs once."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any
from zoneinfo import ZoneInfo

import requests
from sqlalchemy import func, select

from integrations.wearables.sandbox import SandboxProvider
from service.activity.models import DailyActivity, IntradaySteps, WalkingSession
from service.connections.models import WearableConnection
from service.connections.sync import refresh_expiring_tokens, sync_due_connections
from service.connections.tokens import store_token
from service.crypto import cipher_for
from service.evaluation.models import PendingEvaluation
from service.extensions import db
from service.tips.models import Tip
from tests.support.connections import (  # noqa: F401 - the fixture is used by name
    Wearables,
    due_now,
    wearables,
)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _days(source: str) -> dict[dt.date, int]:
    db.session.remove()
    rows = db.session.execute(
        select(DailyActivity.date, DailyActivity.steps).where(DailyActivity.source == source)
    ).all()
    return dict(rows)


def _refresh_calls(env: Wearables, provider: str) -> int:
    fake = env.fakes[provider]
    return sum(
        1
        for r in fake.requests
        if r.path == fake.token_path and r.form().get("grant_type") == "refresh_token"
    )


def test_it_syncs_a_linked_provider_into_the_activity_history(wearables: Wearables) -> None:  # noqa: F811
    wearables.link("google_health")
    now = _now()

    assert sync_due_connections(now) == 1

    fake = wearables.fakes["google_health"]
    today = now.astimezone(dt.UTC).date()  # patient_a lives in Europe/London
    history = requests.get(
        f"{wearables.url}/v1/me/activity",
        params={"from": (today - dt.timedelta(days=6)).isoformat(), "to": today.isoformat()},
        headers=wearables.headers("patient_a"),
        timeout=10,
    ).json()["days"]
    by_date = {dt.date.fromisoformat(d["date"]): d for d in history}
    yesterday = today - dt.timedelta(days=1)
    assert by_date[yesterday]["sources"]["google_health"] == fake.steps_for(yesterday)
    assert by_date[yesterday]["steps"] == fake.steps_for(yesterday)
    conn = wearables.connection("google_health")
    assert conn.last_sync_at == now
    assert conn.cursor == today.isoformat()
    assert conn.claimed_until is None
    # Rescheduled one interval ahead, jittered.
    interval = wearables.settings.sync_interval_s
    assert conn.next_sync_at is not None
    assert 0.85 * interval <= (conn.next_sync_at - now).total_seconds() <= 1.15 * interval
    walks = db.session.scalar(
        select(func.count())
        .select_from(WalkingSession)
        .where(WalkingSession.source == "google_health")
    )
    assert walks
    assert walks > 0
    # Nothing due any more: a second tick does nothing.
    assert sync_due_connections(now) == 0


def _marks() -> int:
    """The pending `activity` evaluation marks of every patient together."""
    db.session.remove()
    return db.session.scalar(select(func.coalesce(func.sum(PendingEvaluation.marks), 0))) or 0


def test_it_rereads_recent_days_and_takes_revisions(wearables: Wearables) -> None:  # noqa: F811
    wearables.link("oura")
    now = _now()
    sync_due_connections(now)
    assert _marks() == 1
    # A poll that re-reads the same days changes nothing, so it costs no evaluation.
    due_now(wearables, "oura")
    assert sync_due_connections(_now()) == 1
    assert _marks() == 1
    yesterday = now.date() - dt.timedelta(days=1)
    wearables.fakes["oura"].revise_day(yesterday, 12345)
    due_now(wearables, "oura")

    assert sync_due_connections(_now()) == 1
    assert _days("oura")[yesterday] == 12345
    assert len([d for d in _days("oura") if d == yesterday]) == 1
    assert _marks() == 2


def test_it_reschedules_at_retry_after_when_rate_limited(wearables: Wearables) -> None:  # noqa: F811
    wearables.link("google_health")
    wearables.fakes["google_health"].rate_limit(retry_after=120, times=5)
    now = _now()

    assert sync_due_connections(now) == 0

    conn = wearables.connection("google_health")
    assert conn.status == "active"
    assert conn.next_sync_at == now + dt.timedelta(seconds=120)
    assert conn.attempts == 0  # a rate limit is not a failure of ours
    assert conn.last_error is not None
    assert conn.last_error.startswith("rate limited")
    assert _days("google_health") == {}


def test_it_backs_off_exponentially_on_server_errors(wearables: Wearables) -> None:  # noqa: F811
    wearables.link("oura")
    wearables.fakes["oura"].fail_500(times=100)
    now = _now()

    assert sync_due_connections(now) == 0
    first = wearables.connection("oura")
    assert first.attempts == 1
    assert first.last_error is not None
    assert first.last_error.startswith("retrying")
    assert first.next_sync_at is not None
    first_delay = (first.next_sync_at - now).total_seconds()
    assert 45 <= first_delay <= 75

    later = first.next_sync_at + dt.timedelta(seconds=1)
    assert sync_due_connections(later) == 0
    second = wearables.connection("oura")
    assert second.attempts == 2
    assert second.next_sync_at is not None
    assert (second.next_sync_at - later).total_seconds() >= 95  # doubled

    wearables.fakes["oura"].fail_500(times=0)
    assert sync_due_connections(second.next_sync_at) == 1
    recovered = wearables.connection("oura")
    assert recovered.attempts == 0
    assert recovered.last_error is None


def test_it_marks_a_refused_grant_and_asks_the_patient_to_reconnect(wearables: Wearables) -> None:  # noqa: F811
    wearables.link("strava")
    fake = wearables.fakes["strava"]
    fake.expire_access_token()
    fake.invalid_grant()

    assert sync_due_connections(_now()) == 0

    conn = wearables.connection("strava")
    assert conn.status == "needs_reauth"
    assert conn.next_sync_at is None
    tips = db.session.scalars(select(Tip).where(Tip.patient_id == wearables.seed.patient_a)).all()
    assert [(t.rule_id, t.category) for t in tips] == [("system:reconnect", "general")]
    assert "Strava" in tips[0].title
    inbox = requests.get(
        f"{wearables.url}/v1/me/tips", headers=wearables.headers("patient_a"), timeout=10
    ).json()
    assert [item["rule_id"] for item in inbox["items"]] == ["system:reconnect"]
    # Noticing again (another worker, the refresh job) writes no second tip.
    assert sync_due_connections(_now()) == 0
    assert db.session.scalar(select(func.count()).select_from(Tip)) == 1


def test_it_quarantines_a_malformed_body_without_writing(wearables: Wearables) -> None:  # noqa: F811
    wearables.link("oura")
    wearables.fakes["oura"].malformed_body(times=100)
    now = _now()

    assert sync_due_connections(now) == 0

    conn = wearables.connection("oura")
    assert conn.status == "active"
    assert conn.last_error is not None
    assert conn.last_error.startswith("quarantined")
    assert conn.cursor is None
    assert conn.next_sync_at is not None
    assert conn.next_sync_at > now
    assert _days("oura") == {}


def test_it_stores_good_days_and_quarantines_a_bad_record(wearables: Wearables) -> None:  # noqa: F811
    wearables.link("google_health")
    yesterday = _now().date() - dt.timedelta(days=1)
    wearables.fakes["google_health"].corrupt_day(yesterday)

    assert sync_due_connections(_now()) == 1

    days = _days("google_health")
    assert yesterday not in days  # never half a day
    assert yesterday - dt.timedelta(days=1) in days
    conn = wearables.connection("google_health")
    assert conn.last_error is not None
    assert conn.last_error.startswith("quarantined 1 records")


def test_it_refreshes_a_refused_access_token_once_then_syncs(wearables: Wearables) -> None:  # noqa: F811
    wearables.link("oura")
    old = wearables.access_token("oura")
    wearables.fakes["oura"].expire_access_token()

    assert sync_due_connections(_now()) == 1

    assert _refresh_calls(wearables, "oura") == 1
    new = wearables.access_token("oura")
    assert new != old
    assert new in wearables.fakes["oura"].access_tokens
    assert _days("oura")


def _expire_soon(env: Wearables, provider: str) -> None:
    with db.transaction() as session:
        conn = session.get(WearableConnection, env.connection(provider).id)
        assert conn is not None
        conn.token_expires_at = _now() + dt.timedelta(seconds=30)


def test_it_refreshes_once_when_two_workers_race(wearables: Wearables) -> None:  # noqa: F811
    wearables.link("strava")  # rotating, single-use refresh tokens: a double refresh fails
    _expire_soon(wearables, "strava")
    wearables.fakes["strava"].latency = 0.1  # widen the window where the workers overlap
    now = _now()
    start = threading.Barrier(3)
    results: list[int] = []

    def worker(job: Any) -> None:
        with wearables.app.app_context():
            start.wait()
            results.append(job(now))

    threads = [
        threading.Thread(target=worker, args=(sync_due_connections,)),
        threading.Thread(target=worker, args=(sync_due_connections,)),
        threading.Thread(target=worker, args=(refresh_expiring_tokens,)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == 3
    assert sum(results) >= 1
    assert _refresh_calls(wearables, "strava") == 1  # whoever held the lease refreshed, once
    conn = wearables.connection("strava")
    assert conn.status == "active"
    # The stored refresh token is the live one: the next refresh succeeds.
    cipher = cipher_for(wearables.settings)
    assert cipher.decrypt(conn.refresh_token_enc) in wearables.fakes["strava"].refresh_tokens
    _expire_soon(wearables, "strava")
    assert refresh_expiring_tokens(_now()) == 1
    assert wearables.connection("strava").status == "active"


def test_it_refreshes_expiring_tokens_and_commits_them_first(wearables: Wearables) -> None:  # noqa: F811
    wearables.link("withings")
    wearables.link("oura")
    _expire_soon(wearables, "withings")
    before = wearables.access_token("oura")

    assert refresh_expiring_tokens(_now(), within_s=900) == 1

    fake = wearables.fakes["withings"]
    conn = wearables.connection("withings")
    cipher = cipher_for(wearables.settings)
    assert cipher.decrypt(conn.refresh_token_enc) in fake.refresh_tokens
    assert conn.token_expires_at is not None
    assert conn.token_expires_at > _now()
    assert conn.claimed_until is None
    assert wearables.access_token("oura") == before  # not due: untouched


def test_it_leaves_a_connection_another_worker_holds(wearables: Wearables) -> None:  # noqa: F811
    wearables.link("oura")
    with db.transaction() as session:
        conn = session.get(WearableConnection, wearables.connection("oura").id)
        assert conn is not None
        conn.claimed_until = _now() + dt.timedelta(minutes=5)
        conn.claim_token = "someone-else"
    calls_after_linking = len(wearables.fakes["oura"].data_calls("/v2/"))

    assert sync_due_connections(_now()) == 0
    assert len(wearables.fakes["oura"].data_calls("/v2/")) == calls_after_linking
    # A lapsed lease (crashed worker) is taken over.
    assert sync_due_connections(_now() + dt.timedelta(minutes=6)) == 1


def test_it_syncs_the_sandbox_through_the_same_path(wearables: Wearables) -> None:  # noqa: F811
    now = _now()
    with db.transaction() as session:
        conn = WearableConnection(
            patient_id=wearables.seed.patient_b, provider="sandbox", next_sync_at=now
        )
        store_token(conn, SandboxProvider.token_for("plateau"), cipher_for(wearables.settings))
        session.add(conn)

    assert sync_due_connections(now) == 1

    days = _days("sandbox")
    assert len(days) == 30  # a first sync reads the provider's whole first window
    assert all(steps > 0 for steps in days.values())
    # Intraday counts too, a quarter hour each, adding up to each day's total.
    quarters = db.session.scalars(select(IntradaySteps).where(IntradaySteps.source == "sandbox"))
    per_day: dict[dt.date, int] = {}
    for count in quarters:
        assert count.minutes == 15
        day = count.start.astimezone(ZoneInfo("America/New_York")).date()  # patient B's zone
        per_day[day] = per_day.get(day, 0) + count.steps
    assert per_day == days


def test_it_never_fetches_garmin_without_a_notification(wearables: Wearables) -> None:  # noqa: F811
    wearables.link("garmin")
    with db.transaction() as session:
        conn = session.get(WearableConnection, wearables.connection("garmin").id)
        assert conn is not None
        conn.next_sync_at = _now()  # due, but nothing was announced
    calls_before = len(wearables.fakes["garmin"].requests)

    assert sync_due_connections(_now()) == 0

    assert len(wearables.fakes["garmin"].requests) == calls_before
    assert wearables.connection("garmin").next_sync_at is None
