"""Alerts that ask a clinician to look at a patient."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from rules.kinds import Severity
from service.db import Base, BigId, IdPk, one_of, utcnow


class ClinicianAlert(Base):
    """An alert raised by a rule (or the system) for a patient's clinic."""

    __tablename__ = "clinician_alerts"
    __table_args__ = (
        CheckConstraint(one_of("severity", Severity), name="severity"),
        Index("ix_clinician_alerts_clinic_open", "clinic_id", "acked_at"),
    )

    id: Mapped[IdPk]
    clinic_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("clinics.id", ondelete="CASCADE")
    )
    patient_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    evaluation_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("evaluations.id", ondelete="SET NULL")
    )
    rule_id: Mapped[str | None] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    acked_at: Mapped[dt.datetime | None]
    acked_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id", ondelete="SET NULL"))
    # System alerts that must be raised once, whichever process gets there first (e.g. a rule
    # set failing at run time: one alert per version and kind of failure, not one per patient).
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
