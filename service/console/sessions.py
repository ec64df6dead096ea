"""Console session use cases: sign in with the API's credentials check, look up, sign out.

Signing in checks the password exactly as `POST /v1/auth/token` does (and under its
per-account throttle). The browser's cookie (Flask's signed session) carries a random session
id; the database keeps its hash with the user, an idle deadline (`last_seen_at`) and an
absolute expiry, so signing out, revoking a user's tokens or deleting the user ends the session
on the server.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session

from service.accounts import service as accounts
from service.accounts.auth import Principal
from service.accounts.models import User
from service.config import Settings
from service.console.models import ConsoleSession
from service.db import Transactions
from service.errors import Forbidden

STAFF_ROLES = frozenset({"clinician", "admin"})
# last_seen_at is written at most this often, so reading pages is not a write per request.
TOUCH_EVERY = dt.timedelta(minutes=1)

_LOOKUP = (
    select(
        ConsoleSession.__table__.c.last_seen_at,
        ConsoleSession.__table__.c.expires_at,
        ConsoleSession.__table__.c.token_version.label("session_version"),
        User.__table__.c.id,
        User.__table__.c.role,
        User.__table__.c.clinic_id,
        User.__table__.c.email,
        User.__table__.c.token_version,
    )
    .join(User.__table__, User.__table__.c.id == ConsoleSession.__table__.c.user_id)
    .where(ConsoleSession.__table__.c.id_hash == bindparam("id_hash"))
)


class NotStaff(Forbidden):
    """Right password, but the account is a patient's: the console is for clinic staff."""


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def sign_in(
    transactions: Transactions, settings: Settings, email: str, password: str, now: dt.datetime
) -> str:
    """Check the credentials with the API's sign-in use case, then open a session; return its id.

    `accounts.sign_in` is what `POST /v1/auth/token` runs: the same slow failure for unknown
    emails, and the per-account throttle (it commits each attempt in its own transaction, so
    this use case takes the transaction opener too). Raises Unauthorized for wrong credentials,
    TooManyRequests while the account is locked, and NotStaff for patients.
    """
    issued = accounts.sign_in(transactions, settings, email, password, now)
    if issued.role not in STAFF_ROLES:
        raise NotStaff("The console is for clinic staff. Patients use the Backstride app.")
    with transactions() as session:
        return open_session(session, settings, issued.user_id, now)


def open_session(session: Session, settings: Settings, user_id: int, now: dt.datetime) -> str:
    """Start a session for a user whose credentials were checked; return its random id."""
    version = session.scalar(select(User.token_version).where(User.id == user_id))
    session_id = secrets.token_urlsafe(32)
    session.add(
        ConsoleSession(
            id_hash=_hash(session_id),
            user_id=user_id,
            token_version=version or 0,
            created_at=now,
            last_seen_at=now,
            expires_at=now + dt.timedelta(seconds=settings.console_session_max_s),
        )
    )
    # Expired sessions of this user go now: the table stays as small as the signed-in staff.
    session.execute(
        delete(ConsoleSession).where(
            ConsoleSession.user_id == user_id, ConsoleSession.expires_at <= now
        )
    )
    return session_id


def current(
    session: Session, settings: Settings, session_id: str | None, now: dt.datetime
) -> tuple[Principal, str] | None:
    """The principal and email behind a session id, or None when unknown, idle or expired."""
    if not session_id:
        return None
    id_hash = _hash(session_id)
    row = session.connection().execute(_LOOKUP, {"id_hash": id_hash}).first()
    if row is None:
        return None
    idle = dt.timedelta(seconds=settings.console_session_idle_s)
    if (
        row.expires_at <= now
        or row.last_seen_at + idle <= now
        or row.token_version != row.session_version
    ):
        session.execute(delete(ConsoleSession).where(ConsoleSession.id_hash == id_hash))
        return None
    if now - row.last_seen_at >= TOUCH_EVERY:
        session.execute(
            update(ConsoleSession)
            .where(ConsoleSession.id_hash == id_hash)
            .values(last_seen_at=now)
            .execution_options(synchronize_session=False)
        )
    return Principal(user_id=row.id, role=row.role, clinic_id=row.clinic_id), row.email


def sign_out(session: Session, session_id: str | None) -> None:
    """End a session on the server (idempotent)."""
    if session_id:
        session.execute(delete(ConsoleSession).where(ConsoleSession.id_hash == _hash(session_id)))
