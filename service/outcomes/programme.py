"""A clinic's own programme outcomes, per clinic and rule set (SPEC §11.4), as large digital
back-pain programmes publish them.

Every week is a week of the patient's enrolment (week 0: days 0-6 after `enrolled_at`), and the
definitions are these:

- enrolled: patients following the rule set (their assignment now; the clinic's default when
  none); `version` is the rule set's published version.
- active in week w: patients with any steps, pain report or questionnaire answer that week,
  among those enrolled long enough to have lived through it.
- completed 12 weeks: active in week 11 (the programme's final week), among patients enrolled
  at least 12 weeks.
- steps change: mean daily steps (the largest source of each day) in the latest full week up
  to week 11 minus week 0's, among patients with both.
- pain at 4, 8 and 12 weeks: the mean of the reports in week 3, 7 or 11 against the mean of
  week 0's; the share with at least 30% less pain (moderately important) and 50% less
  (substantial), the IMMPACT thresholds, among patients with a baseline above zero and both.
- PEG change at 4, 8 and 12 weeks: the latest PEG score within a week either side of the
  4th, 8th or 12th week minus the first one answered in the first two weeks.
- engagement against improvement: patients split into thirds by reports per week (pain and
  exercise reports and questionnaire answers), each with its tips read per week, the share of
  its rated tips found helpful, and mean pain and steps change.

Set-based: one query per kind of record for all of a clinic's patients, aggregated per patient
and day in SQL; the weeks are counted in Python.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rules import default_ruleset_text, load_ruleset
from service.accounts.auth import Principal
from service.accounts.models import Clinic
from service.activity.models import DailyActivity
from service.audit.service import record
from service.patients.models import PatientProfile
from service.questionnaires.models import QuestionnaireResponse
from service.reports.models import ExerciseSession, PainReport
from service.rulesets.models import RuleSet
from service.sqlutil import chunks
from service.tips.models import Tip

WEEKS = 12
MILESTONES = (4, 8, 12)
DAY = 86400.0


@dataclass
class Patient:
    """What the figures need of one patient: days of steps, reports, answers, tips."""

    id: int
    enrolled_at: dt.datetime
    group: tuple[int, str, int | None]
    steps: dict[int, int] = field(default_factory=dict)  # day of enrolment -> steps
    pain: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    reports: list[int] = field(default_factory=list)  # day of each report or answer
    peg: list[tuple[int, float]] = field(default_factory=list)
    tips_read: int = 0
    rated: int = 0
    helpful: int = 0

    def day(self, moment: dt.datetime) -> int:
        """Day of enrolment of an instant."""
        return int((moment - self.enrolled_at).total_seconds() // DAY)

    def weeks(self, now: dt.datetime) -> int:
        """Full weeks lived since enrolment."""
        return max(self.day(now) // 7, 0)

    def active(self, week: int) -> bool:
        """Whether the patient left any trace in that week."""
        days = range(7 * week, 7 * week + 7)
        return any(d in self.steps for d in days) or any(d // 7 == week for d in self.reports)

    def mean_steps(self, week: int) -> float | None:
        """Mean daily steps over the days of the week with data."""
        values = [self.steps[d] for d in range(7 * week, 7 * week + 7) if d in self.steps]
        return sum(values) / len(values) if values else None

    def mean_pain(self, week: int) -> float | None:
        """Mean pain score of the week's reports."""
        values = [s for d in range(7 * week, 7 * week + 7) for s in self.pain.get(d, [])]
        return sum(values) / len(values) if values else None

    def peg_at(self, week: int) -> float | None:
        """The latest PEG score within a week either side of that week's start."""
        near = [score for d, score in self.peg if abs(d - 7 * week) <= 7]
        return near[-1] if near else None


def _groups(session: Session, principal: Principal) -> dict[int, Patient]:
    query = select(
        PatientProfile.user_id,
        PatientProfile.enrolled_at,
        PatientProfile.clinic_id,
        PatientProfile.ruleset_id,
    ).where(PatientProfile.clinic_id.is_not(None))
    if principal.role != "admin":
        query = query.where(PatientProfile.clinic_id == principal.clinic_id)
    profiles = session.execute(query).all()
    clinics = {p.clinic_id for p in profiles}
    rulesets = {
        r.id: r
        for r in session.scalars(select(RuleSet).where(RuleSet.clinic_id.in_(sorted(clinics))))
    }
    defaults = {r.clinic_id: r for r in rulesets.values() if r.is_default}
    bundled = load_ruleset(default_ruleset_text()).slug
    patients = {}
    for pid, enrolled_at, clinic_id, ruleset_id in profiles:
        assert clinic_id is not None  # the query keeps patients of a clinic only
        ruleset = rulesets.get(ruleset_id) if ruleset_id else defaults.get(clinic_id)
        slug, version = (ruleset.slug, ruleset.published_version) if ruleset else (bundled, None)
        patients[pid] = Patient(pid, enrolled_at, (clinic_id, slug, version))
    return patients


def _load(session: Session, patients: dict[int, Patient]) -> None:
    ids = sorted(patients)
    for part in chunks(session, ids):
        days = session.execute(
            select(DailyActivity.patient_id, DailyActivity.date, func.max(DailyActivity.steps))
            .where(DailyActivity.patient_id.in_(part))
            .group_by(DailyActivity.patient_id, DailyActivity.date)
        )
        for pid, day, steps in days:
            person = patients[pid]
            noon = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)
            person.steps[person.day(noon)] = steps
        for pid, score, at in session.execute(
            select(PainReport.patient_id, PainReport.score, PainReport.recorded_at).where(
                PainReport.patient_id.in_(part)
            )
        ):
            person = patients[pid]
            person.pain[person.day(at)].append(score)
            person.reports.append(person.day(at))
        for pid, at in session.execute(
            select(ExerciseSession.patient_id, ExerciseSession.performed_at).where(
                ExerciseSession.patient_id.in_(part)
            )
        ):
            patients[pid].reports.append(patients[pid].day(at))
        for pid, instrument, answer, at in session.execute(
            select(
                QuestionnaireResponse.patient_id,
                QuestionnaireResponse.instrument,
                QuestionnaireResponse.score,
                QuestionnaireResponse.answered_at,
            )
            .where(QuestionnaireResponse.patient_id.in_(part))
            .order_by(QuestionnaireResponse.answered_at)
        ):
            person = patients[pid]
            person.reports.append(person.day(at))
            if instrument == "peg":
                person.peg.append((person.day(at), answer))
        for pid, read, rated, helpful in session.execute(
            select(
                Tip.patient_id,
                func.count(Tip.read_at),
                func.count(Tip.helpful),
                func.count().filter(Tip.helpful.is_(True)),
            )
            .where(Tip.patient_id.in_(part))
            .group_by(Tip.patient_id)
        ):
            person = patients[pid]
            person.tips_read, person.rated, person.helpful = read, rated, helpful


def _share(count: int, total: int) -> float | None:
    return round(count / total, 4) if total else None


def _mean(values: Sequence[float]) -> float | None:
    return round(statistics.fmean(values), 2) if values else None


def _steps_change(person: Patient, now: dt.datetime) -> float | None:
    base = person.mean_steps(0)
    latest = min(person.weeks(now), WEEKS) - 1
    later = person.mean_steps(latest) if latest >= 1 else None
    return later - base if base is not None and later is not None else None


def _pain_change(person: Patient, weeks: int) -> float | None:
    """Relative pain change (negative: less pain) from week 0 to the milestone's last week."""
    base, later = person.mean_pain(0), person.mean_pain(weeks - 1)
    if base is None or later is None or base <= 0:
        return None
    return (later - base) / base


def _latest_pain_change(person: Patient, now: dt.datetime) -> float | None:
    for weeks in range(min(person.weeks(now), WEEKS), 1, -1):
        change = _pain_change(person, weeks)
        if change is not None:
            return change
    return None


def _figures(people: list[Patient], now: dt.datetime) -> dict[str, Any]:
    active = []
    for week in range(WEEKS):
        lived = [p for p in people if p.weeks(now) > week]
        count = sum(p.active(week) for p in lived)
        share = _share(count, len(lived))
        active.append({"week": week, "eligible": len(lived), "active": count, "share": share})
    done = [p for p in people if p.weeks(now) >= WEEKS]
    completed = sum(p.active(WEEKS - 1) for p in done)
    steps = [c for p in people if (c := _steps_change(p, now)) is not None]
    pain, peg = [], []
    for weeks in MILESTONES:
        changes = [c for p in people if (c := _pain_change(p, weeks)) is not None]
        pain.append(
            {
                "week": weeks,
                "patients": len(changes),
                "mean_change_pct": _mean([100 * c for c in changes]),
                "share_30": _share(sum(c <= -0.30 for c in changes), len(changes)),
                "share_50": _share(sum(c <= -0.50 for c in changes), len(changes)),
            }
        )
        pegs = [
            later - p.peg[0][1]
            for p in people
            if p.peg and p.peg[0][0] <= 14 and (later := p.peg_at(weeks)) is not None
        ]
        peg.append({"week": weeks, "patients": len(pegs), "mean_change": _mean(pegs)})
    return {
        "enrolled": len(people),
        "active_by_week": active,
        "completed_12_weeks": {
            "eligible": len(done),
            "completed": completed,
            "share": _share(completed, len(done)),
        },
        "steps_change": {
            "patients": len(steps),
            "mean": _mean(steps),
            "median": round(statistics.median(steps), 1) if steps else None,
        },
        "pain": pain,
        "peg": peg,
        "engagement": _engagement(people, now),
    }


def _engagement(people: Iterable[Patient], now: dt.datetime) -> list[dict[str, Any]]:
    ranked = sorted(people, key=lambda p: len(p.reports) / max(p.weeks(now), 1))
    thirds = [ranked[i * len(ranked) // 3 : (i + 1) * len(ranked) // 3] for i in range(3)]
    bands = []
    for name, band in zip(("low", "middle", "high"), thirds, strict=True):
        weeks = [max(p.weeks(now), 1) for p in band]
        pain = [c for p in band if (c := _latest_pain_change(p, now)) is not None]
        steps = [c for p in band if (c := _steps_change(p, now)) is not None]
        rated = sum(p.rated for p in band)
        bands.append(
            {
                "band": name,
                "patients": len(band),
                "reports_per_week": _mean(
                    [len(p.reports) / w for p, w in zip(band, weeks, strict=True)]
                ),
                "tips_read_per_week": _mean(
                    [p.tips_read / w for p, w in zip(band, weeks, strict=True)]
                ),
                "helpful_share": _share(sum(p.helpful for p in band), rated),
                "mean_pain_change_pct": _mean([100 * c for c in pain]),
                "mean_steps_change": _mean(steps),
            }
        )
    return bands


def programme_outcomes(session: Session, principal: Principal, now: dt.datetime) -> dict[str, Any]:
    """Report the programme outcomes of the caller's clinic (admins: every clinic)."""
    patients = _groups(session, principal)
    _load(session, patients)
    groups: dict[tuple[int, str, int | None], list[Patient]] = defaultdict(list)
    for person in patients.values():
        groups[person.group].append(person)
    names = dict(session.execute(select(Clinic.id, Clinic.name)).all())
    record(session, principal, "outcomes.programme", "clinic", principal.clinic_id or "all")
    return {
        "as_of": now,
        "groups": [
            {
                "clinic_id": key[0],
                "clinic": names.get(key[0], ""),
                "ruleset": key[1],
                "version": key[2],
                **_figures(groups[key], now),
            }
            for key in sorted(groups, key=lambda k: (k[0], k[1], k[2] or 0))
        ],
    }
