"""Provider subscriptions over real HTTP: linking subscribes (and asks Garmin for history),
unlinking unsubscribes, and the renewal job renews before expiry, once across two schedulers."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from sqlalchemy import select, update

from service.connections.models import ProviderSubscription
from service.connections.subscriptions import renew_due
from service.connections.sync import sync_due_connections
from service.extensions import db
from tests.fakes.oura import SUBSCRIPTION_TTL
from tests.fakes.withings import USER_ID
from tests.support.connections import (  # noqa: F401 - the fixture is used by name
    WEBHOOK_SECRET,
    Wearables,
    due_now,
    wearables,
)

NOW = dt.datetime(2026, 5, 10, 12, tzinfo=dt.UTC)


def _rows(provider: str) -> list[ProviderSubscription]:
    db.session.remove()
    return list(
        db.session.scalars(
            select(ProviderSubscription)
            .where(ProviderSubscription.provider == provider)
            .order_by(ProviderSubscription.external_id)
        )
    )


def _unlink(env: Wearables, provider: str, who: str = "patient_a") -> None:
    answer = requests.delete(
        f"{env.url}/v1/me/connections/{provider}", headers=env.headers(who), timeout=10
    )
    assert answer.status_code == 204


def test_it_subscribes_withings_on_link_and_unsubscribes_on_unlink(wearables: Wearables) -> None:  # noqa: F811
    fake = wearables.fakes["withings"]
    assert wearables.link("withings").status_code == 200

    [(key, callback)] = fake.subscriptions.items()
    assert key == (USER_ID, "16")
    parts = urlsplit(callback)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == (
        f"{wearables.url}/v1/integrations/withings/webhook"
    )
    assert parse_qs(parts.query) == {"secret": [WEBHOOK_SECRET]}
    [row] = _rows("withings")
    assert (row.connection_id, row.external_id) == (
        wearables.connection("withings").id,
        f"{USER_ID}:16",
    )
    assert WEBHOOK_SECRET not in row.endpoint  # the secret is added when calling Withings

    _unlink(wearables, "withings")

    assert fake.subscriptions == {}
    assert fake.revoked_users == [USER_ID]
    assert _rows("withings") == []


def test_it_keeps_one_set_of_oura_subscriptions_for_every_user(wearables: Wearables) -> None:  # noqa: F811
    fake = wearables.fakes["oura"]
    fake.verify_callbacks = True  # Oura GETs our webhook with a challenge before it agrees
    assert wearables.link("oura", "patient_a").status_code == 200
    assert wearables.link("oura", "patient_b").status_code == 200

    assert len(fake.subscriptions) == 4  # daily_activity and workout, create and update
    rows = _rows("oura")
    assert [row.connection_id for row in rows] == [None] * 4  # the app's, shared
    assert {row.external_id for row in rows} == set(fake.subscriptions)

    _unlink(wearables, "oura", "patient_a")
    assert len(fake.subscriptions) == 4  # patient B still needs them
    assert len(_rows("oura")) == 4


def test_it_asks_garmin_for_history_when_linking(wearables: Wearables) -> None:  # noqa: F811
    assert wearables.link("garmin").status_code == 200
    assert [kind for kind, _, _ in wearables.fakes["garmin"].backfills] == [
        "dailies",
        "activities",
    ]


def test_it_renews_oura_subscriptions_once_across_two_schedulers(wearables: Wearables) -> None:  # noqa: F811
    fake = wearables.fakes["oura"]
    fake.now = NOW
    wearables.link("oura")
    expiring = NOW + dt.timedelta(days=1)
    with db.transaction() as session:
        session.execute(update(ProviderSubscription).values(expires_at=expiring))
    fake.latency = 0.05  # widen the window where the two overlap
    start = threading.Barrier(2)
    results: list[int] = []

    def scheduler() -> None:
        with wearables.app.app_context():
            start.wait()
            results.append(renew_due(NOW))

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    renewals = [r for r in fake.requests if r.path.startswith("/v2/webhook/subscription/renew/")]
    assert sum(results) == 4
    assert len(renewals) == 4  # each subscription renewed exactly once
    rows = _rows("oura")
    assert {row.expires_at for row in rows} == {NOW + SUBSCRIPTION_TTL}
    assert all(row.claim_token is None and row.last_error is None for row in rows)
    assert renew_due(NOW) == 0  # nothing due any more


def test_it_stops_renewing_what_no_link_needs(wearables: Wearables) -> None:  # noqa: F811
    fake = wearables.fakes["oura"]
    fake.now = NOW
    wearables.link("oura")
    with db.transaction() as session:
        session.execute(update(ProviderSubscription).values(expires_at=NOW))
    _unlink(wearables, "oura")

    assert renew_due(NOW) == 0
    assert not [r for r in fake.requests if "/renew/" in r.path]


def test_it_records_a_failed_renewal_and_retries_later(wearables: Wearables) -> None:  # noqa: F811
    fake = wearables.fakes["oura"]
    fake.now = NOW
    wearables.link("oura")
    with db.transaction() as session:
        session.execute(update(ProviderSubscription).values(expires_at=NOW))
    fake.subscriptions.clear()  # gone at Oura: renewing answers 403

    assert renew_due(NOW) == 0
    rows = _rows("oura")
    assert all(row.last_error and "renewal failed" in row.last_error for row in rows)
    assert renew_due(NOW + dt.timedelta(minutes=1)) == 0  # not retried every tick
    calls = len([r for r in fake.requests if "/renew/" in r.path])
    assert calls == 4


def test_it_asks_for_a_new_withings_link_on_status_2555(wearables: Wearables) -> None:  # noqa: F811
    wearables.link("withings")
    fake: Any = wearables.fakes["withings"]
    fake.status_override = 2555  # "unauthorised", even with a fresh token
    due_now(wearables, "withings")

    sync_due_connections()

    conn = wearables.connection("withings")
    assert conn.status == "needs_reauth"
    assert conn.attempts == 0  # not a transient failure to back off from
