"""The clinician's Today list: every patient in scope ranked by need, one page at a time.

Ranking needs every patient's signals, so they come from a fixed number of set-based queries
over all patients in scope (no query per patient); the page's 28-day series come from two more
queries for that page only. Need, most pressing first:

0. an open safety episode (`service.clinicians.safety`);
1. open alerts (urgent, then warning, then info; the longest waiting first);
2. a pain flare (a report of 7/10 or more in the last 48 hours) or persistent pain (a mean of
   5/10 or more over at least 3 reports in the last 7 days);
3. off track (the last 7 complete days average under 80% of the target) or without data (no
   steps on any of the last 3 complete days);
4. on track.

Days are the patient's local calendar days; "complete" days end yesterday, as the facts do.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Select,
    case,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.orm import Session

from service.accounts.auth import Principal
from service.accounts.models import User
from service.alerts.models import ClinicianAlert
from service.audit.service import record
from service.clinicians import safety
from service.clinicians.daily import daily_steps, day_ends, day_targets, plan_changes
from service.connections.models import WearableConnection
from service.errors import field_error
from service.patients.models import PatientProfile
from service.plans.models import Plan
from service.reports.models import PainReport

DAY = dt.timedelta(days=1)
RANK_DAYS = 14
SPARK_DAYS = 28
OFF_TRACK_RATIO = 0.8
NO_DATA_DAYS = 3
FLARE_SCORE, FLARE_HOURS = 7, 48
PERSISTENT_MEAN, PERSISTENT_REPORTS = 5.0, 3
SEVERITY_RANK = {"urgent": 0, "warning": 1, "info": 2}
TIERS = ("Safety episode", "Open alerts", "Pain", "Off track or no data", "On track")
PER_PAGE_MAX = 100


@dataclass
class Row:
    """One patient on the Today list."""

    id: int
    email: str
    timezone: str
    target: int | None
    yesterday: dt.date
    steps: dict[dt.date, int] = field(default_factory=dict)
    tier: int = 4
    sort_key: tuple[Any, ...] = ()
    reasons: list[str] = field(default_factory=list)
    episodes: int = 0
    alerts: int = 0
    alert_severity: str | None = None
    latest_pain: int | None = None
    latest_pain_at: dt.datetime | None = None
    met_14d: int = 0
    mean_7d: float | None = None
    last_sync: dt.datetime | None = None
    series: list[tuple[dt.date, int | None, int | None]] = field(default_factory=list)

    @property
    def need(self) -> str:
        """The tier's name, as the page shows it."""
        return TIERS[self.tier]


def scope_ids(principal: Principal, search: str = "") -> Select[Any]:
    """Ids of the caller's patients (admins: all), narrowed by an email fragment or an id."""
    query = select(PatientProfile.user_id)
    if principal.role != "admin":
        query = query.where(PatientProfile.clinic_id == principal.clinic_id)
    search = search.strip().lower()
    if search:
        pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        matches = select(User.id).where(func.lower(User.email).like(pattern, escape="\\"))
        condition: ColumnElement[bool] = PatientProfile.user_id.in_(matches)
        if search.isdigit():
            condition = or_(condition, PatientProfile.user_id == int(search))
        query = query.where(condition)
    return query


def patient_choices(
    session: Session, principal: Principal, limit: int = 500
) -> list[tuple[int, str]]:
    """The caller's patients as (id, email), by email, for a picker."""
    rows = session.execute(
        select(User.id, User.email)
        .where(User.id.in_(scope_ids(principal)))
        .order_by(User.email)
        .limit(limit)
    )
    return [(pid, email) for pid, email in rows]


def find_patient(session: Session, principal: Principal, text: str) -> int:
    """The id of the caller's patient named by an exact email or an id (422 when none)."""
    text = text.strip().lower()
    query = scope_ids(principal)
    if text.isdigit():
        query = query.where(PatientProfile.user_id == int(text))
    else:
        query = query.where(
            PatientProfile.user_id.in_(select(User.id).where(func.lower(User.email) == text))
        )
    found = session.scalar(query)
    if found is None:
        raise field_error("patient", "no patient with this email or id in your clinic")
    return int(found)


def today_list(
    session: Session,
    principal: Principal,
    now: dt.datetime,
    *,
    search: str = "",
    page: int = 1,
    per_page: int = 25,
) -> dict[str, Any]:
    """A page of the caller's patients, most in need first, with counts per tier."""
    per_page = max(1, min(per_page, PER_PAGE_MAX))
    scope = scope_ids(principal, search)
    rows = _people(session, scope, now)
    if rows:
        first = min(r.yesterday for r in rows.values()) - (RANK_DAYS - 1) * DAY
        last = max(r.yesterday for r in rows.values())
        for pid, day, steps in daily_steps(session, scope, first, last):
            rows[pid].steps[day] = steps
        _targets_and_adherence(session, scope, rows, first, last)
        _pain(session, scope, rows, now)
        _alerts(session, scope, rows)
        _syncs(session, scope, rows)
        for pid, count in safety.open_episode_counts(session, scope).items():
            if pid in rows:
                rows[pid].episodes = count
        for row in rows.values():
            _classify(row)
    ranked = sorted(rows.values(), key=lambda r: (r.tier, *r.sort_key, r.id))
    pages = max(1, -(-len(ranked) // per_page))
    page = max(1, min(page, pages))
    shown = ranked[(page - 1) * per_page : page * per_page]
    _series(session, shown)
    record(session, principal, "patients.list", "clinic", principal.clinic_id or "all")
    counts = [0] * len(TIERS)
    for row in ranked:
        counts[row.tier] += 1
    return {
        "items": shown,
        "total": len(ranked),
        "page": page,
        "pages": pages,
        "per_page": per_page,
        "tiers": list(zip(TIERS, counts, strict=True)),
    }


def _people(session: Session, scope: Select[Any], now: dt.datetime) -> dict[int, Row]:
    zones: dict[str, dt.date] = {}
    rows: dict[int, Row] = {}
    for pid, email, zone, target, uploaded in session.execute(
        select(
            PatientProfile.user_id,
            User.email,
            PatientProfile.timezone,
            Plan.daily_target,
            PatientProfile.last_upload_at,
        )
        .join(User, User.id == PatientProfile.user_id)
        .outerjoin(Plan, Plan.patient_id == PatientProfile.user_id)
        .where(PatientProfile.user_id.in_(scope))
    ):
        if zone not in zones:
            zones[zone] = now.astimezone(ZoneInfo(zone)).date() - DAY
        rows[pid] = Row(pid, email, zone, target, zones[zone], last_sync=uploaded)
    return rows


def _targets_and_adherence(
    session: Session, scope: Select[Any], rows: dict[int, Row], first: dt.date, last: dt.date
) -> None:
    changes = plan_changes(session, scope, first, last)
    for row in rows.values():
        days = tuple(row.yesterday - i * DAY for i in range(RANK_DAYS - 1, -1, -1))
        targets = day_targets(changes.get(row.id, []), day_ends(row.timezone, days))
        steps = row.steps
        row.met_14d = sum(
            1
            for day, target in zip(days, targets, strict=True)
            if target is not None and steps.get(day, -1) >= target
        )
        week = [steps[d] for d in days[-7:] if d in steps]
        row.mean_7d = sum(week) / len(week) if week else None


def _pain(session: Session, scope: Select[Any], rows: dict[int, Row], now: dt.datetime) -> None:
    latest = (
        select(PainReport.patient_id, func.max(PainReport.recorded_at).label("at"))
        .where(PainReport.patient_id.in_(scope), PainReport.recorded_at <= now)
        .group_by(PainReport.patient_id)
        .subquery()
    )
    for pid, score, at in session.execute(
        select(PainReport.patient_id, PainReport.score, PainReport.recorded_at)
        .join(
            latest,
            (latest.c.patient_id == PainReport.patient_id)
            & (latest.c.at == PainReport.recorded_at),
        )
        .order_by(PainReport.id)
    ):
        rows[pid].latest_pain, rows[pid].latest_pain_at = score, at
    recent = now - dt.timedelta(hours=FLARE_HOURS)
    for pid, count, mean, flare in session.execute(
        select(
            PainReport.patient_id,
            func.count(),
            func.avg(PainReport.score),
            func.max(case((PainReport.recorded_at >= recent, PainReport.score))),
        )
        .where(
            PainReport.patient_id.in_(scope),
            PainReport.recorded_at > now - 7 * DAY,
            PainReport.recorded_at <= now,
        )
        .group_by(PainReport.patient_id)
    ):
        row = rows[pid]
        if flare is not None and flare >= FLARE_SCORE:
            row.reasons.append(f"Pain flare: {flare}/10 in the last {FLARE_HOURS} hours")
            row.tier = min(row.tier, 2)
        if count >= PERSISTENT_REPORTS and float(mean) >= PERSISTENT_MEAN:
            row.reasons.append(
                f"Persistent pain: {float(mean):.1f}/10 on average over {count} reports this week"
            )
            row.tier = min(row.tier, 2)


def _alerts(session: Session, scope: Select[Any], rows: dict[int, Row]) -> None:
    severity = case(SEVERITY_RANK, value=ClinicianAlert.severity, else_=literal_column("2"))
    for pid, count, worst, oldest in session.execute(
        select(
            ClinicianAlert.patient_id,
            func.count(),
            func.min(severity),
            func.min(ClinicianAlert.created_at),
        )
        .where(ClinicianAlert.patient_id.in_(scope), ClinicianAlert.acked_at.is_(None))
        .group_by(ClinicianAlert.patient_id)
    ):
        row = rows[pid]
        row.alerts = count
        row.alert_severity = next(k for k, v in SEVERITY_RANK.items() if v == worst)
        row.tier = min(row.tier, 1)
        row.sort_key = (worst, oldest)
        plural = "alert" if count == 1 else "alerts"
        row.reasons.insert(0, f"{count} open {plural} ({row.alert_severity})")


def _syncs(session: Session, scope: Select[Any], rows: dict[int, Row]) -> None:
    """The latest of a wearable's sync and the phone's upload (read with the patient)."""
    for pid, at in session.execute(
        select(WearableConnection.patient_id, func.max(WearableConnection.last_sync_at))
        .where(WearableConnection.patient_id.in_(scope))
        .group_by(WearableConnection.patient_id)
    ):
        row = rows[pid]
        if at is not None and (row.last_sync is None or at > row.last_sync):
            row.last_sync = at


def _classify(row: Row) -> None:
    steps_reason, steps_key = _steps(row)
    if steps_reason:
        row.reasons.append(steps_reason)
    if row.episodes:
        row.tier = 0
        row.reasons.insert(0, "Safety episode open")
    elif row.tier == 2:
        row.sort_key = (-(row.latest_pain or 0),)
    elif row.tier > 2 and steps_key is not None:
        row.tier, row.sort_key = 3, steps_key
    elif row.tier > 2:
        row.reasons.append("On track")


def _steps(row: Row) -> tuple[str | None, tuple[Any, ...] | None]:
    """Why the steps need attention (no recent data, or well under target), and how badly."""
    recent = [row.yesterday - i * DAY for i in range(NO_DATA_DAYS)]
    if not any(day in row.steps for day in recent):
        known = [day for day in row.steps if day <= row.yesterday]
        if not known:
            return "No step data in the last 2 weeks", (0, -(RANK_DAYS + 1))
        gap = (row.yesterday - max(known)).days
        return f"No step data for {gap} days", (0, -gap)
    if row.target and row.mean_7d is not None and row.mean_7d < OFF_TRACK_RATIO * row.target:
        ratio = row.mean_7d / row.target
        return f"Walking {round(ratio * 100)}% of the target this week", (1, ratio)
    return None, None


def _series(session: Session, shown: list[Row]) -> None:
    """The 28-day steps and targets of the shown rows (two queries for the page)."""
    if not shown:
        return
    ids = [row.id for row in shown]
    first = min(r.yesterday for r in shown) - (SPARK_DAYS - 1) * DAY
    last = max(r.yesterday for r in shown)
    steps: dict[int, dict[dt.date, int]] = defaultdict(dict)
    for pid, day, value in daily_steps(
        session, select(PatientProfile.user_id).where(PatientProfile.user_id.in_(ids)), first, last
    ):
        steps[pid][day] = value
    changes = plan_changes(session, ids, first, last)
    for row in shown:
        days = tuple(row.yesterday - i * DAY for i in range(SPARK_DAYS - 1, -1, -1))
        targets = day_targets(changes.get(row.id, []), day_ends(row.timezone, days))
        row.series = [
            (day, steps[row.id].get(day), target) for day, target in zip(days, targets, strict=True)
        ]
