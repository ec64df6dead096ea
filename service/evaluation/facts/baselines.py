"""The patient's own baselines and data recency, for a batch at one moment (SPEC §11.3).

`steps.baseline`, `steps.days_with_data_28d`, `data.days_since` and `pain.baseline` as
`rules.reference_personal` defines them, read set-based after the step window of
`service.evaluation.facts.steps` is loaded (it already answers most patients): one query per chunk
for the older step days, one for the first days after enrolment of patients enrolled before
the window, one for the rare patients without data in 29 days, one for the pain window.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from sqlalchemy import BigInteger, Date, Text, case, cast, func, literal, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from rules.facts_personal import BASELINE_DAYS, BASELINE_SPAN, PAIN_BASELINE_DAYS
from rules.reference_personal import pain_baseline, step_baseline
from service.activity.models import DailyActivity
from service.evaluation.derive import STEP_DAYS, LoadedPatient, local_midnight
from service.patients.models import PatientProfile
from service.plans.models import Plan
from service.reports.models import PainReport
from service.sqlutil import among, chunks, is_postgresql, rows

_WINDOW = 28


def _member(session: Session, column: Any, ids: list[int]) -> Any:
    """`column IN ids` as a hashed semi-join on PostgreSQL: these windows span most of a
    patient's recent rows, so the planner scans, and `= ANY(array)` would then test every row
    against the whole batch's array (seconds for a few thousand patients)."""
    if not is_postgresql(session):
        return among(session, column, ids)
    text = "{" + ",".join(map(str, map(int, ids))) + "}"
    unnested = func.unnest(cast(literal(text, Text), postgresql.ARRAY(BigInteger)))
    return column.in_(select(unnested).scalar_subquery())


def load(
    session: Session, patients: dict[int, LoadedPatient], ids: list[int], now: dt.datetime
) -> None:
    """Fill each patient's `personal` facts with the baselines and data recency."""
    for patient in patients.values():
        steps = patient.steps
        recent = next((k for k, value in enumerate(steps) if value is not None), None)
        patient.personal["data.days_since"] = recent
        patient.personal["steps.days_with_data_28d"] = sum(1 for s in steps[1:] if s is not None)
    _load_older_days(session, patients, ids)
    _load_step_baselines(session, patients, ids)
    _load_pain_baselines(session, patients, ids, now)
    for chunk in chunks(session, ids):  # a clinician's value replaces the measured one
        for pid, value in rows(
            session,
            select(Plan.patient_id, Plan.baseline_steps).where(
                among(session, Plan.patient_id, chunk), Plan.baseline_steps.is_not(None)
            ),
        ):
            patients[pid].personal["steps.baseline"] = value


def _load_older_days(session: Session, patients: dict[int, LoadedPatient], ids: list[int]) -> None:
    """Days with data in today-28 .. today-15, and the last day with data before them."""
    by_today: dict[dt.date, list[int]] = defaultdict(list)
    for pid in ids:
        by_today[patients[pid].cal.today].append(pid)
    day = DailyActivity.date
    for today, group in by_today.items():  # at most three local dates at any moment
        lo, hi = today - dt.timedelta(days=_WINDOW), today - dt.timedelta(days=STEP_DAYS + 1)
        for chunk in chunks(session, group):
            found_rows = rows(
                session,
                select(DailyActivity.patient_id, func.count(day.distinct()), func.max(day))
                .where(among(session, DailyActivity.patient_id, chunk), day.between(lo, hi))
                .group_by(DailyActivity.patient_id),
            )
            for pid, count, last in found_rows:
                personal = patients[pid].personal
                personal["steps.days_with_data_28d"] += count
                if personal["data.days_since"] is None:
                    personal["data.days_since"] = (today - last).days
            silent = [pid for pid in chunk if patients[pid].personal["data.days_since"] is None]
            if not silent:
                continue
            for pid, last in rows(
                session,
                select(DailyActivity.patient_id, func.max(day))
                .where(among(session, DailyActivity.patient_id, silent), day < lo)
                .group_by(DailyActivity.patient_id),
            ):
                patients[pid].personal["data.days_since"] = (today - last).days


def _enrolment_date(session: Session, days: int, slack: int) -> Any:
    """SQL for the local date of enrolment plus `days`: exact on PostgreSQL; SQLite keeps no
    zones, so the UTC date moved `slack` days out (a local date is within a day of it) and the
    rows refined in Python."""
    if is_postgresql(session):
        local = cast(func.timezone(PatientProfile.timezone, PatientProfile.enrolled_at), Date)
        return local + days
    return func.date(PatientProfile.enrolled_at, f"{days + slack:+d} days")


def _load_step_baselines(
    session: Session, patients: dict[int, LoadedPatient], ids: list[int]
) -> None:
    """steps.baseline: from the window when enrolment is in it, else one query per chunk."""
    older: list[int] = []
    for pid in ids:
        patient = patients[pid]
        enrolled = patient.cal.local_date(patient.ctx.enrolled_at)
        back = (patient.cal.today - enrolled).days
        if back > STEP_DAYS:
            older.append(pid)
            continue
        first = [s for s in reversed(patient.steps[1 : back + 1]) if s is not None]
        patient.personal["steps.baseline"] = step_baseline(first[:BASELINE_DAYS])
    primary = case((DailyActivity.source == PatientProfile.primary_source, DailyActivity.steps))
    effective = func.coalesce(func.max(primary), func.max(DailyActivity.steps))
    found: dict[int, list[tuple[dt.date, int]]] = defaultdict(list)
    for chunk in chunks(session, older):
        rank = func.row_number().over(
            partition_by=DailyActivity.patient_id, order_by=DailyActivity.date
        )
        # Driven by the profiles, so each patient's 28 days are one index range of
        # (patient_id, date) bounded by their own enrolment, however long their history;
        # only the first days come back (two more for SQLite's day of slack either side).
        ranked = (
            select(DailyActivity.patient_id, DailyActivity.date, effective, rank.label("rank"))
            .select_from(PatientProfile)
            .join(DailyActivity, DailyActivity.patient_id == PatientProfile.user_id)
            .where(
                _member(session, PatientProfile.user_id, chunk),
                DailyActivity.date >= _enrolment_date(session, 0, -1),
                DailyActivity.date < _enrolment_date(session, BASELINE_SPAN, 1),
            )
            .group_by(DailyActivity.patient_id, DailyActivity.date)
            .subquery()
        )
        days = rows(
            session,
            select(ranked.c[0], ranked.c[1], ranked.c[2]).where(ranked.c.rank <= BASELINE_DAYS + 2),
        )
        for pid, day, steps in days:
            found[pid].append((day, steps))
    for pid in older:
        patient = patients[pid]
        enrolled = patient.cal.local_date(patient.ctx.enrolled_at)
        span_end = enrolled + dt.timedelta(days=BASELINE_SPAN)
        days = sorted(
            (day, steps)
            for day, steps in found.get(pid, ())
            if enrolled <= day < min(span_end, patient.cal.today)
        )
        values = [steps for _, steps in days[:BASELINE_DAYS]]
        patient.personal["steps.baseline"] = step_baseline(values)


def _load_pain_baselines(
    session: Session, patients: dict[int, LoadedPatient], ids: list[int], now: dt.datetime
) -> None:
    """pain.baseline: the scores of the reports in today-30 .. today-3 (local dates)."""
    near, far = PAIN_BASELINE_DAYS
    bounds = {}
    for pid in ids:
        cal = patients[pid].cal
        start = local_midnight(cal.today - dt.timedelta(days=far), cal.zone)
        end = local_midnight(cal.today - dt.timedelta(days=near - 1), cal.zone)
        bounds[pid] = (start, end)
    if not bounds:
        return
    lo = min(start for start, _ in bounds.values())
    hi = max(end for _, end in bounds.values())
    scores: dict[int, list[int]] = defaultdict(list)
    for chunk in chunks(session, ids):
        reports = rows(
            session,
            select(PainReport.patient_id, PainReport.recorded_at, PainReport.score).where(
                _member(session, PainReport.patient_id, chunk),
                PainReport.recorded_at >= lo,
                PainReport.recorded_at < hi,
                PainReport.recorded_at <= now,
            ),
        )
        for pid, at, score in reports:
            start, end = bounds[pid]
            if start <= at < end:
                scores[pid].append(score)
    for pid in ids:
        patients[pid].personal["pain.baseline"] = pain_baseline(scores.get(pid, []))
