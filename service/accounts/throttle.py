"""Failed sign-ins per account, counted in the database: a stepped lockout every worker sees.

The per-address limit (Flask-Limiter) slows one client; this stops many clients guessing one
account's password. Each attempt is counted as a failure *before* the password is checked, in
a transaction of its own that locks the account's row, so concurrent guesses on any number of
workers or machines cannot slip past the count; a success clears it. After `FREE_FAILURES`
failures the account key is locked for 30 s, doubling with each further failure up to 15 min.
Attempts during a lock are answered 429 at once, without checking the password, and do not
extend it. Unknown emails are keyed and locked exactly like known ones.

Trade-off: anyone can lock an account out for up to 15 minutes at a time by failing on purpose;
guessing is held to about 100 tries a day per account.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import math

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from service.accounts.models import LoginThrottle
from service.config import Settings
from service.errors import TooManyRequests
from service.sqlutil import insert_for

FREE_FAILURES = 5
FIRST_LOCK = dt.timedelta(seconds=30)
MAX_LOCK = dt.timedelta(minutes=15)
# A run of failures older than this is forgotten (and its row swept).
FORGET_AFTER = dt.timedelta(days=1)


def account_key(email: str, settings: Settings) -> str:
    """The throttle key of a normalised email: an HMAC, so the table holds no addresses."""
    return hmac.new(
        settings.secret_key.encode(), b"login-throttle:" + email.encode(), hashlib.sha256
    ).hexdigest()


def lock_after(failures: int) -> dt.timedelta | None:
    """How long the account is locked after this many failures in a row (None: not locked)."""
    if failures < FREE_FAILURES:
        return None
    return min(MAX_LOCK, FIRST_LOCK * 2 ** min(failures - FREE_FAILURES, 16))


def reserve_attempt(session: Session, key: str, now: dt.datetime) -> None:
    """Count an attempt as failed until it succeeds; raise 429 while the key is locked."""
    row = _locked_row(session, key, now)
    if row.locked_until is not None and row.locked_until > now:
        wait = math.ceil((row.locked_until - now).total_seconds())
        raise TooManyRequests(
            f"too many failed sign-ins for this account; try again in {_plain(wait)}",
            headers={"Retry-After": str(wait)},
        )
    if row.last_failure_at < now - FORGET_AFTER:
        row.failures = 0
    row.failures += 1
    row.last_failure_at = now
    lock = lock_after(row.failures)
    row.locked_until = now + lock if lock else None


def _locked_row(session: Session, key: str, now: dt.datetime) -> LoginThrottle:
    """The key's row, created if missing, locked for this transaction."""
    # A second round only when another attempt's sweep deleted a stale row in between.
    for _ in range(2):
        # The INSERT comes first: it takes SQLite's write lock, and the row FOR UPDATE then
        # takes PostgreSQL's row lock, so concurrent attempts on one key queue up.
        created = session.execute(
            insert_for(session, LoginThrottle)
            .values(key=key, failures=0, last_failure_at=now)
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(LoginThrottle.key)
        ).first()
        if created is not None:  # a new key: sweep runs of failures long forgotten
            session.execute(
                delete(LoginThrottle).where(
                    LoginThrottle.last_failure_at < now - FORGET_AFTER,
                    LoginThrottle.locked_until.is_(None) | (LoginThrottle.locked_until < now),
                )
            )
        row = session.scalars(
            select(LoginThrottle)
            .where(LoginThrottle.key == key)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).first()
        if row is not None:
            return row
    raise RuntimeError("login throttle row deleted twice under us")


def clear(session: Session, key: str) -> None:
    """Forget the key's failures (a successful sign-in)."""
    session.execute(delete(LoginThrottle).where(LoginThrottle.key == key))


def _plain(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} seconds"
    minutes = math.ceil(seconds / 60)
    return "1 minute" if minutes == 1 else f"{minutes} minutes"
