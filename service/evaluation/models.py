"""Evaluation records and the per-patient rule state they leave behind."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, BigId, IdPk, utcnow


class Evaluation(Base):
    """One run of a rule set for one patient: facts in, decision out, all of it kept."""

    __tablename__ = "evaluations"
    __table_args__ = (
        # A scheduled decision point ("schedule:2026-11-27T08:30") is evaluated at most once.
        UniqueConstraint("patient_id", "decision_key"),
        Index("ix_evaluations_patient_at", "patient_id", "evaluated_at"),
    )

    id: Mapped[IdPk]
    patient_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    trigger: Mapped[str] = mapped_column(String(32))
    decision_key: Mapped[str | None] = mapped_column(String(64))
    ruleset_version_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("ruleset_versions.id", ondelete="SET NULL")
    )
    evaluated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    facts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    decision: Mapped[dict[str, Any]] = mapped_column(default=dict)  # fired, suppressed, traces
    actions: Mapped[dict[str, Any]] = mapped_column(default=dict)  # what was applied


class RuleFiring(Base):
    """When a rule last fired for a patient (cooldowns), and the last tip variant shown."""

    __tablename__ = "rule_firings"

    patient_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(160), primary_key=True)  # "rule:<id>" or "tip:<id>"
    last_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_variant: Mapped[int | None]
