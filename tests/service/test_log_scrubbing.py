"""Secrets in URLs stay out of logs: gunicorn's access log (captured from a real gunicorn) and
the app's own log lines."""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask

from service import create_app
from service.config import Settings
from service.logscrub import REDACTED, ScrubFilter, scrub_query, scrub_text
from tests.support.gunicorn import start_gunicorn

SECRETS = ("C0DE-SECRET", "ST4TE-SECRET", "WEBH00K-SECRET", "VER1FY-SECRET", "REFERER-C0DE")


def test_it_scrubs_oauth_and_webhook_secrets_from_the_gunicorn_access_log(
    app: Flask, base_settings: Settings, db_url: str, tmp_path: Path
) -> None:
    server = start_gunicorn(base_settings, db_url, tmp_path)  # the default access-log format
    try:
        callback = requests.get(
            f"{server.url}/v1/integrations/oura/callback",
            params={"code": SECRETS[0], "state": SECRETS[1], "scope": "daily"},
            headers={"Referer": f"https://consent.example/cb?code={SECRETS[4]}&lang=en"},
            timeout=30,
        )
        webhook = requests.post(
            f"{server.url}/v1/integrations/withings/webhook?secret={SECRETS[2]}", timeout=30
        )
        handshake = requests.get(
            f"{server.url}/v1/integrations/strava/webhook",
            params={"hub.mode": "subscribe", "hub.verify_token": SECRETS[3], "hub.challenge": "c"},
            timeout=30,
        )
    finally:
        output = server.stop()

    # Unknown state; no webhook secrets configured here: refused, and logged all the same.
    assert (callback.status_code, webhook.status_code, handshake.status_code) == (400, 403, 403)
    lines = [line for line in output.splitlines() if "/v1/integrations/" in line]
    assert len(lines) == 3, output
    for secret in SECRETS:
        assert secret not in output
    assert f"code={REDACTED}&state={REDACTED}&scope=daily" in lines[0]
    assert f"cb?code={REDACTED}&lang=en" in lines[0]  # the referer too
    assert f"secret={REDACTED}" in lines[1]
    assert f"hub.verify_token={REDACTED}&hub.challenge=c" in lines[2]


def _capture(message: str, *args: Any, exc: BaseException | None = None) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ScrubFilter())
    logger = logging.getLogger("tests.scrub")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        if exc is None:
            logger.warning(message, *args)
        else:
            try:
                raise exc
            except type(exc):
                logger.exception(message, *args)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_it_scrubs_secrets_in_app_log_lines_and_tracebacks() -> None:
    line = _capture(
        "exchange failed for %s",
        f"https://api.example/token?code={SECRETS[0]}&grant_type=authorization_code",
    )
    trace = _capture(
        "pull failed",
        exc=RuntimeError(f"401 for url: https://apis.example/rest?token={SECRETS[1]}&x=1"),
    )

    assert SECRETS[0] not in line
    assert f"code={REDACTED}&grant_type=authorization_code" in line
    assert SECRETS[1] not in trace
    assert f"token={REDACTED}&x=1" in trace
    assert "RuntimeError" in trace


def test_it_installs_the_filter_on_the_root_handlers(base_settings: Settings) -> None:
    create_app(base_settings)
    handlers = logging.getLogger().handlers
    assert handlers
    assert all(any(isinstance(f, ScrubFilter) for f in h.filters) for h in handlers)


R = REDACTED


@pytest.mark.parametrize(
    ("text", "scrubbed"),
    [
        ("GET /cb?code=ab=cd&state=x== HTTP/1.1", f"GET /cb?code={R}&state={R} HTTP/1.1"),
        (
            "see https://x/cb?url=https://y/z?token=t&a=b",
            f"see https://x/cb?url=https://y/z?token={R}&a=b",
        ),
        ("/w?Secret=s&%73tate=t", f"/w?Secret={R}&%73tate={R}"),
        ("state=active code=1 (no URL)", "state=active code=1 (no URL)"),
        ("/cb?code=&state=", "/cb?code=&state="),
    ],
)
def test_it_scrubs_only_secret_query_parameters(text: str, scrubbed: str) -> None:
    assert scrub_text(text) == scrubbed


def test_it_scrubs_a_bare_query_string() -> None:
    assert scrub_query("code=abc&scope=daily") == f"code={REDACTED}&scope=daily"
