"""Shared fixtures: a real database (SQLite, or PostgreSQL when asked), the app, named users.

`BACKSTRIDE_TEST_BACKEND=postgresql` with `TEST_DATABASE_URL` set runs the database-backed tests
on a fresh PostgreSQL database created for this run (and dropped after); otherwise a fresh
SQLite file. Every test that uses the `app` fixture is marked `db` automatically.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from werkzeug.serving import make_server

from service import create_app, migrate
from service.config import Settings, load_settings
from service.db import Base
from service.extensions import db
from service.rulesets.compiled import forget_compiled
from tests.support.factories import Seed, seed_named_users
from tests.support.private_pg import find_bin_dir

DB_FIXTURES = {"app", "db_url", "empty_db_url", "client", "seed", "live_server", "make_app"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that touches the database, so CI can rerun just those on PostgreSQL.

    Tests marked `pgserver` run a private PostgreSQL server. Without its binaries they are
    left out of a developer's SQLite-only run, loudly (see pytest_terminal_summary); with
    TEST_DATABASE_URL set (CI) they stay in and fail, saying what to install.
    """
    for item in items:
        if DB_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.db)
    if find_bin_dir() is not None or os.environ.get("TEST_DATABASE_URL"):
        return
    left_out = [item for item in items if item.get_closest_marker("pgserver")]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if not item.get_closest_marker("pgserver")]
        config.stash[_NO_PG_SERVER] = len(left_out)


_NO_PG_SERVER = pytest.StashKey[int]()


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Say which tests did not run for want of PostgreSQL server binaries."""
    count = config.stash.get(_NO_PG_SERVER, 0)
    if count:
        terminalreporter.write_line(
            f"NOT RUN: {count} test(s) marked pgserver need PostgreSQL's server binaries "
            "(apt-get install -y postgresql); CI has them",
            yellow=True,
        )


@contextmanager
def _throwaway_database(folder: Path) -> Iterator[str]:
    """An empty database on the backend under test, dropped after: a new PostgreSQL database on
    TEST_DATABASE_URL's server, or an SQLite file in `folder`."""
    if os.environ.get("BACKSTRIDE_TEST_BACKEND") != "postgresql":
        yield f"sqlite:///{folder / 'test.db'}"
        return
    server = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
    base = make_url(server).set(drivername="postgresql+psycopg")
    name = f"backstride_test_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
        # A throwaway database: commits need not wait for the WAL to reach the disk of the
        # shared server (one setting of this database only; a crash loses nothing we keep).
        conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh, migrated database for this test run."""
    with _throwaway_database(tmp_path_factory.mktemp("db")) as url:
        try:
            migrate.upgrade(url)
            yield url
        finally:
            db.session.remove()
            db.dispose()


@pytest.fixture
def empty_db_url(tmp_path: Path) -> Iterator[str]:
    """An empty database of its own, for a test that migrates it step by step."""
    with _throwaway_database(tmp_path) as url:
        yield url


@pytest.fixture(scope="session")
def base_settings(db_url: str) -> Settings:
    """Settings for tests: fixed secrets, cheap (still memory-hard) password hashing."""
    env = {
        "SECRET_KEY": "test-secret-key-" + "x" * 32,
        "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "DATABASE_URL": db_url,
        "BACKSTRIDE_ENV": "testing",
        "LOG_LEVEL": "WARNING",
    }
    return load_settings(env).replace(
        argon2_time_cost=1, argon2_memory_kib=1024, login_rate_limit="1000 per minute"
    )


@pytest.fixture(scope="session")
def _session_app(base_settings: Settings) -> Flask:
    return create_app(base_settings)


def _clean(url: str) -> None:
    """Empty every table (a real server thread may have committed, so no rollback trick)."""
    # Ids start over in the emptied tables: a compiled version cached by id would be stale.
    forget_compiled()
    db.session.remove()
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with db.engine.begin() as conn:
        # DELETE, children first, not TRUNCATE: a test leaves a few rows, and TRUNCATE gives each
        # of the ~40 tables and their indexes new files, synced to disk: about a second per test
        # on the shared server under load, against 50 ms for the DELETEs.
        for table in tables:
            conn.execute(text(f"DELETE FROM {table}"))  # names come from our metadata
        if db.dialect == "postgresql":  # ids start over, as SQLite's do in an emptied table
            conn.execute(text(RESTART_SEQUENCES))


RESTART_SEQUENCES = """
SELECT setval(format('%I.%I', schemaname, sequencename)::regclass, 1, false)
FROM pg_sequences WHERE schemaname = current_schema()
"""


@pytest.fixture
def app(_session_app: Flask, db_url: str) -> Iterator[Flask]:
    """The app over a database emptied after the test."""
    db.configure(db_url) if db._engine is None else None
    with _session_app.app_context():
        yield _session_app
    _clean(db_url)


@pytest.fixture
def make_app(base_settings: Settings, db_url: str) -> Iterator[Callable[..., Flask]]:
    """Build an app with some settings changed (e.g. provider base URLs)."""
    made: list[Flask] = []

    def factory(**changes: Any) -> Flask:
        app = create_app(base_settings.replace(**changes))
        made.append(app)
        return app

    yield factory
    _clean(db_url)


@pytest.fixture
def client(app: Flask) -> Any:
    """A Flask test client."""
    return app.test_client()


@pytest.fixture
def now() -> dt.datetime:
    """The test's clock: the real time, read once. Modules that pin a time override this fixture
    with their `NOW`, so the records the factories make share the test's clock."""
    return dt.datetime.now(dt.UTC)


@pytest.fixture
def seed(app: Flask, now: dt.datetime) -> Seed:
    """Named users: two clinics, their clinicians, patients A and B (clinic 1), an admin."""
    return seed_named_users(app, now)


class LiveServer:
    """The app served by a real WSGI server on 127.0.0.1 in a thread."""

    def __init__(self, app: Flask) -> None:
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> LiveServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)


@pytest.fixture
def live_server(app: Flask) -> Iterator[LiveServer]:
    """The app on a real HTTP port."""
    with LiveServer(app) as server:
        yield server
