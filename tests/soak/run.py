"""Run the chaos soak: the system up, patients busy, faults on a timeline, then the invariants.

Timeline, as fractions of the run (the CI version compresses the same faults into ~75 s):
0.12 push and provider faults on (FCM quota 429s and 500s, APNs 429s, slow sends, dead device
tokens from the start; provider 429s, 500s, slow answers, every access token expired);
0.25 SIGKILL a scheduler between `batch begin` and `batch end`, start it again;
0.35 SIGKILL a gunicorn worker (its master forks a new one); 0.45 restart PostgreSQL
(pg_ctl stop -m fast, start; production: pg_ctlcluster 15 main restart); 0.55 block the
provider (503 to everything) for a minute; slow sends end at 0.7. Then the load stops, the
schedulers drain the due evaluations and the outbox, and the invariants are read.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import shutil
import signal
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from sqlalchemy import create_engine

from tests.fakes.apns import KEY_ID, TEAM_ID, TOPIC, make_apns_key
from tests.fakes.fcm import make_service_account
from tests.soak import invariants
from tests.soak.cluster import (
    Proc,
    base_env,
    make_due,
    new_database,
    seed,
    start_scheduler,
    start_web,
    wait_for_line,
    wait_ready,
    worker_pids,
)
from tests.soak.fakes_host import FakesHost
from tests.soak.load import Load
from tests.support.private_pg import PrivatePostgres, free_port


@dataclass
class SoakConfig:
    """How big and how long."""

    seconds: float = 300
    patients: int = 3000
    connections: int = 300
    clients: int = 12
    rate: float = 40.0  # requests per second, all clients together
    web_instances: int = 3
    web_workers: int = 2
    schedulers: int = 3
    tick_scale: float = 0.1
    block_provider_s: float = 60
    drain_s: float = 240
    push_quota: int = 15  # FCM and APNs 429s (FCM's floor is a minute's back-off each)
    push_errors: int = 25  # FCM 500s
    keep: bool = False  # keep the work directory (logs) after the run


@dataclass
class SoakResult:
    """The invariants' counts, the fault log and the latencies."""

    counts: dict[str, Any] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)
    latency: dict[str, str] = field(default_factory=dict)
    anomalies: list[str] = field(default_factory=list)
    workdir: str = ""

    @property
    def violations(self) -> dict[str, int]:
        """Every violation count (all must be 0)."""
        return {name: int(self.counts.get(name, 0)) for name in invariants.VIOLATIONS}


class Timeline:
    """Log of what the soak did to the system, with times relative to the start."""

    def __init__(self) -> None:
        self.t0 = time.time()
        self.events: list[str] = []

    def note(self, text: str) -> float:
        """Record an event; return its epoch time."""
        now = time.time()
        self.events.append(f"{now - self.t0:7.1f}s {text}")
        print(f"soak {now - self.t0:7.1f}s {text}", flush=True)
        return now


def _wait_until(t0: float, at: float) -> None:
    pause = t0 + at - time.time()
    if pause > 0:
        time.sleep(pause)


def _kill_mid_batch(procs: list[Proc], timeline: Timeline, timeout: float = 60) -> Proc | None:
    """SIGKILL the first scheduler caught inside a batch that has patients; return it.

    A scheduler that has just ended a batch with patients and begun the next is claiming and
    evaluating more (the wave of due patients is not done): kill it at once, and check that it
    never printed the batch's end.
    """
    deadline = time.monotonic() + timeout
    seen = {proc.name: proc.log.stat().st_size for proc in procs}
    while time.monotonic() < deadline:
        for proc in procs:
            text = proc.log.read_bytes()[seen[proc.name] :].decode(errors="replace")
            lines = [line for line in text.splitlines() if line.startswith("batch ")]
            if len(lines) < 2 or lines[-1] != "batch begin" or lines[-2] in ("batch end 0",):
                continue
            if not lines[-2].startswith("batch end"):
                continue
            pid = proc.pid
            proc.kill()
            after = proc.log.read_bytes()[seen[proc.name] :].decode(errors="replace")
            if after.rstrip().endswith("batch begin"):
                timeline.note(f"SIGKILL {proc.name} (pid {pid}) mid-batch")
                return proc
            timeline.note(f"SIGKILL {proc.name} (pid {pid}) after its batch ended")
            return None
        time.sleep(0.005)
    # Never without a kill: the first scheduler dies wherever it is.
    procs[0].kill()
    timeline.note(f"no scheduler caught mid-batch in {timeout:.0f} s; SIGKILL {procs[0].name}")
    return None


def run(config: SoakConfig) -> SoakResult:
    """Bring the system up, load it, break it on the timeline, drain, check the invariants."""
    workdir = Path(tempfile.mkdtemp(prefix="backstride-soak-"))
    result = SoakResult(workdir=str(workdir))
    timeline = Timeline()
    fcm_credentials, fcm_public = make_service_account()
    apns_pem, apns_public = make_apns_key()
    pem = serialization.Encoding.PEM
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    fakes = FakesHost(
        fcm_public.public_bytes(pem, spki), apns_public.public_bytes(pem, spki), config.connections
    )
    pg = PrivatePostgres()
    procs: list[Proc] = []
    webs: list[Proc] = []
    try:
        pg.start()
        url = new_database(pg, "soak")
        credentials_file = workdir / "fcm.json"
        credentials_file.write_text(
            json.dumps({**fcm_credentials, "token_uri": fakes.urls["fcm_token_url"]})
        )
        (workdir / "apns.p8").write_text(apns_pem)
        env = base_env(
            url,
            fakes.urls,
            {
                "FCM_CREDENTIALS_FILE": str(credentials_file),
                "APNS_KEY_FILE": str(workdir / "apns.p8"),
                "APNS_KEY_ID": KEY_ID,
                "APNS_TEAM_ID": TEAM_ID,
                "APNS_TOPIC": TOPIC,
            },
        )
        seconds = config.seconds
        start = dt.datetime.now(dt.UTC)
        seeded = seed(
            url,
            env,
            config.patients,
            start,
            (0.05 * seconds, 0.8 * seconds),
            (0.25 * seconds + 1, 0.3),
            fakes.urls["tokens"],
            random.Random(11),
        )
        fakes.command(
            "dead_tokens",
            {
                "fcm": [t for t in seeded.dead_tokens if t.startswith("soak-fcm")],
                "apns": [t for t in seeded.dead_tokens if not t.startswith("soak-fcm")],
            },
        )
        timeline.note(
            f"seeded {len(seeded.patients)} patients, {seeded.connections} wearables, "
            f"{len(seeded.dead_tokens)} dead device tokens; private PostgreSQL on port {pg.port}"
        )
        ports = [free_port() for _ in range(config.web_instances)]
        webs = [start_web(env, port, config.web_workers, workdir) for port in ports]
        procs.extend(webs)
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        wait_ready(urls)
        schedulers = [
            start_scheduler(env, i, config.tick_scale, workdir) for i in range(config.schedulers)
        ]
        procs.extend(schedulers)
        for proc in schedulers:
            wait_for_line(proc, "scheduler ready")
        timeline = Timeline()  # t = 0 is the start of the load
        t0 = timeline.t0
        due_at = make_due(url, seeded.due_in, dt.datetime.fromtimestamp(t0, dt.UTC))
        load = Load(urls, seeded.tokens, config.clients, config.rate)
        load.start()
        timeline.note(
            f"load on: {config.clients} clients, {config.rate:.0f} req/s over "
            f"{len(urls)} gunicorn instances x {config.web_workers} workers; "
            f"{config.schedulers} schedulers"
        )

        _wait_until(t0, 0.12 * seconds)
        faults_from = timeline.note(
            "faults on: FCM/APNs 429 + 500, slow sends; provider 429/500/slow, tokens expired"
        )
        fakes.command("push_faults", {"quota": config.push_quota, "errors": config.push_errors})
        fakes.command("push_slow", 0.3)
        fakes.command(
            "provider_faults",
            {"retry_after": 5, "quota": 20, "errors": 20, "slow_s": 2.0, "slow_times": 10},
        )

        _wait_until(t0, 0.25 * seconds)
        victim = _kill_mid_batch(schedulers, timeline)
        time.sleep(2)
        for proc in schedulers:
            if proc.process is not None and proc.process.poll() is not None:
                proc.start()
                timeline.note(f"started {proc.name} again (pid {proc.pid})")
                wait_for_line(proc, "scheduler ready")
                timeline.note(f"{proc.name} ready again")

        _wait_until(t0, 0.35 * seconds)
        workers = worker_pids(webs[1].pid)
        if not workers:
            raise RuntimeError("no gunicorn worker to kill")
        os.kill(workers[0], signal.SIGKILL)
        worker_kill = timeline.note(f"SIGKILL gunicorn worker {workers[0]} of {webs[1].name}")

        _wait_until(t0, 0.45 * seconds)
        db_from = timeline.note("PostgreSQL restart: pg_ctl stop -m fast")
        pg.stop()
        time.sleep(2)
        pg.start()
        db_to = timeline.note("PostgreSQL restart: started again")

        _wait_until(t0, 0.55 * seconds)
        block = min(config.block_provider_s, 0.25 * seconds)
        fakes.command("block_provider", block)
        timeline.note(f"provider blocked for {block:.0f} s")

        _wait_until(t0, 0.7 * seconds)
        fakes.command("push_slow", 0.0)
        faults_to = timeline.note("slow sends off")
        faults_to = max(faults_to, t0 + 0.55 * seconds + block)

        _wait_until(t0, seconds)
        log = load.stop()
        load_end = dt.datetime.fromtimestamp(timeline.note("load off; draining"), dt.UTC)
        engine = create_engine(url)
        deadline = time.monotonic() + config.drain_s
        while time.monotonic() < deadline:
            due, pending = (
                invariants.count_due(engine, load_end),
                invariants.count_pending_work(engine, load_end),
            )
            if not due and not pending:
                break
            time.sleep(2)
        timeline.note(f"drained: {due} still due, {pending} pushes or marks pending")
        for proc in procs:
            proc.stop()
        report = fakes.finish()
        windows = invariants.Windows((db_from, db_to), worker_kill, (faults_from, faults_to))
        counts: dict[str, Any] = {"scheduler_killed_mid_batch": int(victim is not None)}
        counts.update(invariants.stored_writes(engine, log))
        counts.update(invariants.evaluations(engine, due_at, load_end))
        counts.update(invariants.deferred_evaluations(engine, log, load_end))
        counts.update(invariants.pushes(engine, report, seeded.dead_tokens))
        counts.update(invariants.refreshes(report, windows, result.anomalies))
        counts.update(invariants.connections_lost(engine))
        counts.update(invariants.web_tier(log.attempts, windows, result.anomalies))
        counts["tips_read"] = log.tips_read
        counts["abandoned"] = log.abandoned_walks + sum(log.abandoned_reports.values())
        counts["drain_due_left"], counts["drain_pending_left"] = due, pending
        engine.dispose()
        result.counts = counts
        result.latency = invariants.latency(log.attempts, windows)
        result.events = timeline.events
        return result
    finally:
        for proc in procs:
            proc.stop()
        pg.close()
        if not config.keep:
            threading.Thread(target=shutil.rmtree, args=(workdir, True), daemon=True).run()
