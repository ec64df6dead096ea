"""Population evaluation: every due patient evaluated end to end, versus one SQL aggregate scan.

Builds N patients x 30 days of steps and ~3 pain reports each in a throwaway database
(PostgreSQL: a fresh database on postgresql://postgres@127.0.0.1:5432, dropped after, bulk-loaded
with COPY; SQLite: a temporary file), then times

- `evaluate_due(now)`: claim, facts (set-based SQL per batch), the default rule set compiled
  once, decisions, and the bulk writes (evaluations, tips, plan changes, alerts, rule state);
- the baseline: one plain aggregate scan computing every patient's 7-day step mean.

PostgreSQL is measured twice on identical copies of the population: `evaluate_due` in this one
process, then driven from `--workers` processes at once (default 2, one per core of the target
machine), as the scheduler runs it in production; the claim keeps them from sharing patients.
The PostgreSQL server runs on the same machine and shares its cores. SQLite (a single writer)
is measured in one process.

Usage: python bench/population.py [--patients 100000] [--sqlite-patients 20000]
       [--batch 2000] [--workers 2] [--skip-pg] [--skip-sqlite]
Ends with: RESULT pg_patients_per_s=... pg_vs_scan=... pg_1proc_patients_per_s=...
           pg_1proc_vs_scan=... workers=... sqlite_patients_per_s=... sqlite_vs_scan=...
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import multiprocessing
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
from service.evaluation.population import DueResult, evaluate_due
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


def _app(url: str) -> Any:
    env = {
        "DATABASE_URL": url,
        "SECRET_KEY": "bench-" + "x" * 32,
        "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "BACKSTRIDE_ENV": "testing",
        "LOG_LEVEL": "WARNING",
    }
    return create_app(load_settings(env))


def _evaluate(url: str, now: dt.datetime, batch: int) -> tuple[float, float, DueResult]:
    """(aggregate scan seconds, evaluation seconds, result) in this process."""
    app = _app(url)
    with app.app_context():
        scan = min(_scan(now) for _ in range(3))
        start = time.perf_counter()
        result = evaluate_due(now, batch_size=batch)
        elapsed = time.perf_counter() - start
        db.remove()
        db.engine.dispose()
    return scan, elapsed, result


def _worker(url: str, now: dt.datetime, batch: int, ready: Any, go: Any, out: Any) -> None:
    """One scheduler-like process: build the app, wait for the start, run evaluate_due."""
    logging.disable(logging.INFO)
    app = _app(url)
    with app.app_context():
        db.engine.connect().close()  # connect before the clock starts, as a running scheduler
        ready.put(os.getpid())
        go.wait()
        result = evaluate_due(now, batch_size=batch)
        out.put((time.perf_counter(), result.evaluated, result.tips, result.batches))
        db.remove()
        db.engine.dispose()


def _evaluate_in_processes(
    url: str, now: dt.datetime, batch: int, workers: int
) -> tuple[float, int, int, int]:
    """Wall time of `workers` processes evaluating everything at once; evaluated, tips, batches."""
    ctx = multiprocessing.get_context("spawn")
    ready, out, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [
        ctx.Process(target=_worker, args=(url, now, batch, ready, go, out)) for _ in range(workers)
    ]
    for proc in procs:
        proc.start()
    for _ in procs:
        ready.get(timeout=120)
    start = time.perf_counter()
    go.set()
    finishes = [out.get(timeout=3600) for _ in procs]
    for proc in procs:
        proc.join()
    elapsed = max(finish for finish, *_ in finishes) - start
    return (
        elapsed,
        sum(item[1] for item in finishes),
        sum(item[2] for item in finishes),
        sum(item[3] for item in finishes),
    )


def _report(label: str, n: int, elapsed: float, scan: float, tips: int, batches: int) -> None:
    print(
        f"[{label}] evaluated {n} patients in {elapsed:.2f} s ({n / elapsed:,.0f}/s; "
        f"{tips} tips, {batches} batches); evaluation / aggregate scan "
        f"({scan * 1000:.0f} ms) = {elapsed / scan:.1f}x"
    )


def _build(url: str, n: int, now: dt.datetime, load: Any, label: str) -> None:
    started = time.perf_counter()
    migrate.upgrade(url)
    load(url, _rows(n, now))
    print(
        f"[{label}] built and loaded {n} patients x {DAYS} days in "
        f"{time.perf_counter() - started:.1f} s"
    )


def bench_pg(n: int, batch: int, workers: int) -> dict[str, float]:
    """Run on throwaway PostgreSQL databases: one built, cloned for each measurement."""
    base = make_url(PG_SERVER).set(drivername="postgresql+psycopg")
    stem = f"backstride_bench_{os.getpid()}_{secrets.token_hex(3)}"
    names = [stem, f"{stem}_one", f"{stem}_many"]
    admin = create_engine(base, isolation_level="AUTOCOMMIT")

    def url(name: str) -> str:
        return base.set(database=name).render_as_string(hide_password=False)

    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{stem}"'))
        _build(url(stem), n, now, _load_pg, "postgresql")
        with admin.connect() as conn:
            for clone in names[1:]:
                conn.execute(text(f'CREATE DATABASE "{clone}" TEMPLATE "{stem}"'))
        scan, one, result = _evaluate(url(names[1]), now, batch)
        assert result.evaluated == n, result
        _report("postgresql, 1 process", n, one, scan, result.tips, result.batches)
        many, evaluated, tips, batches = _evaluate_in_processes(url(names[2]), now, batch, workers)
        assert evaluated == n, (evaluated, n)
        _report(f"postgresql, {workers} processes", n, many, scan, tips, batches)
        return {
            "pg_patients_per_s": n / many,
            "pg_vs_scan": many / scan,
            "pg_1proc_patients_per_s": n / one,
            "pg_1proc_vs_scan": one / scan,
            "workers": workers,
        }
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def bench_sqlite(n: int, batch: int) -> dict[str, float]:
    """Run on a temporary SQLite file, in one process (SQLite has a single writer)."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        _build(url, n, now, _load_sqlite, "sqlite")
        scan, elapsed, result = _evaluate(url, now, batch)
    assert result.evaluated == n, result
    _report("sqlite, 1 process", n, elapsed, scan, result.tips, result.batches)
    return {"sqlite_patients_per_s": n / elapsed, "sqlite_vs_scan": elapsed / scan}


def main() -> None:
    """Parse arguments, run both backends, print the RESULT line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--sqlite-patients", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-pg", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    logging.disable(logging.INFO)
    figures: dict[str, float] = {
        "pg_patients_per_s": 0.0,
        "pg_vs_scan": 0.0,
        "pg_1proc_patients_per_s": 0.0,
        "pg_1proc_vs_scan": 0.0,
        "workers": args.workers,
        "sqlite_patients_per_s": 0.0,
        "sqlite_vs_scan": 0.0,
    }
    if not args.skip_pg:
        figures.update(bench_pg(args.patients, args.batch, args.workers))
    if not args.skip_sqlite:
        figures.update(bench_sqlite(args.sqlite_patients, args.batch))
    print("RESULT " + " ".join(f"{key}={_plain(key, value)}" for key, value in figures.items()))


def _plain(key: str, value: float) -> str:
    return f"{value:.2f}" if key.endswith("vs_scan") else f"{value:.0f}"


if __name__ == "__main__":
    main()
