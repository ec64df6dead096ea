"""What patients report: pain scores (with red flags) and exercise sessions."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, BigId, IdPk, utcnow

RED_FLAGS = (
    "numbness_saddle",
    "bladder_bowel_change",
    "leg_weakness",
    "fever",
    "unexplained_weight_loss",
    "trauma",
    "night_pain",
)
EXERCISE_KINDS = ("strength", "stretch")


class PainReport(Base):
    """A 0-10 pain score, possibly with red-flag symptoms."""

    __tablename__ = "pain_reports"
    __table_args__ = (
        CheckConstraint("score >= 0 AND score <= 10", name="score_range"),
        Index("ix_pain_reports_patient_recorded", "patient_id", "recorded_at"),
    )

    id: Mapped[IdPk]
    patient_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    score: Mapped[int]
    recorded_at: Mapped[dt.datetime]
    location: Mapped[str | None] = mapped_column(String(64))
    red_flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ExerciseSession(Base):
    """A strength or stretching session the patient logged."""

    __tablename__ = "exercise_sessions"
    __table_args__ = (
        CheckConstraint("kind IN ('strength', 'stretch')", name="kind"),
        Index("ix_exercise_sessions_patient_performed", "patient_id", "performed_at"),
    )

    id: Mapped[IdPk]
    patient_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(120))
    sets: Mapped[int | None]
    reps: Mapped[int | None]
    duration_s: Mapped[int | None]
    performed_at: Mapped[dt.datetime]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
