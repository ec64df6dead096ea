"""Scheduled evaluation of the whole population, in batches, exactly once per decision point.

Patients are due when `PatientProfile.next_decision_at` (indexed, UTC) has passed. Two
scheduler processes never get the same patient. On PostgreSQL a batch is claimed with
SELECT ... FOR UPDATE SKIP LOCKED: the rows stay locked until the batch commits its real next
decision times, another worker skips them meanwhile, and one that reads them after the commit
re-checks `next_decision_at` on the new row version and finds them no longer due (one write per
profile instead of two). On SQLite, whose writers are serialised, the claim is ONE conditional
UPDATE ... RETURNING that advances next_decision_at only where it is still due, as the
transaction's first statement, so it sees the other's commit. Claim, facts, decisions, writes
and the real next decision time all commit together: a crash rolls the claim back with the
rest. The Evaluation's unique decision key is the second line of defence.

A patient whose rule set fails gets a failed evaluation and their next decision time like
everyone else (`service.evaluation.failures`): one broken rule set neither stops the batch
nor keeps its patients due.
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from service.db import utcnow
from service.evaluation import service
from service.evaluation.facts import load_contexts
from service.evaluation.models import Evaluation
from service.evaluation.schedule import latest_decision_key, next_decision
from service.extensions import db
from service.patients.models import PatientProfile
from service.rulesets.compiled import resolve
from service.sqlutil import among, is_postgresql
from service.tips.models import Tip

log = logging.getLogger(__name__)
LEASE = dt.timedelta(minutes=10)
RETENTION = dt.timedelta(days=180)


@dataclass
class DueResult:
    """What one `evaluate_due` run did."""

    evaluated: int = 0  # failed ones included
    failed: int = 0
    duplicates: int = 0
    tips: int = 0
    alerts: int = 0
    batches: int = 0


def claim_due(session: Session, now: dt.datetime, limit: int) -> list[int]:
    """Claim up to `limit` due patients (first statement of the transaction; see module doc)."""
    due = (
        select(PatientProfile.user_id)
        .where(PatientProfile.next_decision_at <= now)
        .order_by(PatientProfile.next_decision_at)
        .limit(limit)
    )
    if is_postgresql(session):
        # Locked until commit; evaluate_batch writes the real next time (see module doc).
        return sorted(session.scalars(due.with_for_update(skip_locked=True)))
    stmt = (
        update(PatientProfile)
        .where(PatientProfile.user_id.in_(due.scalar_subquery()))
        .where(PatientProfile.next_decision_at <= now)
        .values(next_decision_at=now + LEASE, last_decision_at=now)
        .returning(PatientProfile.user_id)
        .execution_options(synchronize_session=False)
    )
    return sorted(session.execute(stmt).scalars())


def evaluate_batch(session: Session, patient_ids: list[int], now: dt.datetime) -> DueResult:
    """Evaluate claimed patients at their latest decision point and schedule the next one."""
    contexts = load_contexts(session, patient_ids)
    compiled = resolve(session, service.assignments(contexts.values()))
    keys: dict[int, str] = {}
    schedule: dict[dt.datetime, list[int]] = defaultdict(list)
    # Patients sharing a zone and decision times share their point and the next one.
    points: dict[tuple[str, tuple[dt.time, ...]], tuple[str, dt.datetime]] = {}
    for pid, ctx in contexts.items():
        times = compiled[pid].ruleset.settings.decision_times
        point = points.get((ctx.timezone, times))
        if point is None:
            point = (
                latest_decision_key(ctx.timezone, times, now),
                next_decision(ctx.timezone, times, now),
            )
            points[ctx.timezone, times] = point
        keys[pid] = point[0]
        schedule[point[1]].append(pid)
    outcomes = service.evaluate(
        session,
        list(contexts),
        "schedule",
        now,
        keys,
        contexts=contexts,
        compiled=compiled,
        tip_rows=False,
    )
    # One UPDATE per next decision instant.
    for moment, ids in schedule.items():
        session.execute(
            update(PatientProfile)
            .where(among(session, PatientProfile.user_id, ids))
            .values(next_decision_at=moment, last_decision_at=now)
            .execution_options(synchronize_session=False)
        )
    result = DueResult(batches=1)
    for outcome in outcomes.values():
        if outcome.duplicate:
            result.duplicates += 1
        else:
            result.evaluated += 1
            if outcome.failure is not None:
                result.failed += 1
            result.tips += outcome.tip_count
            result.alerts += outcome.alerts
    return result


def schedule_unscheduled(now: dt.datetime, limit: int = 5000) -> int:
    """Give patients without a next decision time (e.g. created before the scheduler) one."""
    with db.transaction() as session:
        ids = list(
            session.scalars(
                select(PatientProfile.user_id)
                .where(PatientProfile.next_decision_at.is_(None))
                .limit(limit)
            )
        )
        if not ids:
            return 0
        contexts = load_contexts(session, ids)
        compiled = resolve(session, service.assignments(contexts.values()))
        rows = [
            {
                "user_id": pid,
                "next_decision_at": next_decision(
                    ctx.timezone, compiled[pid].ruleset.settings.decision_times, now
                ),
            }
            for pid, ctx in contexts.items()
        ]
        session.execute(update(PatientProfile), rows)
        return len(rows)


def evaluate_due(
    now: dt.datetime | None = None, batch_size: int = 1000, max_batches: int | None = None
) -> DueResult:
    """Evaluate every patient whose decision time has passed, batch by batch."""
    now = now or utcnow()
    schedule_unscheduled(now)
    total = DueResult()
    with collections_between_batches():
        _run_batches(now, batch_size, max_batches, total)
    return total


@contextmanager
def collections_between_batches() -> Iterator[None]:
    """Run the block with automatic garbage collection off; `_run_batches` collects per batch.

    A batch keeps some 10^5 objects alive until it commits (facts, decisions, rows), so every
    automatic collection during it rescans them and promotes them to older generations, where
    full collections rescan them again: ~13% of the job's CPU even with a raised threshold.
    Between batches those objects are gone (freed by reference counting), so one young
    collection there is nearly free and still reclaims any cycles a batch made; memory stays
    bounded by one batch. The previous setting is restored however the block ends.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _run_batches(
    now: dt.datetime, batch_size: int, max_batches: int | None, total: DueResult
) -> None:
    while max_batches is None or total.batches < max_batches:
        with db.transaction() as session:
            claimed = claim_due(session, now, batch_size)
            if not claimed:
                break
            result = evaluate_batch(session, claimed, now)
        gc.collect(1)  # see collections_between_batches
        total.batches += 1
        total.evaluated += result.evaluated
        total.failed += result.failed
        total.duplicates += result.duplicates
        total.tips += result.tips
        total.alerts += result.alerts


def purge_old_evaluations(now: dt.datetime | None = None, keep: dt.timedelta = RETENTION) -> int:
    """Delete evaluation records older than the retention period (tips keep their text)."""
    cutoff = (now or utcnow()) - keep
    deleted = 0
    while True:
        with db.transaction() as session:
            ids = list(
                session.scalars(
                    select(Evaluation.id).where(Evaluation.evaluated_at < cutoff).limit(5000)
                )
            )
            if not ids:
                return deleted
            # tips.evaluation_id has no foreign key (see Tip): this is its ON DELETE SET NULL.
            session.execute(
                update(Tip)
                .where(Tip.evaluation_id.in_(ids))
                .values(evaluation_id=None)
                .execution_options(synchronize_session=False)
            )
            session.execute(
                delete(Evaluation)
                .where(Evaluation.id.in_(ids))
                .execution_options(synchronize_session=False)
            )
            deleted += len(ids)
