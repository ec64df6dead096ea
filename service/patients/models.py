"""Patient profiles and their push devices."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from integrations.wearables import PROVIDERS
from service.channels import PLATFORMS
from service.db import Base, BigId, IdPk, one_of, utcnow

if TYPE_CHECKING:
    from service.accounts.models import User

# Where steps come from: phone uploads, then every wearable provider (a provider's records
# carry its name). A patient may name one as their primary source. Each source's title is how
# exports (FHIR) name its records.
UPLOAD_SOURCE_TITLES = {
    "healthkit": "Apple Health",
    "health_connect": "Health Connect (Android)",
    "manual": "Entered by the patient",
}
UPLOAD_SOURCES = tuple(UPLOAD_SOURCE_TITLES)
SOURCE_TITLES = UPLOAD_SOURCE_TITLES | {
    name: provider.source_title or provider.title for name, provider in PROVIDERS.items()
}
SOURCES = tuple(SOURCE_TITLES)


class PatientProfile(Base):
    """What the program knows about a patient beyond their login."""

    __tablename__ = "patient_profiles"

    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    clinic_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("clinics.id", ondelete="RESTRICT"), index=True
    )
    clinician_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    # The rule set the patient follows (its published version); null = the clinic's default.
    ruleset_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("rulesets.id", ondelete="SET NULL")
    )
    timezone: Mapped[str] = mapped_column(String(64))
    locale: Mapped[str] = mapped_column(String(35), default="en")
    conditions: Mapped[list[str]] = mapped_column(JSON, default=list)
    quiet_start: Mapped[str | None] = mapped_column(String(5))  # "HH:MM", patient-local
    quiet_end: Mapped[str | None] = mapped_column(String(5))
    max_tips_per_day: Mapped[int | None]
    shoes_changed_on: Mapped[dt.date | None]
    primary_source: Mapped[str | None] = mapped_column(String(32))
    enrolled_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Scheduler bookkeeping: the next patient-local decision time, in UTC, so that "who is due"
    # is one indexed range scan; recomputed after each scheduled evaluation or zone change.
    next_decision_at: Mapped[dt.datetime | None] = mapped_column(index=True)
    last_decision_at: Mapped[dt.datetime | None]
    # The phone's last upload of days or walks, changed or not (the worklist's "last sync").
    last_upload_at: Mapped[dt.datetime | None]
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)

    user: Mapped[User] = relationship(back_populates="profile", foreign_keys=[user_id])


class Device(Base):
    """A phone or browser that can receive pushes."""

    __tablename__ = "devices"
    __table_args__ = (
        UniqueConstraint("platform", "token"),
        CheckConstraint(one_of("platform", PLATFORMS), name="platform"),
        Index("ix_devices_patient", "patient_id"),
    )

    id: Mapped[IdPk]
    patient_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(16))
    token: Mapped[str] = mapped_column(String(4096))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
