"""Losing the database mid-flight: 503 with Retry-After, nothing half-written, recovery unaided.

Runs gunicorn (the command line `flask serve` uses) on a private PostgreSQL server that the test
stops and starts with pg_ctl; the shared server on 5432 is never touched.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import OperationalError

from service import db as db_module
from service import migrate
from service.config import load_settings
from service.db import Liveness, make_engine
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


@pytest.fixture
def pg_url(private_pg: PrivatePostgres) -> str:
    """A fresh database on the private server."""
    return private_pg.create_database(f"liveness_{uuid.uuid4().hex[:8]}")


def _kill_backend(url: str, pid: int) -> None:
    """End one server backend, as a restart would (its client learns only when it next asks)."""
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            assert conn.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        admin.dispose()


def test_an_idle_connection_is_pinged_and_a_dead_one_replaced(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(pg_url, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as conn:
            first = conn.scalar(text("SELECT pg_backend_pid()"))
        _kill_backend(pg_url, first)
        monkeypatch.setattr(db_module, "PING_AFTER_IDLE_S", 0.0)  # every checkout is "idle"
        with engine.connect() as conn:  # the ping finds it dead; the pool connects anew
            second = conn.scalar(text("SELECT pg_backend_pid()"))
        assert second != first
    finally:
        engine.dispose()


def test_a_busy_connection_is_not_pinged_until_a_sibling_is_found_dead(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    liveness = Liveness()
    main = make_engine(pg_url, pool_size=1, max_overflow=0, liveness=liveness)
    reader = make_engine(pg_url, reader=True, pool_size=1, max_overflow=0, liveness=liveness)
    pings: list[str] = []
    for engine, name in ((main, "main"), (reader, "reader")):
        original = engine.dialect.do_ping

        def counting(dbapi_conn: Any, _original: Any = original, _name: str = name) -> bool:
            pings.append(_name)
            return bool(_original(dbapi_conn))

        monkeypatch.setattr(engine.dialect, "do_ping", counting)
    try:
        with main.connect() as conn:
            main_pid = conn.scalar(text("SELECT pg_backend_pid()"))
        with reader.connect() as conn:
            reader_pid = conn.scalar(text("SELECT pg_backend_pid()"))
        with main.connect() as conn:  # back within milliseconds: lent without a ping
            assert conn.scalar(text("SELECT pg_backend_pid()")) == main_pid
        assert pings == []

        _kill_backend(pg_url, main_pid)
        _kill_backend(pg_url, reader_pid)
        with pytest.raises(OperationalError), reader.connect() as conn:
            conn.scalar(text("SELECT 1"))  # a request on a dead connection fails: a 503
        # The main engine's connection went idle before that failure: it is pinged, found
        # dead and replaced, so the next request succeeds.
        with main.connect() as conn:
            assert conn.scalar(text("SELECT pg_backend_pid()")) != main_pid
        assert pings == ["main"]
    finally:
        main.dispose()
        reader.dispose()
