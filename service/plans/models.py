"""A patient's daily step target and its history."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, BigId, IdPk, utcnow


class Plan(Base):
    """The current target; `PlanChange` rows are its history."""

    __tablename__ = "plans"

    patient_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    daily_target: Mapped[int]
    progression_held_until: Mapped[dt.datetime | None]
    # The patient's starting level as a clinician set it (steps.baseline); null: measured.
    baseline_steps: Mapped[int | None]
    changed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class PlanChange(Base):
    """One change of target, with why (a rule id, a clinician, the initial plan)."""

    __tablename__ = "plan_changes"
    __table_args__ = (Index("ix_plan_changes_patient_effective", "patient_id", "effective_at"),)

    id: Mapped[IdPk]
    patient_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    effective_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    target: Mapped[int]
    reason: Mapped[str] = mapped_column(String(200))
    changed_by: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
