"""Population evaluation: every due patient evaluated end to end, versus one SQL aggregate scan.

Builds N patients x 30 days of steps and ~3 pain reports each in a throwaway database
(PostgreSQL: a fresh database on postgresql://postgres@127.0.0.1:5432, dropped after, bulk-loaded
with COPY; SQLite: a temporary file), then times

- `evaluate_due(now)`: claim, facts (set-based SQL per batch), the default rule set compiled
  once, decisions, and the bulk writes (evaluations, tips, plan changes, alerts, rule state);
- the baseline: one plain aggregate scan computing every patient's 7-day step mean.

Usage: python bench/population.py [--patients 100000] [--sqlite-patients 20000]
       [--batch 2000] [--skip-pg] [--skip-sqlite]
Ends with: RESULT pg_patients_per_s=... pg_vs_scan=... sqlite_patients_per_s=... sqlite_vs_scan=...
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import random
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from service import create_app, migrate
from service.config import load_settings
from service.evaluation.population import evaluate_due
from service.extensions import db

PG_SERVER = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
ZONES = ["Europe/London", "America/New_York", "Asia/Kolkata", "Australia/Sydney", "UTC"]
DAYS = 30


def _rows(n: int, now: dt.datetime) -> dict[str, list[tuple[Any, ...]]]:
    """Synthetic population: users, profiles, plans, plan changes, days, pain reports."""
    rng = random.Random(42)
    today = now.date()
    enrolled = now - dt.timedelta(days=DAYS + 2)
    due = now - dt.timedelta(minutes=1)
    data: dict[str, list[tuple[Any, ...]]] = {
        "users": [],
        "patient_profiles": [],
        "plans": [],
        "plan_changes": [],
        "daily_activity": [],
        "pain_reports": [],
    }
    for pid in range(1, n + 1):
        data["users"].append((pid, f"p{pid}@bench.example", "x", "patient", 0, enrolled))
        data["patient_profiles"].append(
            (pid, ZONES[pid % len(ZONES)], "en", "[]", enrolled, due, "{}")
        )
        data["plans"].append((pid, 4000, enrolled))
        data["plan_changes"].append((pid, pid, enrolled, 4000, "initial"))
        level = rng.randint(2500, 6500)
        for back in range(1, DAYS + 1):
            steps = max(0, int(level * rng.uniform(0.7, 1.3)))
            data["daily_activity"].append(
                (pid, today - dt.timedelta(days=back), "healthkit", steps, steps * 0.75, now)
            )
        for _ in range(rng.choice((2, 3, 3, 4))):
            at = now - dt.timedelta(hours=rng.uniform(1, 24 * DAYS))
            data["pain_reports"].append((pid, rng.randint(1, 6), at, "[]", now))
    return data


COLUMNS = {
    "users": "id, email, password_hash, role, token_version, created_at",
    "patient_profiles": (
        "user_id, timezone, locale, conditions, enrolled_at, next_decision_at, extra"
    ),
    "plans": "patient_id, daily_target, changed_at",
    "plan_changes": "id, patient_id, effective_at, target, reason",
    "daily_activity": "patient_id, date, source, steps, distance_m, updated_at",
    "pain_reports": "patient_id, score, recorded_at, red_flags, created_at",
}


def _load_pg(url: str, data: dict[str, list[tuple[Any, ...]]]) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        raw: Any = conn.connection.driver_connection
        with raw.cursor() as cursor:
            for table, rows in data.items():
                with cursor.copy(f"COPY {table} ({COLUMNS[table]}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            for table in ("users", "plan_changes"):
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()


def _load_sqlite(url: str, data: dict[str, list[tuple[Any, ...]]]) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        raw: Any = conn.connection.driver_connection
        for table, rows in data.items():
            cols = COLUMNS[table]
            marks = ", ".join("?" for _ in cols.split(","))

            def plain(row: tuple[Any, ...]) -> tuple[Any, ...]:
                return tuple(
                    v.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
                    if isinstance(v, dt.datetime)
                    else v.isoformat()
                    if isinstance(v, dt.date)
                    else v
                    for v in row
                )

            raw.executemany(
                f"INSERT INTO {table} ({cols}) VALUES ({marks})", (plain(r) for r in rows)
            )
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()


def _scan(now: dt.datetime) -> float:
    """The baseline: one aggregate scan of every patient's 7-day step mean."""
    lo, hi = now.date() - dt.timedelta(days=7), now.date() - dt.timedelta(days=1)
    start = time.perf_counter()
    with db.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT patient_id, AVG(steps) FROM daily_activity "
                "WHERE date BETWEEN :lo AND :hi GROUP BY patient_id"
            ),
            {"lo": lo, "hi": hi},
        ).all()
    elapsed = time.perf_counter() - start
    assert rows
    return elapsed


def _run(url: str, n: int, batch: int, load: Any, label: str) -> tuple[float, float]:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    started = time.perf_counter()
    migrate.upgrade(url)
    data = _rows(n, now)
    load(url, data)
    print(
        f"[{label}] built and loaded {n} patients x {DAYS} days in "
        f"{time.perf_counter() - started:.1f} s"
    )
    env = {
        "DATABASE_URL": url,
        "SECRET_KEY": "bench-" + "x" * 32,
        "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "BACKSTRIDE_ENV": "testing",
        "LOG_LEVEL": "WARNING",
    }
    app = create_app(load_settings(env))
    with app.app_context():
        scans = [_scan(now) for _ in range(3)]
        scan = min(scans)
        start = time.perf_counter()
        result = evaluate_due(now, batch_size=batch)
        elapsed = time.perf_counter() - start
        db.remove()
        db.engine.dispose()
    assert result.evaluated == n, result
    rate = n / elapsed
    print(
        f"[{label}] evaluated {result.evaluated} patients in {elapsed:.2f} s "
        f"({rate:,.0f}/s; {result.tips} tips, {result.alerts} alerts, {result.batches} batches)"
    )
    print(
        f"[{label}] aggregate scan (7-day means, same patients): {scan * 1000:.0f} ms; "
        f"evaluation / scan = {elapsed / scan:.1f}x"
    )
    return rate, elapsed / scan


def bench_pg(n: int, batch: int) -> tuple[float, float]:
    """Run on a throwaway PostgreSQL database."""
    base = make_url(PG_SERVER).set(drivername="postgresql+psycopg")
    name = f"backstride_bench_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        return _run(
            base.set(database=name).render_as_string(hide_password=False),
            n,
            batch,
            _load_pg,
            "postgresql",
        )
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def bench_sqlite(n: int, batch: int) -> tuple[float, float]:
    """Run on a temporary SQLite file."""
    with tempfile.TemporaryDirectory() as tmp:
        return _run(f"sqlite:///{tmp}/bench.db", n, batch, _load_sqlite, "sqlite")


def main() -> None:
    """Parse arguments, run both backends, print the RESULT line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--sqlite-patients", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--skip-pg", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    logging.disable(logging.INFO)
    pg = (0.0, 0.0) if args.skip_pg else bench_pg(args.patients, args.batch)
    lite = (0.0, 0.0) if args.skip_sqlite else bench_sqlite(args.sqlite_patients, args.batch)
    print(
        f"RESULT pg_patients_per_s={pg[0]:.0f} pg_vs_scan={pg[1]:.2f} "
        f"sqlite_patients_per_s={lite[0]:.0f} sqlite_vs_scan={lite[1]:.2f}"
    )


if __name__ == "__main__":
    main()
