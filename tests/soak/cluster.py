"""The soak's system: a private PostgreSQL, N gunicorn instances, M scheduler processes, seeding.

Everything runs as a deployment would: gunicorn with the command line `flask serve` uses
(`service.cli.gunicorn_argv`), each instance on its own loopback port; scheduler processes
built from the environment. The database is a private PostgreSQL server (never the shared
one), created here and deleted by `close()`.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import requests
from cryptography.fernet import Fernet
from sqlalchemy import bindparam, create_engine, insert, select, update

from service import migrate
from service.accounts.models import User
from service.accounts.security import TokenClaims, issue_token
from service.activity.models import DailyActivity
from service.cli import gunicorn_argv
from service.config import load_settings
from service.connections.models import WearableConnection
from service.crypto import cipher_for
from service.patients.models import Device, PatientProfile
from service.plans.models import Plan, PlanChange
from tests.fakes.server import CLIENT_ID, CLIENT_SECRET
from tests.support.private_pg import PrivatePostgres

ROOT = Path(__file__).resolve().parents[2]
# Zones tried for the patients; those whose local time stays between 08:45 and 20:30 for the
# whole run are used, so no push waits for quiet hours (21:00-08:00) and the run's tips arrive.
ZONES = (
    "Pacific/Kiritimati",
    "Pacific/Auckland",
    "Australia/Sydney",
    "Asia/Tokyo",
    "Asia/Shanghai",
    "Asia/Bangkok",
    "Asia/Kolkata",
    "Asia/Dubai",
    "Europe/Moscow",
    "Europe/Berlin",
    "Europe/London",
    "Atlantic/Azores",
    "America/Sao_Paulo",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "Pacific/Honolulu",
)


def daytime_zones(start: dt.datetime, seconds: float) -> list[str]:
    """The zones whose local clock stays within 08:45-20:30 from start to start + seconds."""
    end = start + dt.timedelta(seconds=seconds + 600)
    chosen = []
    for name in ZONES:
        zone = ZoneInfo(name)
        first, last = start.astimezone(zone), end.astimezone(zone)
        same_day = first.date() == last.date()
        if same_day and dt.time(8, 45) <= first.time() <= last.time() <= dt.time(20, 30):
            chosen.append(name)
    if not chosen:
        raise RuntimeError("no daytime zone for this run")
    return chosen


@dataclass
class Seeded:
    """The seeded population, as the load and the invariants need it."""

    patients: list[int]
    tokens: dict[int, str]  # patient id -> access token
    due_in: dict[int, float]  # patient id -> seconds after the load starts that they fall due
    devices: dict[str, int] = field(default_factory=dict)  # device token -> patient
    dead_tokens: set[str] = field(default_factory=set)
    connections: int = 0


def seed(
    url: str,
    env: dict[str, str],
    patients: int,
    start: dt.datetime,
    due_span: tuple[float, float],
    wave: tuple[float, float],
    provider_tokens: list[tuple[str, str]],
    rng: random.Random,
) -> Seeded:
    """Patients with a plan, a week of steps, one phone each, some with a linked wearable.

    Nobody is due yet (booting takes a while on a busy machine): `make_due` sets their
    decision times once the load starts."""
    settings = load_settings(env)
    cipher = cipher_for(settings)
    zones = daytime_zones(start, due_span[1])
    engine = create_engine(url)
    enrolled = start - dt.timedelta(days=20)
    wave_at, wave_share = wave
    with engine.begin() as conn:
        conn.execute(
            insert(User),
            [
                {
                    "email": f"soak{i}@example.org",
                    "password_hash": "x",
                    "role": "patient",
                    "created_at": enrolled,
                }
                for i in range(patients)
            ],
        )
        ids = list(conn.scalars(select(User.id).order_by(User.id)))
        due_in = {
            pid: wave_at if rng.random() < wave_share else rng.uniform(*due_span) for pid in ids
        }
        conn.execute(
            insert(PatientProfile),
            [
                {
                    "user_id": pid,
                    "timezone": zones[pid % len(zones)],
                    "enrolled_at": enrolled,
                    "next_decision_at": start + dt.timedelta(days=1),
                    "conditions": [],
                    "extra": {},
                }
                for pid in ids
            ],
        )
        conn.execute(
            insert(Plan),
            [{"patient_id": p, "daily_target": 4000, "changed_at": enrolled} for p in ids],
        )
        conn.execute(
            insert(PlanChange),
            [
                {"patient_id": p, "effective_at": enrolled, "target": 4000, "reason": "initial"}
                for p in ids
            ],
        )
        today = start.date()
        conn.execute(
            insert(DailyActivity),
            [
                {
                    "patient_id": p,
                    "date": today - dt.timedelta(days=back),
                    "source": "healthkit",
                    "steps": rng.randint(2000, 7000),
                    "updated_at": start,
                }
                for p in ids
                for back in range(1, 8)
            ],
        )
        seeded = Seeded(ids, {}, due_in)
        devices = []
        for pid in ids:
            platform = "ios" if pid % 3 == 0 else "android"
            token = f"{'a1' * 24}{pid:016x}" if platform == "ios" else f"soak-fcm-{pid}"
            devices.append(
                {
                    "patient_id": pid,
                    "platform": platform,
                    "token": token,
                    "created_at": enrolled,
                    "last_seen_at": start,
                }
            )
            seeded.devices[token] = pid
            if pid % 37 == 0:
                seeded.dead_tokens.add(token)
        conn.execute(insert(Device), devices)
        linked = ids[: len(provider_tokens)]
        conn.execute(
            insert(WearableConnection),
            [
                {
                    "patient_id": pid,
                    "provider": "google_health",
                    "status": "active",
                    "access_token_enc": cipher.encrypt(access),
                    "refresh_token_enc": cipher.encrypt(refresh),
                    # Some expire within the refresh job's horizon (15 min): refreshed in the run.
                    "token_expires_at": start + dt.timedelta(seconds=rng.uniform(60, 3600)),
                    "scopes": [],
                    "pending": [],
                    "cursor": (today - dt.timedelta(days=1)).isoformat(),
                    "next_sync_at": start + dt.timedelta(seconds=rng.uniform(0, 60)),
                    "attempts": 0,
                    "created_at": enrolled,
                }
                for pid, (access, refresh) in zip(linked, provider_tokens, strict=False)
            ],
        )
        seeded.connections = len(linked)
    engine.dispose()
    for pid in ids:
        claims = TokenClaims(user_id=pid, role="patient", clinic_id=None, version=0)
        seeded.tokens[pid] = issue_token(claims, settings, now=start)
    return seeded


def make_due(url: str, due_in: dict[int, float], t0: dt.datetime) -> dict[int, dt.datetime]:
    """Give every patient their decision time in the run, counted from the load's start."""
    due_at = {pid: t0 + dt.timedelta(seconds=offset) for pid, offset in due_in.items()}
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            update(PatientProfile)
            .where(PatientProfile.user_id == bindparam("pid"))
            .values(next_decision_at=bindparam("due")),
            [{"pid": pid, "due": at} for pid, at in due_at.items()],
        )
    engine.dispose()
    return due_at


def base_env(url: str, fakes: dict[str, Any], credentials: dict[str, str]) -> dict[str, str]:
    """The environment every web and job process gets: database, secrets, fakes, push keys."""
    return {
        **os.environ,
        "DATABASE_URL": url,
        "SECRET_KEY": "soak-secret-" + "k" * 40,
        "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "BACKSTRIDE_ENV": "testing",
        "LOG_LEVEL": "WARNING",
        "ACCESS_TOKEN_TTL": "86400",
        "SYNC_INTERVAL": "60",
        "GOOGLE_HEALTH_CLIENT_ID": CLIENT_ID,
        "GOOGLE_HEALTH_CLIENT_SECRET": CLIENT_SECRET,
        "GOOGLE_HEALTH_BASE_URL": fakes["provider"],
        "GOOGLE_HEALTH_TOKEN_URL": fakes["provider_token_url"],
        "GOOGLE_HEALTH_RATE_LIMIT": "none",
        "GOOGLE_HEALTH_USER_RATE_LIMIT": "none",
        "FCM_BASE_URL": fakes["fcm"],
        "APNS_BASE_URL": fakes["apns"],
        **credentials,
    }


class Proc:
    """One child process whose output goes to a file (and, for schedulers, is watched)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.name, self.argv, self.env, self.log = name, argv, env, log
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        """(Re)start the process, appending to its log."""
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )

    @property
    def pid(self) -> int:
        """The running process's id."""
        assert self.process is not None
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL, as the kernel's OOM killer or a lost machine would."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 20 s."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def start_web(env: dict[str, str], port: int, workers: int, workdir: Path) -> Proc:
    """One gunicorn instance as `flask serve` runs it, on its own port."""
    environ = {**env, "BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(workers)}
    argv = gunicorn_argv(load_settings(environ), workdir / "instance")
    # Threads let a worker keep answering (503s included) while one request waits on the pool.
    # Keep-alive beyond the clients' idle gaps, as behind a balancer (gunicorn's 2 s default
    # races a client reusing the connection: a reset that is no fault of the service).
    argv = [*argv[:-1], "--threads", "4", "--timeout", "60", "--keep-alive", "75", argv[-1]]
    return Proc(f"web-{port}", argv, environ, workdir / f"web-{port}.log")


def start_scheduler(env: dict[str, str], index: int, tick_scale: float, workdir: Path) -> Proc:
    """One scheduler process with the soak's shorter ticks."""
    argv = [sys.executable, "-m", "tests.soak.scheduler_proc", "--tick-scale", str(tick_scale)]
    return Proc(f"scheduler-{index}", argv, env, workdir / f"scheduler-{index}.log")


def wait_ready(urls: list[str], timeout: float = 90) -> None:
    """Wait until every web instance answers /readyz."""
    deadline = time.monotonic() + timeout
    for url in urls:
        while True:
            try:
                if requests.get(f"{url}/readyz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not become ready")
            time.sleep(0.2)


def wait_for_line(proc: Proc, line: str, timeout: float = 180) -> None:
    """Wait until the process has printed `line` (a scheduler takes a while to boot here)."""
    deadline = time.monotonic() + timeout
    while line not in proc.log.read_text(errors="replace"):
        if proc.process is not None and proc.process.poll() is not None:
            raise RuntimeError(f"{proc.name} exited: {proc.log.read_text(errors='replace')}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{proc.name} did not print {line!r} within {timeout:.0f} s")
        time.sleep(0.1)


def worker_pids(master: int) -> list[int]:
    """The gunicorn workers (children) of a master process."""
    children = Path(f"/proc/{master}/task/{master}/children")
    return [int(pid) for pid in children.read_text().split()] if children.exists() else []


def new_database(pg: PrivatePostgres, name: str) -> str:
    """Create and migrate the soak's database; return its URL."""
    url = pg.create_database(name)
    migrate.upgrade(url)
    return url
