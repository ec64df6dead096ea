"""Clinics, users and invite codes."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from service.db import Base, BigId, IdPk, utcnow

if TYPE_CHECKING:
    from service.patients.models import PatientProfile

ROLES = ("patient", "clinician", "admin")


class Clinic(Base):
    """A practice: its clinicians see only its patients."""

    __tablename__ = "clinics"

    id: Mapped[IdPk]
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class User(Base):
    """Anyone who signs in: a patient, a clinician or an admin."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('patient', 'clinician', 'admin')", name="role"),)

    id: Mapped[IdPk]
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    clinic_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("clinics.id", ondelete="RESTRICT"), index=True
    )
    # Bumped to revoke every access token issued before (tokens carry the version they saw).
    token_version: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    clinic: Mapped[Clinic | None] = relationship()
    profile: Mapped[PatientProfile | None] = relationship(
        back_populates="user", foreign_keys="PatientProfile.user_id", uselist=False
    )


class Invite(Base):
    """A one-time code a clinician gives a patient: it links clinician and rule set."""

    __tablename__ = "invites"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    clinic_id: Mapped[int] = mapped_column(BigId, ForeignKey("clinics.id", ondelete="CASCADE"))
    clinician_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    ruleset_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("rulesets.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    used_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id", ondelete="SET NULL"))
    used_at: Mapped[dt.datetime | None]


class LoginThrottle(Base):
    """Recent failed sign-ins of one account key, so lockouts hold across processes.

    The key is an HMAC of the normalised email, whether or not an account has that email: unknown
    emails are throttled alike (telling them apart would reveal which accounts exist), and the
    table holds no email addresses.
    """

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[dt.datetime | None]
    last_failure_at: Mapped[dt.datetime] = mapped_column(index=True)
