"""Evaluation records and the per-patient rule state they leave behind."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, BigId, IdPk, utcnow


class Evaluation(Base):
    """One run of a rule set for one patient: facts in, decision out, all of it kept."""

    __tablename__ = "evaluations"
    __table_args__ = (
        # A scheduled decision point ("schedule:2026-11-27T08:30") is evaluated at most once.
        UniqueConstraint("patient_id", "decision_key"),
        Index("ix_evaluations_patient_at", "patient_id", "evaluated_at"),
        CheckConstraint("status IN ('ok', 'failed')", name="status"),
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
    # `failed`: the rule set raised for this patient and nothing was applied; `error` says
    # where (stage, rule) and what (`service.evaluation.failures.Failure.record`).
    status: Mapped[str] = mapped_column(String(16), server_default="ok")
    error: Mapped[dict[str, Any] | None]


class RuleFiring(Base):
    """A patient's rule state, one row per patient, merged into by every evaluation.

    `last_fired`: rule id -> ISO instant (UTC) it last fired (cooldowns); `last_variant`: tip id
    -> the variant index last sent (rotation). Rules and tips have separate id spaces.
    """

    __tablename__ = "rule_firings"

    patient_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    last_fired: Mapped[dict[str, Any]] = mapped_column(default=dict)
    last_variant: Mapped[dict[str, Any]] = mapped_column(default=dict)


class PendingEvaluation(Base):
    """A patient marked for an `activity` evaluation by the scheduled job (one row per patient).

    Uploads add or bump the row (`marks` counts them) and return; the job claims rows for a
    lease, evaluates, and deletes only the rows whose `marks` did not change meanwhile, so an
    upload that lands during an evaluation is evaluated on the next run. Throttled
    (`ACTIVITY_EVALUATION_INTERVAL`), the job keeps the rows instead, `marked_at` moved to the
    earliest next evaluation and the marks it saw taken off (see evaluation/pending.py).
    """

    __tablename__ = "pending_evaluations"
    __table_args__ = (Index("ix_pending_evaluations_marked_at", "marked_at"),)

    patient_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    marked_at: Mapped[dt.datetime]  # the first mark since the last evaluation (due from then)
    marks: Mapped[int] = mapped_column(server_default="1")
    claimed_until: Mapped[dt.datetime | None]
