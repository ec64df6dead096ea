"""Safe production defaults: a strong SECRET_KEY, no demo accounts, /metrics behind a token."""

from __future__ import annotations

import base64
import os
import secrets
import string
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, select

from service.accounts.models import User
from service.accounts.security import verify_password
from service.bootstrap import DEMO_CLINICIAN, DEMO_PATIENT_PASSWORD
from service.config import ConfigError, Settings, _development_secret, load_settings
from service.keystrength import entropy_bits

ROOT = Path(__file__).resolve().parents[2]
KNOWN_PASSWORDS = (DEMO_CLINICIAN[1], DEMO_PATIENT_PASSWORD)


def _production(secret_key: str) -> dict[str, str]:
    return {
        "BACKSTRIDE_ENV": "production",
        "SECRET_KEY": secret_key,
        "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    }


@pytest.mark.parametrize(
    "key",
    [
        "x" * 64,
        "changeme",
        "ab" * 40,
        "0123456789abcdef" * 4,
        "db9ee25a0d0c79a259b325f698aacb1d",  # 128 random bits: half what HS256 wants
        "-8PZbo9U3Z9Fcm0htn0Ggw",  # the same in base64url
        "correct horse battery staple",
    ],
)
def test_it_refuses_a_weak_secret_key_in_production(key: str) -> None:
    with pytest.raises(ConfigError, match=r"SECRET_KEY must carry at least 32 bytes"):
        load_settings(_production(key))


RANDOM_KEYS = {
    "hex": lambda: secrets.token_hex(32),
    "base64url": lambda: secrets.token_urlsafe(32),
    "base64": lambda: base64.b64encode(os.urandom(32)).decode(),
    "raw": lambda: "".join(secrets.choice(string.printable[:94]) for _ in range(44)),
}


@pytest.mark.parametrize("spelling", sorted(RANDOM_KEYS))
def test_it_accepts_a_random_32_byte_secret_key_in_hex_base64_or_raw(spelling: str) -> None:
    key = RANDOM_KEYS[spelling]()
    assert load_settings(_production(key)).secret_key == key


def test_it_says_how_it_read_a_refused_key() -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(_production(secrets.token_hex(16)))
    message = str(refused.value)
    assert "read as hex it carries about 16" in message
    assert "secrets.token_hex(32)" in message


@pytest.mark.parametrize(
    ("key", "bits"),
    [
        ("abcdef01" * 8, 32),  # a repeated unit counts once
        ("0123456789abcdef" * 4, 64),
        ("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", 0),  # too few distinct characters
        ("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", 256),
    ],
)
def test_it_estimates_entropy_from_the_spelling(key: str, bits: int) -> None:
    assert entropy_bits(key) == bits


def test_it_does_not_check_key_strength_outside_production() -> None:
    env = {"SECRET_KEY": "dev", "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode()}
    assert load_settings(env).secret_key == "dev"


def test_processes_starting_together_share_one_development_secret(tmp_path: Path) -> None:
    # Test workers and gunicorn's start together on a fresh clone; each must read the one
    # secret the first of them wrote, never a file another is still writing.
    racers = 12
    everyone_made_one = threading.Barrier(racers)

    def make() -> str:
        everyone_made_one.wait(timeout=30)
        return Fernet.generate_key().decode()

    with ThreadPoolExecutor(racers) as pool:
        got = list(pool.map(lambda _: _development_secret("key", make, tmp_path), range(racers)))
    assert got[0]
    assert set(got) == {got[0]}
    assert (tmp_path / ".key").read_text() == got[0]
    assert [p.name for p in tmp_path.iterdir()] == [".key"]
    assert (tmp_path / ".key").stat().st_mode & 0o077 == 0


def _flask(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=ROOT,
        env={**os.environ, "LOG_LEVEL": "WARNING", **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _users(url: str) -> list[Any]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(select(User.email, User.password_hash)).all())
    finally:
        engine.dispose()


def test_it_sets_up_production_with_no_known_password(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'prod.db'}"
    env = {**_production(secrets.token_hex(32)), "DATABASE_URL": url}

    setup = _flask(env, "setup")
    demo = _flask(env, "setup", "--demo")

    assert setup.returncode == 0, setup.stderr
    assert "no demo clinic" in setup.stdout
    assert demo.returncode != 0
    assert "production never seeds" in demo.stderr
    settings = Settings()
    for user in _users(url):  # none at all today; none with a published password ever
        for password in KNOWN_PASSWORDS:
            assert not verify_password(user.password_hash, password, settings)
    assert _users(url) == []


def test_it_seeds_the_demo_in_development(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'dev.db'}"
    env = {
        "BACKSTRIDE_ENV": "development",
        "SECRET_KEY": secrets.token_hex(32),
        "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "DATABASE_URL": url,
    }

    setup = _flask(env, "setup")

    assert setup.returncode == 0, setup.stderr
    assert f"/console as {DEMO_CLINICIAN[0]} / {DEMO_CLINICIAN[1]}" in setup.stdout
    emails = {user.email for user in _users(url)}
    assert DEMO_CLINICIAN[0] in emails
    assert len(emails) > 1


def test_it_guards_metrics_with_a_bearer_token(make_app: Any) -> None:
    client = make_app(metrics_token="m3trics-" + "t" * 24).test_client()

    missing = client.get("/metrics")
    wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
    non_ascii = client.get("/metrics", headers={"Authorization": "Bearer é"})
    right = client.get("/metrics", headers={"Authorization": "Bearer m3trics-" + "t" * 24})

    assert missing.status_code == 401
    assert missing.mimetype == "application/problem+json"
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert wrong.status_code == 401
    assert non_ascii.status_code == 401
    assert right.status_code == 200
    assert b"backstride_http_requests_total" in right.data


def test_it_reads_the_metrics_token_from_the_environment() -> None:
    env = {"SECRET_KEY": "k", "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode()}
    assert load_settings({**env, "METRICS_TOKEN": "abc"}).metrics_token == "abc"
    assert load_settings(env).metrics_token is None


def test_it_reads_the_activity_evaluation_interval_and_refuses_a_bad_one() -> None:
    env = {"SECRET_KEY": "k", "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode()}
    assert load_settings(env).activity_evaluation_interval_s == 0
    interval = {**env, "ACTIVITY_EVALUATION_INTERVAL": "3600"}
    assert load_settings(interval).activity_evaluation_interval_s == 3600
    for bad in ("-1", "an hour"):
        with pytest.raises(ConfigError, match="ACTIVITY_EVALUATION_INTERVAL"):
            load_settings({**env, "ACTIVITY_EVALUATION_INTERVAL": bad})
