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


def _claim_both_while_b_uploads(seed: Seed, now: dt.datetime) -> dict[int, int]:
    """Mark patients A and B, claim both, then mark B again as if an upload landed meanwhile."""
    with db.transaction() as session:
        mark(session, [seed.patient_a, seed.patient_b], now)
    with db.transaction() as session:
        claimed = claim(session, now, 10)
    assert claimed == {seed.patient_a: 1, seed.patient_b: 1}
    with db.transaction() as session:
        mark(session, [seed.patient_b], now)
    return claimed


def test_it_keeps_a_mark_that_an_upload_bumped_during_the_evaluation(
    app: Any, seed: Seed, now: dt.datetime
) -> None:
    claimed = _claim_both_while_b_uploads(seed, now)
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


HOUR = dt.timedelta(hours=1)


def test_a_throttled_patient_is_evaluated_at_most_once_an_interval(
    client: Any, seed: Seed, now: dt.datetime
) -> None:
    _on_walked_rules(seed, now)
    assert _put(client, seed, now, 1000).status_code == 200
    now += dt.timedelta(seconds=20)  # the upload marked the patient on the request's clock
    assert run_pending(now, interval=HOUR).evaluated == 1
    # The row stays, emptied: it says when the patient may be evaluated again.
    assert _marks() == {seed.patient_a: (0, None)}

    # A walk uploaded a minute later waits for the hour; the upload itself answers at once.
    with db.transaction() as session:
        mark(session, [seed.patient_a], now + dt.timedelta(minutes=1))
    assert run_pending(now + dt.timedelta(minutes=2), interval=HOUR).evaluated == 0
    assert run_pending(now + HOUR - dt.timedelta(seconds=1), interval=HOUR).evaluated == 0
    assert _evaluations() == [(seed.patient_a, "activity")]

    assert run_pending(now + HOUR, interval=HOUR).evaluated == 1
    assert _evaluations() == [(seed.patient_a, "activity")] * 2
    # Nothing new for an hour: the empty row goes, and the next upload is evaluated at once.
    assert run_pending(now + 2 * HOUR, interval=HOUR).evaluated == 0
    assert _marks() == {}
    with db.transaction() as session:
        mark(session, [seed.patient_a], now + 3 * HOUR)
    assert run_pending(now + 3 * HOUR, interval=HOUR).evaluated == 1


def test_a_mark_bumped_during_a_throttled_evaluation_waits_for_the_interval(
    app: Any, seed: Seed, now: dt.datetime
) -> None:
    claimed = _claim_both_while_b_uploads(seed, now)
    with db.transaction() as session:
        settle(session, claimed, now=now, interval=HOUR)

    assert _marks() == {seed.patient_a: (0, None), seed.patient_b: (1, None)}
    with db.transaction() as session:
        assert claim(session, now + dt.timedelta(minutes=59), 10) == {}
    with db.transaction() as session:
        assert claim(session, now + HOUR, 10) == {seed.patient_b: 1}


def test_the_throttle_comes_from_the_setting_and_spares_pain_reports(
    make_app: Any, seed: Seed, now: dt.datetime
) -> None:
    app = make_app(activity_evaluation_interval_s=3600)
    client = app.test_client()
    with app.app_context():
        _on_walked_rules(seed, now)
        with db.transaction() as session:
            mark(session, [seed.patient_a], now)
        assert run_pending(now).evaluated == 1
        with db.transaction() as session:
            mark(session, [seed.patient_a], now + dt.timedelta(minutes=1))
        assert run_pending(now + dt.timedelta(minutes=2)).evaluated == 0

        # A pain report is answered in its request, whatever the activity throttle.
        answer = client.post("/v1/me/pain", json={"score": 6}, headers=seed.headers("patient_a"))
        assert answer.status_code == 201, answer.json
        db.session.remove()
        triggers = list(
            db.session.scalars(
                select(Evaluation.trigger).where(Evaluation.patient_id == seed.patient_a)
            )
        )
        assert sorted(triggers) == ["activity", "pain_report"]
