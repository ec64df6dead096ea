"""Population evaluation: every due patient evaluated end to end, versus one SQL aggregate scan.

Builds N patients x 30 days of steps, ~3 pain reports and one phone each in a throwaway database
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
       [--batch 2000] [--workers 2] [--due N] [--skip-pg] [--skip-sqlite]
`--due N` makes only N patients due (the rest fall due tomorrow): the same work inside a
larger population, to show the hot queries stay flat as the tables grow (docs/capacity.md).
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
from tests.support.private_pg import PrivatePostgres

PG_SERVER = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
ZONES = ["Europe/London", "America/New_York", "Asia/Kolkata", "Australia/Sydney", "UTC"]
DAYS = 30


def _rows(
    n: int, now: dt.datetime, due_count: int | None = None
) -> dict[str, list[tuple[Any, ...]]]:
    """Synthetic population: users, profiles, plans, plan changes, days, pain reports.

    The first `due_count` patients (all by default) are due; the others fall due tomorrow,
    so a run evaluates the same number of patients inside populations of any size."""
    rng = random.Random(42)
    today = now.date()
    enrolled = now - dt.timedelta(days=DAYS + 2)
    due = now - dt.timedelta(minutes=1)
    later = now + dt.timedelta(days=1)
    due_count = n if due_count is None else due_count
    data: dict[str, list[tuple[Any, ...]]] = {
        "users": [],
        "patient_profiles": [],
        "plans": [],
        "plan_changes": [],
        "daily_activity": [],
        "pain_reports": [],
        "devices": [],
    }
    for pid in range(1, n + 1):
        data["users"].append((pid, f"p{pid}@bench.example", "x", "patient", 0, enrolled))
        data["patient_profiles"].append(
            (
                pid,
                ZONES[pid % len(ZONES)],
                "en",
                "[]",
                enrolled,
                due if pid <= due_count else later,
                "{}",
            )
        )
        data["plans"].append((pid, 4000, enrolled))
        data["devices"].append((pid, "android", f"bench-device-{pid}", enrolled, enrolled))
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
    "devices": "patient_id, platform, token, created_at, last_seen_at",
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
        # Pushes are enqueued in the evaluation's transaction once a channel is configured;
        # nothing is sent here (no delivery job runs), so the file is never read.
        "FCM_CREDENTIALS_FILE": os.devnull,
    }
    return create_app(load_settings(env))


def _evaluate(url: str, now: dt.datetime, batch: int) -> tuple[float, float, DueResult]:
    """(aggregate scan seconds, evaluation seconds, result) in this process.

    Also prints the process's CPU seconds per evaluation (the rest of the wall time is spent
    waiting on the database) and, on PostgreSQL, the bytes per row of the tables it wrote."""
    app = _app(url)
    with app.app_context():
        scan = min(_scan(now) for _ in range(3))
        postgres = db.dialect == "postgresql"
        backends = _backend_cpu() if postgres else {}
        wal = _wal_lsn() if postgres else 0
        start = time.perf_counter()
        cpu = time.process_time()
        result = evaluate_due(now, batch_size=batch)
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu
        db_cpu = (
            sum(t - backends.get(pid, 0.0) for pid, t in _backend_cpu().items()) if postgres else 0
        )
        n = max(1, result.evaluated)
        if postgres:
            print(f"[cost] WAL written: {(_wal_lsn() - wal) / n:.0f} bytes per evaluation")
        print(
            f"[cost] {result.evaluated} evaluations: wall {elapsed / n * 1000:.2f} ms, "
            f"process CPU {cpu / n * 1000:.2f} ms, PostgreSQL backends' CPU "
            f"{db_cpu / n * 1000:.2f} ms per evaluation (wall exceeds CPU by the time spent "
            "waiting for a core on a busy machine, and for the disk)"
        )
        if db.dialect == "postgresql":
            _sizes()
        db.remove()
        db.dispose()
    return scan, elapsed, result


def _wal_lsn() -> int:
    """The server's current WAL position in bytes (every database's writes: use a private
    server, --private-pg, for a clean figure)."""
    with db.engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")).scalar_one())


def _backend_cpu() -> dict[int, float]:
    """CPU seconds used so far by each PostgreSQL backend serving this database (the server
    runs on this machine: its processes are in /proc)."""
    out = {}
    with db.engine.connect() as conn:
        pids = conn.execute(
            text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        ).scalars()
        ticks = os.sysconf("SC_CLK_TCK")
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            out[pid] = (int(fields[11]) + int(fields[12])) / ticks
    return out


SIZED = (
    "evaluations",
    "tips",
    "push_deliveries",
    "rule_firings",
    "daily_activity",
    "pain_reports",
    "patient_profiles",
)


def _sizes() -> None:
    """Rows and bytes (table, indexes and TOAST) per row of the tables evaluation touches."""
    with db.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        for table in SIZED:
            rows = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            size = conn.execute(text(f"SELECT pg_total_relation_size('{table}')")).scalar_one()
            per = size / rows if rows else 0
            print(f"[size] {table}: {rows} rows, {size / 1e6:.1f} MB, {per:.0f} bytes/row")


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
        db.dispose()


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


def _build(
    url: str, n: int, now: dt.datetime, load: Any, label: str, due: int | None = None
) -> None:
    started = time.perf_counter()
    migrate.upgrade(url)
    load(url, _rows(n, now, due))
    print(
        f"[{label}] built and loaded {n} patients x {DAYS} days in "
        f"{time.perf_counter() - started:.1f} s"
    )


def bench_pg(
    n: int, batch: int, workers: int, due: int | None = None, server: str = PG_SERVER
) -> dict[str, float]:
    """Run on throwaway PostgreSQL databases: one built, cloned for each measurement."""
    base = make_url(server).set(drivername="postgresql+psycopg")
    stem = f"backstride_bench_{os.getpid()}_{secrets.token_hex(3)}"
    names = [stem, f"{stem}_one", f"{stem}_many"]
    admin = create_engine(base, isolation_level="AUTOCOMMIT")

    def url(name: str) -> str:
        return base.set(database=name).render_as_string(hide_password=False)

    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{stem}"'))
        _build(url(stem), n, now, _load_pg, "postgresql", due)
        due = n if due is None else due
        with admin.connect() as conn:
            for clone in names[1:]:
                conn.execute(text(f'CREATE DATABASE "{clone}" TEMPLATE "{stem}"'))
        scan, one, result = _evaluate(url(names[1]), now, batch)
        assert result.evaluated == due, result
        _report("postgresql, 1 process", due, one, scan, result.tips, result.batches)
        if workers:
            many, evaluated, tips, batches = _evaluate_in_processes(
                url(names[2]), now, batch, workers
            )
            assert evaluated == due, (evaluated, due)
            _report(f"postgresql, {workers} processes", due, many, scan, tips, batches)
        else:  # --workers 0: the one-process figures only
            many = one
        return {
            "population": n,
            "due": due,
            "pg_patients_per_s": due / many,
            "pg_vs_scan": many / scan,
            "pg_1proc_patients_per_s": due / one,
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
    parser.add_argument("--workers", type=int, default=2, help="0: skip the several-process run")
    parser.add_argument(
        "--due", type=int, default=None, help="patients due (default: all); the rest are not"
    )
    parser.add_argument(
        "--private-pg",
        action="store_true",
        help="run a private PostgreSQL server (durable defaults) instead of the shared one",
    )
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
    if not args.skip_pg and args.private_pg:
        with PrivatePostgres(settings="-c max_connections=100 -c shared_buffers=256MB") as pg:
            figures.update(
                bench_pg(args.patients, args.batch, args.workers, args.due, pg.server_url)
            )
    elif not args.skip_pg:
        figures.update(bench_pg(args.patients, args.batch, args.workers, args.due))
    if not args.skip_sqlite:
        figures.update(bench_sqlite(args.sqlite_patients, args.batch))
    print("RESULT " + " ".join(f"{key}={_plain(key, value)}" for key, value in figures.items()))


def _plain(key: str, value: float) -> str:
    return f"{value:.2f}" if key.endswith("vs_scan") else f"{value:.0f}"


if __name__ == "__main__":
    main()
