"""Bulk inserts: COPY on PostgreSQL, executemany on SQLite, in the caller's transaction.

A population batch writes thousands of evaluations, tips and decision records. On PostgreSQL
the rows go through COPY on the session's own connection (same transaction), with ids taken
from the table's sequence beforehand when the caller needs them (no RETURNING); a big
multi-row INSERT would cost the driver a parse of a huge statement per page. SQLite gets plain
executemany (one prepared statement).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

import psycopg
from sqlalchemy import Table, Text, bindparam, insert, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.types import JSON

from service.db import Base
from service.sqlutil import is_postgresql


class DuplicateKey(Exception):
    """A unique constraint refused the rows (another worker wrote the same key meanwhile)."""


def dumps(value: object) -> str:
    """Compact JSON (sets as sorted lists), as stored in JSON columns."""
    return _ENCODER.encode(value)


def _sorted_list(value: object) -> list[Any]:
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


# One encoder for every row: json.dumps with options builds a new one per call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), default=_sorted_list)


def insert_rows(
    session: Session,
    model: type[Base],
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    *,
    with_ids: bool = True,
) -> list[int]:
    """Insert rows (values in `columns` order, JSON columns as Python data); return new ids.

    `with_ids=False` returns [] and lets the table's default number the rows (cheaper).
    Raise DuplicateKey when a unique constraint refuses any row; nothing is then written
    (callers wrap this in a savepoint).
    """
    if not rows:
        return []
    table = cast(Table, model.__table__)
    if is_postgresql(session):
        return _copy(session, table, columns, rows, with_ids=with_ids)
    # JSON goes in already serialised (compact, sets as lists) through a text parameter.
    json_at = _json_columns(table, columns)
    stmt = insert(table).values(
        {
            name: bindparam(name, type_=Text() if i in json_at else table.c[name].type)
            for i, name in enumerate(columns)
        }
    )
    params = [
        {
            name: dumps(value) if i in json_at else value
            for i, (name, value) in enumerate(zip(columns, row, strict=True))
        }
        for row in rows
    ]
    try:
        if not with_ids:
            session.execute(stmt, params)
            return []
        returning = stmt.returning(table.c.id, sort_by_parameter_order=True)
        return list(session.execute(returning, params).scalars())
    except IntegrityError as exc:
        raise DuplicateKey(str(exc.orig)) from exc


def insert_unless_taken(
    session: Session, model: type[Base], columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> list[int | None]:
    """Insert rows whose unique key another worker may have taken; return ids (None: taken).

    All at once in a savepoint; only when a key was taken, row by row to find which.
    """
    if not rows:
        return []
    try:
        with session.begin_nested():
            return list(insert_rows(session, model, columns, rows))
    except DuplicateKey:
        pass
    ids: list[int | None] = []
    for row in rows:
        try:
            with session.begin_nested():
                ids.extend(insert_rows(session, model, columns, [row]))
        except DuplicateKey:
            ids.append(None)
    return ids


def _json_columns(table: Table, columns: Sequence[str]) -> set[int]:
    return {i for i, name in enumerate(columns) if isinstance(table.c[name].type, JSON)}


def _copy(
    session: Session,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    *,
    with_ids: bool,
) -> list[int]:
    connection = session.connection()
    ids: list[int] = []
    if with_ids:
        ids = list(
            connection.execute(
                text(
                    "SELECT nextval(pg_get_serial_sequence(:table, 'id')) "
                    "FROM generate_series(1, :n)"
                ),
                {"table": table.name, "n": len(rows)},
            ).scalars()
        )
        rows = [(row_id, *row) for row_id, row in zip(ids, rows, strict=True)]
        columns = ("id", *columns)
    json_at = sorted(_json_columns(table, columns))
    raw: Any = connection.connection.driver_connection
    statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
    try:
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            write = copy.write_row
            if json_at:
                for row in rows:
                    values = list(row)
                    for index in json_at:
                        values[index] = dumps(values[index])
                    write(values)
            else:
                for row in rows:
                    write(row)
    except psycopg.errors.UniqueViolation as exc:
        raise DuplicateKey(str(exc)) from exc
    return ids
