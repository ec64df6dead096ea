"""Bulk writes of the evaluation pipeline: COPY on PostgreSQL, executemany on SQLite.

A population batch writes thousands of evaluations, tips and rule-state rows. On PostgreSQL
the rows go through COPY on the session's own connection (same transaction), with ids taken
from the table's sequence beforehand so the caller knows them without RETURNING; a big
multi-row INSERT would cost the driver a parse of a huge statement per page. Rule state is
an upsert, so it goes as one `INSERT ... SELECT FROM unnest(arrays) ON CONFLICT` statement
with four array parameters. SQLite gets plain executemany (one prepared statement).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any, cast

import psycopg
from sqlalchemy import Table, Text, bindparam, insert, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.types import JSON

from service.db import Base
from service.evaluation.models import RuleFiring
from service.sqlutil import insert_for

FIRING_CHUNK = 2000  # SQLite: rows x 4 parameters stays under its parameter limit


class DuplicateKey(Exception):
    """A unique constraint refused the rows (another worker wrote the same key meanwhile)."""


def is_postgres(session: Session) -> bool:
    """Say whether the session talks to PostgreSQL."""
    return session.get_bind().dialect.name == "postgresql"


def dumps(value: object) -> str:
    """Compact JSON (sets as sorted lists), as stored in JSON columns."""
    return json.dumps(value, separators=(",", ":"), default=_sorted_list)


def _sorted_list(value: object) -> list[Any]:
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def insert_rows(
    session: Session, model: type[Base], columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> list[int]:
    """Insert rows (values in `columns` order, JSON columns as Python data); return new ids.

    Raise DuplicateKey when a unique constraint refuses any row; nothing is then written
    (callers wrap this in a savepoint).
    """
    if not rows:
        return []
    table = cast(Table, model.__table__)
    if is_postgres(session):
        return _copy_with_ids(session, table, columns, rows)
    # JSON goes in already serialised (compact, sets as lists) through a text parameter.
    json_at = _json_columns(table, columns)
    stmt = (
        insert(table)
        .values(
            {
                name: bindparam(name, type_=Text() if i in json_at else table.c[name].type)
                for i, name in enumerate(columns)
            }
        )
        .returning(table.c.id, sort_by_parameter_order=True)
    )
    params = [
        {
            name: dumps(value) if i in json_at else value
            for i, (name, value) in enumerate(zip(columns, row, strict=True))
        }
        for row in rows
    ]
    try:
        return list(session.execute(stmt, params).scalars())
    except IntegrityError as exc:
        raise DuplicateKey(str(exc.orig)) from exc


def _json_columns(table: Table, columns: Sequence[str]) -> set[int]:
    return {i for i, name in enumerate(columns) if isinstance(table.c[name].type, JSON)}


def _copy_with_ids(
    session: Session, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> list[int]:
    connection = session.connection()
    ids = list(
        connection.execute(
            text(
                "SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"
            ),
            {"table": table.name, "n": len(rows)},
        ).scalars()
    )
    json_at = sorted(_json_columns(table, columns))
    raw: Any = connection.connection.driver_connection
    statement = f"COPY {table.name} (id, {', '.join(columns)}) FROM STDIN"
    try:
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            write = copy.write_row
            if json_at:
                for row_id, row in zip(ids, rows, strict=True):
                    values = list(row)
                    for index in json_at:
                        values[index] = dumps(values[index])
                    write((row_id, *values))
            else:
                for row_id, row in zip(ids, rows, strict=True):
                    write((row_id, *row))
    except psycopg.errors.UniqueViolation as exc:
        raise DuplicateKey(str(exc)) from exc
    return ids


def upsert_firings(
    session: Session, rows: Sequence[tuple[int, str, dt.datetime, int | None]]
) -> None:
    """Record (patient id, key, last at, last variant): when a rule or tip was last used.

    An upsert: a pain report and the scheduler may evaluate the same patient at once. Keys
    must be unique within `rows` (PostgreSQL refuses to update one row twice per statement).
    """
    if not rows:
        return
    if is_postgres(session):
        pids, keys, moments, variants = (list(column) for column in zip(*rows, strict=True))
        session.execute(
            text(
                "INSERT INTO rule_firings (patient_id, key, last_at, last_variant) "
                "SELECT * FROM unnest(CAST(:pids AS bigint[]), CAST(:keys AS varchar[]), "
                "CAST(:moments AS timestamptz[]), CAST(:variants AS integer[])) "
                "ON CONFLICT (patient_id, key) DO UPDATE "
                "SET last_at = excluded.last_at, last_variant = excluded.last_variant"
            ),
            {"pids": pids, "keys": keys, "moments": moments, "variants": variants},
        )
        return
    names = ("patient_id", "key", "last_at", "last_variant")
    values = [dict(zip(names, row, strict=True)) for row in rows]
    for start in range(0, len(values), FIRING_CHUNK):
        stmt = insert_for(session, RuleFiring).values(values[start : start + FIRING_CHUNK])
        stmt = stmt.on_conflict_do_update(
            index_elements=[RuleFiring.patient_id, RuleFiring.key],
            set_={"last_at": stmt.excluded.last_at, "last_variant": stmt.excluded.last_variant},
        )
        session.execute(stmt)
