"""Deferred `activity` evaluations: uploads mark the patient, the scheduled job evaluates once."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from service.evaluation.models import Evaluation, PendingEvaluation
from service.evaluation.pending import LEASE, claim, mark, run_pending, settle
from service.extensions import db
from service.patients.models import PatientProfile
from service.rulesets.service import add_version, publish
from service.tips.models import Tip
from tests.support.factories import Seed

pytestmark = pytest.mark.db

WALKED = """\
ruleset: walked
title: Answers new activity data
settings:
  decision_times: ["08:30"]
  max_tips_per_day: 3
  target: {initial: 4000, min: 2000, max: 12000, max_weekly_increase: 0.10}
tips:
  walked:
    category: general
    title: Steps received
    text: "Your steps are in. Every walk counts."
rules:
  - id: walked
    description: New activity data arrived.
    on: [activity]
    when: plan.target > 0
    then:
      - send_tip: walked
"""


def _put(client: Any, seed: Seed, now: dt.datetime, steps: int) -> Any:
    day = (now - dt.timedelta(days=1)).date().isoformat()
    return client.put(
        "/v1/me/activity/daily",
        json={"days": [{"date": day, "steps": steps, "source": "healthkit"}]},
        headers=seed.headers("patient_a"),
    )


def _on_walked_rules(seed: Seed, now: dt.datetime) -> None:
    with db.transaction() as session:
        ruleset, _ = add_version(session, seed.clinic_id, WALKED, None, now)
        publish(session, ruleset, 1, now)
        profile = session.get(PatientProfile, seed.patient_a)
        assert profile is not None
        profile.ruleset_id = ruleset.id


def _evaluations() -> list[tuple[int, str]]:
    db.session.remove()
    return [
        tuple(row) for row in db.session.execute(select(Evaluation.patient_id, Evaluation.trigger))
    ]  # type: ignore[misc]


def _marks() -> dict[int, tuple[int, dt.datetime | None]]:
    db.session.remove()
    rows = db.session.execute(
        select(
            PendingEvaluation.patient_id, PendingEvaluation.marks, PendingEvaluation.claimed_until
        )
    )
    return {pid: (marks, until) for pid, marks, until in rows}


def test_it_answers_an_upload_at_once_and_evaluates_many_uploads_once(
    client: Any, seed: Seed, now: dt.datetime
) -> None:
    _on_walked_rules(seed, now)
    for steps in (1000, 2000, 3000):
        response = _put(client, seed, now, steps)
        assert response.status_code == 200
        assert response.json == {"upserted": 1, "evaluation": "pending"}
    assert _evaluations() == []
    assert _marks() == {seed.patient_a: (3, None)}

    result = run_pending(now + dt.timedelta(seconds=20))

    assert (result.evaluated, result.tips, result.failed) == (1, 1, 0)
    assert _evaluations() == [(seed.patient_a, "activity")]
    assert _marks() == {}
    tips = list(db.session.scalars(select(Tip.tip_key).where(Tip.patient_id == seed.patient_a)))
    assert tips == ["walked"]
    assert run_pending(now + dt.timedelta(seconds=40)).evaluated == 0


def test_it_keeps_a_mark_that_an_upload_bumped_during_the_evaluation(
    app: Any, seed: Seed, now: dt.datetime
) -> None:
    with db.transaction() as session:
        mark(session, [seed.patient_a, seed.patient_b], now)
    with db.transaction() as session:
        claimed = claim(session, now, 10)
    assert claimed == {seed.patient_a: 1, seed.patient_b: 1}
    with db.transaction() as session:
        mark(session, [seed.patient_b], now)  # an upload lands while the batch runs
    with db.transaction() as session:
        settle(session, claimed)

    assert _marks() == {seed.patient_b: (2, None)}  # released, so the next run takes it
    assert run_pending(now).evaluated == 1
    assert _marks() == {}


def test_it_never_hands_a_leased_mark_to_a_second_worker(
    app: Any, seed: Seed, now: dt.datetime
) -> None:
    with db.transaction() as session:
        mark(session, [seed.patient_a], now)
    with db.transaction() as session:
        assert claim(session, now, 10) == {seed.patient_a: 1}
    with db.transaction() as session:
        assert claim(session, now + dt.timedelta(seconds=30), 10) == {}
    # A worker that died leaves its lease; once it runs out, another worker takes the mark.
    with db.transaction() as session:
        assert claim(session, now + LEASE, 10) == {seed.patient_a: 1}
