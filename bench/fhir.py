"""FHIR bulk export: the clinic as FHIR NDJSON versus a plain JSON dump of the same rows.

Builds three clinics in a throwaway database (PostgreSQL: a fresh database on
postgresql://postgres@127.0.0.1:5432, bulk-loaded with COPY, dropped after; SQLite: a temporary
file): 1,000 patients for the throughput run, and 500 and 2,000 patients for the memory runs.
Each patient has 90 days of steps (a second source on a fifth of the days), about 6 pain
reports, 3 step targets and 30 tips. Then, per backend:

- FHIR: `ndjson_lines` over the 1,000-patient clinic (every mapper, streamed from a server-side
  cursor, serialised), timed, against the baseline: the same rows read with the same streaming
  and dumped as plain JSON lines (`json.dumps` of each row). Both only count the bytes.
- The export job as the worker runs it (claim, map, compress, commit parts), timed.
- Peak Python memory (tracemalloc) of the export job for the 500- and 2,000-patient clinics:
  flat when it does not grow with the clinic. Each runs in a fresh process, whose max RSS is
  reported too.

Usage: python bench/fhir.py [--patients 1000] [--small 500] [--large 2000] [--skip-pg]
       [--skip-sqlite]
Ends with: RESULT pg_fhir_vs_plain=... pg_resources_per_s=... pg_job_s=... pg_peak_small_mb=...
           pg_peak_large_mb=... pg_peak_ratio=... pg_rss_small_mb=... pg_rss_large_mb=...
           sqlite_... (the same keys)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import multiprocessing
import os
import random
import resource
import secrets
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.fernet import Fernet
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from service import create_app, migrate
from service.activity.models import DailyActivity
from service.config import load_settings
from service.extensions import db
from service.fhir import export, worker
from service.fhir.mapping import RESOURCE_TYPES, Scope
from service.fhir.mapping.base import stream
from service.fhir.models import FhirExport
from service.patients.models import PatientProfile
from service.plans.models import PlanChange
from service.reports.models import PainReport
from service.tips.models import Tip

PG_SERVER = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
ZONES = ["Europe/London", "America/New_York", "Asia/Kolkata", "Australia/Sydney", "UTC"]
DAYS = 90
TIP_TEXT = (
    "A short walk after lunch counts. Keep a pace at which you can still talk, and stop if the "
    "pain spreads down a leg."
)
COLUMNS = {
    "clinics": "id, name, created_at",
    "users": "id, email, password_hash, role, clinic_id, token_version, created_at",
    "patient_profiles": (
        "user_id, clinic_id, timezone, locale, conditions, primary_source, enrolled_at, extra"
    ),
    "plans": "patient_id, daily_target, changed_at",
    "plan_changes": "patient_id, effective_at, target, reason",
    "daily_activity": "patient_id, date, source, steps, distance_m, updated_at",
    "pain_reports": "patient_id, score, recorded_at, red_flags, note, created_at",
    "tips": "patient_id, rule_id, tip_key, category, title, text, why, urgent, created_at, read_at",
}


def _rows(sizes: list[int], now: dt.datetime) -> dict[str, list[tuple[Any, ...]]]:
    """Clinics 1..len(sizes) with that many patients each, and their programme data."""
    rng = random.Random(15)
    today = now.date()
    enrolled = now - dt.timedelta(days=DAYS + 1)
    data: dict[str, list[tuple[Any, ...]]] = {table: [] for table in COLUMNS}
    pid = 0
    for clinic, size in enumerate(sizes, start=1):
        data["clinics"].append((clinic, f"Bench clinic {clinic}", enrolled))
        for _ in range(size):
            pid += 1
            data["users"].append(
                (pid, f"p{pid}@bench.example", "x", "patient", clinic, 0, enrolled)
            )
            zone = ZONES[pid % len(ZONES)]
            data["patient_profiles"].append(
                (pid, clinic, zone, "en-GB", "[]", "garmin", enrolled, "{}")
            )
            data["plans"].append((pid, 5000, enrolled))
            for week, target in ((0, 4000), (4, 4500), (9, 5000)):
                reason = "initial" if week == 0 else "progress-up"
                at = enrolled + dt.timedelta(weeks=week)
                data["plan_changes"].append((pid, at, target, reason))
            level = rng.randint(2500, 6500)
            for back in range(DAYS):
                day = today - dt.timedelta(days=back)
                steps = int(level * rng.uniform(0.7, 1.3))
                data["daily_activity"].append((pid, day, "garmin", steps, steps * 0.75, now))
                if rng.random() < 0.2:
                    data["daily_activity"].append((pid, day, "healthkit", steps + 150, None, now))
            for _ in range(6):
                at = now - dt.timedelta(hours=rng.uniform(1, 24 * DAYS))
                flags = '["night_pain"]' if rng.random() < 0.05 else "[]"
                data["pain_reports"].append((pid, rng.randint(1, 8), at, flags, None, at))
            for n in range(30):
                at = now - dt.timedelta(days=n * 3, hours=rng.uniform(0, 12))
                read = at + dt.timedelta(hours=2) if n % 2 else None
                data["tips"].append(
                    (pid, "walk-more", f"k{n}", "progression", "A little further today",
                     TIP_TEXT, "Your steps rose three days running.", False, at, read)
                )  # fmt: skip
    return data


def _load_pg(url: str, data: dict[str, list[tuple[Any, ...]]]) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        raw: Any = conn.connection.driver_connection
        with raw.cursor() as cursor:
            for table, rows in data.items():
                with cursor.copy(f"COPY {table} ({COLUMNS[table]}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            for table in ("clinics", "users"):
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()


def _load_sqlite(url: str, data: dict[str, list[tuple[Any, ...]]]) -> None:
    def plain(row: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(
            v.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
            if isinstance(v, dt.datetime)
            else v.isoformat()
            if isinstance(v, dt.date)
            else v
            for v in row
        )

    engine = create_engine(url)
    with engine.begin() as conn:
        raw: Any = conn.connection.driver_connection
        for table, rows in data.items():
            cols = COLUMNS[table]
            marks = ", ".join("?" for _ in cols.split(","))
            raw.executemany(
                f"INSERT INTO {table} ({cols}) VALUES ({marks})", (plain(r) for r in rows)
            )
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()


def _plain_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date | dt.datetime) else value


def plain_dump(session: Session, clinic_id: int) -> tuple[int, int]:
    """The baseline: the rows the FHIR export reads, streamed and dumped as JSON lines."""
    tables = [
        (PatientProfile, PatientProfile.user_id),
        (DailyActivity, DailyActivity.patient_id),
        (PainReport, PainReport.patient_id),
        (PlanChange, PlanChange.patient_id),
        (Tip, Tip.patient_id),
    ]
    lines = size = 0
    for model, patient in tables:
        columns = [c for c in model.__table__.columns if c.name != "extra"]
        query = select(*columns)
        if model is not PatientProfile:
            query = query.join(PatientProfile, PatientProfile.user_id == patient)
        query = query.where(PatientProfile.clinic_id == clinic_id).order_by(patient)
        for row in stream(session, query):
            line = json.dumps(
                {key: _plain_value(value) for key, value in row._mapping.items()},
                separators=(",", ":"),
            )
            lines += 1
            size += len(line) + 1
    return lines, size


def fhir_dump(session: Session, clinic_id: int) -> tuple[int, int]:
    """The FHIR NDJSON of the clinic, every type, streamed; counts lines and bytes."""
    scope = Scope(clinic_id=clinic_id, now=dt.datetime.now(dt.UTC))
    lines = size = 0
    for line in export.ndjson_lines(session, scope, list(RESOURCE_TYPES)):
        lines += 1
        size += len(line)
    return lines, size


def _timed(run: Callable[[Session], tuple[int, int]]) -> tuple[float, int, int]:
    with Session(db.engine) as session, session.begin():
        start = time.perf_counter()
        lines, size = run(session)
        return time.perf_counter() - start, lines, size


def export_job(clinic_id: int) -> tuple[float, int]:
    """Queue, claim and run an export of the clinic as the worker does; seconds and resources."""
    export_id = str(uuid.uuid4())
    with db.transaction() as session:
        session.add(
            FhirExport(
                id=export_id, clinic_id=clinic_id, status="queued", types=list(RESOURCE_TYPES),
                request_url="bench", attempts=0, written=0,
            )
        )  # fmt: skip
    start = time.perf_counter()
    with db.transaction() as session:
        claimed = worker.claim(session, dt.datetime.now(dt.UTC), export_id)
    assert claimed is not None
    outcome = worker.run_export(*claimed)
    elapsed = time.perf_counter() - start
    assert outcome == "completed", outcome
    written = db.session.scalar(select(FhirExport.written).where(FhirExport.id == export_id))
    db.remove()
    return elapsed, int(written or 0)


def peak_mb(clinic_id: int) -> tuple[float, int, float]:
    """Peak traced Python memory of one export job (MB), resources written, process max RSS."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    _, written = export_job(clinic_id)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    max_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return peak / 1e6, written, max_rss_mb


def _app(url: str) -> Any:
    env = {
        "DATABASE_URL": url,
        "SECRET_KEY": "bench-" + "x" * 32,
        "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "BACKSTRIDE_ENV": "testing",
        "LOG_LEVEL": "WARNING",
    }
    return create_app(load_settings(env))


def _memory_child(url: str, clinic_id: int, out: Any) -> None:
    """A fresh process (so its max RSS is the export's): run one export job, report memory."""
    logging.disable(logging.INFO)
    app = _app(url)
    with app.app_context():
        out.put(peak_mb(clinic_id))
        db.remove()
        db.dispose()


def memory_in_process(url: str, clinic_id: int) -> tuple[float, int, float]:
    """`peak_mb` of an export job run in a new process."""
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    child = ctx.Process(target=_memory_child, args=(url, clinic_id, out))
    child.start()
    result: tuple[float, int, float] = out.get(timeout=3600)
    child.join()
    return result


def measure(url: str, label: str, sizes: list[int], rounds: int = 3) -> dict[str, float]:
    """Every figure on one database (clinic 1 throughput, clinics 2 and 3 memory)."""
    app = _app(url)
    with app.app_context():
        # Alternate the two, best of each: the machine's load drifts during a run.
        plain_s = fhir_s = float("inf")
        for _ in range(rounds):
            seconds, plain_lines, plain_bytes = _timed(lambda s: plain_dump(s, 1))
            plain_s = min(plain_s, seconds)
            seconds, fhir_lines, fhir_bytes = _timed(lambda s: fhir_dump(s, 1))
            fhir_s = min(fhir_s, seconds)
        print(
            f"[{label}] {sizes[0]:,} patients x {DAYS} days: plain JSON dump {plain_lines:,} rows "
            f"({plain_bytes / 1e6:.0f} MB) in {plain_s:.2f} s; FHIR NDJSON {fhir_lines:,} "
            f"resources ({fhir_bytes / 1e6:.0f} MB) in {fhir_s:.2f} s "
            f"({fhir_lines / fhir_s:,.0f}/s) = {fhir_s / plain_s:.2f}x the plain dump"
        )
        job_s, written = export_job(1)
        print(
            f"[{label}] export job (map, compress, store parts): {written:,} resources in "
            f"{job_s:.2f} s ({written / job_s:,.0f}/s)"
        )
        db.remove()
        db.dispose()
        small, small_n, small_rss = memory_in_process(url, 2)
        large, large_n, large_rss = memory_in_process(url, 3)
        print(
            f"[{label}] peak memory of the export job: {sizes[1]:,} patients ({small_n:,} "
            f"resources) {small:.1f} MB; {sizes[2]:,} patients ({large_n:,} resources) "
            f"{large:.1f} MB; ratio {large / small:.2f} for {large_n / small_n:.1f}x the data "
            f"(max RSS of the exporting process: {small_rss:.0f} MB, {large_rss:.0f} MB)"
        )
    prefix = label
    return {
        f"{prefix}_fhir_vs_plain": fhir_s / plain_s,
        f"{prefix}_resources_per_s": fhir_lines / fhir_s,
        f"{prefix}_job_s": job_s,
        f"{prefix}_peak_small_mb": small,
        f"{prefix}_peak_large_mb": large,
        f"{prefix}_peak_ratio": large / small,
        f"{prefix}_rss_small_mb": small_rss,
        f"{prefix}_rss_large_mb": large_rss,
    }


def _build(url: str, sizes: list[int], load: Callable[..., None], label: str) -> None:
    started = time.perf_counter()
    migrate.upgrade(url)
    load(url, _rows(sizes, dt.datetime.now(dt.UTC).replace(microsecond=0)))
    print(f"[{label}] built clinics of {sizes} patients in {time.perf_counter() - started:.1f} s")


def bench_pg(sizes: list[int]) -> dict[str, float]:
    """On a throwaway PostgreSQL database."""
    base = make_url(PG_SERVER).set(drivername="postgresql+psycopg")
    name = f"backstride_bench_fhir_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    url = base.set(database=name).render_as_string(hide_password=False)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        _build(url, sizes, _load_pg, "pg")
        return measure(url, "pg", sizes)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def bench_sqlite(sizes: list[int]) -> dict[str, float]:
    """On a temporary SQLite file."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        _build(url, sizes, _load_sqlite, "sqlite")
        return measure(url, "sqlite", sizes)


def main() -> None:
    """Parse arguments, run both backends, print the RESULT line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--small", type=int, default=500)
    parser.add_argument("--large", type=int, default=2000)
    parser.add_argument("--skip-pg", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    logging.disable(logging.INFO)
    sizes = [args.patients, args.small, args.large]
    figures: dict[str, float] = {}
    if not args.skip_pg:
        figures.update(bench_pg(sizes))
    if not args.skip_sqlite:
        figures.update(bench_sqlite(sizes))
    print("RESULT " + " ".join(f"{key}={value:.2f}" for key, value in figures.items()))


if __name__ == "__main__":
    main()
