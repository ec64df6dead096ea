"""Benchmark: the console's Today page against the JSON patient list, same data, same run.

Each backend (SQLite, then PostgreSQL) gets a fresh database with one clinic of 1,000 patients
holding 90 days of steps each, a pain report every third evening, a target change every two
weeks, a wearable connection, and an open alert for one patient in twenty. The Today page
ranks all 1,000 by need and draws the first 25 with their 28-day sparklines;
`GET /v1/clinician/patients` summarises all 1,000 as JSON. Both are timed in-process (server
time: the request through the whole app, no network), alternating, after a warm-up.
Usage: `python bench/console.py [PATIENTS] [ROUNDS]` (PG_URL overrides the PostgreSQL server).
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.fernet import Fernet
from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

from service import create_app, migrate
from service.accounts.models import Clinic, User
from service.accounts.security import TokenClaims, issue_token
from service.activity.models import DailyActivity
from service.alerts.models import ClinicianAlert
from service.config import load_settings
from service.connections.models import WearableConnection
from service.console import sessions
from service.extensions import db, get_settings
from service.patients.models import PatientProfile
from service.plans.models import Plan, PlanChange
from service.reports.models import PainReport

PG_SERVER = os.environ.get("PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DAYS = 90
WARMUP = 3


def seed(patients: int) -> tuple[int, int]:
    """One clinic, its clinician and `patients` patients with 90 days each; return the ids."""
    now = dt.datetime.now(dt.UTC)
    today = now.date()
    with db.transaction() as session:
        clinic = Clinic(name="Bench clinic")
        session.add(clinic)
        session.flush()
        clinician = User(
            email="doc@bench.example", password_hash="x", role="clinician", clinic_id=clinic.id
        )
        session.add(clinician)
        session.flush()
        users = [
            {"email": f"p{n}@bench.example", "password_hash": "x", "role": "patient",
             "clinic_id": clinic.id, "token_version": 0, "created_at": now}
            for n in range(patients)
        ]  # fmt: skip
        ids = list(
            session.scalars(insert(User).returning(User.id, sort_by_parameter_order=True), users)
        )
        enrolled = now - dt.timedelta(days=DAYS)
        session.execute(
            insert(PatientProfile),
            [
                {"user_id": pid, "clinic_id": clinic.id, "clinician_id": clinician.id,
                 "timezone": "Europe/London", "locale": "en", "conditions": [],
                 "enrolled_at": enrolled, "extra": {}}
                for pid in ids
            ],
        )  # fmt: skip
        session.execute(
            insert(Plan),
            [{"patient_id": pid, "daily_target": 5000, "changed_at": now} for pid in ids],
        )
        session.execute(
            insert(PlanChange),
            [
                {"patient_id": pid, "effective_at": enrolled + dt.timedelta(days=week * 14),
                 "target": 3000 + week * 300, "reason": "progress" if week else "initial"}
                for pid in ids
                for week in range(DAYS // 14 + 1)
            ],
        )  # fmt: skip
        rows = []
        for index, pid in enumerate(ids):
            base = 2500 + (index * 37) % 4000
            for back in range(DAYS):
                rows.append(
                    {"patient_id": pid, "date": today - dt.timedelta(days=back), "source": "manual",
                     "steps": base + (back * 131 + index) % 1500, "updated_at": now}
                )  # fmt: skip
        for start in range(0, len(rows), 20_000):
            session.execute(insert(DailyActivity), rows[start : start + 20_000])
        session.execute(
            insert(PainReport),
            [
                {"patient_id": pid, "score": (index + back) % 9,
                 "recorded_at": now - dt.timedelta(days=back, hours=3), "red_flags": [],
                 "created_at": now}
                for index, pid in enumerate(ids)
                for back in range(0, DAYS, 3)
            ],
        )  # fmt: skip
        session.execute(
            insert(WearableConnection),
            [
                {"patient_id": pid, "provider": "sandbox", "status": "active", "scopes": [],
                 "pending": [], "attempts": 0, "created_at": now,
                 "last_sync_at": now - dt.timedelta(minutes=index % 300)}
                for index, pid in enumerate(ids)
            ],
        )  # fmt: skip
        session.execute(
            insert(ClinicianAlert),
            [
                {"clinic_id": clinic.id, "patient_id": pid, "severity": "warning",
                 "message": "Check in", "created_at": now - dt.timedelta(hours=index % 48)}
                for index, pid in enumerate(ids)
                if index % 20 == 0
            ],
        )  # fmt: skip
        clinic_id, clinician_id = clinic.id, clinician.id
    if db.dialect == "postgresql":
        # As a running database would have them: planner statistics of the fresh tables.
        with db.engine.connect() as conn:
            conn.execute(text("COMMIT"))
            conn.execute(text("ANALYZE"))
    return clinic_id, clinician_id


def timed(client: Any, path: str, headers: dict[str, str] | None = None) -> float:
    """One request's time in milliseconds (it must succeed)."""
    started = time.perf_counter()
    response = client.get(path, headers=headers or {})
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, (path, response.status_code)
    response.close()
    return elapsed


def run(label: str, url: str, patients: int, rounds: int) -> dict[str, float]:
    """Seed a fresh database at `url`, then time both views; return median milliseconds."""
    migrate.upgrade(url)
    settings = load_settings(
        {"SECRET_KEY": "bench-" + "k" * 40, "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
         "DATABASE_URL": url, "LOG_LEVEL": "WARNING"}
    )  # fmt: skip
    app = create_app(settings)
    with app.app_context():
        started = time.perf_counter()
        clinic_id, clinician_id = seed(patients)
        took = time.perf_counter() - started
        print(f"[{label}] seeded {patients} patients x {DAYS} days in {took:.1f} s")
        token = issue_token(TokenClaims(clinician_id, "clinician", clinic_id, 0), get_settings())
        bearer = {"Authorization": f"Bearer {token}"}
        with db.transaction() as session:
            session_id = sessions.open_session(
                session, get_settings(), clinician_id, dt.datetime.now(dt.UTC)
            )
        browser = app.test_client()
        with browser.session_transaction() as cookie:
            cookie["sid"] = session_id
        api = app.test_client()
        views = {
            "today": (browser, "/console/", None),
            "today_search": (browser, "/console/?q=p99", None),
            "json_list": (api, "/v1/clinician/patients", bearer),
        }
        for client, path, headers in views.values():
            for _ in range(WARMUP):
                timed(client, path, headers)
        samples: dict[str, list[float]] = {name: [] for name in views}
        for _ in range(rounds):
            for name, (client, path, headers) in views.items():
                samples[name].append(timed(client, path, headers))
        db.session.remove()
    figures = {}
    for name, values in samples.items():
        median = statistics.median(values)
        p90 = sorted(values)[int(len(values) * 0.9) - 1]
        figures[name] = median
        print(f"[{label}] {name:<13} median {median:7.1f} ms   p90 {p90:7.1f} ms   ({rounds} runs)")
    print(f"[{label}] Today page / JSON list: {figures['today'] / figures['json_list']:.2f}x")
    return figures


def main() -> None:
    """Time both backends and print the RESULT line."""
    patients = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 15
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        sqlite = run("sqlite", f"sqlite:///{folder}/bench.db", patients, rounds)
    for name, value in sqlite.items():
        results[f"sqlite_{name}_ms"] = value
    results["sqlite_ratio"] = sqlite["today"] / sqlite["json_list"]
    server = make_url(PG_SERVER).set(drivername="postgresql+psycopg")
    name = f"bench_console_{secrets.token_hex(3)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        pg = run("postgresql", server.set(database=name).render_as_string(hide_password=False),
                 patients, rounds)  # fmt: skip
    finally:
        db.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    for key, value in pg.items():
        results[f"pg_{key}_ms"] = value
    results["pg_ratio"] = pg["today"] / pg["json_list"]
    print("RESULT " + " ".join(f"{key}={value:.2f}" for key, value in results.items()))


if __name__ == "__main__":
    main()
