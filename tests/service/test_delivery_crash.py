"""Crash safety and the whole path: a worker killed mid-batch loses nothing; pain -> push."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from sqlalchemy import func, select

from service import create_app
from service.config import Settings
from service.delivery.models import PushDelivery
from service.delivery.outbox import enqueue
from service.delivery.worker import deliver_due
from service.extensions import db
from tests.conftest import LiveServer
from tests.support.delivery import (
    APNS_TOKEN,
    PushEnv,
    add_device,
    add_tip,
    all_deliveries,
    push_env,
)
from tests.support.factories import Seed
from tests.support.wait import wait_until

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(base_settings: Settings, tmp_path: Path, seed: Seed) -> Iterator[PushEnv]:
    """An app with FCM and APNs configured (fakes running), over the seeded users."""
    # Built directly (not with make_app): `seed` already empties the database afterwards.
    with push_env(lambda **push: create_app(base_settings.replace(**push)), tmp_path) as env:
        yield env


def _worker_env(base_settings: Settings, db_url: str, push: dict[str, Any]) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("FCM_")}
    env.update(
        {
            "DATABASE_URL": db_url,
            "SECRET_KEY": base_settings.secret_key,
            "TOKEN_ENCRYPTION_KEY": ",".join(base_settings.token_encryption_keys),
            "BACKSTRIDE_ENV": "testing",
            "LOG_LEVEL": "ERROR",
        }
    )
    env.update({key.upper(): str(value) for key, value in push.items()})
    return env


_STARTED: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def _no_worker_outlives_its_test() -> Iterator[None]:
    """Kill any worker a failed test left running: it would deliver the next tests' pushes."""
    yield
    while _STARTED:
        process = _STARTED.pop()
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=30)


def _start_worker(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.delivery_worker_proc", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _STARTED.append(process)
    return process


def _counts_by_status() -> dict[str, int]:
    db.session.remove()
    with db.transaction() as session:
        rows = session.execute(
            select(PushDelivery.status, func.count()).group_by(PushDelivery.status)
        ).all()
    return {str(status): int(count) for status, count in rows}


def _in_flight() -> int:
    db.session.remove()
    with db.transaction() as session:
        query = select(func.count()).where(
            PushDelivery.status == "pending", PushDelivery.claim_token.is_not(None)
        )
        return int(session.execute(query).scalar_one())


@pytest.mark.slow
def test_it_loses_no_push_when_a_worker_is_killed_mid_batch(
    env: PushEnv, seed: Seed, base_settings: Settings, db_url: str, now: dt.datetime
) -> None:
    with db.transaction() as session:
        add_device(session, seed.patient_a, "android", "fcm-a", at=now)
        add_device(session, seed.patient_a, "ios", APNS_TOKEN, at=now)
        add_device(session, seed.patient_b, "android", "fcm-b", at=now)
        tips = [
            add_tip(session, pid, created_at=now) for pid in [seed.patient_a, seed.patient_b] * 20
        ]
        assert enqueue(session, tips, now) == 60
    expected = {
        (token, str(tip.id))
        for tip in tips
        for token in (("fcm-a", APNS_TOKEN) if tip.patient_id == seed.patient_a else ("fcm-b",))
    }
    # The fakes answer a few sends, then hold every later answer (each recorded on arrival):
    # the kill lands while sends are in flight however slowly this machine runs.
    env.fcm.hold_after(8)
    env.apns.hold_after(4)
    worker_env = _worker_env(base_settings, db_url, env.settings)

    first = _start_worker(worker_env, "--limit", "20", "--lease-seconds", "2")

    def sending() -> bool:
        assert first.poll() is None, first.communicate()
        return len(env.fcm.received) + len(env.apns.received) >= 12

    wait_until(sending, 120, what="the worker sending 12 pushes")
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=30)
    assert first.returncode == -signal.SIGKILL
    assert _counts_by_status().get("pending", 0) > 0
    assert _in_flight() > 0  # claimed, maybe sent, never recorded: the lease must free them
    env.fcm.release()
    env.apns.release()

    second = _start_worker(
        worker_env,
        *("--limit", "20", "--lease-seconds", "2", "--until-empty", "--deadline-seconds", "150"),
    )
    _out, err = second.communicate(timeout=180)
    assert second.returncode == 0, err

    assert _counts_by_status() == {"sent": 60}
    received = Counter(
        [(p.message["token"], p.message["android"]["collapse_key"]) for p in env.fcm.received]
        + [(n.device_token, n.headers["apns-collapse-id"]) for n in env.apns.received]
    )
    assert set(received) == expected  # every tip reached every device, one collapse id each
    repeats = sum(received.values()) - len(expected)
    print(f"crash test: {repeats} repeated sends (same collapse id) of {len(expected)}")
    assert repeats <= 20  # at most the batch that was in flight when the worker died
    assert max(row.attempts for row in all_deliveries()) <= 2


def _patient_token(live_url: str, email: str) -> str:
    response = requests.post(
        f"{live_url}/v1/auth/token",
        json={"email": email, "password": "correct horse battery"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def _hhmm(moment: dt.datetime) -> str:
    return moment.strftime("%H:%M")


def test_it_pushes_a_pain_flare_tip_within_seconds_end_to_end(env: PushEnv, seed: Seed) -> None:
    with LiveServer(env.app) as server:
        auth = {"Authorization": f"Bearer {seed.tokens['patient_a']}"}
        device = requests.post(
            f"{server.url}/v1/me/devices",
            json={"platform": "android", "token": "fcm-e2e"},
            headers=auth,
            timeout=10,
        )
        assert device.status_code == 201, device.text
        # The rule set's quiet hours (21:00-08:00) would hold the push at night: give the
        # patient their own window, well away from the current local time.
        profile = requests.get(f"{server.url}/v1/me", headers=auth, timeout=10).json()
        here = dt.datetime.now(ZoneInfo(profile["timezone"]))
        quiet = {
            "start": (here + dt.timedelta(hours=6)).strftime("%H:%M"),
            "end": (here + dt.timedelta(hours=7)).strftime("%H:%M"),
        }
        patched = requests.patch(
            f"{server.url}/v1/me", json={"quiet_hours": quiet}, headers=auth, timeout=10
        )
        assert patched.status_code == 200, patched.text
        pain = requests.post(
            f"{server.url}/v1/me/pain", json={"score": 8}, headers=auth, timeout=10
        )
        assert pain.status_code == 201, pain.text
        tip_ids = {str(tip["id"]) for tip in pain.json()["tips"]}
        assert tip_ids
        started = time.monotonic()
        deliver_due()
        # Within seconds; the bound is generous, so only a hung send fails it on a busy machine.
        assert time.monotonic() - started < 30
    pushed = {p.message["data"]["tip_id"] for p in env.fcm.received}
    assert pushed == tip_ids
    assert {p.message["token"] for p in env.fcm.received} == {"fcm-e2e"}


def test_it_holds_tips_in_quiet_hours_but_not_urgent_ones_end_to_end(
    env: PushEnv, seed: Seed, now: dt.datetime
) -> None:
    with LiveServer(env.app) as server:
        auth = {"Authorization": f"Bearer {seed.tokens['patient_a']}"}
        profile = requests.get(f"{server.url}/v1/me", headers=auth, timeout=10).json()
        here = dt.datetime.now(ZoneInfo(profile["timezone"]))
        quiet = {
            "start": _hhmm(here - dt.timedelta(hours=1)),
            "end": _hhmm(here + dt.timedelta(hours=2)),
        }
        patched = requests.patch(
            f"{server.url}/v1/me", json={"quiet_hours": quiet}, headers=auth, timeout=10
        )
        assert patched.status_code == 200, patched.text
        requests.post(
            f"{server.url}/v1/me/devices",
            json={"platform": "android", "token": "fcm-quiet"},
            headers=auth,
            timeout=10,
        ).raise_for_status()
        pain = requests.post(
            f"{server.url}/v1/me/pain", json={"score": 8}, headers=auth, timeout=10
        )
        assert pain.status_code == 201, pain.text
        assert pain.json()["tips"]
        assert deliver_due() == 0
        assert env.fcm.received == []
        assert all(row.next_attempt_at > now for row in all_deliveries())
        red_flag = requests.post(
            f"{server.url}/v1/me/pain",
            json={"score": 9, "red_flags": ["leg_weakness"]},
            headers=auth,
            timeout=10,
        )
        assert red_flag.status_code == 201, red_flag.text
        urgent = {str(t["id"]) for t in red_flag.json()["tips"]}
        assert urgent
        deliver_due()
    assert {p.message["data"]["tip_id"] for p in env.fcm.received} <= urgent
    assert env.fcm.received
    assert all(p.message["android"]["priority"] == "high" for p in env.fcm.received)
