"""Two real scheduler processes evaluate the same due population: each patient exactly once."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

from flask import Flask
from sqlalchemy import func, select

from service.config import Settings
from service.evaluation.models import Evaluation
from service.evaluation.schedule import latest_decision_key
from service.extensions import db
from service.patients.models import PatientProfile
from service.rulesets.compiled import bundled_default
from tests.support.factories import make_patient

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)
ZONES = ["Europe/London", "America/New_York", "Asia/Kolkata", "Pacific/Auckland"]
PATIENTS = 50


def _due_patients() -> dict[int, str]:
    """Create due patients; return patient id -> time zone."""
    zones = {}
    with db.transaction() as session:
        for number in range(PATIENTS):
            zone = ZONES[number % len(ZONES)]
            user = make_patient(
                None,
                email=f"proc{number}@example.org",
                timezone=zone,
                enrolled_at=NOW - dt.timedelta(days=10),
            )
            profile = session.get(PatientProfile, user.id)
            assert profile is not None
            profile.next_decision_at = NOW - dt.timedelta(minutes=5)
            zones[user.id] = zone
    return zones


def _start(base_settings: Settings, db_url: str, go: Path) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "SECRET_KEY": base_settings.secret_key,
        "TOKEN_ENCRYPTION_KEY": ",".join(base_settings.token_encryption_keys),
        "BACKSTRIDE_ENV": "testing",
        "LOG_LEVEL": "ERROR",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.scheduler_proc",
            "--now",
            NOW.isoformat(),
            "--go",
            str(go),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_it_evaluates_each_patient_once_with_two_scheduler_processes(
    app: Flask, base_settings: Settings, db_url: str, tmp_path: Path
) -> None:
    zones = _due_patients()
    go = tmp_path / "go"
    procs = [_start(base_settings, db_url, go) for _ in range(2)]
    try:
        for proc in procs:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready"
        go.touch()
        outputs = [proc.communicate(timeout=120) for proc in procs]
    finally:
        for proc in procs:
            proc.kill()
    results = []
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert sum(r["evaluated"] for r in results) == PATIENTS
    db.session.remove()
    rows = db.session.execute(
        select(Evaluation.patient_id, Evaluation.decision_key, func.count())
        .where(Evaluation.trigger == "schedule")
        .group_by(Evaluation.patient_id, Evaluation.decision_key)
    ).all()
    times = bundled_default().ruleset.settings.decision_times
    assert sorted((pid, key, n) for pid, key, n in rows) == sorted(
        (pid, latest_decision_key(zone, times, NOW), 1) for pid, zone in zones.items()
    )
