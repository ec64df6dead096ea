"""Tips: what the patient reads in the inbox (and gets as a push)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, BigId, IdPk, utcnow

# A clinician's own message to a patient: delivered like any tip, never counted in (nor
# dropped by) the rules' daily tip budget.
CLINICIAN_CATEGORY = "clinician"


class Tip(Base):
    """A rendered tip, with the rule that produced it and why."""

    __tablename__ = "tips"
    __table_args__ = (Index("ix_tips_patient_created", "patient_id", "created_at", "id"),)

    id: Mapped[IdPk]
    patient_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    # No foreign key, on purpose: a tip and its evaluation are only ever written together, by
    # `service.evaluation.service.evaluate` in one transaction (the id is the evaluation it just
    # wrote), and the key's per-row check cost the population run ~7 us a patient. Its
    # ON DELETE SET NULL is done by `purge_old_evaluations`, the one place evaluations are
    # deleted without their patient (deleting a patient cascades to both tables); the index
    # serves that.
    evaluation_id: Mapped[int | None] = mapped_column(BigId, index=True)
    rule_id: Mapped[str] = mapped_column(String(64))
    tip_key: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    variant: Mapped[int | None]
    urgent: Mapped[bool] = mapped_column(default=False)
    asks: Mapped[str | None] = mapped_column(String(16))
    why: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    read_at: Mapped[dt.datetime | None]
    opened_at: Mapped[dt.datetime | None]
    helpful: Mapped[bool | None]
    done: Mapped[bool | None]
    feedback_at: Mapped[dt.datetime | None]


@dataclass(frozen=True, slots=True)
class WrittenTip:
    """A tip as the evaluation wrote it (the inbox fields a report's response shows)."""

    id: int
    patient_id: int
    evaluation_id: int | None
    rule_id: str
    tip_key: str
    category: str
    title: str
    text: str
    variant: int | None
    urgent: bool
    asks: str | None
    why: str
    created_at: dt.datetime
    read_at: dt.datetime | None = None
    opened_at: dt.datetime | None = None
    helpful: bool | None = None
    done: bool | None = None
    feedback_at: dt.datetime | None = None
