"""Questionnaires (SPEC §11.4): clinics' own instruments, questionnaires sent to patients, and
their scored answers.

The PEG is built in (`rules.instruments.BUILTIN`) and has no row; a clinic's instrument is its
YAML as uploaded (`instruments`). A questionnaire is one instrument sent to one patient by a
rule's `ask` (at most one pending per patient and instrument); a response answers it once.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy import text as sql
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, BigId, IdPk, utcnow

PENDING = sql("status = 'pending'")
STATUSES = ("pending", "answered", "expired")


class ClinicInstrument(Base):
    """A clinic's own questionnaire, as the YAML a clinician uploaded (`rules.instruments`)."""

    __tablename__ = "instruments"
    __table_args__ = (UniqueConstraint("clinic_id", "instrument"),)

    id: Mapped[IdPk]
    clinic_id: Mapped[int] = mapped_column(BigId, ForeignKey("clinics.id", ondelete="CASCADE"))
    instrument: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    yaml_text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )


class Questionnaire(Base):
    """An instrument sent to a patient: pending until answered (or replaced when re-asked)."""

    __tablename__ = "questionnaires"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'answered', 'expired')", name="status"),
        # One pending questionnaire per patient and instrument: asking again while a recent one
        # waits inserts nothing, an old one is expired first (`service.questionnaires.service`),
        # so the app never shows the PEG twice.
        Index(
            "uq_questionnaires_pending",
            "patient_id",
            "instrument",
            unique=True,
            sqlite_where=PENDING,
            postgresql_where=PENDING,
        ),
        Index("ix_questionnaires_patient_created", "patient_id", "created_at"),
    )

    id: Mapped[IdPk]
    patient_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    instrument: Mapped[str] = mapped_column(String(32))
    rule_id: Mapped[str | None] = mapped_column(String(64))
    evaluation_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("evaluations.id", ondelete="SET NULL")
    )
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    answered_at: Mapped[dt.datetime | None]


class QuestionnaireResponse(Base):
    """A patient's answers to one questionnaire (item id -> whole number) and their score."""

    __tablename__ = "questionnaire_responses"
    __table_args__ = (
        Index("ix_questionnaire_responses_patient", "patient_id", "instrument", "answered_at"),
    )

    id: Mapped[IdPk]
    questionnaire_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("questionnaires.id", ondelete="CASCADE"), unique=True
    )
    patient_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    instrument: Mapped[str] = mapped_column(String(32))
    answers: Mapped[dict[str, int]] = mapped_column(JSON)
    score: Mapped[float]
    answered_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
