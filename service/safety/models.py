"""Safety episodes a clinician must close, their decisions, and clearances (SPEC §11.1)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy import text as sql
from sqlalchemy.orm import Mapped, mapped_column, relationship

from rules.codes import CLEARANCE
from rules.reference import RESOLUTIONS
from service.db import Base, BigId, IdPk, one_of, utcnow

OPEN = sql("closed_at IS NULL")
CLEARABLE = tuple(CLEARANCE)


class SafetyEpisode(Base):
    """A patient's programme paused by an emergency or urgent red flag until a clinician closes
    it (`resume` or `resume_lower`; `keep_paused` is recorded as a review and keeps it open).

    The patient's clinic is not stored: whoever looks after the patient now (their profile's
    clinic, or the admins for a patient without one) sees it.
    """

    __tablename__ = "safety_episodes"
    __table_args__ = (
        CheckConstraint("tier IN ('emergency', 'urgent')", name="tier"),
        CheckConstraint(one_of("resolution", RESOLUTIONS[:2]), name="resolution"),
        # At most one open episode per patient: an evaluation racing another to open one
        # inserts nothing (ON CONFLICT DO NOTHING) instead of opening a second.
        Index(
            "uq_safety_episodes_open_patient",
            "patient_id",
            unique=True,
            sqlite_where=OPEN,
            postgresql_where=OPEN,
        ),
        Index("ix_safety_episodes_patient_opened", "patient_id", "opened_at"),
    )

    id: Mapped[IdPk]
    patient_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    tier: Mapped[str] = mapped_column(String(16))
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    opened_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    evaluation_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("evaluations.id", ondelete="SET NULL")
    )
    escalated_at: Mapped[dt.datetime | None]
    reports: Mapped[int] = mapped_column(default=0)  # flagged reports attached after opening
    last_report_at: Mapped[dt.datetime | None]
    closed_at: Mapped[dt.datetime | None]
    closed_by: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    resolution: Mapped[str | None] = mapped_column(String(16))

    reviews: Mapped[list[EpisodeReview]] = relationship(
        order_by="EpisodeReview.id", lazy="selectin", cascade="all, delete-orphan"
    )


class EpisodeReview(Base):
    """A clinician's decision on an episode, with the note they wrote."""

    __tablename__ = "safety_episode_reviews"
    __table_args__ = (CheckConstraint(one_of("decision", RESOLUTIONS), name="decision"),)

    id: Mapped[IdPk]
    episode_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("safety_episodes.id", ondelete="CASCADE"), index=True
    )
    decision: Mapped[str] = mapped_column(String(16))
    daily_target: Mapped[int | None]
    note: Mapped[str] = mapped_column(Text)
    decided_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    decided_by: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )


class Clearance(Base):
    """A clinician's clearance of a patient for a condition (`rules.codes.CLEARANCE`)."""

    __tablename__ = "clearances"
    __table_args__ = (
        UniqueConstraint("patient_id", "condition"),
        CheckConstraint(one_of("condition", CLEARABLE), name="condition"),
    )

    id: Mapped[IdPk]
    patient_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    condition: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(Text)
    cleared_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    cleared_by: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
