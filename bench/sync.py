"""Benchmark: wearable sync throughput against the fake Google Health server with 100 ms latency.

2,000 patients, each with a linked google_health connection due now. One scheduler tick
(`sync_due_connections`) syncs them all with the configured per-provider concurrency. The fake
runs in its own process (so it does not share our GIL) and adds 100 ms to every request; it also
enforces an app-wide quota and counts every 429 it had to send (a breach).

Ideal: each sync makes `calls_per_sync` provider requests, one after the other, so a worker
finishes at best one sync per `calls_per_sync * latency` seconds and `concurrency` workers
finish `concurrency / (calls_per_sync * latency)` syncs per second. calls_per_sync is counted
by the fake in the same run. efficiency = achieved / ideal. The service's request budgets are
on, at Google Health's documented defaults (far above this rate).

A second run sets the fake's quota BELOW the ideal request rate (BENCH_QUOTA_FRACTION of it,
counted over BENCH_QUOTA_WINDOW_S) and gives the service an app budget equal to that quota
(GOOGLE_HEALTH_RATE_LIMIT): the budget must pace the sync under the quota with no 429 at all.
It reports the achieved request rate against the quota (the budget holds each window a second
longer than the provider's, see integrations/budget.py, so ~window/(window+1) is the most it
can reach) and the connections it had to defer to a later tick.

Run: `.venv/bin/python bench/sync.py` (SQLite in a temporary folder; set DATABASE_URL to a
PostgreSQL database to measure there instead).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cryptography.fernet import Fernet  # noqa: E402
from sqlalchemy import func, insert, select  # noqa: E402

from bench._watchdog import Watchdog, receive  # noqa: E402
from service import create_app, migrate  # noqa: E402
from service.accounts.models import User  # noqa: E402
from service.activity.models import DailyActivity  # noqa: E402
from service.config import ProviderSettings, Settings, load_settings  # noqa: E402
from service.connections.models import WearableConnection  # noqa: E402
from service.connections.sync import sync_due_connections  # noqa: E402
from service.crypto import cipher_for  # noqa: E402
from service.db import Base  # noqa: E402
from service.extensions import db  # noqa: E402
from service.patients.models import PatientProfile  # noqa: E402
from tests.fakes.google_health import FakeGoogleHealth  # noqa: E402
from tests.fakes.server import CLIENT_ID, CLIENT_SECRET  # noqa: E402

CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "2000"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "64"))
LATENCY_S = float(os.environ.get("BENCH_LATENCY_S", "0.100"))
# The provider's app-wide quota in the first run. With CONCURRENCY workers and LATENCY_S per
# call we can send at most CONCURRENCY / LATENCY_S requests a second; the quota sits above that,
# and any 429 counts as a breach.
QUOTA_PER_S = 900
# The second run: a quota below the ideal request rate, counted over a window of this length.
QUOTA_FRACTION = float(os.environ.get("BENCH_QUOTA_FRACTION", "0.6"))
QUOTA_WINDOW_S = int(os.environ.get("BENCH_QUOTA_WINDOW_S", "5"))


def serve_fake(pipe: Connection, quota: int, window_s: float) -> None:
    """Child process: run the fake, hand out tokens, report counters when asked to stop."""
    fake = FakeGoogleHealth()
    fake.latency = LATENCY_S
    fake.quota(quota, window_s)
    fake.start()
    tokens = [fake.issue_tokens() for _ in range(CONNECTIONS)]
    pipe.send((fake.base_url, tokens))
    pipe.recv()  # "stop"
    pipe.send({"breaches": fake.quota_refusals, "requests": fake.quota_calls})
    fake.stop()


def seed(tokens: list[tuple[str, str]], settings: Any, now: dt.datetime) -> None:
    """Add the patients and their due connections with Core inserts (fast)."""
    cipher = cipher_for(settings)
    expires = now + dt.timedelta(hours=2)
    yesterday = (now.date() - dt.timedelta(days=1)).isoformat()
    with db.transaction() as session:
        users = [
            {"email": f"bench{i}@example.org", "password_hash": "x", "role": "patient"}
            for i in range(len(tokens))
        ]
        session.execute(insert(User), users)
        ids = session.scalars(select(User.id).order_by(User.id)).all()
        session.execute(
            insert(PatientProfile),
            [{"user_id": uid, "timezone": "Europe/London", "enrolled_at": now} for uid in ids],
        )
        session.execute(
            insert(WearableConnection),
            [
                {
                    "patient_id": uid,
                    "provider": "google_health",
                    "status": "active",
                    "access_token_enc": cipher.encrypt(access),
                    "refresh_token_enc": cipher.encrypt(refresh),
                    "token_expires_at": expires,
                    "scopes": [],
                    "pending": [],
                    "cursor": yesterday,  # a steady-state sync: re-read the last three days
                    "next_sync_at": now,
                    "attempts": 0,
                    "created_at": now,
                }
                for uid, (access, refresh) in zip(ids, tokens, strict=True)
            ],
        )


def run(quota: int, window_s: float, rate_limit: str | None) -> dict[str, Any]:
    """Sync CONNECTIONS due connections in one tick against a fake with this quota."""
    context = multiprocessing.get_context("fork")
    parent, child = context.Pipe()
    fake_process = context.Process(target=serve_fake, args=(child, quota, window_s), daemon=True)
    fake_process.start()
    watchdog = Watchdog()
    watchdog.watch("the fake Google Health server", fake_process)
    base_url, tokens = receive(parent, 60, "URL and tokens from the fake Google Health")
    with tempfile.TemporaryDirectory() as tmp:
        url = os.environ.get("DATABASE_URL") or f"sqlite:///{tmp}/bench.db"
        migrate.upgrade(url)
        settings = bench_settings(url, base_url, rate_limit)
        app = create_app(settings)
        now = dt.datetime.now(dt.UTC)
        with app.app_context():
            seed(tokens, settings, now)
            started = time.perf_counter()
            cpu_before = resource.getrusage(resource.RUSAGE_SELF)
            synced = sync_due_connections(now, limit=CONNECTIONS)
            elapsed = time.perf_counter() - started
            cpu_after = resource.getrusage(resource.RUSAGE_SELF)
            days = db.session.scalar(select(func.count()).select_from(DailyActivity))
            failed = db.session.scalar(
                select(func.count())
                .select_from(WearableConnection)
                .where(WearableConnection.last_error.is_not(None))
            )
            deferred = db.session.scalar(
                select(func.count())
                .select_from(WearableConnection)
                .where(WearableConnection.last_sync_at.is_(None))
            )
            # Empty the database for the next run (DATABASE_URL may name a shared PostgreSQL).
            db.session.remove()
            with db.engine.begin() as conn:
                for table in reversed(Base.metadata.sorted_tables):
                    conn.execute(table.delete())
        watchdog.forget("the fake Google Health server")
        watchdog.stop()
        parent.send("stop")
        stats = receive(parent, 30, "counters from the fake Google Health")
        fake_process.join(timeout=10)
        db.session.remove()
        db.dispose()
    cpu_s = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
    return {
        **stats,
        "synced": synced,
        "elapsed": elapsed,
        "cpu_s": cpu_s,
        "days": days,
        "failed": failed,
        "deferred": deferred,
        "backend": "postgresql" if url.startswith("postgresql") else "sqlite",
    }


def bench_settings(url: str, base_url: str, rate_limit: str | None) -> Settings:
    """Settings for one run: the fake as google_health, our concurrency, optional budget."""
    return load_settings(
        {
            "DATABASE_URL": url,
            "SECRET_KEY": "bench-" + "x" * 32,
            "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "BACKSTRIDE_ENV": "bench",
            "LOG_LEVEL": "ERROR",
        }
    ).replace(
        providers={
            "google_health": ProviderSettings(
                client_id=CLIENT_ID,
                client_secret=CLIENT_SECRET,
                base_url=base_url,
                rate_limit=rate_limit,
            )
        },
        sync_concurrency=CONCURRENCY,
        sync_provider_concurrency=CONCURRENCY,
    )


def main() -> None:
    """Run the benchmark and print the RESULT line."""
    argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0]).parse_args()
    logging.disable(logging.WARNING)
    first = run(QUOTA_PER_S, 1.0, None)  # budgets at the documented defaults
    synced = first["synced"]
    calls_per_sync = first["requests"] / max(1, synced)
    achieved = synced / first["elapsed"]
    ideal = CONCURRENCY / (calls_per_sync * LATENCY_S)
    print(f"backend={first['backend']} connections={CONNECTIONS} concurrency={CONCURRENCY}")
    print(f"latency per provider call: {LATENCY_S * 1000:.0f} ms")
    print(
        f"synced {synced} connections in {first['elapsed']:.2f} s ({first['failed']} with errors)"
    )
    print(f"provider calls: {first['requests']} ({calls_per_sync:.2f} per sync)")
    print(f"daily rows stored: {first['days']}")
    cpu_ms = first["cpu_s"] / max(1, synced) * 1000
    print(f"service CPU: {first['cpu_s']:.1f} s ({cpu_ms:.1f} ms per sync)")
    print(f"achieved {achieved:.1f} syncs/s; ideal {ideal:.1f} syncs/s")

    # Second run: the provider's quota below what concurrency could send; our budget matches it.
    ideal_calls_per_s = CONCURRENCY / LATENCY_S
    quota = int(ideal_calls_per_s * QUOTA_FRACTION * QUOTA_WINDOW_S)
    quota_per_s = quota / QUOTA_WINDOW_S
    second = run(quota, float(QUOTA_WINDOW_S), f"{quota} per {QUOTA_WINDOW_S} seconds")
    calls_per_s = second["requests"] / second["elapsed"]
    budgeted = second["synced"] / second["elapsed"]
    print(
        f"budgeted run: quota {quota} requests per {QUOTA_WINDOW_S} s ({quota_per_s:.0f}/s, "
        f"{QUOTA_FRACTION:.0%} of the ideal {ideal_calls_per_s:.0f} requests/s); "
        f"app budget the same"
    )
    print(
        f"budgeted run: synced {second['synced']} in {second['elapsed']:.2f} s "
        f"({second['deferred']} deferred to a later tick, {second['failed']} with errors); "
        f"{second['requests']} calls = {calls_per_s:.0f}/s = {calls_per_s / quota_per_s:.0%} "
        f"of the quota; 429s: {second['breaches']}"
    )
    print(
        f"RESULT syncs_per_s={achieved:.1f} ideal_per_s={ideal:.1f} "
        f"efficiency={achieved / ideal:.3f} rate_limit_breaches={first['breaches']} "
        f"budgeted_syncs_per_s={budgeted:.1f} budgeted_calls_per_s={calls_per_s:.1f} "
        f"quota_per_s={quota_per_s:.1f} quota_use={calls_per_s / quota_per_s:.3f} "
        f"budgeted_deferred={second['deferred']} budgeted_breaches={second['breaches']}"
    )


if __name__ == "__main__":
    main()
