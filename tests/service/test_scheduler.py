"""Scheduled evaluation: due patients evaluated exactly once, even with two workers at once."""

from __future__ import annotations

import datetime as dt
import logging
import socket
import threading

import pytest
from flask import Flask
from prometheus_client import REGISTRY
from sqlalchemy import create_engine, func, select

from service.evaluation.models import Evaluation
from service.evaluation.population import DueResult, evaluate_due, purge_old_evaluations
from service.extensions import db
from service.patients.models import PatientProfile
from service.scheduler import JOBS, Job, build_scheduler, run_job
from service.tips.models import Tip
from tests.support.factories import make_patient

NOW = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)
ZONES = ["Europe/London", "America/New_York", "Asia/Kolkata", "Pacific/Auckland"]


def _patients(count: int, due: dt.datetime | None) -> list[int]:
    ids = []
    with db.transaction() as session:
        for number in range(count):
            user = make_patient(
                None,
                email=f"due{number}@example.org",
                timezone=ZONES[number % len(ZONES)],
                enrolled_at=NOW - dt.timedelta(days=10),
            )
            profile = session.get(PatientProfile, user.id)
            assert profile is not None
            profile.next_decision_at = due
            ids.append(user.id)
    return ids


def _evaluations() -> int:
    return db.session.scalar(select(func.count()).select_from(Evaluation)) or 0


def test_it_evaluates_due_patients_once_and_schedules_their_next_decision(app: Flask) -> None:
    ids = _patients(5, NOW - dt.timedelta(minutes=1))
    first = evaluate_due(NOW, batch_size=2)
    again = evaluate_due(NOW + dt.timedelta(seconds=30))
    assert (first.evaluated, first.batches) == (5, 3)
    assert again.evaluated == 0
    assert _evaluations() == 5
    db.session.expire_all()
    for pid in ids:
        profile = db.session.get(PatientProfile, pid)
        assert profile is not None
        assert profile.next_decision_at is not None
        assert profile.next_decision_at > NOW
    keys = set(db.session.scalars(select(Evaluation.decision_key)))
    # 09:00 UTC: London 09:00 (08:30 due), New York 04:00 (yesterday 15:00), Kolkata 14:30
    # (08:30), Auckland 22:00 (15:00).
    assert keys == {
        "schedule:2026-11-27T08:30",
        "schedule:2026-11-26T15:00",
        "schedule:2026-11-27T15:00",
    }


def test_it_schedules_patients_who_have_no_decision_time_yet(app: Flask) -> None:
    _patients(2, None)
    result = evaluate_due(NOW)
    assert result.evaluated == 0
    assert (
        db.session.scalar(select(func.count()).where(PatientProfile.next_decision_at.is_not(None)))
        == 2
    )


def test_it_never_double_evaluates_with_two_workers_at_once(app: Flask) -> None:
    _patients(40, NOW - dt.timedelta(minutes=5))
    results: list[DueResult] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def worker() -> None:
        # Each thread has its own app context, scoped session and connection.
        with app.app_context():
            try:
                start.wait()
                results.append(evaluate_due(NOW, batch_size=7))
            except BaseException as exc:
                errors.append(exc)
            finally:
                db.remove()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sum(r.evaluated for r in results) == 40
    assert sum(r.duplicates for r in results) == 0
    assert _evaluations() == 40


def test_it_purges_evaluations_past_retention_and_keeps_their_tips(app: Flask) -> None:
    (pid,) = _patients(1, NOW - dt.timedelta(minutes=1))
    evaluate_due(NOW)
    with db.transaction() as session:
        evaluation_id = session.scalars(select(Evaluation.id)).one()
        session.add(
            Tip(
                patient_id=pid,
                evaluation_id=evaluation_id,
                rule_id="r",
                tip_key="t",
                category="walking",
                title="Title",
                text="Text",
            )
        )
    assert purge_old_evaluations(NOW + dt.timedelta(days=10)) == 0
    assert purge_old_evaluations(NOW + dt.timedelta(days=200)) == 1
    assert _evaluations() == 0
    # The tip stays, no longer pointing at the purged record (tips.evaluation_id has no key).
    tips = db.session.execute(select(Tip.evaluation_id).where(Tip.patient_id == pid)).all()
    assert tips
    assert all(row.evaluation_id is None for row in tips)


def test_it_registers_every_job_with_an_explicit_id(app: Flask) -> None:
    scheduler = build_scheduler(app, blocking=False, now=NOW)
    assert {job.id for job in scheduler.get_jobs()} == {
        "sync_connections",
        "evaluate_due",
        "evaluate_pending",
        "deliver_outbox",
        "refresh_tokens",
        "renew_subscriptions",
        "purge_old_data",
        "fhir_exports",
        "proximal_outcomes",
    }


def test_it_runs_a_job_in_an_app_context_and_reports_the_outcome(app: Flask) -> None:
    _patients(2, dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
    job = next(job for job in JOBS if job.id == "evaluate_due")
    outcome = run_job(app, job)
    assert outcome is not None
    assert outcome.startswith("evaluated 2 patients")


def test_it_keeps_quiet_ticks_out_of_the_log(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    job = next(job for job in JOBS if job.id == "evaluate_due")
    with caplog.at_level(logging.INFO, logger="service.scheduler"):
        assert run_job(app, job) is None  # nobody is due
    assert [r for r in caplog.records if r.name == "service.scheduler"] == []


def test_a_job_that_loses_the_database_logs_counts_and_waits_for_its_next_tick(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    # A real refusal: nothing listens on this port.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    nowhere = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{port}/none")

    def connect() -> str:
        with nowhere.connect():
            return "connected"

    job = Job("lost_db_probe", connect, 30, 0)
    before = REGISTRY.get_sample_value(
        "backstride_job_failures_total", {"job": job.id, "kind": "database_unavailable"}
    )
    with caplog.at_level(logging.WARNING, logger="service.scheduler"):
        assert run_job(app, job) is None  # logged, never raised
    after = REGISTRY.get_sample_value(
        "backstride_job_failures_total", {"job": job.id, "kind": "database_unavailable"}
    )
    assert (after or 0) - (before or 0) == 1
    assert REGISTRY.get_sample_value(
        "backstride_database_unavailable_total", {"where": job.id}
    ) == pytest.approx(after)
    assert any(
        "database unavailable, resuming at the next tick" in r.getMessage() for r in caplog.records
    )
    nowhere.dispose()
