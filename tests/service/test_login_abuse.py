"""Sign-in abuse: a per-account lockout in the database, a per-address limit every worker shares.

Over real HTTP: the app on a live port for the account lockout, real gunicorn with two workers
for the per-address limit (whose counters must not live in one worker's memory).
"""

from __future__ import annotations

import datetime as dt
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import select

from service.accounts.models import LoginThrottle
from service.accounts.throttle import FORGET_AFTER, FREE_FAILURES, account_key, lock_after
from service.config import Settings
from service.extensions import db, get_settings, has_limit
from tests.conftest import LiveServer
from tests.support.factories import PASSWORD, Seed
from tests.support.gunicorn import start_gunicorn

UNKNOWN = "nobody@patients.example"


def _sign_in(url: str, email: str, password: str) -> requests.Response:
    return requests.post(
        f"{url}/v1/auth/token", json={"email": email, "password": password}, timeout=30
    )


EMAILS = {"patient_a": "a@patients.example", "patient_b": "b@patients.example"}


def _email(_seed: Seed, who: str) -> str:
    return EMAILS[who]


def test_it_locks_an_account_after_repeated_failures(live_server: LiveServer, seed: Seed) -> None:
    email = _email(seed, "patient_a")
    failures = [_sign_in(live_server.url, email, "wrong password").status_code for _ in range(5)]

    locked = _sign_in(live_server.url, email, PASSWORD)  # even the right password waits

    assert failures == [401] * FREE_FAILURES
    assert locked.status_code == 429
    assert locked.headers["Content-Type"] == "application/problem+json"
    # Flask-Limiter raises Retry-After to its own window's end when that is later.
    assert int(locked.headers["Retry-After"]) >= 25
    assert re.search(r"try again in (2\d|30) seconds", locked.json()["detail"])


def test_it_treats_unknown_emails_exactly_like_known_ones(
    live_server: LiveServer, seed: Seed
) -> None:
    known = [_sign_in(live_server.url, _email(seed, "patient_b"), "wrong") for _ in range(6)]
    unknown = [_sign_in(live_server.url, UNKNOWN, "wrong") for _ in range(6)]

    assert [r.status_code for r in known] == [r.status_code for r in unknown]
    assert [r.json()["detail"] for r in known[:5]] == [r.json()["detail"] for r in unknown[:5]]
    assert re.sub(r"\d+", "N", known[5].json()["detail"]) == re.sub(
        r"\d+", "N", unknown[5].json()["detail"]
    )


def test_it_holds_the_count_under_concurrent_guesses(live_server: LiveServer, seed: Seed) -> None:
    email = _email(seed, "patient_a")
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(
            pool.map(lambda _: _sign_in(live_server.url, email, "guess").status_code, range(16))
        )

    # Each attempt is counted before its password is checked: exactly five get a verdict.
    assert statuses.count(401) == FREE_FAILURES
    assert statuses.count(429) == 16 - FREE_FAILURES


def test_it_forgets_failures_after_a_success(live_server: LiveServer, seed: Seed) -> None:
    email = _email(seed, "patient_a")
    for _ in range(FREE_FAILURES - 1):
        assert _sign_in(live_server.url, email, "wrong").status_code == 401
    assert _sign_in(live_server.url, email, PASSWORD).status_code == 200
    assert db.session.scalar(select(LoginThrottle.key)) is None

    again = [_sign_in(live_server.url, email, "wrong").status_code for _ in range(FREE_FAILURES)]

    assert again == [401] * FREE_FAILURES


def test_it_steps_the_lock_up_after_each_later_failure(live_server: LiveServer, seed: Seed) -> None:
    email = _email(seed, "patient_a")
    for _ in range(FREE_FAILURES):
        _sign_in(live_server.url, email, "wrong")
    key = account_key(email, get_settings())
    with db.transaction() as session:  # the first lock has run out
        row = session.get(LoginThrottle, key)
        assert row is not None
        row.locked_until = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)

    sixth = _sign_in(live_server.url, email, "wrong")
    seventh = _sign_in(live_server.url, email, "wrong")

    assert sixth.status_code == 401
    assert seventh.status_code == 429
    assert re.search(r"try again in (5\d seconds|1 minute)", seventh.json()["detail"])
    db.session.remove()
    row = db.session.get(LoginThrottle, key)
    assert row is not None
    assert row.failures == FREE_FAILURES + 1  # attempts refused during a lock do not count
    assert row.locked_until is not None
    assert row.locked_until - row.last_failure_at == dt.timedelta(seconds=60)


def test_it_forgets_failures_older_than_a_day_and_sweeps_them(
    live_server: LiveServer, seed: Seed
) -> None:
    settings = get_settings()
    old = dt.datetime.now(dt.UTC) - FORGET_AFTER - dt.timedelta(minutes=1)
    stale = account_key(_email(seed, "patient_b"), settings)
    with db.transaction() as session:
        session.add(
            LoginThrottle(
                key=account_key(_email(seed, "patient_a"), settings),
                failures=FREE_FAILURES - 1,
                last_failure_at=old,
            )
        )
        session.add(LoginThrottle(key=stale, failures=3, last_failure_at=old))

    a = [_sign_in(live_server.url, _email(seed, "patient_a"), "wrong") for _ in range(2)]
    _sign_in(live_server.url, UNKNOWN, "wrong")  # a new key: old runs are swept

    assert [r.status_code for r in a] == [401, 401]  # the run of four restarted at one
    db.session.remove()
    row = db.session.get(LoginThrottle, account_key(_email(seed, "patient_a"), settings))
    assert row is not None
    assert row.failures == 2
    assert db.session.get(LoginThrottle, stale) is None


def test_it_keeps_no_email_addresses_in_the_throttle_table(
    live_server: LiveServer, seed: Seed
) -> None:
    _sign_in(live_server.url, UNKNOWN, "wrong")
    keys = db.session.scalars(select(LoginThrottle.key)).all()
    assert len(keys) == 1
    assert "@" not in keys[0]
    assert keys[0] == account_key(UNKNOWN, get_settings())


@pytest.mark.parametrize(
    ("failures", "lock_s"),
    [(1, None), (4, None), (5, 30), (6, 60), (7, 120), (9, 480), (10, 900), (40, 900)],
)
def test_it_doubles_the_lock_up_to_fifteen_minutes(failures: int, lock_s: int | None) -> None:
    lock = lock_after(failures)
    assert (lock.total_seconds() if lock else None) == lock_s


def test_it_answers_registration_of_a_taken_email_with_a_conflict(client: Any, seed: Seed) -> None:
    """The documented trade-off (README): sign-up says the email is taken, rate-limited."""
    body = {"email": _email(seed, "patient_a"), "password": "a long password", "timezone": "UTC"}
    answer = client.post("/v1/auth/register", json=body)
    assert answer.status_code == 409


def test_it_limits_each_address_across_gunicorn_workers(
    app: Flask, base_settings: Settings, db_url: str, tmp_path: Path
) -> None:
    """Six a minute per address, with two workers: six in all, not six per worker."""
    server = start_gunicorn(
        base_settings,
        db_url,
        tmp_path,
        env={"LOGIN_RATE_LIMIT": "6 per minute"},
        extra_args=["--access-logformat", '%(p)s "%(r)s" %(s)s'],
    )
    try:
        # Distinct unknown emails: the per-account lockout stays out of the way.
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(
                pool.map(
                    lambda i: _sign_in(server.url, f"x{i}@patients.example", "pw").status_code,
                    range(20),
                )
            )
    finally:
        output = server.stop()

    assert statuses.count(401) == 6, statuses
    assert statuses.count(429) == 14
    workers = set(re.findall(r'^<(\d+)> "POST /v1/auth/token', output, flags=re.MULTILINE))
    assert len(workers) == 2, output  # both workers answered, and still only six got through


def test_it_spares_the_limiter_on_routes_without_a_limit(app: Flask) -> None:
    # The limiter's per-request check is skipped wherever no limit applies; these keep theirs.
    limited = sorted(endpoint for endpoint in app.view_functions if has_limit(app, endpoint))
    assert limited == ["auth.token", "console.login", "signup.register"]
