"""Benchmark: wearable sync throughput against the fake Google Health server with 100 ms latency.

2,000 patients, each with a linked google_health connection due now. One scheduler tick
(`sync_due_connections`) syncs them all with the configured per-provider concurrency. The fake
runs in its own process (so it does not share our GIL) and adds 100 ms to every request; it also
enforces an app-wide quota and counts every 429 it had to send (a breach).

Ideal: each sync makes `calls_per_sync` provider requests, one after the other, so a worker
finishes at best one sync per `calls_per_sync * latency` seconds and `concurrency` workers
finish `concurrency / (calls_per_sync * latency)` syncs per second. calls_per_sync is counted
by the fake in the same run. efficiency = achieved / ideal.

Run: `.venv/bin/python bench/sync.py` (SQLite in a temporary folder; set DATABASE_URL to a
PostgreSQL database to measure there instead).
"""

from __future__ import annotations

import datetime as dt
import logging
import multiprocessing
import os
import resource
import sys
import tempfile
import threading
import time
from collections import deque
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cryptography.fernet import Fernet  # noqa: E402
from sqlalchemy import func, insert, select  # noqa: E402

from service import create_app, migrate  # noqa: E402
from service.accounts.models import User  # noqa: E402
from service.activity.models import DailyActivity  # noqa: E402
from service.config import ProviderSettings, load_settings  # noqa: E402
from service.connections.models import WearableConnection  # noqa: E402
from service.connections.sync import sync_due_connections  # noqa: E402
from service.crypto import cipher_for  # noqa: E402
from service.extensions import db  # noqa: E402
from service.patients.models import PatientProfile  # noqa: E402
from tests.fakes.google_health import FakeGoogleHealth  # noqa: E402
from tests.fakes.server import CLIENT_ID, CLIENT_SECRET, FakeRequest, FakeResponse  # noqa: E402

CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "2000"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "64"))
LATENCY_S = float(os.environ.get("BENCH_LATENCY_S", "0.100"))
# The provider's app-wide quota. With CONCURRENCY workers and LATENCY_S per call we can send at
# most CONCURRENCY / LATENCY_S requests a second; the quota sits above that, as it must when
# concurrency is the budget, and any 429 counts as a breach.
QUOTA_PER_S = 900


class QuotaFakeGoogleHealth(FakeGoogleHealth):
    """The fake with an app-wide requests-per-second quota and a breach counter."""

    def __init__(self) -> None:
        super().__init__()
        self.window: deque[float] = deque()
        self.breaches = 0
        self.data_requests = 0
        self.quota_lock = threading.Lock()

    def dispatch(self, request: FakeRequest) -> FakeResponse:
        """Count the call against the quota before answering it."""
        now = time.monotonic()
        with self.quota_lock:
            while self.window and now - self.window[0] > 1.0:
                self.window.popleft()
            self.window.append(now)
            over = len(self.window) > QUOTA_PER_S
            self.data_requests += 1
            if over:
                self.breaches += 1
        if over:
            return FakeResponse(429, self.rate_limit_body(), {"Retry-After": "1"})
        return super().dispatch(request)


def serve_fake(pipe: Connection) -> None:
    """Child process: run the fake, hand out tokens, report counters when asked to stop."""
    fake = QuotaFakeGoogleHealth()
    fake.latency = LATENCY_S
    fake.start()
    tokens = [fake.issue_tokens() for _ in range(CONNECTIONS)]
    pipe.send((fake.base_url, tokens))
    pipe.recv()  # "stop"
    pipe.send({"breaches": fake.breaches, "requests": fake.data_requests})
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


def main() -> None:
    """Run the benchmark and print the RESULT line."""
    logging.disable(logging.WARNING)
    context = multiprocessing.get_context("fork")
    parent, child = context.Pipe()
    fake_process = context.Process(target=serve_fake, args=(child,), daemon=True)
    fake_process.start()
    base_url, tokens = parent.recv()
    with tempfile.TemporaryDirectory() as tmp:
        url = os.environ.get("DATABASE_URL") or f"sqlite:///{tmp}/bench.db"
        migrate.upgrade(url)
        settings = load_settings(
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
                    client_id=CLIENT_ID, client_secret=CLIENT_SECRET, base_url=base_url
                )
            },
            sync_concurrency=CONCURRENCY,
            sync_provider_concurrency=CONCURRENCY,
        )
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
        parent.send("stop")
        stats = parent.recv()
        fake_process.join(timeout=10)
        db.session.remove()
        db.engine.dispose()
    cpu_s = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
    calls_per_sync = stats["requests"] / max(1, synced)
    achieved = synced / elapsed
    ideal = CONCURRENCY / (calls_per_sync * LATENCY_S)
    backend = "postgresql" if url.startswith("postgresql") else "sqlite"
    print(f"backend={backend} connections={CONNECTIONS} concurrency={CONCURRENCY}")
    print(f"latency per provider call: {LATENCY_S * 1000:.0f} ms")
    print(f"synced {synced} connections in {elapsed:.2f} s ({failed} with errors)")
    print(f"provider calls: {stats['requests']} ({calls_per_sync:.2f} per sync)")
    print(f"daily rows stored: {days}")
    print(f"service CPU: {cpu_s:.1f} s ({cpu_s / max(1, synced) * 1000:.1f} ms per sync)")
    print(f"achieved {achieved:.1f} syncs/s; ideal {ideal:.1f} syncs/s")
    print(
        f"RESULT syncs_per_s={achieved:.1f} ideal_per_s={ideal:.1f} "
        f"efficiency={achieved / ideal:.3f} rate_limit_breaches={stats['breaches']}"
    )


if __name__ == "__main__":
    main()
