"""Bulk writes of the evaluation pipeline: COPY on PostgreSQL, executemany on SQLite.

A population batch writes thousands of evaluations, tips and rule-state rows. On PostgreSQL
the rows go through COPY on the session's own connection (same transaction), with ids taken
from the table's sequence beforehand when the caller needs them (no RETURNING); a big
multi-row INSERT would cost the driver a parse of a huge statement per page. Rule state is
an upsert that merges JSON maps, one row per patient, sent as ONE JSON document
(`INSERT ... SELECT FROM jsonb_each(doc) ON CONFLICT`). SQLite gets plain executemany (one
prepared statement).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any, cast

import psycopg
from sqlalchemy import Table, Text, bindparam, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.types import JSON

from service.db import Base
from service.plans.models import Plan
from service.sqlutil import chunks, is_postgresql


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


def update_plans(
    session: Session, changes: Sequence[tuple[int, int | None, int | None]], now: dt.datetime
) -> set[int]:
    """Apply (patient id, new target or None, hold days or None) to existing plans at `now`.

    A new target sets `changed_at`; a hold extends `progression_held_until` to at least `now`
    plus the days (never shortens it). Return the patients that had a plan (others are left
    for the caller). PostgreSQL: ONE statement over array parameters, the hold computed in SQL
    on the row it updates.
    """
    if is_postgresql(session):
        pids, targets, holds = (list(column) for column in zip(*changes, strict=True))
        updated = session.execute(
            text(
                "UPDATE plans SET daily_target = COALESCE(c.target, plans.daily_target), "
                "changed_at = CASE WHEN c.target IS NULL THEN plans.changed_at ELSE :now END, "
                "progression_held_until = CASE WHEN c.hold IS NULL "
                "THEN plans.progression_held_until ELSE GREATEST(plans.progression_held_until, "
                "CAST(:now AS timestamptz) + c.hold * interval '24 hours') END "
                "FROM unnest(CAST(:pids AS bigint[]), CAST(:targets AS integer[]), "
                "CAST(:holds AS integer[])) AS c(pid, target, hold) "
                "WHERE plans.patient_id = c.pid RETURNING plans.patient_id"
            ),
            {"now": now, "pids": pids, "targets": targets, "holds": holds},
        )
        return set(updated.scalars())
    held: dict[int, dt.datetime | None] = {}
    ids = [pid for pid, _, _ in changes]
    for chunk in chunks(session, ids):
        rows = session.execute(
            select(Plan.patient_id, Plan.progression_held_until).where(Plan.patient_id.in_(chunk))
        )
        held.update((pid, until) for pid, until in rows)
    updates: list[dict[str, Any]] = []
    for pid, target, hold in changes:
        if pid not in held:
            continue
        values: dict[str, Any] = {"patient_id": pid}
        if target is not None:
            values.update(daily_target=target, changed_at=now)
        if hold:
            until, before = now + dt.timedelta(days=hold), held[pid]
            values["progression_held_until"] = max(until, before) if before else until
        updates.append(values)
    if updates:
        session.execute(update(Plan), updates)
    return set(held)


def merge_rule_state(
    session: Session, states: Mapping[int, tuple[dict[str, str], dict[str, int]]]
) -> None:
    """Merge patient id -> (rule id -> ISO instant fired, tip id -> variant) into rule state.

    One row per patient; entries not named here are kept. An upsert that merges in SQL, so a
    pain report and the scheduler evaluating the same patient at once both land.
    """
    if not states:
        return
    if is_postgresql(session):
        # The whole batch as ONE JSON parameter (serialised in C), unpacked by the server.
        doc = json.dumps(
            {pid: {"f": fired, "v": variants} for pid, (fired, variants) in states.items()},
            separators=(",", ":"),
        )
        session.execute(
            text(
                "INSERT INTO rule_firings (patient_id, last_fired, last_variant) "
                "SELECT CAST(key AS bigint), CAST(value -> 'f' AS json), "
                "CAST(value -> 'v' AS json) FROM jsonb_each(CAST(:doc AS jsonb)) ORDER BY 1 "
                "ON CONFLICT (patient_id) DO UPDATE SET "
                "last_fired = CAST(CAST(rule_firings.last_fired AS jsonb) "
                "|| CAST(excluded.last_fired AS jsonb) AS json), "
                "last_variant = CAST(CAST(rule_firings.last_variant AS jsonb) "
                "|| CAST(excluded.last_variant AS jsonb) AS json)"
            ),
            {"doc": doc},
        )
        return
    session.execute(
        text(
            "INSERT INTO rule_firings (patient_id, last_fired, last_variant) "
            "VALUES (:pid, :fired, :variants) "
            "ON CONFLICT (patient_id) DO UPDATE SET "
            "last_fired = json_patch(rule_firings.last_fired, excluded.last_fired), "
            "last_variant = json_patch(rule_firings.last_variant, excluded.last_variant)"
        ),
        [
            {"pid": pid, "fired": dumps(fired), "variants": dumps(variants)}
            for pid, (fired, variants) in sorted(states.items())
        ],
    )
