"""Benchmark: the API under gunicorn (2 workers) on SQLite and PostgreSQL against a bare Flask app.

Each backend gets a fresh database with one patient, 20 tips in the inbox and a token. The bare
app (same gunicorn, same workers) returns the very JSON the inbox returns, so the ratio prices
what the service adds: authentication, the database round trips, marshmallow serialisation.
The load comes from client processes (threads over keep-alive http.client connections) so the
client does not share a GIL with itself; gunicorn's sync workers close each connection, which
the client reopens, the same for every target. Each PUT re-sends the same 30 days with today's
steps grown, as a phone does: one day changes, so the upload writes it and marks the patient,
and 29 are re-sent unchanged (an upload of nothing new would skip both, and flatter the figure).
Usage: `python bench/api.py [SECONDS_PER_RUN] [ROUNDS]` (PG_URL overrides the PostgreSQL server).
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import multiprocessing
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.fernet import Fernet
from flask import Flask, Response, request
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench._watchdog import Watchdog
from service import create_app, migrate
from service.accounts.service import create_user, token_for_user
from service.config import load_settings
from service.extensions import db, get_settings
from service.patients.models import PatientProfile
from service.plans.models import Plan, PlanChange
from service.tips.models import Tip

ROOT = Path(__file__).resolve().parents[1]

PG_SERVER = os.environ.get("PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SECRET = "bench-secret-" + "z" * 40
CLIENT_PROCESSES = 2
THREADS_PER_PROCESS = 4
TIPS_PATH = "/v1/me/tips"
PUT_PATH = "/v1/me/activity/daily"
# A busy 2-core machine (load average 20+) has taken over 30 s to boot two workers.
START_DEADLINE_S = 120


def service_app() -> Flask:
    """The real app (gunicorn factory), configured from the environment like `wsgi:app`."""
    return create_app()


def bare_app() -> Flask:
    """A Flask app that answers both routes with canned JSON (gunicorn factory)."""
    app = Flask("bare")
    tips_body = json.loads(Path(os.environ["BENCH_TIPS_BODY"]).read_text())

    @app.get(TIPS_PATH)
    def tips() -> Any:
        return tips_body

    @app.put(PUT_PATH)
    def put_daily() -> Any:
        body = request.get_json()
        return {"upserted": len(body["days"]), "evaluation": "pending"}

    @app.get("/healthz")
    def healthz() -> Response:
        return Response("ok")

    return app


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


FERNET_KEY = Fernet.generate_key().decode()


def _env(database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        SECRET_KEY=SECRET,
        TOKEN_ENCRYPTION_KEY=FERNET_KEY,
        BACKSTRIDE_ENV="bench",
        LOG_LEVEL="WARNING",
        LOGIN_RATE_LIMIT="100000 per minute",
        PYTHONPATH=str(ROOT),
    )
    return env


# A server that dies mid-run ends the benchmark at once (non-zero) instead of timing errors.
WATCHDOG = Watchdog()


class Gunicorn:
    """Two sync gunicorn workers serving an app on a free loopback port."""

    def __init__(self, target: str, env: dict[str, str]) -> None:
        self.port = _free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{self.port}",
             "--log-level", "warning", "--chdir", str(ROOT), target],
            env=env,
        )  # fmt: skip
        deadline = time.monotonic() + START_DEADLINE_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"gunicorn {target} exited with code {self.proc.returncode} before it "
                    "answered /healthz (its log is above)"
                )
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    WATCHDOG.watch(self.name, self.proc)
                    return
            except OSError:
                time.sleep(0.2)
        self.proc.kill()
        raise RuntimeError(
            f"gunicorn {target} did not answer /healthz within {START_DEADLINE_S} s: the machine "
            "is too loaded to boot its workers (check `uptime`), or the app hangs at start"
        )

    @property
    def name(self) -> str:
        """How the watchdog names this server."""
        return f"gunicorn on port {self.port}"

    def stop(self) -> None:
        """Stop the server and its workers."""
        WATCHDOG.forget(self.name)
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)


def seed(database_url: str) -> tuple[str, list[dict[str, Any]]]:
    """Migrate, add a patient with 20 tips; return their token and a 30-day upload."""
    migrate.upgrade(database_url)
    settings = load_settings(_env(database_url))
    app = create_app(settings.replace(argon2_time_cost=1, argon2_memory_kib=1024))
    now = dt.datetime.now(dt.UTC)
    with app.app_context(), db.transaction() as session:
        user = create_user(
            session, get_settings(), email="bench@example.org", password="bench-password",
            role="patient", clinic=None,
        )  # fmt: skip
        session.add(PatientProfile(user_id=user.id, timezone="Europe/London", enrolled_at=now))
        session.add(Plan(patient_id=user.id, daily_target=4000, changed_at=now))
        session.add(PlanChange(patient_id=user.id, effective_at=now, target=4000, reason="initial"))
        for i in range(20):
            session.add(
                Tip(
                    patient_id=user.id, rule_id=f"rule-{i}", tip_key=f"tip-{i}",
                    category="form", title=f"Walking tip {i}",
                    text="Stand tall, let your arms swing and look ahead. " * 3,
                    why="steps.avg_7d >= plan.target * 0.8 -> 4100 >= 3200 true",
                    created_at=now - dt.timedelta(minutes=i),
                )
            )  # fmt: skip
        token = token_for_user(user, get_settings()).access_token
    db.remove()
    db.dispose()
    today = now.date()
    days = [
        {
            "date": (today - dt.timedelta(days=i)).isoformat(),
            "steps": 4000 + i,
            "source": "healthkit",
        }
        for i in range(30)
    ]
    return token, days


# Distinct PUT bodies (today's steps differ) that the client threads take in turn.
BODY_VARIANTS = 4096


def _bodies(payload: Any) -> list[bytes | None]:
    """The request bodies to send in turn: for an upload, today's steps grow with each one."""
    if payload is None:
        return [None]
    days = payload["days"]
    return [
        json.dumps({"days": [{**days[0], "steps": days[0]["steps"] + i}, *days[1:]]}).encode()
        for i in range(BODY_VARIANTS)
    ]


def _worker(port: int, method: str, path: str, headers: dict[str, str], payload: Any,
            index: int, seconds: float, out: Any) -> None:  # fmt: skip
    latencies: list[float] = []
    errors = 0
    bodies = _bodies(payload)
    stop_at = time.monotonic() + seconds

    def run(thread: int) -> None:
        nonlocal errors
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        # Each thread of each process starts at its own body, so no two send the same one.
        slot = index * THREADS_PER_PROCESS + thread
        start = slot * len(bodies) // (CLIENT_PROCESSES * THREADS_PER_PROCESS)
        sent = 0
        while time.monotonic() < stop_at:
            body = bodies[(start + sent) % len(bodies)]
            sent += 1
            started = time.perf_counter()
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    errors += 1
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
            except (OSError, http.client.HTTPException):
                errors += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                continue
            latencies.append(time.perf_counter() - started)
        conn.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS_PER_PROCESS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.put((latencies, errors))


def load(
    port: int, method: str, path: str, token: str, payload: Any, seconds: float
) -> dict[str, float]:
    """Drive one route for `seconds`; return requests/s and latency percentiles (ms)."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    queue: Any = multiprocessing.Queue()
    procs = [
        multiprocessing.Process(
            target=_worker, args=(port, method, path, headers, payload, index, seconds, queue)
        )
        for index in range(CLIENT_PROCESSES)
    ]
    for proc in procs:
        proc.start()
    # Bounded: a client process that died would otherwise leave this waiting for ever.
    results = [queue.get(timeout=seconds + 120) for _ in procs]
    for proc in procs:
        proc.join()
    latencies = sorted(x for lat, _ in results for x in lat)
    errors = sum(err for _, err in results)
    if errors:
        raise RuntimeError(f"{errors} failed requests on {method} {path}")
    return {
        "rps": len(latencies) / seconds,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }


def pg_database() -> tuple[str, Any]:
    """Create a throwaway PostgreSQL database; return its URL and a function that drops it."""
    server = make_url(PG_SERVER).set(drivername="postgresql+psycopg")
    name = f"backstride_bench_{secrets.token_hex(4)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return server.set(database=name).render_as_string(hide_password=False), drop


def measure(targets: dict[str, int], token: str, days: list[dict[str, Any]], seconds: float,
            rounds: int) -> dict[str, dict[str, float]]:  # fmt: skip
    """Load each target in turn, round after round; keep each scenario's median round.

    Interleaving keeps the ratios honest on a shared machine: a noisy moment hits every target
    of a round rather than one scenario.
    """
    for port in targets.values():
        load(port, "GET", TIPS_PATH, token, None, 0.5)  # warm up
    runs: dict[str, list[dict[str, float]]] = {}
    for _ in range(rounds):
        for label, port in targets.items():
            tips = load(port, "GET", TIPS_PATH, token, None, seconds)
            put = load(port, "PUT", PUT_PATH, token, {"days": days}, seconds)
            runs.setdefault(f"{label}_tips", []).append(tips)
            runs.setdefault(f"{label}_put", []).append(put)
    return {
        name: sorted(figures, key=lambda f: f["rps"])[len(figures) // 2]
        for name, figures in runs.items()
    }


def main() -> None:
    """Run every scenario and print the figures and the RESULT line."""
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 2.5
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    servers: list[Gunicorn] = []
    pg_url, drop = pg_database()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            sqlite_url = f"sqlite:///{tmp}/bench.db"
            # The same patient, tips and token secret on both databases.
            token, days = seed(sqlite_url)
            pg_token, _ = seed(pg_url)
            assert pg_token
            sqlite = Gunicorn("bench.api:service_app()", _env(sqlite_url))
            servers.append(sqlite)
            conn = http.client.HTTPConnection("127.0.0.1", sqlite.port)
            conn.request("GET", TIPS_PATH, headers={"Authorization": f"Bearer {token}"})
            tips_body = conn.getresponse().read()
            assert len(json.loads(tips_body)["items"]) == 20
            body_file = Path(tmp) / "tips.json"
            body_file.write_bytes(tips_body)
            bare_env = {**_env(sqlite_url), "BENCH_TIPS_BODY": str(body_file)}
            servers.append(bare := Gunicorn("bench.api:bare_app()", bare_env))
            servers.append(pg := Gunicorn("bench.api:service_app()", _env(pg_url)))
            targets = {"bare": bare.port, "sqlite": sqlite.port, "pg": pg.port}
            results = measure(targets, token, days, seconds, rounds)
    finally:
        for server in servers:
            server.stop()
        drop()

    print(f"{'scenario':<14} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for name, figures in results.items():
        print(f"{name:<14} {figures['rps']:>9.0f} {figures['p50']:>8.2f} {figures['p99']:>8.2f}")
    bare_rps = results["bare_tips"]["rps"]
    bare_put = results["bare_put"]["rps"]
    figures = {
        "tips_rps_sqlite": results["sqlite_tips"]["rps"],
        "tips_rps_pg": results["pg_tips"]["rps"],
        "bare_rps": bare_rps,
        "tips_vs_bare_sqlite": results["sqlite_tips"]["rps"] / bare_rps,
        "tips_vs_bare_pg": results["pg_tips"]["rps"] / bare_rps,
        "put_rps_sqlite": results["sqlite_put"]["rps"],
        "put_rps_pg": results["pg_put"]["rps"],
        "bare_put_rps": bare_put,
        "put_vs_bare_sqlite": results["sqlite_put"]["rps"] / bare_put,
        "put_vs_bare_pg": results["pg_put"]["rps"] / bare_put,
        "tips_p99_ms_sqlite": results["sqlite_tips"]["p99"],
        "tips_p99_ms_pg": results["pg_tips"]["p99"],
    }
    print("RESULT " + " ".join(f"{key}={value:.2f}" for key, value in figures.items()))


if __name__ == "__main__":
    main()
