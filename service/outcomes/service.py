"""The outcomes report: per randomised rule and variant, what was sent, what followed, the effect.

`report` reads the caller's clinic's decision records (admins: every clinic) with their tips'
read and feedback marks, and estimates the effect of sending (`service.outcomes.estimate`) for
each rule (all variants together, `variant` null) and each variant, overall and by week of
enrolment (to show an effect fading). `export_rows` yields the same records flat, for CSV.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from service.accounts.auth import Principal
from service.audit.service import record
from service.errors import field_error
from service.outcomes import estimate
from service.outcomes.models import DecisionRecord
from service.patients.models import PatientProfile
from service.tips.models import Tip

OUTCOME = "log(steps in the 60 minutes after the decision + 0.5)"


@dataclass(frozen=True)
class Row:
    """A decision record with what the report needs from its patient and tip."""

    patient: int
    ruleset: str
    rule_id: str
    variant: int | None
    outcome: str
    probability: float
    steps_60m: int | None
    week: int
    read: bool
    helpful: bool


def _query(
    principal: Principal,
    ruleset: str | None,
    first: dt.date | None,
    last: dt.date | None,
) -> Any:
    """The caller's decision records with enrolment, read and feedback (a Select)."""
    tip_matches = and_(
        Tip.evaluation_id == DecisionRecord.evaluation_id, Tip.rule_id == DecisionRecord.rule_id
    )
    query = (
        select(DecisionRecord, PatientProfile.enrolled_at, Tip.read_at, Tip.helpful, Tip.done)
        .join(PatientProfile, PatientProfile.user_id == DecisionRecord.patient_id)
        .outerjoin(Tip, tip_matches)
        .order_by(DecisionRecord.id)
    )
    if principal.role != "admin":
        query = query.where(PatientProfile.clinic_id == principal.clinic_id)
    if ruleset:
        query = query.where(DecisionRecord.ruleset == ruleset)
    if first is not None:
        start = dt.datetime.combine(first, dt.time(0), tzinfo=dt.UTC)
        query = query.where(DecisionRecord.decided_at >= start)
    if last is not None:
        end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(0), tzinfo=dt.UTC)
        query = query.where(DecisionRecord.decided_at < end)
    return query


def _check_range(first: dt.date | None, last: dt.date | None) -> None:
    if first is not None and last is not None and first > last:
        raise field_error("from", "must not be after 'to'")


def _rows(session: Session, query: Any) -> list[Row]:
    rows = []
    for item, enrolled_at, read_at, helpful, _done in session.execute(query):
        week = max(int((item.decided_at - enrolled_at).total_seconds() // (7 * 86400)), 0)
        rows.append(
            Row(
                item.patient_id,
                item.ruleset,
                item.rule_id,
                item.variant,
                item.outcome,
                item.probability,
                item.steps_60m,
                week,
                read_at is not None,
                helpful is True,
            )
        )
    return rows


def _rate(count: int, total: int) -> float | None:
    return round(count / total, 4) if total else None


def _mean(values: Sequence[int]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def _decisions(rows: Sequence[Row]) -> list[estimate.Decision]:
    return [
        estimate.Decision(r.patient, r.outcome == "fired", r.probability, r.steps_60m)
        for r in rows
        if r.outcome != "ineligible" and r.steps_60m is not None
    ]


def _summary(key: tuple[str, str, int | None], rows: Sequence[Row]) -> dict[str, Any]:
    sent = [r for r in rows if r.outcome == "fired"]
    withheld = [r for r in rows if r.outcome == "randomised_out"]
    weeks: dict[int, list[Row]] = defaultdict(list)
    for row in rows:
        weeks[row.week].append(row)
    return {
        "ruleset": key[0],
        "rule_id": key[1],
        "variant": key[2],
        "decisions": len(rows),
        "sent": len(sent),
        "randomised_out": len(withheld),
        "ineligible": sum(r.outcome == "ineligible" for r in rows),
        "pending": sum(r.outcome != "ineligible" and r.steps_60m is None for r in rows),
        "patients": len({r.patient for r in rows}),
        "read_rate": _rate(sum(r.read for r in sent), len(sent)),
        "helpful_rate": _rate(sum(r.helpful for r in sent), len(sent)),
        "mean_steps_60m_sent": _mean([r.steps_60m for r in sent if r.steps_60m is not None]),
        "mean_steps_60m_not_sent": _mean(
            [r.steps_60m for r in withheld if r.steps_60m is not None]
        ),
        "effect": estimate.effect(_decisions(rows)).as_dict(),
        "by_week": [
            {"week": week, **estimate.effect(_decisions(weeks[week])).as_dict()}
            for week in sorted(weeks)
        ],
    }


def report(
    session: Session,
    principal: Principal,
    *,
    ruleset: str | None = None,
    first: dt.date | None = None,
    last: dt.date | None = None,
) -> dict[str, Any]:
    """Report each randomised rule (and each of its variants): sends, rates, outcomes, effect."""
    _check_range(first, last)
    rows = _rows(session, _query(principal, ruleset, first, last))
    groups: dict[tuple[str, str, int | None], list[Row]] = defaultdict(list)
    for row in rows:
        groups[(row.ruleset, row.rule_id, None)].append(row)
        if row.variant is not None:
            groups[(row.ruleset, row.rule_id, row.variant)].append(row)
    ordered = sorted(groups, key=lambda k: (k[0], k[1], -1 if k[2] is None else k[2]))
    record(session, principal, "outcomes.read", "clinic", principal.clinic_id or "all")
    return {
        "ruleset": ruleset,
        "from_": first,
        "to": last,
        "outcome": OUTCOME,
        "items": [_summary(key, groups[key]) for key in ordered],
    }


EXPORT_COLUMNS = (
    "decision_id",
    "patient_id",
    "clinic_id",
    "ruleset",
    "ruleset_version_id",
    "rule_id",
    "tip",
    "variant",
    "decided_at",
    "enrolled_at",
    "outcome",
    "probability",
    "draw",
    "reason",
    "steps_60m",
    "steps_60m_source",
    "steps_day",
    "steps_next_day",
    "read",
    "opened",
    "helpful",
    "done",
)


def export_rows(
    session: Session,
    *,
    clinic_id: int | None = None,
    ruleset: str | None = None,
    first: dt.date | None = None,
    last: dt.date | None = None,
) -> Iterator[tuple[Any, ...]]:
    """Yield every decision record as a flat row in `EXPORT_COLUMNS` order (streamed)."""
    _check_range(first, last)
    principal = Principal(0, "clinician" if clinic_id is not None else "admin", clinic_id)
    query = _query(principal, ruleset, first, last).add_columns(
        PatientProfile.clinic_id, Tip.opened_at
    )
    for item, enrolled_at, read_at, helpful, done, clinic, opened_at in session.execute(
        query.execution_options(yield_per=2000)
    ):
        yield (
            item.id,
            item.patient_id,
            clinic,
            item.ruleset,
            item.ruleset_version_id,
            item.rule_id,
            item.tip_key,
            item.variant,
            item.decided_at.isoformat(),
            enrolled_at.isoformat(),
            item.outcome,
            item.probability,
            item.draw,
            item.reason,
            item.steps_60m,
            item.steps_60m_source,
            item.steps_day,
            item.steps_next_day,
            read_at is not None if item.outcome == "fired" else None,
            opened_at is not None if item.outcome == "fired" else None,
            helpful if item.outcome == "fired" else None,
            done if item.outcome == "fired" else None,
        )
