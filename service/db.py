"""Database plumbing: declarative base, column types, engine and session handling."""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Annotated, Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Connection,
    DateTime,
    Engine,
    Integer,
    MetaData,
    create_engine,
    event,
)
from sqlalchemy.engine import Dialect, ExceptionContext
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, mapped_column, scoped_session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """An aware UTC datetime on every backend (SQLite keeps no zone, so we normalise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; attach a zone first")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # raw SQL results on SQLite
            value = dt.datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


# Integer ids: SQLite only auto-increments INTEGER PRIMARY KEY, PostgreSQL gets BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")
IdPk = Annotated[int, mapped_column(BigId, primary_key=True, autoincrement=True)]
JsonType = JSON()


# How a use case that must commit between its steps opens one transaction per step: its route
# or job passes `db.transaction` (README, "Transactions").
Transactions = Callable[[], AbstractContextManager[Session]]


def one_of(column: str, values: Iterable[str]) -> str:
    """A CHECK clause `column IN ('a', 'b')` for a closed set of codes (enums give their value)."""
    quoted = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({quoted})"


def utcnow() -> dt.datetime:
    """Now, as an aware UTC datetime."""
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    """Declarative base of every model."""

    metadata = MetaData(naming_convention=NAMING)
    # SQLAlchemy reads this as a plain dict.
    type_annotation_map = {dt.datetime: UTCDateTime(), dict[str, Any]: JsonType}  # noqa: RUF012


def make_engine(
    url: str, *, reader: bool = False, liveness: Liveness | None = None, **kwargs: Any
) -> Engine:
    """Create an engine; SQLite gets foreign keys, WAL and a busy timeout.

    A `reader` engine's connections run each statement on its own (autocommit: no BEGIN or
    COMMIT round trip) and the database refuses them any write.
    """
    if reader:
        kwargs["isolation_level"] = "AUTOCOMMIT"
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        pragmas = [*SQLITE_PRAGMAS, "PRAGMA query_only=ON"] if reader else SQLITE_PRAGMAS

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            for pragma in pragmas:
                cursor.execute(pragma)
            cursor.close()

        return engine
    if reader:  # sent with the connection's startup packet: no extra round trip
        kwargs["connect_args"] = {"options": "-c default_transaction_read_only=on"}
    engine = create_engine(url, **{"pool_size": 10, "max_overflow": 20, **kwargs})
    (liveness or Liveness()).watch(engine)
    return engine


SQLITE_PRAGMAS = [
    "PRAGMA foreign_keys=ON",
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA busy_timeout=30000",
]


# A connection that sat in the pool this long is pinged before it is lent again. Under load
# connections come back within milliseconds and go out unpinged, where SQLAlchemy's
# pool_pre_ping would add a round trip to every request.
PING_AFTER_IDLE_S = 5.0


class Liveness:
    """When a pooled PostgreSQL connection is pinged before it is lent, for a database's engines.

    A connection is pinged when it sat idle for PING_AFTER_IDLE_S, or when it went idle before
    any connection of these engines was last found dead (the server restarted: its siblings are
    suspect too). A dead one is replaced before the checkout returns. A connection that dies
    while lent fails its statement: that request answers 503 with Retry-After
    (service/errors.py) and marks the rest suspect.
    """

    def __init__(self) -> None:
        self.lost_at = -math.inf

    def watch(self, engine: Engine) -> None:
        """Install the checkin, checkout and error listeners on `engine`."""
        event.listen(engine, "checkin", self._idle)
        event.listen(engine, "handle_error", self._error)

        def checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
            idle_since = record.info.get("idle_since")
            if idle_since is None:  # a new connection
                return
            if idle_since > self.lost_at and time.monotonic() - idle_since < PING_AFTER_IDLE_S:
                return
            reason = "the ping failed"
            try:
                alive = engine.dialect.do_ping(dbapi_conn)  # the empty query pool_pre_ping sends
            except engine.dialect.loaded_dbapi.Error as exc:
                alive = False
                reason = str(exc)
            if not alive:
                self.lost_at = time.monotonic()
                # The pool closes this connection and checks out another.
                raise DisconnectionError(f"a pooled connection was dead: {reason}")

        event.listen(engine, "checkout", checkout)

    @staticmethod
    def _idle(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    def _error(self, context: ExceptionContext) -> None:
        if context.is_disconnect:
            self.lost_at = time.monotonic()


class Database:
    """The engine and a thread/app-context scoped session, bound to an app by init_app."""

    def __init__(self) -> None:
        self._engine: Engine | None = None
        self._factory: sessionmaker[Session] | None = None
        self._reader: Engine | None = None
        self._reader_factory: sessionmaker[Session] = sessionmaker()
        self.session: scoped_session[Session] = scoped_session(self._make_session)  # type: ignore[arg-type]

    def _make_session(self) -> Session:
        if self._factory is None:
            raise RuntimeError("database not initialised: call init_app first")
        return self._factory()

    def configure(self, url: str) -> None:
        """Point at a database (replacing any previous engine)."""
        if self._engine is not None:
            self.dispose()
        liveness = Liveness()
        self._engine = make_engine(url, liveness=liveness)
        self._factory = sessionmaker(self._engine, expire_on_commit=False)
        self._reader = make_engine(url, reader=True, liveness=liveness)
        self._reader_factory = sessionmaker(self._reader, expire_on_commit=False)

    @property
    def engine(self) -> Engine:
        """The bound engine."""
        if self._engine is None:
            raise RuntimeError("database not initialised: call init_app first")
        return self._engine

    @property
    def reader(self) -> Engine:
        """The read-only engine behind `reading` and `lookup` (autocommit, writes refused)."""
        if self._reader is None:
            raise RuntimeError("database not initialised: call init_app first")
        return self._reader

    @property
    def dialect(self) -> str:
        """`sqlite` or `postgresql`."""
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """Run one use case: commit on success, roll back on any error."""
        session = self.session()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """Run a use case that only reads, outside any transaction (no BEGIN, no COMMIT).

        Each statement sees what was committed when it ran: enough for a read of one caller's
        rows, and it saves the BEGIN and COMMIT round trips. The session comes from the reader
        engine, on which the database refuses writes.
        """
        session = self._reader_factory()
        try:
            yield session
        finally:
            session.close()

    def lookup(self) -> Connection:
        """A reader connection, for one read before the use case begins (authentication)."""
        return self.reader.connect()

    def dispose(self) -> None:
        """Close every pooled connection of both engines (before a fork, at the end of a run)."""
        self.session.remove()
        for engine in (self._engine, self._reader):
            if engine is not None:
                engine.dispose()

    def remove(self, _exc: BaseException | None = None) -> None:
        """Discard the current scope's session (app-context teardown, end of a job)."""
        self.session.remove()
