"""Rate-limit counters in the database, for Flask-Limiter when no Redis is configured.

Flask-Limiter's `memory://` storage counts in each process, so with gunicorn's workers a limit of
10 a minute is really 10 per worker. Without REDIS_URL the limiter uses this storage instead:
fixed-window counters in one table, incremented by a single upsert, so every worker and every
machine on the database shares one count. It costs one small write per limited request (only
the sign-in and sign-up routes are limited).
"""

from __future__ import annotations

import time
from typing import Any

from limits.storage import Storage
from sqlalchemy import Float, String, case, delete, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base
from service.extensions import db

SCHEME = "backstride+db"
# Expired windows are deleted when a new one opens, once they are this old (seconds).
KEEP_EXPIRED_S = 3600


class RateLimitCounter(Base):
    """One fixed window of one limit for one caller (e.g. an address on the sign-in route)."""

    __tablename__ = "rate_limit_counters"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    hits: Mapped[int]
    # Epoch seconds, as the limits library counts.
    expires_at: Mapped[float] = mapped_column(Float, index=True)


_COUNTERS = RateLimitCounter


class DatabaseStorage(Storage):
    """A `limits` storage (fixed window) kept in the service's database."""

    STORAGE_SCHEME = [SCHEME]  # noqa: RUF012 - read by the limits registry as a class attribute

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **_: Any) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions)

    @property
    def base_exceptions(self) -> type[Exception]:
        """Errors of the database driver."""
        return SQLAlchemyError

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Count `amount` hits in the key's current window (opening a new one if it expired)."""
        now = time.time()
        with db.engine.begin() as conn:
            insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
            values = insert(_COUNTERS).values(key=key, hits=amount, expires_at=now + expiry)
            expired = _COUNTERS.expires_at <= now
            stmt = values.on_conflict_do_update(
                index_elements=[_COUNTERS.key],
                set_={
                    "hits": case((expired, amount), else_=_COUNTERS.hits + amount),
                    "expires_at": case((expired, now + expiry), else_=_COUNTERS.expires_at),
                },
            ).returning(_COUNTERS.hits)
            hits: int = conn.execute(stmt).scalar_one()
            if hits == amount:  # a window opened: sweep windows long gone (index range scan)
                conn.execute(delete(_COUNTERS).where(_COUNTERS.expires_at < now - KEEP_EXPIRED_S))
        return hits

    def get(self, key: str) -> int:
        """Hits in the key's current window (0 when none is open)."""
        with db.engine.connect() as conn:
            hits = conn.execute(
                select(_COUNTERS.hits).where(
                    _COUNTERS.key == key, _COUNTERS.expires_at > time.time()
                )
            ).scalar()
        return int(hits or 0)

    def get_expiry(self, key: str) -> float:
        """When the key's current window ends (now when none is open)."""
        now = time.time()
        with db.engine.connect() as conn:
            expires = conn.execute(
                select(_COUNTERS.expires_at).where(_COUNTERS.key == key, _COUNTERS.expires_at > now)
            ).scalar()
        return float(expires or now)

    def check(self) -> bool:
        """Whether the database answers."""
        try:
            with db.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError:
            return False
        return True

    def reset(self) -> int | None:
        """Forget every counter."""
        with db.engine.begin() as conn:
            count = conn.execute(select(func.count()).select_from(_COUNTERS)).scalar_one()
            conn.execute(delete(_COUNTERS))
        return int(count)

    def clear(self, key: str) -> None:
        """Forget one key's counter."""
        with db.engine.begin() as conn:
            conn.execute(delete(_COUNTERS).where(_COUNTERS.key == key))
