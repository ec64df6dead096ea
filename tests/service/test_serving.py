"""Serving and operating: PUBLIC_BASE_URL follows BIND, one control socket per gunicorn, quiet
migrations, staff accounts joining an existing clinic."""

from __future__ import annotations

import os
import re
import secrets
import socket
import stat
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from flask import Flask
from sqlalchemy import select

from service.accounts.models import Clinic, User
from service.cli import control_socket_path, gunicorn_argv
from service.config import Settings, load_settings
from service.extensions import db
from tests.support.connections import query_of
from tests.support.factories import Seed
from tests.support.gunicorn import ROOT, start_gunicorn

KEYS = {"SECRET_KEY": "k" * 40, "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode()}


@pytest.mark.parametrize(
    ("bind", "url"),
    [
        ("127.0.0.1:8101", "http://127.0.0.1:8101"),
        ("0.0.0.0:9000", "http://127.0.0.1:9000"),
        ("[::1]:8102", "http://[::1]:8102"),
        ("backstride.internal:8000", "http://backstride.internal:8000"),
    ],
)
def test_it_derives_the_public_base_url_from_bind(bind: str, url: str) -> None:
    assert load_settings({**KEYS, "BIND": bind}).public_base_url == url


def test_it_prefers_an_explicit_public_base_url() -> None:
    env = {**KEYS, "BIND": "127.0.0.1:8101", "PUBLIC_BASE_URL": "https://api.example.org/"}
    assert load_settings(env).public_base_url == "https://api.example.org"


def test_it_points_oauth_links_at_the_bound_port(
    make_app: Any, seed: Seed, base_settings: Settings
) -> None:
    bound = load_settings({**KEYS, "BIND": "127.0.0.1:8101"})
    app: Flask = make_app(bind=bound.bind, public_base_url=bound.public_base_url)
    client = app.test_client()

    url = client.post("/v1/me/connections/sandbox", headers=seed.headers("patient_a")).json[
        "authorize_url"
    ]
    opened = client.get(url.removeprefix("http://127.0.0.1:8101"))

    assert url.startswith("http://127.0.0.1:8101/v1/integrations/sandbox/authorize?")
    # The sandbox's consent page is our callback, i.e. the redirect URI itself.
    assert opened.headers["Location"].startswith(
        "http://127.0.0.1:8101/v1/integrations/sandbox/callback?"
    )
    assert query_of(opened.headers["Location"])["state"] == query_of(url)["state"]


def test_it_gives_each_bind_its_own_control_socket_under_instance(tmp_path: Path) -> None:
    first = control_socket_path("127.0.0.1:8000", tmp_path)
    second = control_socket_path("127.0.0.1:8101", tmp_path)

    assert first == tmp_path / "gunicorn-127.0.0.1-8000.ctl"
    assert second == tmp_path / "gunicorn-127.0.0.1-8101.ctl"
    argv = gunicorn_argv(load_settings({**KEYS, "BIND": "127.0.0.1:8101"}), tmp_path)
    assert argv[argv.index("--control-socket") + 1] == str(second)
    assert "service.logscrub.GunicornLogger" in argv


def test_it_keeps_control_socket_paths_within_the_unix_limit() -> None:
    bind = "[2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff]:8101"
    deep = Path("/srv") / ("x" * 40) / "instance"

    hashed = control_socket_path(bind, deep)  # named after the bind it would be 112 bytes

    assert hashed is not None
    assert hashed.parent == deep
    assert re.fullmatch(r"gunicorn-[0-9a-f]{12}\.ctl", hashed.name)
    assert control_socket_path(bind, Path("/") / ("y" * 90)) is None
    settings = load_settings({**KEYS, "BIND": bind})
    assert "--no-control-socket" in gunicorn_argv(settings, Path("/") / ("y" * 90))


def test_it_runs_two_gunicorns_side_by_side_with_their_own_sockets(
    app: Flask, base_settings: Settings, db_url: str
) -> None:
    # A short directory: pytest's own tmp_path can exceed what an AF_UNIX path may hold.
    with tempfile.TemporaryDirectory(prefix="bs-") as short:
        _two_gunicorns(base_settings, db_url, Path(short))


def _two_gunicorns(base_settings: Settings, db_url: str, workdir: Path) -> None:
    one = start_gunicorn(base_settings, db_url, workdir)
    try:
        two = start_gunicorn(base_settings, db_url, workdir)
        try:
            paths = [control_socket_path(s.settings.bind, workdir / "instance") for s in (one, two)]
            assert paths[0] != paths[1]
            for path in paths:
                assert path is not None
                assert stat.S_ISSOCK(path.stat().st_mode)
                with socket.socket(socket.AF_UNIX) as client:
                    client.connect(str(path))  # each instance still answers on its own
        finally:
            two.stop()
    finally:
        one.stop()


def _flask(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=ROOT,
        env={**os.environ, **KEYS, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_it_keeps_alembic_plugin_lines_out_of_the_info_log(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'quiet.db'}"
    upgraded = _flask({"DATABASE_URL": url, "LOG_LEVEL": "INFO"}, "db", "upgrade")

    assert upgraded.returncode == 0, upgraded.stderr
    assert "Running upgrade" in upgraded.stderr  # INFO is on...
    assert "setup plugin" not in upgraded.stderr  # ...but the plugin roll-call is not


def test_it_joins_an_existing_clinic_when_creating_staff(app: Flask, seed: Seed) -> None:
    runner = app.test_cli_runner()
    create = ["users", "create", "--role", "clinician", "--password", secrets.token_urlsafe(12)]

    joined = runner.invoke(
        args=[*create, "--email", "new@north.example", "--clinic", "north clinic "]
    )
    created = runner.invoke(
        args=[*create, "--email", "new@east.example", "--clinic", "East Clinic"]
    )

    assert joined.exit_code == 0, joined.output
    assert "joined existing clinic 'North Clinic'" in joined.output
    assert created.exit_code == 0, created.output
    assert "new clinic 'East Clinic'" in created.output
    db.session.remove()
    by_email = {u.email: u.clinic_id for u in db.session.scalars(select(User))}
    assert by_email["new@north.example"] == seed.clinic_id
    east = db.session.scalar(select(Clinic.id).where(Clinic.name == "East Clinic"))
    assert by_email["new@east.example"] == east
