"""Losing the database mid-flight: 503 with Retry-After, nothing half-written, recovery unaided.

Runs gunicorn (the command line `flask serve` uses) on a private PostgreSQL server that the test
stops and starts with pg_ctl; the shared server on 5432 is never touched.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, func, select

from service import migrate
from service.config import load_settings
from service.reports.models import PainReport
from tests.support.gunicorn import Gunicorn, start_gunicorn
from tests.support.private_pg import PrivatePostgres

pytestmark = pytest.mark.pgserver


@pytest.fixture(scope="module")
def private_pg() -> Iterator[PrivatePostgres]:
    """A private PostgreSQL server, started for this module and deleted after it."""
    with PrivatePostgres() as server:
        yield server


@pytest.fixture
def served(private_pg: PrivatePostgres, tmp_path: Path) -> Iterator[tuple[Gunicorn, str]]:
    """gunicorn with one worker (so every request meets the same pool) on a fresh database."""
    url = private_pg.create_database(f"outage_{uuid.uuid4().hex[:8]}")
    migrate.upgrade(url)
    settings = load_settings(
        {
            "SECRET_KEY": "outage-test-secret-" + "x" * 32,
            "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "DATABASE_URL": url,
            "BACKSTRIDE_ENV": "testing",
        }
    )
    server = start_gunicorn(settings, url, tmp_path, env={"WEB_CONCURRENCY": "1"})
    try:
        yield server, url
    finally:
        server.stop()
        if not private_pg.running():
            private_pg.start()


def _register(base: str) -> dict[str, str]:
    answer = requests.post(
        f"{base}/v1/auth/register",
        json={"email": "outage@example.org", "password": "a long password", "timezone": "UTC"},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def _stored_reports(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(PainReport)).scalar_one())
    finally:
        engine.dispose()


def test_a_lost_database_is_a_503_with_retry_after_and_the_worker_recovers_by_itself(
    private_pg: PrivatePostgres, served: tuple[Gunicorn, str]
) -> None:
    server, url = served
    auth = _register(server.url)
    assert requests.get(f"{server.url}/v1/me/tips", headers=auth, timeout=10).status_code == 200

    private_pg.stop()
    read = requests.get(f"{server.url}/v1/me/tips", headers=auth, timeout=30)
    write = requests.post(
        f"{server.url}/v1/me/pain",
        json={"score": 4, "recorded_at": dt.datetime.now(dt.UTC).isoformat()},
        headers={**auth, "Idempotency-Key": "outage-1"},
        timeout=30,
    )
    for answer in (read, write):
        assert answer.status_code == 503, answer.text
        assert answer.headers["Content-Type"] == "application/problem+json"
        assert int(answer.headers["Retry-After"]) > 0
        assert "try again" in answer.json()["detail"]
    ready = requests.get(f"{server.url}/readyz", timeout=30)
    assert ready.status_code == 503

    private_pg.start()
    # The same worker, the same pool: its dead connections are replaced on checkout.
    again = requests.post(
        f"{server.url}/v1/me/pain",
        json={"score": 4, "recorded_at": dt.datetime.now(dt.UTC).isoformat()},
        headers={**auth, "Idempotency-Key": "outage-1"},
        timeout=30,
    )
    assert again.status_code == 201, again.text
    assert requests.get(f"{server.url}/v1/me/tips", headers=auth, timeout=10).status_code == 200
    assert _stored_reports(url) == 1  # the refused write left nothing behind
    log = server.stop()
    assert "Traceback" not in log
    assert "database unavailable during GET /v1/me/tips" in log
