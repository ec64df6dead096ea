"""Facts (SPEC §6) and rule state from the database, for a batch of patients at one moment.

The definitions are those of `rules.facts`; `rules.reference.compute_facts` is the oracle and
a property test holds this module to it on SQLite and PostgreSQL. Local calendars are handled
in Python, once per time zone (`derive.Calendar`): each patient's day and window bounds come
from their zone, then a handful of range queries fetch the whole batch (`patient_id = ANY(ids)`
on PostgreSQL, `IN (...)` chunks on SQLite, over the widest bounds, each row then filtered to
its own patient's window). Days are reduced to one effective value per (patient, day): in SQL,
except on PostgreSQL for patients without a primary source, whose rows come as per-patient
arrays and are reduced (largest value) while unpacked.
Nothing here runs a query per patient.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Text, case, cast, func, literal, select
from sqlalchemy.orm import Session

from rules import EvaluationState
from service.activity.models import DailyActivity, WalkingSession
from service.evaluation.derive import (
    STEP_DAYS,
    STREAK_MAX,
    WEEK,
    Calendar,
    LoadedPatient,
    PatientContext,
    local_midnight,
    patient_facts,
)
from service.evaluation.models import RuleFiring
from service.patients.models import PatientProfile
from service.plans.models import Plan, PlanChange
from service.reports.models import ExerciseSession, PainReport
from service.safety.facts import load_safety
from service.sqlutil import CHUNK, among, chunks
from service.tips.models import CLINICIAN_CATEGORY, Tip

# Pain reports fetched in bulk: enough for the 7-day window, the 72 h red-flag window and the
# 168 h before a latest report that is itself inside the window.
PAIN_FETCH = dt.timedelta(days=16)
BUCKET = dt.timedelta(days=31)

__all__ = ["PatientContext", "among", "chunks", "compute", "load_contexts", "local_midnight"]


# JSON lists come back as text and are decoded only when not empty (most are "[]").
_FLAGS = cast(PainReport.red_flags, Text)
_EMPTY = frozenset({"[]", "null"})


def _json_list(text: str | None) -> list[Any] | None:
    """A JSON list column read as text: None when null or empty."""
    if text is None or text in _EMPTY:
        return None
    value: list[Any] | None = json.loads(text)
    return value


def _query(session: Session, statement: Any) -> Sequence[Any]:
    """Run a read on the session's connection: Core rows fetched at once, no ORM work."""
    return session.connection().execute(statement).all()


def load_contexts(session: Session, patient_ids: Iterable[int]) -> dict[int, PatientContext]:
    """Read the profiles of these patients (one query per chunk of ids)."""
    session.flush()  # reads below go straight to the connection
    out: dict[int, PatientContext] = {}
    cols = (
        PatientProfile.user_id,
        PatientProfile.timezone,
        PatientProfile.enrolled_at,
        cast(PatientProfile.conditions, Text),
        PatientProfile.shoes_changed_on,
        PatientProfile.primary_source,
        PatientProfile.max_tips_per_day,
        PatientProfile.clinic_id,
        PatientProfile.ruleset_id,
    )
    for chunk in chunks(session, sorted(set(patient_ids))):
        rows = _query(session, select(*cols).where(among(session, PatientProfile.user_id, chunk)))
        for row in rows:
            conditions = frozenset(_json_list(row[3]) or ())
            out[row[0]] = PatientContext(row[0], row[1], row[2], conditions, *row[4:])
    return out


def compute(
    session: Session,
    contexts: Iterable[PatientContext],
    now: dt.datetime,
    failed: dict[int, Exception] | None = None,
) -> dict[int, tuple[dict[str, object], EvaluationState]]:
    """Facts and rule state of every patient at `now`: patient id -> (facts, state).

    With `failed`, a patient whose facts cannot be derived is left out and their error put
    there (the batch goes on); without it the error propagates.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    session.flush()  # the caller's pending reports count
    calendars: dict[str, Calendar] = {}
    patients: dict[int, LoadedPatient] = {}
    for ctx in contexts:
        cal = calendars.get(ctx.timezone)
        if cal is None:
            cal = calendars[ctx.timezone] = Calendar(ctx.timezone, now)
        patients[ctx.patient_id] = LoadedPatient(ctx, cal)
    if not patients:
        return {}
    ids = sorted(patients)
    _load_steps(session, patients, ids)
    _load_plan(session, patients, ids, now)
    _load_pain(session, patients, ids, now)
    _load_events(session, patients, ids, now)
    _load_shoes(session, patients)
    _load_long_streaks(session, patients)
    for pid, safety in load_safety(session, ids, now).items():
        patients[pid].episode, patients[pid].resolved_at, patients[pid].cleared = safety
    if failed is None:
        return {pid: patient_facts(p, now) for pid, p in patients.items()}
    out = {}
    for pid, p in patients.items():
        try:
            out[pid] = patient_facts(p, now)
        except Exception as exc:  # one patient's odd data must not stop the batch
            failed[pid] = exc
    return out


def _effective_days(
    session: Session, patients: dict[int, LoadedPatient], ids: list[int], lo: dt.date, hi: dt.date
) -> Iterable[Any]:
    """Statements giving (patient, day, effective steps) for days lo..hi: the primary source's
    row, else the largest value (sources are never summed)."""
    # Patients without a primary source need no join: the largest value of each day.
    plain = [pid for pid in ids if patients[pid].ctx.primary_source is None]
    chosen = [pid for pid in ids if patients[pid].ctx.primary_source is not None]
    day = (DailyActivity.patient_id, DailyActivity.date)
    in_range = DailyActivity.date.between(lo, hi)
    for chunk in chunks(session, plain):
        yield (
            select(*day, func.max(DailyActivity.steps).label("steps"))
            .where(among(session, DailyActivity.patient_id, chunk), in_range)
            .group_by(*day)
        )
    primary = case((DailyActivity.source == PatientProfile.primary_source, DailyActivity.steps))
    for chunk in chunks(session, chosen):
        yield (
            select(
                *day,
                func.coalesce(func.max(primary), func.max(DailyActivity.steps)).label("steps"),
            )
            .join(PatientProfile, PatientProfile.user_id == DailyActivity.patient_id)
            .where(among(session, DailyActivity.patient_id, chunk), in_range)
            .group_by(*day)
        )


def _load_steps(session: Session, patients: dict[int, LoadedPatient], ids: list[int]) -> None:
    lo = min(p.cal.today for p in patients.values()) - dt.timedelta(days=STEP_DAYS)
    hi = max(p.cal.today for p in patients.values())
    if session.get_bind().dialect.name != "postgresql":
        for statement in _effective_days(session, patients, ids, lo, hi):
            for pid, day, steps in _query(session, statement):
                patient = patients[pid]
                back = patient.cal.offsets.get(day)
                if back is not None:
                    patient.steps[back] = steps
        return
    # PostgreSQL: one row per patient, two integer arrays (days before `hi`, steps): some 15x
    # fewer rows for the driver and SQLAlchemy to build than one per patient-day. Patients
    # without a primary source get every source's rows, unreduced (one aggregation less on
    # the server), and keep each day's largest value below.
    plain = [pid for pid in ids if patients[pid].ctx.primary_source is None]
    chosen = [pid for pid in ids if patients[pid].ctx.primary_source is not None]
    raw = select(DailyActivity.patient_id, DailyActivity.date, DailyActivity.steps).where(
        among(session, DailyActivity.patient_id, plain), DailyActivity.date.between(lo, hi)
    )
    sources = [raw] if plain else []
    sources += _effective_days(session, patients, chosen, lo, hi)
    for source in sources:
        days = source.subquery()
        before_hi = func.array_agg(literal(hi) - days.c.date)
        statement = select(days.c.patient_id, before_hi, func.array_agg(days.c.steps))
        for pid, offsets, values in _query(session, statement.group_by(days.c.patient_id)):
            patient = patients[pid]
            shift = (hi - patient.cal.today).days
            steps = patient.steps
            for k, value in zip(offsets, values, strict=True):
                back = k - shift
                if 0 <= back <= STEP_DAYS:
                    old = steps[back]
                    if old is None or value > old:
                        steps[back] = value


def _load_plan(
    session: Session, patients: dict[int, LoadedPatient], ids: list[int], now: dt.datetime
) -> None:
    for chunk in chunks(session, ids):
        rows = _query(
            session,
            select(PlanChange.patient_id, PlanChange.effective_at, PlanChange.target)
            .where(among(session, PlanChange.patient_id, chunk), PlanChange.effective_at <= now)
            .order_by(PlanChange.patient_id, PlanChange.effective_at, PlanChange.id),
        )
        for pid, effective, target in rows:
            patients[pid].plan.append((effective, target))
        held = _query(
            session,
            select(Plan.patient_id, Plan.progression_held_until).where(
                among(session, Plan.patient_id, chunk), Plan.progression_held_until.is_not(None)
            ),
        )
        for pid, until in held:
            patients[pid].held_until = until


def _load_pain(
    session: Session, patients: dict[int, LoadedPatient], ids: list[int], now: dt.datetime
) -> None:
    lo = now - PAIN_FETCH
    cols = (PainReport.patient_id, PainReport.recorded_at, PainReport.score, _FLAGS)
    order = (PainReport.patient_id, PainReport.recorded_at, PainReport.id)
    for chunk in chunks(session, ids):
        rows = _query(
            session,
            select(*cols)
            .where(
                among(session, PainReport.patient_id, chunk),
                PainReport.recorded_at.between(lo, now),
            )
            .order_by(*order),
        )
        for pid, at, score, flags in rows:
            patients[pid].pain.append((at, score, _json_list(flags)))
    # Patients whose latest report is older than the bulk window, or whose latest report's
    # preceding 168 h reach before it, get their own bounds in one OR-ed query per chunk.
    stale = [pid for pid in ids if not patients[pid].pain]
    latest: dict[int, dt.datetime] = {}
    for chunk in chunks(session, stale):
        maxima = _query(
            session,
            select(PainReport.patient_id, func.max(PainReport.recorded_at))
            .where(among(session, PainReport.patient_id, chunk), PainReport.recorded_at <= now)
            .group_by(PainReport.patient_id),
        )
        latest.update((pid, at) for pid, at in maxima)
    for pid in ids:
        reports = patients[pid].pain
        if reports and reports[-1][0] - WEEK < lo:
            latest[pid] = reports[-1][0]
    # Sorted by latest report, in buckets spanning at most a month, so each bucket is one
    # range query that cannot reach back years for everybody.
    bounds = sorted(latest.items(), key=lambda item: item[1])
    bucket: list[tuple[int, dt.datetime]] = []
    for item in bounds:
        if bucket and (item[1] - bucket[0][1] > BUCKET or len(bucket) >= CHUNK):
            _load_older_pain(session, patients, bucket, lo)
            bucket = []
        bucket.append(item)
    if bucket:
        _load_older_pain(session, patients, bucket, lo)


def _load_older_pain(
    session: Session,
    patients: dict[int, LoadedPatient],
    bucket: list[tuple[int, dt.datetime]],
    bulk_lo: dt.datetime,
) -> None:
    """Reports in [latest - 168 h, latest] for a bucket of patients with close latest reports."""
    wanted = dict(bucket)
    first = min(wanted.values()) - WEEK
    last = max(wanted.values())
    rows = _query(
        session,
        select(PainReport.patient_id, PainReport.recorded_at, PainReport.score, _FLAGS)
        .where(
            among(session, PainReport.patient_id, list(wanted)),
            PainReport.recorded_at.between(first, last),
        )
        .order_by(PainReport.patient_id, PainReport.recorded_at, PainReport.id),
    )
    found: dict[int, list[tuple[dt.datetime, int, Any]]] = defaultdict(list)
    for pid, at, score, flags in rows:
        if wanted[pid] - WEEK <= at <= wanted[pid]:
            found[pid].append((at, score, _json_list(flags)))
    for pid, older in found.items():
        # Rows at or after the bulk window's start came with the bulk query already.
        bulk = patients[pid].pain
        patients[pid].pain = [row for row in older if not bulk or row[0] < bulk_lo] + bulk


def _load_events(
    session: Session, patients: dict[int, LoadedPatient], ids: list[int], now: dt.datetime
) -> None:
    lo = min(p.cal.event_lo for p in patients.values())
    day_lo = min(p.cal.day_lo for p in patients.values())
    for chunk in chunks(session, ids):
        walks = _query(
            session,
            select(WalkingSession.patient_id, WalkingSession.start, WalkingSession.end)
            .where(
                among(session, WalkingSession.patient_id, chunk),
                WalkingSession.start.between(lo, now),
            )
            .order_by(WalkingSession.patient_id, WalkingSession.start, WalkingSession.id),
        )
        for pid, start, end in walks:
            patient = patients[pid]
            if start >= patient.cal.event_lo:
                patient.walks.append((end - start).total_seconds() / 60)
        exercise = _query(
            session,
            select(
                ExerciseSession.patient_id, ExerciseSession.kind, ExerciseSession.performed_at
            ).where(
                among(session, ExerciseSession.patient_id, chunk),
                ExerciseSession.performed_at.between(lo, now),
            ),
        )
        for pid, kind, at in exercise:
            patient = patients[pid]
            if at >= patient.cal.event_lo:
                patient.exercise.append(kind)
        strength = _query(
            session,
            select(ExerciseSession.patient_id, func.max(ExerciseSession.performed_at))
            .where(
                among(session, ExerciseSession.patient_id, chunk),
                ExerciseSession.kind == "strength",
                ExerciseSession.performed_at <= now,
            )
            .group_by(ExerciseSession.patient_id),
        )
        for pid, at in strength:
            patients[pid].last_strength = at
        tips = _query(
            session,
            select(Tip.patient_id, Tip.created_at).where(
                among(session, Tip.patient_id, chunk),
                Tip.created_at.between(day_lo, now),
                Tip.category != CLINICIAN_CATEGORY,
            ),
        )
        for pid, at in tips:
            patient = patients[pid]
            if at >= patient.cal.day_lo:
                patient.tips_today += 1
        firings = _query(
            session,
            select(RuleFiring.patient_id, RuleFiring.last_fired, RuleFiring.last_variant).where(
                among(session, RuleFiring.patient_id, chunk)
            ),
        )
        for pid, fired, variants in firings:
            patient = patients[pid]
            patient.fired, patient.variants = fired or {}, variants or {}


def _load_shoes(session: Session, patients: dict[int, LoadedPatient]) -> None:
    """Sum the effective day's distance since the shoes changed, in SQL (it can span years)."""
    wanted = [p for p in patients.values() if p.ctx.shoes_changed_on is not None]
    by_today: dict[dt.date, list[int]] = defaultdict(list)
    for patient in wanted:
        by_today[patient.cal.today].append(patient.ctx.patient_id)
    # Sources are compared byte-wise on both backends, as Python compares them.
    collation = "C" if session.get_bind().dialect.name == "postgresql" else "BINARY"
    for today, group in by_today.items():
        for chunk in chunks(session, group):
            is_primary = DailyActivity.source == PatientProfile.primary_source
            rank = (
                func.row_number()
                .over(
                    partition_by=(DailyActivity.patient_id, DailyActivity.date),
                    order_by=(
                        func.coalesce(is_primary, False).desc(),
                        DailyActivity.steps.desc(),
                        DailyActivity.source.collate(collation).desc(),
                    ),
                )
                .label("rank")
            )
            ranked = (
                select(
                    DailyActivity.patient_id.label("pid"),
                    func.coalesce(DailyActivity.distance_m, 0.0).label("metres"),
                    rank,
                )
                .join(PatientProfile, PatientProfile.user_id == DailyActivity.patient_id)
                .where(
                    among(session, DailyActivity.patient_id, chunk),
                    DailyActivity.date >= PatientProfile.shoes_changed_on,
                    DailyActivity.date <= today,
                )
                .subquery()
            )
            rows = _query(
                session,
                select(ranked.c.pid, func.sum(ranked.c.metres))
                .where(ranked.c.rank == 1)
                .group_by(ranked.c.pid),
            )
            for pid, metres in rows:
                patients[pid].shoes_m = float(metres or 0.0)


def _load_long_streaks(session: Session, patients: dict[int, LoadedPatient]) -> None:
    """Fetch up to a year of older days, in bulk, for patients who met every one of 14 days."""
    long = {pid: p for pid, p in patients.items() if all(p.met_window())}
    if not long:
        return
    lo = min(p.cal.today for p in long.values()) - dt.timedelta(days=STREAK_MAX)
    hi = max(p.cal.today for p in long.values()) - dt.timedelta(days=STEP_DAYS + 1)
    for statement in _effective_days(session, patients, sorted(long), lo, hi):
        for pid, day, steps in _query(session, statement):
            patient = long[pid]
            back = (patient.cal.today - day).days
            if STEP_DAYS < back <= STREAK_MAX:
                patient.older[back] = steps
