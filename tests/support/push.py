"""Helpers shared by the push tests."""

from __future__ import annotations

from typing import Any

from integrations.push import ApnsSender, PushMessage
from tests.fakes.apns import KEY_ID, TEAM_ID, TOPIC, FakeApns

APNS_DEVICE = "a1" * 32


class Clock:
    """A settable clock for token-expiry tests."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def message(token: str = "fcm-token-1", **overrides: Any) -> PushMessage:
    """Build a typical tip notification."""
    fields: dict[str, Any] = {
        "token": token,
        "title": "Time for a short walk",
        "body": "Ten easy minutes today keeps your back moving.",
        "data": {"tip_id": "tip-42", "category": "progression", "rule_id": "r-7"},
        "collapse_id": "tip-42",
        "category": "TIP",
    }
    fields.update(overrides)
    return PushMessage(**fields)


def make_apns_sender(key_pem: str, fake: FakeApns, **overrides: Any) -> ApnsSender:
    """Return an ApnsSender pointed at the fake."""
    settings: dict[str, Any] = {
        "key_pem": key_pem,
        "key_id": KEY_ID,
        "team_id": TEAM_ID,
        "topic": TOPIC,
        "base_url": fake.base_url,
        "timeout": 5,
    }
    settings.update(overrides)
    return ApnsSender(**settings)
