"""The shared HttpClient: retries, Retry-After, error mapping, and clean messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from integrations.http import HttpClient, IntegrationError, RateLimited, parse_retry_after
from tests.fakes.server import FakeProviderServer, FakeRequest, FakeResponse


class Echo(FakeProviderServer):
    """Any bearer is fine; answers a fixed status/body per path."""

    def is_authorized(self, request: FakeRequest) -> bool:
        return True

    def route(self, request: FakeRequest) -> FakeResponse:
        answers: dict[str, Any] = {
            "/ok": (200, {"ok": True}),
            "/text": (200, "not json"),
            "/gone": (404, {"error": "gone"}),
            "/empty": (204, None),
        }
        status, body = answers[request.path]
        return FakeResponse(status, body)


def test_it_parses_retry_after_seconds_and_http_dates() -> None:
    now = datetime(2026, 5, 10, 12, tzinfo=UTC)
    assert parse_retry_after("120") == 120
    assert (
        parse_retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now=now) == 90
    )
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_it_retries_get_on_500_but_not_post() -> None:
    with Echo() as fake:
        client = HttpClient(fake.base_url, timeout=2, backoff=0.01)
        fake.fail_500(times=1)
        assert client.json("GET", "/ok") == {"ok": True}
        fake.fail_500(times=1)
        with pytest.raises(IntegrationError) as caught:
            client.json("POST", "/ok")
        assert caught.value.status == 500
        assert not caught.value.permanent
        assert client.json("POST", "/ok", idempotent=True) == {"ok": True}


def test_it_maps_statuses_to_permanence() -> None:
    with Echo() as fake:
        client = HttpClient(fake.base_url, timeout=2, backoff=0.01)
        with pytest.raises(IntegrationError) as caught:
            client.json("GET", "/gone")
        assert (caught.value.status, caught.value.permanent) == (404, True)
        with pytest.raises(IntegrationError) as caught:
            client.json("GET", "/text")
        assert caught.value.permanent
        assert client.json("GET", "/empty") is None


def test_it_honours_a_short_retry_after_and_surfaces_a_long_one() -> None:
    with Echo() as fake:
        client = HttpClient(fake.base_url, timeout=2, max_retry_wait=1.0)
        fake.rate_limit(retry_after=0.05, times=1)
        assert client.json("GET", "/ok") == {"ok": True}
        fake.rate_limit(retry_after=600, times=1)
        with pytest.raises(RateLimited) as caught:
            client.json("GET", "/ok")
        assert caught.value.retry_after == 600


def test_it_reports_connection_failures_as_retryable_without_the_query() -> None:
    with Echo() as fake:
        url = fake.base_url
    client = HttpClient(url, timeout=0.5, backoff=0.01, max_retries=1)
    with pytest.raises(IntegrationError) as caught:
        client.json("GET", "/ok?access_token=sekrit")
    assert not caught.value.permanent
    assert "sekrit" not in str(caught.value)


def test_it_reuses_one_pooled_session() -> None:
    client = HttpClient("http://127.0.0.1:9", timeout=1)
    adapter = client.session.get_adapter("https://example.org")
    assert adapter._pool_maxsize == 32  # type: ignore[attr-defined]
