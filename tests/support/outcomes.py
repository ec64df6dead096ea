"""A randomised rule set and a clinic's patients following it, for the outcomes tests."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

import rules
from integrations.wearables import IntradaySteps
from integrations.wearables.sandbox_cohort import CohortModel
from service.connections import ingest
from service.evaluation import service
from service.extensions import db
from service.outcomes.models import DecisionRecord
from service.patients.models import PatientProfile
from service.rulesets.models import RuleSet, RuleSetVersion
from tests.support.factories import make_patient

MRT_YAML = """\
ruleset: mrt-walk
title: Walking suggestions, micro-randomised
settings:
  decision_times: ["09:00", "15:00"]
  max_tips_per_day: 3
  quiet_hours: {start: "21:00", end: "08:00"}
  target: {initial: 4000, min: 2000, max: 12000, max_weekly_increase: 0.10}
tips:
  walk-now:
    category: general
    title: A short walk now?
    text: A ten-minute walk at an easy pace is a good way to ease a stiff back.
    variants:
      - {title: "Time for a stroll?", text: "Even a few minutes on your feet now will help."}
  stretch:
    category: flexibility
    title: A gentle stretch
    text: Try a slow knee-to-chest stretch, holding each side for a few breaths.
rules:
  - id: walk-nudge
    on: [schedule]
    when: "steps.today is null or steps.today >= 0"
    randomize: {probability: 0.5}
    then: [{send_tip: walk-now}]
  - id: stretch-nudge
    on: [schedule]
    when: "steps.today is null or steps.today >= 0"
    randomize: {probability: 0.5}
    then: [{send_tip: stretch}]
"""


def mrt_ruleset(clinic_id: int, text: str = MRT_YAML) -> int:
    """Publish the randomised rule set in the clinic; return its id (caller commits)."""
    session = db.session()
    rules.load_ruleset(text)  # valid, or the test is wrong
    ruleset = RuleSet(clinic_id=clinic_id, slug="mrt-walk", title="MRT")
    session.add(ruleset)
    session.flush()
    session.add(RuleSetVersion(ruleset_id=ruleset.id, version=1, yaml_text=text))
    ruleset.published_version = 1
    session.flush()
    return ruleset.id


def follow(patient_id: int, ruleset_id: int) -> None:
    """Assign the rule set to the patient (caller commits)."""
    profile = db.session.get(PatientProfile, patient_id)
    assert profile is not None
    profile.ruleset_id = ruleset_id


def mrt_patients(
    clinic, ruleset_id: int, count: int, enrolled_at: dt.datetime, prefix: str = "mrt"
) -> list[int]:
    """Enrol `count` patients of the clinic on the rule set (caller commits)."""
    ids = []
    for n in range(count):
        user = make_patient(
            clinic, email=f"{prefix}{n}@example.org", timezone="UTC", enrolled_at=enrolled_at
        )
        follow(user.id, ruleset_id)
        ids.append(user.id)
    return ids


COHORT_YAML = MRT_YAML.replace(
    'when: "steps.today is null or steps.today >= 0"\n    randomize: {probability: 0.5}\n'
    "    then: [{send_tip: walk-now}]",
    'when: "time.hour < 12"\n    randomize: {probability: 0.5}\n    then: [{send_tip: walk-now}]',
).replace(
    'when: "steps.today is null or steps.today >= 0"\n    randomize: {probability: 0.5}\n'
    "    then: [{send_tip: stretch}]",
    'when: "time.hour >= 12"\n    randomize: {probability: 0.5}\n    then: [{send_tip: stretch}]',
)


def run_cohort(
    patients: list[int],
    enrolled_at: dt.datetime,
    days: int,
    models: dict[str, CohortModel],
) -> None:
    """Evaluate the cohort at 09:00 and 15:00 UTC for `days` days through the pipeline, then
    report the hour after each decision as the sandbox cohort model says (its effect per rule:
    `models[rule_id]`), as intraday counts stored by the ingest path."""
    start = enrolled_at.replace(hour=0, minute=0, second=0, microsecond=0)
    for day in range(days):
        for hour in (9, 15):
            at = start + dt.timedelta(days=day, hours=hour)
            with db.transaction() as session:
                service.evaluate(session, patients, "schedule", at)
    counts: dict[int, list[IntradaySteps]] = {pid: [] for pid in patients}
    for record in db.session.scalars(select(DecisionRecord)):
        sent = record.outcome == "fired"
        model = models[record.rule_id]
        counts[record.patient_id] += model.hour_after(
            str(record.patient_id), record.decided_at, enrolled_at, sent=sent
        )
    latest = start + dt.timedelta(days=days + 1)
    with db.transaction() as session:
        for pid, items in counts.items():
            ingest.upsert_intraday(session, pid, "sandbox", items, latest)
