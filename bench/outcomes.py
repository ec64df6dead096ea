"""Outcomes: proximal outcomes of 100,000 decisions vs a plain scan; the estimate's bias and
coverage over simulated cohorts.

Part 1 (PostgreSQL): a throwaway database on postgresql://postgres@127.0.0.1:5432 (dropped
after; `BENCH_DATABASE_URL` overrides) holds N patients x D days x 2 decision times of decision
records (100,000 by default), each patient's intraday steps per hour 07:00-21:00 local on every
day, daily totals and a morning walk a day, bulk-loaded with COPY. Times
`service.outcomes.proximal.compute_due` over all of them in its batches (each committed), and,
as the baseline in the same run, one plain aggregate scan of the same step rows (intraday,
daily and walks summed per patient). Reports the ratio.

Part 2 (pure Python): `--cohorts` simulated cohorts (default 200) from
`integrations.wearables.sandbox_cohort.CohortModel` (+0.3 on log steps at enrolment, halving
over four weeks), each `--cohort-patients` patients x 28 days of one randomised decision a day
drawn by `rules.randomization.draw` at P = 0.5, estimated by `service.outcomes.estimate.effect`
(the service's own estimator); then as many other cohorts with no effect. Reports the mean bias
against each cohort's true average effect, the 95% interval's coverage with its own Monte
Carlo margin (1.96 binomial standard errors: +-3.0 points over 200 cohorts, +-1.4 over 1,000;
a coverage is only "below 95%" when the margin says so) and the interval's mean width.

Usage: python bench/outcomes.py [--patients 1000] [--days 50] [--cohorts 200]
       [--cohort-patients 40] [--skip-pg] [--skip-estimate]
Ends with: RESULT decisions=... proximal_s=... scan_s=... ratio=... decisions_per_s=...
           bias=... coverage=... width=... null_bias=... null_coverage=...
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import random
import secrets
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from integrations.wearables.sandbox_cohort import CohortModel
from rules.randomization import draw
from service import migrate
from service.outcomes import proximal
from service.outcomes.estimate import Decision, effect

PG_SERVER = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
ZONES = ["Europe/London", "America/New_York", "Asia/Kolkata", "UTC"]
COLUMNS = {
    "users": "id, email, password_hash, role, token_version, created_at",
    "patient_profiles": "user_id, timezone, locale, conditions, enrolled_at, extra",
    "evaluations": "id, patient_id, trigger, evaluated_at, facts, decision, actions",
    "decision_records": (
        "patient_id, evaluation_id, ruleset, rule_id, tip_key, variant, decided_at, outcome, "
        "probability, draw, reason"
    ),
    "intraday_steps": "patient_id, source, start, minutes, steps",
    "daily_activity": "patient_id, date, source, steps, updated_at",
    "walking_sessions": 'patient_id, source, external_id, start, "end", steps, created_at',
}


def _rows(patients: int, days: int, now: dt.datetime) -> dict[str, list[tuple[Any, ...]]]:
    """Synthetic decisions at 09:00 and 15:00 UTC, and the steps around them."""
    first = (now - dt.timedelta(days=days + 3)).replace(hour=0, minute=0, second=0)
    data: dict[str, list[tuple[Any, ...]]] = {table: [] for table in COLUMNS}
    rng = random.Random(7)  # the steps only need to exist: cheap numbers, not the cohort model
    evaluation = 0
    for pid in range(1, patients + 1):
        data["users"].append((pid, f"p{pid}@bench.example", "x", "patient", 0, first))
        data["patient_profiles"].append((pid, ZONES[pid % len(ZONES)], "en", "[]", first, "{}"))
        for day in range(days):
            midnight = first + dt.timedelta(days=day)
            for hour in (9, 15):
                at = midnight + dt.timedelta(hours=hour)
                evaluation += 1
                data["evaluations"].append((evaluation, pid, "schedule", at, "{}", "{}", "{}"))
                value = draw(str(pid), at, "walk-nudge")
                outcome = "fired" if value < 0.5 else "randomised_out"
                data["decision_records"].append(
                    (pid, evaluation, "bench", "walk-nudge", "walk", 0, at, outcome, 0.5, value, "")
                )
            for hour in range(7, 21):
                at = midnight + dt.timedelta(hours=hour)
                steps = rng.randint(0, 900)
                data["intraday_steps"].append((pid, "sandbox", at, 60, steps))
            data["daily_activity"].append((pid, midnight.date(), "sandbox", 6000, now))
            walk = midnight + dt.timedelta(hours=8, minutes=40)
            data["walking_sessions"].append(
                (pid, "sandbox", f"w{pid}-{day}", walk, walk + dt.timedelta(minutes=40), 1200, now)
            )
    return data


def _load(url: str, data: dict[str, list[tuple[Any, ...]]]) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        raw: Any = conn.connection.driver_connection
        with raw.cursor() as cursor:
            for table, rows in data.items():
                with cursor.copy(f"COPY {table} ({COLUMNS[table]}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()


SCAN = """
SELECT p.user_id,
       (SELECT sum(steps) FROM intraday_steps x WHERE x.patient_id = p.user_id),
       (SELECT sum(steps) FROM daily_activity a WHERE a.patient_id = p.user_id),
       (SELECT sum(steps) FROM walking_sessions w WHERE w.patient_id = p.user_id)
FROM patient_profiles p
"""


def bench_pg(patients: int, days: int) -> dict[str, float]:
    """Time the proximal-outcomes job over every decision against a plain scan of the steps."""
    base = make_url(PG_SERVER).set(drivername="postgresql+psycopg")
    name = f"backstride_bench_outcomes_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    url = base.set(database=name).render_as_string(hide_password=False)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        migrate.upgrade(url)
        started = time.perf_counter()
        data = _rows(patients, days, now)
        _load(url, data)
        decisions = len(data["decision_records"])
        steps_rows = sum(len(data[t]) for t in ("intraday_steps", "daily_activity"))
        print(
            f"built {decisions:,} decisions, {steps_rows:,} step rows in "
            f"{time.perf_counter() - started:.1f} s"
        )
        engine = create_engine(url)
        start = time.perf_counter()
        with engine.connect() as conn:
            scanned = conn.execute(text(SCAN)).all()
        scan = time.perf_counter() - start
        assert len(scanned) == patients
        start = time.perf_counter()
        done = 0
        while True:
            with Session(engine) as session, session.begin():
                batch = proximal.compute_due(session, now)
            done += batch
            if batch < proximal.BATCH:
                break
        elapsed = time.perf_counter() - start
        assert done == decisions, (done, decisions)
        with engine.connect() as conn:
            intraday = conn.execute(
                text("SELECT count(*) FROM decision_records WHERE steps_60m_source = 'intraday'")
            ).scalar_one()
        engine.dispose()
        print(
            f"proximal outcomes: {decisions:,} decisions in {elapsed:.2f} s "
            f"({decisions / elapsed:,.0f}/s; {intraday:,} from intraday)"
        )
        print(f"plain scan of the same step rows: {scan:.2f} s; ratio {elapsed / scan:.1f}x")
        return {
            "decisions": decisions,
            "proximal_s": elapsed,
            "scan_s": scan,
            "ratio": elapsed / scan,
            "decisions_per_s": decisions / elapsed,
        }
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _cohort(index: int, patients: int, model: CohortModel) -> tuple[float, Any]:
    """One simulated cohort: its true average effect and the estimate."""
    enrolled = dt.datetime(2026, 1, 5, 0, 0, tzinfo=dt.UTC)
    decisions, truths = [], []
    for pid in range(patients):
        for day in range(28):
            at = enrolled + dt.timedelta(days=day, hours=9)
            sent = draw(f"{index}:{pid}", at, "walk-nudge") < 0.5
            steps = model.hour_steps(f"{index}:{pid}", at, enrolled, sent=sent)
            decisions.append(Decision(pid, sent, 0.5, steps))
            truths.append(model.true_effect(at, enrolled))
    return sum(truths) / len(truths), effect(decisions)


def bench_estimate(cohorts: int, patients: int, size: float, first: int) -> dict[str, float]:
    """Bias, coverage and width of the interval over simulated cohorts of a known effect."""
    biases, covered, widths = [], 0, []
    start = time.perf_counter()
    for index in range(first, first + cohorts):
        truth, fit = _cohort(index, patients, CohortModel(effect=size, seed=1000 + index))
        biases.append(fit.estimate - truth)
        covered += fit.low < truth < fit.high
        widths.append(fit.high - fit.low)
    bias, coverage = statistics.mean(biases), covered / cohorts
    margin = 1.96 * math.sqrt(coverage * (1 - coverage) / cohorts)
    print(
        f"effect {size:+.2f}: {cohorts} cohorts of {patients} patients x 28 days: "
        f"bias {bias:+.4f} (sd {statistics.stdev(biases):.4f}), coverage {coverage:.1%} "
        f"(+-{margin:.1%}), mean width {statistics.mean(widths):.3f} "
        f"({time.perf_counter() - start:.1f} s)"
    )
    return {"bias": bias, "coverage": coverage, "width": statistics.mean(widths)}


def main() -> None:
    """Run both parts and print the RESULT line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--days", type=int, default=50)
    parser.add_argument("--cohorts", type=int, default=200)
    parser.add_argument("--cohort-patients", type=int, default=40)
    parser.add_argument("--skip-pg", action="store_true")
    parser.add_argument("--skip-estimate", action="store_true")
    args = parser.parse_args()
    result: dict[str, float] = {}
    if not args.skip_pg:
        result.update(bench_pg(args.patients, args.days))
    if not args.skip_estimate:
        result.update(bench_estimate(args.cohorts, args.cohort_patients, 0.3, 0))
        # Other cohorts (other draws and noise) for the no-effect rule.
        null = bench_estimate(args.cohorts, args.cohort_patients, 0.0, 100_000)
        result.update({f"null_{key}": value for key, value in null.items()})
    print("RESULT " + " ".join(f"{key}={_plain(value)}" for key, value in result.items()))


def _plain(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.4f}"


if __name__ == "__main__":
    main()
