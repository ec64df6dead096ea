"""Account use cases: clinics, users, invites, sign-in and token revocation."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.accounts import throttle
from service.accounts.models import ROLES, Clinic, Invite, User
from service.accounts.security import (
    TokenClaims,
    dummy_hash,
    hash_password,
    issue_token,
    verify_password,
)
from service.config import Settings
from service.db import Transactions
from service.errors import Conflict, Unauthorized, field_error

TOKEN_TYPE = "Bearer"  # noqa: S105 - a scheme name, not a secret


def normalise_email(email: str) -> str:
    """Compare emails case-insensitively, without surrounding blanks."""
    return email.strip().lower()


@lru_cache(maxsize=1)
def _known_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def check_timezone(name: str, field: str = "timezone") -> str:
    """Return an IANA zone name unchanged, or raise a 422 naming the field."""
    # A set lookup rather than ZoneInfo(name): it refuses paths and odd keys outright.
    if name not in _known_zones():
        raise field_error(field, f"unknown IANA time zone {name!r}")
    return name


def find_clinic(session: Session, name: str) -> Clinic | None:
    """The clinic of this name, ignoring case and surrounding blanks (None when there is none)."""
    wanted = name.strip().lower()
    found = session.scalars(select(Clinic).where(func.lower(Clinic.name) == wanted)).all()
    # Names are unique as written; should two differ only by case, the exact one wins.
    return next((c for c in found if c.name == name.strip()), found[0] if found else None)


def get_or_create_clinic(session: Session, name: str) -> Clinic:
    """The clinic with this name, created when missing (caller commits)."""
    clinic = session.scalar(select(Clinic).where(Clinic.name == name))
    if clinic is None:
        clinic = Clinic(name=name)
        session.add(clinic)
        session.flush()
    return clinic


def create_user(
    session: Session,
    settings: Settings,
    *,
    email: str,
    password: str,
    role: str,
    clinic: Clinic | None,
) -> User:
    """Add a user with a hashed password (caller commits); emails are unique."""
    if role not in ROLES:
        raise field_error("role", f"must be one of {', '.join(ROLES)}")
    if len(password) < 8:
        raise field_error("password", "must be at least 8 characters")
    email = normalise_email(email)
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict("an account with this email exists")
    user = User(
        email=email,
        password_hash=hash_password(password, settings),
        role=role,
        clinic_id=clinic.id if clinic else None,
    )
    session.add(user)
    try:
        # Two sign-ups with one email can race past the check above; the unique index decides
        # (the failed flush spoils the transaction, which the raising use case rolls back).
        session.flush()
    except IntegrityError as exc:
        raise Conflict("an account with this email exists") from exc
    return user


@dataclass(frozen=True)
class IssuedToken:
    """An access token as the API returns it."""

    access_token: str
    expires_in: int
    role: str
    user_id: int
    token_type: str = TOKEN_TYPE


def token_for_user(user: User, settings: Settings, now: dt.datetime | None = None) -> IssuedToken:
    """Sign an access token for a user at their current token version."""
    claims = TokenClaims(
        user_id=user.id, role=user.role, clinic_id=user.clinic_id, version=user.token_version
    )
    return IssuedToken(
        access_token=issue_token(claims, settings, now),
        expires_in=settings.access_token_ttl_s,
        role=user.role,
        user_id=user.id,
    )


def authenticate(session: Session, settings: Settings, email: str, password: str) -> IssuedToken:
    """Exchange an email and password for a token; the same slow failure for unknown emails."""
    user = session.scalar(select(User).where(User.email == normalise_email(email)))
    if user is None:
        # Verify against a dummy hash so an unknown email costs as much as a wrong password.
        verify_password(dummy_hash(settings), password, settings)
        raise Unauthorized("wrong email or password")
    if not verify_password(user.password_hash, password, settings):
        raise Unauthorized("wrong email or password")
    return token_for_user(user, settings)


def sign_in(
    transactions: Transactions, settings: Settings, email: str, password: str, now: dt.datetime
) -> IssuedToken:
    """Authenticate under the per-account throttle (service/accounts/throttle.py).

    Two transactions on purpose: the attempt is counted and committed before the password is
    checked, so every other worker sees it at once; the second clears the count on success.
    """
    key = throttle.account_key(normalise_email(email), settings)
    with transactions() as session:
        throttle.reserve_attempt(session, key, now)
    with transactions() as session:
        issued = authenticate(session, settings, email, password)
        throttle.clear(session, key)
    return issued


def claim_invite(session: Session, code: str, user_id: int, now: dt.datetime) -> Invite:
    """Mark an invite used by this user, or raise a 422 when it is unknown, used or expired."""
    # Two sign-ups can race for one code: the conditional UPDATE lets exactly one win.
    result = session.execute(
        update(Invite)
        .where(Invite.code == code, Invite.used_at.is_(None), Invite.expires_at > now)
        .values(used_by=user_id, used_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise field_error("invite_code", "unknown, already used or expired")
    invite = session.get(Invite, code, populate_existing=True)
    assert invite is not None
    return invite


def revoke_tokens(session: Session, user_id: int) -> None:
    """Invalidate every access token issued to a user so far."""
    session.execute(
        update(User)
        .where(User.id == user_id)
        .values(token_version=User.token_version + 1)
        .execution_options(synchronize_session=False)
    )
