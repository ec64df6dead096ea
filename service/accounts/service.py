"""Account use cases: clinics and staff users."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.accounts.models import ROLES, Clinic, User
from service.accounts.security import hash_password
from service.config import Settings
from service.errors import Conflict, field_error


def normalise_email(email: str) -> str:
    """Compare emails case-insensitively, without surrounding blanks."""
    return email.strip().lower()


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
    session.flush()
    return user
