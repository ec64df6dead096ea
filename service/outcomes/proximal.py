"""Proximal outcomes of decision records, computed once their window has closed.

For every fired or randomised-out decision (ineligible ones need none): the steps in the 60
minutes after the decision, the patient's steps that local day and the next. The 60 minutes
come from intraday step counts when a source reported any within 12 hours of the decision
(intervals starting inside the window; a source's missing intervals count as no steps), else
from walking sessions overlapping the window (each walk's steps pro-rated to the overlap), but
only on a day with data at all: without any, the outcome stays null (missing, not zero).
Sources are never summed: the largest source wins, as for the daily facts.

A record is ready `READY_AFTER` its decision: the next local day has ended (at most 48
hours after) and its data has had time to sync. `compute_due` claims ready records in batches,
in decision order straight off the pending index (no sort per batch), and fills them in ONE
statement per batch on PostgreSQL (`FOR UPDATE SKIP LOCKED`, so several scheduler processes
share the work without doing any twice); SQLite, which has no time zones in SQL, gets the
local days from Python and one prepared UPDATE per batch (executemany). The UPDATE only
touches rows whose `outcomes_at` is still null, so a race costs nothing.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, select, text
from sqlalchemy.orm import Session

from service.db import UTCDateTime
from service.delivery.policy import zone_of
from service.extensions import db
from service.outcomes.models import DecisionRecord
from service.patients.models import PatientProfile
from service.sqlutil import is_postgresql

WINDOW = dt.timedelta(minutes=60)
READY_AFTER = dt.timedelta(hours=54)
BATCH = 5000

# Pieces shared by both backends: they read the batch row `b` (id, patient_id, at, day).
_INTRADAY = """
    SELECT max(s) FROM (
        SELECT sum(x.steps) AS s FROM intraday_steps x
        WHERE x.patient_id = b.patient_id AND x.start >= b.at AND x.start < b.at_end
        GROUP BY x.source) AS per_source"""
_COVERED = """
    SELECT 1 FROM intraday_steps x
    WHERE x.patient_id = b.patient_id AND x.start >= b.cover_lo AND x.start < b.cover_hi"""
_DAY = "SELECT max(a.steps) FROM daily_activity a WHERE a.patient_id = b.patient_id AND a.date = {}"

_PG = f"""
WITH b AS (
    SELECT d.id, d.patient_id, d.decided_at AS at,
           d.decided_at + interval '60 minutes' AS at_end,
           d.decided_at - interval '12 hours' AS cover_lo,
           d.decided_at + interval '12 hours' AS cover_hi,
           d.decided_at - interval '24 hours' AS walk_lo,
           CAST(d.decided_at AT TIME ZONE p.timezone AS date) AS day
    FROM decision_records d JOIN patient_profiles p ON p.user_id = d.patient_id
    WHERE d.outcomes_at IS NULL AND d.decided_at <= :cutoff
    ORDER BY d.decided_at LIMIT :limit
    FOR UPDATE OF d SKIP LOCKED
), o AS (
    SELECT b.id,
           CASE WHEN EXISTS ({_COVERED}) THEN COALESCE(({_INTRADAY}), 0) END AS intraday,
           ({_DAY.format("b.day")}) AS day_steps,
           ({_DAY.format("b.day + 1")}) AS next_steps,
           (SELECT max(s) FROM (
                SELECT sum(w.steps * GREATEST(0, EXTRACT(EPOCH FROM
                           LEAST(w."end", b.at_end) - GREATEST(w.start, b.at)))
                       / GREATEST(EXTRACT(EPOCH FROM w."end" - w.start), 1)) AS s
                FROM walking_sessions w
                WHERE w.patient_id = b.patient_id AND w.start >= b.walk_lo
                  AND w.start < b.at_end AND w."end" > b.at
                  AND w.steps IS NOT NULL
                GROUP BY w.source) AS per_source) AS walked
    FROM b
)
UPDATE decision_records r SET
    steps_60m = COALESCE(o.intraday,
                         CASE WHEN o.day_steps IS NOT NULL THEN round(COALESCE(o.walked, 0)) END),
    steps_60m_source = CASE WHEN o.intraday IS NOT NULL THEN 'intraday'
                            WHEN o.day_steps IS NOT NULL THEN 'sessions' END,
    steps_day = o.day_steps, steps_next_day = o.next_steps, outcomes_at = :now
FROM o WHERE r.id = o.id AND r.outcomes_at IS NULL
"""  # noqa: S608 - constant fragments, no input

_SQLITE = f"""
WITH b AS (SELECT :id AS id, :pid AS patient_id, :at AS at, :at_end AS at_end,
                  :cover_lo AS cover_lo, :cover_hi AS cover_hi, :walk_lo AS walk_lo),
o AS (
    SELECT CASE WHEN EXISTS ({_COVERED}) THEN COALESCE(({_INTRADAY}), 0) END AS intraday,
           ({_DAY.format(":day")}) AS day_steps,
           ({_DAY.format(":next_day")}) AS next_steps,
           (SELECT max(s) FROM (
                SELECT sum(w.steps * max(0, unixepoch(min(w."end", b.at_end))
                                         - unixepoch(max(w.start, b.at)))
                       * 1.0 / max(unixepoch(w."end") - unixepoch(w.start), 1)) AS s
                FROM walking_sessions w
                WHERE w.patient_id = b.patient_id AND w.start >= b.walk_lo
                  AND w.start < b.at_end AND w."end" > b.at
                  AND w.steps IS NOT NULL
                GROUP BY w.source)) AS walked
    FROM b
)
UPDATE decision_records SET
    steps_60m = (SELECT COALESCE(intraday, CASE WHEN day_steps IS NOT NULL
                                                THEN round(COALESCE(walked, 0)) END) FROM o),
    steps_60m_source = (SELECT CASE WHEN intraday IS NOT NULL THEN 'intraday'
                                    WHEN day_steps IS NOT NULL THEN 'sessions' END FROM o),
    steps_day = (SELECT day_steps FROM o),
    steps_next_day = (SELECT next_steps FROM o),
    outcomes_at = :now
WHERE id = :id AND outcomes_at IS NULL
"""  # noqa: S608 - constant fragments, no input


def compute_due(session: Session, now: dt.datetime, *, limit: int = BATCH) -> int:
    """Fill in the proximal outcomes of one batch of ready records; return how many."""
    cutoff = now - READY_AFTER
    if is_postgresql(session):
        result = session.execute(text(_PG), {"cutoff": cutoff, "limit": limit, "now": now})
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
    rows = session.execute(
        select(
            DecisionRecord.id,
            DecisionRecord.patient_id,
            DecisionRecord.decided_at,
            PatientProfile.timezone,
        )
        .join(PatientProfile, PatientProfile.user_id == DecisionRecord.patient_id)
        .where(DecisionRecord.outcomes_at.is_(None), DecisionRecord.decided_at <= cutoff)
        .order_by(DecisionRecord.decided_at)
        .limit(limit)
    ).all()
    if not rows:
        return 0
    zones: dict[str, ZoneInfo] = {}
    params = []
    for record_id, pid, at, timezone in rows:
        zone = zones.get(timezone) or zones.setdefault(timezone, zone_of(timezone))
        day = at.astimezone(zone).date()
        params.append(
            {
                "id": record_id,
                "pid": pid,
                "at": at,
                "at_end": at + WINDOW,
                "cover_lo": at - dt.timedelta(hours=12),
                "cover_hi": at + dt.timedelta(hours=12),
                "walk_lo": at - dt.timedelta(hours=24),
                # ISO text: how SQLite stores dates (its default date adapter is deprecated).
                "day": day.isoformat(),
                "next_day": (day + dt.timedelta(days=1)).isoformat(),
                "now": now,
            }
        )
    stamp = UTCDateTime()
    statement = text(_SQLITE).bindparams(
        *(
            bindparam(name, type_=stamp)
            for name in ("at", "at_end", "cover_lo", "cover_hi", "walk_lo", "now")
        )
    )
    session.execute(statement, params)
    return len(params)


def run_due(now: dt.datetime) -> int:
    """Compute every ready record's outcomes, one committed batch at a time; return how many."""
    total = 0
    while True:
        with db.transaction() as session:
            done = compute_due(session, now)
        total += done
        if done < BATCH:
            return total
