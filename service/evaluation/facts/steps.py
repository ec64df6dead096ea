"""Step facts (`steps.*`, `target.*`, streaks): each local day's effective steps.

A day's effective value is the primary source's row, else the largest (sources are never
summed); it is reduced in SQL, except on PostgreSQL for patients without a primary source,
whose rows come as per-patient arrays and are reduced while unpacked. Streaks longer than the
14-day window fetch up to a year of older days, only for patients who met all 14.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import case, func, literal, select
from sqlalchemy.orm import Session

from service.activity.models import DailyActivity
from service.evaluation.derive import STEP_DAYS, STREAK_MAX, LoadedPatient
from service.patients.models import PatientProfile
from service.sqlutil import among, chunks, is_postgresql, rows


def effective_days(
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


def load(
    session: Session, patients: dict[int, LoadedPatient], ids: list[int], now: dt.datetime
) -> None:
    """Fill each patient's effective steps for the 14-day window."""
    lo = min(p.cal.today for p in patients.values()) - dt.timedelta(days=STEP_DAYS)
    hi = max(p.cal.today for p in patients.values())
    if not is_postgresql(session):
        for statement in effective_days(session, patients, ids, lo, hi):
            for pid, day, steps in rows(session, statement):
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
    sources += effective_days(session, patients, chosen, lo, hi)
    for source in sources:
        days = source.subquery()
        before_hi = func.array_agg(literal(hi) - days.c.date)
        statement = select(days.c.patient_id, before_hi, func.array_agg(days.c.steps))
        for pid, offsets, values in rows(session, statement.group_by(days.c.patient_id)):
            patient = patients[pid]
            shift = (hi - patient.cal.today).days
            steps = patient.steps
            for k, value in zip(offsets, values, strict=True):
                back = k - shift
                if 0 <= back <= STEP_DAYS:
                    old = steps[back]
                    if old is None or value > old:
                        steps[back] = value


def load_long_streaks(
    session: Session, patients: dict[int, LoadedPatient], ids: list[int], now: dt.datetime
) -> None:
    """Fetch up to a year of older days, in bulk, for patients who met every one of 14 days
    (run after the steps and the plan are loaded)."""
    long = {pid: p for pid, p in patients.items() if all(p.met_window())}
    if not long:
        return
    lo = min(p.cal.today for p in long.values()) - dt.timedelta(days=STREAK_MAX)
    hi = max(p.cal.today for p in long.values()) - dt.timedelta(days=STEP_DAYS + 1)
    for statement in effective_days(session, patients, sorted(long), lo, hi):
        for pid, day, steps in rows(session, statement):
            patient = long[pid]
            back = (patient.cal.today - day).days
            if STEP_DAYS < back <= STREAK_MAX:
                patient.older[back] = steps
