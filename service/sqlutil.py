"""SQL helpers that differ by dialect (the suite runs on SQLite and PostgreSQL), in one place.

Batch reads take ids in chunks (`chunks`, `among`), run as Core on the session's connection
(`rows`), and decode JSON list columns read as text (`json_list`). Whatever depends on the
dialect asks `is_postgresql` here rather than comparing dialect names itself.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Text,
    any_,
    bindparam,
    cast,
    func,
    literal,
    literal_column,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

CHUNK = 900  # SQLite: ids per IN (...) list, well under its bound-parameter limit

# JSON lists come back as text and are decoded only when not empty (most are "[]").
_EMPTY_JSON = frozenset({"[]", "null"})


def is_postgresql(session: Session) -> bool:
    """Say whether the session talks to PostgreSQL (else SQLite)."""
    return bool(session.get_bind().dialect.name == "postgresql")


def insert_for(session: Session, model: Any) -> Any:
    """An INSERT with `on_conflict_do_update` for the session's dialect."""
    if is_postgresql(session):
        return postgresql.insert(model)
    return sqlite.insert(model)


def upsert(session: Session, table: Any, keys: Sequence[str], updates: Sequence[str]) -> Any:
    """`INSERT ... ON CONFLICT (keys) DO UPDATE SET` each of `updates` to the new row's value,
    built once per dialect and table (a hot path: every activity upload runs one)."""
    return _upsert(session.get_bind().dialect.name, table, tuple(keys), tuple(updates))


@functools.cache
def _upsert(dialect: str, table: Any, keys: tuple[str, ...], updates: tuple[str, ...]) -> Any:
    stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    excluded = stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=list(keys), set_={name: excluded[name] for name in updates}
    )


def upsert_rows(
    session: Session,
    table: Any,
    keys: Sequence[str],
    updates: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
    *,
    compared: Sequence[str],
) -> int:
    """Insert or update `rows` (all with the same columns) per `keys` in one statement, where
    an executemany sent one per row (a server round trip each on PostgreSQL outside a pipeline);
    return how many rows were inserted or changed.

    A stored row is rewritten (all of `updates`) only when one of its `compared` columns differs
    from the new row's: phones and polling syncs re-send days they sent before, and rewriting
    those would only bloat the table and make the caller think something changed.

    PostgreSQL: `INSERT .. SELECT FROM json_populate_recordset(NULL::table, <rows as JSON>)
    ON CONFLICT (keys) DO UPDATE .. WHERE <a compared column differs>`. Its text does not vary
    with the number of rows, so the driver and the server parse and plan it once; the rows travel
    as one JSON text that json.dumps writes in C and the server types by the table's own columns
    (the driver's array dumpers cost ~1 us per value in Python); the command's row count is the
    answer. SQLite: the upsert with RETURNING, which SQLAlchemy's "insertmanyvalues" sends as
    multi-row VALUES; the rows it returns are the answer. Rows repeating a key keep the last one,
    as upserting them one after another would (PostgreSQL refuses to update a row twice in one
    statement)."""
    if not rows:
        return 0
    unique = list({tuple(row[key] for key in keys): row for row in rows}.values())
    if is_postgresql(session):
        statement = _recordset_upsert(
            table, tuple(keys), tuple(updates), tuple(compared), tuple(unique[0])
        )
        records = json.dumps(unique, default=_json_value, separators=(",", ":"))
        written: int = session.connection().execute(statement, {"records": records}).rowcount
        return written
    statement = _returning_upsert(table, tuple(keys), tuple(updates), tuple(compared))
    return len(session.connection().execute(statement, unique).all())


def _update_if_changed(
    stmt: Any,
    table: Any,
    keys: tuple[str, ...],
    updates: tuple[str, ...],
    compared: tuple[str, ...],
) -> Any:
    """`stmt` ON CONFLICT (keys) DO UPDATE SET updates, only where a compared column differs
    from the new row's (NULL-safe: IS DISTINCT FROM, IS NOT on SQLite)."""
    excluded = stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=list(keys),
        set_={name: excluded[name] for name in updates},
        where=or_(*(table.c[name].is_distinct_from(excluded[name]) for name in compared)),
    )


def _json_value(value: Any) -> str:
    """Dates and aware datetimes as ISO 8601 (the column types read them back exactly)."""
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        # What UTCDateTime refuses on every other write: the server would read it as local time.
        raise ValueError("naive datetimes are not stored; attach a zone first")
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not a column value upsert_rows can send")


@functools.cache
def _recordset_upsert(
    table: Any,
    keys: tuple[str, ...],
    updates: tuple[str, ...],
    compared: tuple[str, ...],
    columns: tuple[str, ...],
) -> Any:
    records = func.json_populate_recordset(
        literal_column(f"NULL::{table.name}"), cast(bindparam("records", type_=Text), JSON)
    ).table_valued(*columns)
    stmt = postgresql.insert(table).from_select(
        list(columns), select(*(records.c[column] for column in columns))
    )
    # SQLAlchemy keeps an INSERT's row count only when asked to.
    upsert = _update_if_changed(stmt, table, keys, updates, compared)
    return upsert.execution_options(preserve_rowcount=True)


@functools.cache
def _returning_upsert(
    table: Any, keys: tuple[str, ...], updates: tuple[str, ...], compared: tuple[str, ...]
) -> Any:
    # SQLite's. RETURNING is what makes an executemany one statement; it returns the rows written.
    upsert = _update_if_changed(sqlite.insert(table), table, keys, updates, compared)
    return upsert.returning(table.c[keys[0]])


def chunks(session: Session, ids: Sequence[int]) -> Iterable[list[int]]:
    """The ids in lists one query can take (all at once on PostgreSQL: an array parameter)."""
    size = (len(ids) or 1) if is_postgresql(session) else CHUNK
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


def among(session: Session, column: Any, ids: list[int]) -> Any:
    """`column IN ids`: one array parameter on PostgreSQL, so the statement text never varies
    with the batch (the driver parses and the server plans it once). The array goes as its
    text form, built in C by `join`: the driver's array dumper costs ~1 us per id in Python."""
    if is_postgresql(session):
        ids_text = "{" + ",".join(map(str, map(int, ids))) + "}"
        return column == any_(cast(literal(ids_text, Text), postgresql.ARRAY(BigInteger)))
    return column.in_(ids)


def rows(session: Session, statement: Any) -> Sequence[Any]:
    """Run a read on the session's connection: Core rows fetched at once, no ORM work."""
    return session.connection().execute(statement).all()


def byte_collation(session: Session) -> str:
    """The collation that compares strings byte-wise, as Python does."""
    return "C" if is_postgresql(session) else "BINARY"


def json_list(text: str | None) -> list[Any] | None:
    """A JSON list column read as text: None when null or empty."""
    if text is None or text in _EMPTY_JSON:
        return None
    value: list[Any] | None = json.loads(text)
    return value
