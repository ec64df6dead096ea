"""Deferred `activity` evaluations: uploads mark the patient, a scheduled job evaluates.

Phones upload in the background and often, and a sync or a webhook can bring many days at
once: evaluating inside each request made an upload cost a whole evaluation. Instead
`mark` upserts one `PendingEvaluation` row per patient (a bump when one is waiting: many
uploads, one evaluation) and `run_pending`, every few seconds from the scheduler, evaluates
the marked patients in batches with trigger `activity` at the job's clock.

Several scheduler processes are safe. A batch is claimed in its own short transaction: ONE
UPDATE ... RETURNING that sets a lease on rows not already leased, picking them with
FOR UPDATE SKIP LOCKED on PostgreSQL (SQLite serialises writers; the UPDATE re-checks the lease
either way), and commits, so an upload's bump never waits for an evaluation. The evaluation
transaction then deletes the rows whose `marks` are still what the claim saw and releases the
others (a patient who uploaded meanwhile is evaluated again on the next run). A worker that
dies mid-batch leaves its rows leased; another takes them when the lease runs out.

Throttling (`ACTIVITY_EVALUATION_INTERVAL`, off at 0): a patient's `activity` evaluation then
runs at most once per interval. The evaluated rows stay, with `marked_at` moved to the earliest
next evaluation and `marks` less the marks the run saw: a row left at 0 marks only remembers
when the patient may be evaluated again (and is deleted once that time has passed), an upload
bumps it and is evaluated then. Pain and exercise reports are evaluated in their request, as
before: the throttle holds only these deferred evaluations.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, bindparam, delete, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from service.db import utcnow
from service.evaluation import service
from service.evaluation.models import PendingEvaluation
from service.extensions import db, get_settings
from service.sqlutil import among

TRIGGER = "activity"
LEASE = dt.timedelta(minutes=5)


@dataclass
class PendingResult:
    """What one `run_pending` did."""

    evaluated: int = 0  # failed ones included
    failed: int = 0
    tips: int = 0
    batches: int = 0


def mark(session: Session, patient_ids: Iterable[int], now: dt.datetime) -> None:
    """Mark these patients for an `activity` evaluation (in the caller's transaction)."""
    ids = sorted(set(patient_ids))
    if not ids:
        return
    rows = [{"patient_id": pid, "marked_at": now, "marks": 1} for pid in ids]
    session.connection().execute(_bump(session.get_bind().dialect.name), rows)


@functools.cache
def _bump(dialect: str) -> Any:
    """The marking upsert, built once per dialect (every upload runs it)."""
    stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(PendingEvaluation)
    return stmt.on_conflict_do_update(
        index_elements=[PendingEvaluation.patient_id],
        set_={"marks": PendingEvaluation.marks + 1},
    )


def claim(session: Session, now: dt.datetime, limit: int) -> dict[int, int]:
    """Lease up to `limit` marked patients; return patient id -> marks seen (commit at once)."""
    free = or_(PendingEvaluation.claimed_until.is_(None), PendingEvaluation.claimed_until <= now)
    picked = (
        select(PendingEvaluation.patient_id)
        .where(free, PendingEvaluation.marked_at <= now, PendingEvaluation.marks > 0)
        .order_by(PendingEvaluation.marked_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    stmt = (
        update(PendingEvaluation)
        .where(PendingEvaluation.patient_id.in_(picked.scalar_subquery()), free)
        .values(claimed_until=now + LEASE)
        .returning(PendingEvaluation.patient_id, PendingEvaluation.marks)
        .execution_options(synchronize_session=False)
    )
    claimed: dict[int, int] = {pid: marks for pid, marks in session.execute(stmt)}  # noqa: C416
    return claimed


def settle(
    session: Session,
    claimed: dict[int, int],
    *,
    now: dt.datetime | None = None,
    interval: dt.timedelta | None = None,
) -> None:
    """Finish the claimed marks after their evaluation (in its transaction).

    Without an `interval`: delete the marks nobody bumped since the claim, release the bumped
    ones. With one: keep every row, not before `now` + `interval`, less the marks the claim saw
    (see the module's docstring).
    """
    if not claimed:
        return
    if interval and interval > dt.timedelta(0):
        assert now is not None, "a throttled settle needs the run's clock"
        table: Table = PendingEvaluation.__table__  # type: ignore[assignment]
        session.execute(
            update(table)
            .where(table.c.patient_id == bindparam("b_patient"))
            .values(
                marks=table.c.marks - bindparam("b_seen"),
                marked_at=now + interval,
                claimed_until=None,
            ),
            [{"b_patient": pid, "b_seen": seen} for pid, seen in sorted(claimed.items())],
        )
        return
    seen = tuple_(PendingEvaluation.patient_id, PendingEvaluation.marks)
    session.execute(
        delete(PendingEvaluation)
        .where(seen.in_(sorted(claimed.items())))
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(PendingEvaluation)
        .where(among(session, PendingEvaluation.patient_id, sorted(claimed)))
        .values(claimed_until=None)
        .execution_options(synchronize_session=False)
    )


def forget_elapsed(session: Session, now: dt.datetime) -> None:
    """Delete the throttle rows (no marks) whose interval has passed: nothing waits on them."""
    session.execute(
        delete(PendingEvaluation)
        .where(
            PendingEvaluation.marks <= 0,
            PendingEvaluation.marked_at <= now,
            PendingEvaluation.claimed_until.is_(None),
        )
        .execution_options(synchronize_session=False)
    )


def run_pending(
    now: dt.datetime | None = None,
    batch_size: int = 500,
    interval: dt.timedelta | None = None,
) -> PendingResult:
    """Evaluate every marked patient that is due (trigger `activity`), batch by batch, at
    `now`; `interval` (default: the `activity_evaluation_interval_s` setting) throttles."""
    now = now or utcnow()
    if interval is None:
        interval = dt.timedelta(seconds=get_settings().activity_evaluation_interval_s)
    total = PendingResult()
    if interval > dt.timedelta(0):
        with db.transaction() as session:
            forget_elapsed(session, now)
    while True:
        with db.transaction() as session:
            claimed = claim(session, now, batch_size)
        if not claimed:
            return total
        with db.transaction() as session:
            outcomes = service.evaluate(session, list(claimed), TRIGGER, now, tip_rows=False)
            # Last: the rows' locks are held only until the commit.
            settle(session, claimed, now=now, interval=interval)
        total.batches += 1
        for outcome in outcomes.values():
            total.evaluated += 1
            total.failed += outcome.failure is not None
            total.tips += outcome.tip_count
        if len(claimed) < batch_size:
            return total


__all__ = [
    "LEASE",
    "TRIGGER",
    "PendingResult",
    "claim",
    "forget_elapsed",
    "mark",
    "run_pending",
    "settle",
]
