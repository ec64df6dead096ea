"""Daily step totals per source, intraday step counts and walking sessions."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, BigId, IdPk, utcnow


class DailyActivity(Base):
    """One source's total for one patient-local day; sources are never summed."""

    __tablename__ = "daily_activity"
    __table_args__ = (
        UniqueConstraint("patient_id", "date", "source"),
        CheckConstraint("steps >= 0", name="steps_non_negative"),
        Index("ix_daily_activity_patient_date", "patient_id", "date"),
    )

    id: Mapped[IdPk]
    patient_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    date: Mapped[dt.date]
    source: Mapped[str] = mapped_column(String(32))
    steps: Mapped[int]
    distance_m: Mapped[float | None]
    active_minutes: Mapped[int | None]
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class WalkingSession(Base):
    """A walk with a start and an end, from a provider or the phone."""

    __tablename__ = "walking_sessions"
    __table_args__ = (
        UniqueConstraint("patient_id", "source", "external_id"),
        Index("ix_walking_sessions_patient_start", "patient_id", "start"),
    )

    id: Mapped[IdPk]
    patient_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(32))
    # Provider id, or a key derived from (start, end) for uploads, so re-sends are idempotent.
    external_id: Mapped[str] = mapped_column(String(128))
    start: Mapped[dt.datetime]
    end: Mapped[dt.datetime]
    steps: Mapped[int | None]
    distance_m: Mapped[float | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class IntradaySteps(Base):
    """Steps one source counted in one interval of a day (`minutes` long, from `start`).

    Providers report minutes or quarter hours; rows are kept as they come so the 60 minutes
    after a decision can be summed exactly (`service.outcomes.proximal`).
    """

    __tablename__ = "intraday_steps"
    __table_args__ = (
        UniqueConstraint("patient_id", "source", "start"),
        CheckConstraint("steps >= 0", name="steps_non_negative"),
        CheckConstraint("minutes > 0 AND minutes <= 60", name="minutes_range"),
        Index("ix_intraday_steps_patient_start", "patient_id", "start"),
    )

    id: Mapped[IdPk]
    patient_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(32))
    start: Mapped[dt.datetime]
    minutes: Mapped[int]
    steps: Mapped[int]
