"""Decision records of randomised rules and the proximal outcomes that follow them."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, BigId, IdPk


class DecisionRecord(Base):
    """One randomised rule at one decision: what happened, with P, and what followed.

    `outcome` is fired, randomised_out or ineligible (`rules.randomization`); `tip_key` and
    `variant` name the tip the rule sent or would have sent. The proximal outcomes stay null
    until the job computes them after the window closed (`outcomes_at` set): steps in the 60
    minutes after the decision (`steps_60m`, from intraday data or walking sessions, named by
    `steps_60m_source`), and the patient's steps that local day and the next.
    """

    __tablename__ = "decision_records"
    __table_args__ = (
        CheckConstraint(
            "outcome IN ('fired', 'randomised_out', 'ineligible')", name="outcome_known"
        ),
        CheckConstraint("probability > 0 AND probability <= 1", name="probability_range"),
        Index("ix_decision_records_pending", "outcomes_at", "decided_at"),
        Index("ix_decision_records_rule", "ruleset", "rule_id", "decided_at"),
        Index("ix_decision_records_patient", "patient_id", "decided_at"),
    )

    id: Mapped[IdPk]
    patient_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    evaluation_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("evaluations.id", ondelete="CASCADE")
    )
    ruleset_version_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("ruleset_versions.id", ondelete="SET NULL")
    )
    ruleset: Mapped[str] = mapped_column(String(64))  # the slug (the default has no version)
    rule_id: Mapped[str] = mapped_column(String(64))
    tip_key: Mapped[str | None] = mapped_column(String(64))
    variant: Mapped[int | None]
    decided_at: Mapped[dt.datetime]
    outcome: Mapped[str] = mapped_column(String(16))
    probability: Mapped[float]
    draw: Mapped[float | None]
    reason: Mapped[str] = mapped_column(String(200))
    steps_60m: Mapped[int | None]
    steps_60m_source: Mapped[str | None] = mapped_column(String(16))
    steps_day: Mapped[int | None]
    steps_next_day: Mapped[int | None]
    outcomes_at: Mapped[dt.datetime | None]
