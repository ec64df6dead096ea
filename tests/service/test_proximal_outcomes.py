"""Proximal outcomes: intraday when there is some, walks otherwise, null without data; once."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from integrations.wearables import IntradaySteps
from service.accounts.models import Clinic
from service.activity.models import DailyActivity, WalkingSession
from service.connections import ingest
from service.evaluation import service
from service.extensions import db
from service.outcomes import proximal
from service.outcomes.cli import outcomes_cli
from service.outcomes.models import DecisionRecord
from tests.support.factories import Seed
from tests.support.outcomes import MRT_YAML, mrt_patients, mrt_ruleset

NOW = dt.datetime(2026, 11, 27, 16, 0, tzinfo=dt.UTC)
AT = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)  # the decision time
ALWAYS = MRT_YAML.replace("probability: 0.5", "probability: 1")


@pytest.fixture
def now() -> dt.datetime:
    """The named users are enrolled on this module's clock."""
    return NOW


@pytest.fixture
def decided(seed: Seed) -> list[int]:
    """Three patients, each with decision records at AT (P = 1: every tip sent)."""
    with db.transaction():
        clinic = db.session.get(Clinic, seed.clinic_id)
        ruleset_id = mrt_ruleset(seed.clinic_id, ALWAYS)
        patients = mrt_patients(clinic, ruleset_id, 3, AT - dt.timedelta(days=10))
    with db.transaction() as session:
        service.evaluate(session, patients, "schedule", AT)
    return patients


def _record(patient: int) -> DecisionRecord:
    return db.session.scalars(
        select(DecisionRecord)
        .where(DecisionRecord.patient_id == patient, DecisionRecord.rule_id == "walk-nudge")
        .execution_options(populate_existing=True)
    ).one()


def test_it_counts_the_hour_after_from_intraday_steps(decided: list[int]) -> None:
    patient = decided[0]
    quarter = dt.timedelta(minutes=15)
    counts = [
        IntradaySteps(AT - quarter, 15, 999, "sandbox"),  # before: not counted
        IntradaySteps(AT, 15, 100, "sandbox"),
        IntradaySteps(AT + 2 * quarter, 15, 250, "sandbox"),
        IntradaySteps(AT + 4 * quarter, 15, 999, "sandbox"),  # after the hour: not counted
    ]
    with db.transaction() as session:
        ingest.upsert_intraday(session, patient, "sandbox", counts, NOW)
        session.add(DailyActivity(patient_id=patient, date=AT.date(), source="sandbox", steps=5000))
        next_day = AT.date() + dt.timedelta(days=1)
        session.add(DailyActivity(patient_id=patient, date=next_day, source="sandbox", steps=6100))
    proximal.run_due(NOW)
    record = _record(patient)
    assert (record.steps_60m, record.steps_60m_source) == (350, "intraday")
    assert (record.steps_day, record.steps_next_day) == (5000, 6100)
    assert record.outcomes_at == NOW


def test_it_falls_back_to_walks_pro_rated_and_leaves_no_data_null(decided: list[int]) -> None:
    walker, absent = decided[1], decided[2]
    with db.transaction() as session:
        session.add(DailyActivity(patient_id=walker, date=AT.date(), source="manual", steps=4000))
        # A 40-minute walk from 08:40: its last 20 minutes, half its steps, fall in the hour.
        session.add(
            WalkingSession(
                patient_id=walker,
                source="manual",
                external_id="w1",
                start=AT - dt.timedelta(minutes=20),
                end=AT + dt.timedelta(minutes=20),
                steps=1200,
            )
        )
    proximal.run_due(NOW)
    walked = _record(walker)
    assert (walked.steps_60m, walked.steps_60m_source) == (600, "sessions")
    assert walked.steps_next_day is None
    missing = _record(absent)
    assert missing.steps_60m is None
    assert missing.steps_60m_source is None
    assert missing.outcomes_at == NOW  # computed: there was nothing to find


def test_it_waits_for_the_window_to_close_and_computes_once(decided: list[int]) -> None:
    assert proximal.run_due(AT + dt.timedelta(hours=30)) == 0
    assert proximal.run_due(NOW) == 2 * len(decided)
    assert proximal.run_due(NOW + dt.timedelta(days=1)) == 0


def test_it_exports_the_decision_records_as_csv(app: Flask, decided: list[int]) -> None:
    proximal.run_due(NOW)
    result = app.test_cli_runner().invoke(outcomes_cli, ["export", "--ruleset", "mrt-walk"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if not line.startswith("exported")]
    rows = list(csv.DictReader(io.StringIO("\n".join(lines))))
    assert len(rows) == 2 * len(decided)
    assert {r["outcome"] for r in rows} == {"fired"}
    assert {r["probability"] for r in rows} == {"1.0"}
    assert {r["read"] for r in rows} == {"False"}


@pytest.mark.parametrize(
    ("args", "words"),
    [(["export", "--clinic", "Nowhere"], "no clinic"), (["export", "--from", "soon"], "--from")],
)
def test_it_refuses_bad_export_options(app: Flask, args: list[str], words: str) -> None:
    result: Any = app.test_cli_runner().invoke(outcomes_cli, args)
    assert result.exit_code != 0
    assert words in result.output
