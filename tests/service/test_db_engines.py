"""The reader engine behind `db.reading` and `db.lookup`: no transaction, and no writes.

Pinging pooled connections (service.db.Liveness) is tested in test_db_outage, on a private
PostgreSQL server whose backends it may kill.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask import Flask
from psycopg.pq import TransactionStatus
from sqlalchemy import insert, select, text
from sqlalchemy.exc import DBAPIError

from service.extensions import db
from service.tips.models import Tip
from tests.support.factories import Seed


def _autocommit(dbapi_conn: Any) -> bool:
    """Whether the driver sends each statement on its own (no BEGIN, so no COMMIT owed)."""
    if db.dialect == "postgresql":
        return bool(dbapi_conn.autocommit)
    return dbapi_conn.isolation_level is None


def test_reading_runs_its_statements_outside_any_transaction(app: Flask, seed: Seed) -> None:
    with db.reading() as session:
        rows = session.execute(select(Tip.id).where(Tip.patient_id == seed.patient_a)).all()
        raw = session.connection().connection.dbapi_connection
        assert _autocommit(raw)
        if db.dialect == "postgresql":  # the SELECT left no transaction open on the server
            assert raw.info.transaction_status == TransactionStatus.IDLE
    assert rows == []
    with db.transaction() as session:
        session.execute(select(Tip.id)).all()
        assert not _autocommit(session.connection().connection.dbapi_connection)


def test_the_database_refuses_a_write_in_reading(app: Flask, seed: Seed, now: dt.datetime) -> None:
    row = {
        "patient_id": seed.patient_a, "rule_id": "r", "tip_key": "k", "category": "form",
        "title": "t", "text": "x", "why": "w", "created_at": now,
    }  # fmt: skip
    with pytest.raises(DBAPIError) as refused, db.reading() as session:
        session.execute(insert(Tip).values(**row))
    assert "read-only" in str(refused.value) or "readonly" in str(refused.value)
    with db.transaction() as session:  # the same write through a transaction lands
        session.execute(insert(Tip).values(**row))
    with db.reading() as session:
        assert session.scalar(select(Tip.title).where(Tip.patient_id == seed.patient_a)) == "t"


def test_lookup_sees_what_a_transaction_committed(app: Flask, seed: Seed) -> None:
    with db.transaction() as session:
        session.execute(
            text("UPDATE users SET token_version = 7 WHERE id = :id"), {"id": seed.admin}
        )
    with db.lookup() as conn:
        assert (
            conn.scalar(text("SELECT token_version FROM users WHERE id = :id"), {"id": seed.admin})
            == 7
        )
