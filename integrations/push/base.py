"""Types shared by the push channels: the message, the outcome of one send, the sender protocol."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Protocol

__all__ = [
    "Outcome",
    "PayloadTooLargeError",
    "PushConfigError",
    "PushMessage",
    "PushResult",
    "PushSender",
    "result",
    "short_collapse_id",
]


class PushConfigError(ValueError):
    """Raised at construction when a sender's credentials or settings cannot work."""


class PayloadTooLargeError(ValueError):
    """Raised when a payload cannot be shortened under the channel's byte limit."""


@dataclass(frozen=True)
class PushMessage:
    """One notification for one device."""

    token: str  # FCM registration token, APNs hex token, or Web Push subscription JSON
    title: str
    body: str
    data: Mapping[str, str]  # tip_id, category, rule_id, ...
    collapse_id: str  # the tip id: a retried send shows once on the phone
    ttl_seconds: int = 86400
    urgent: bool = False  # FCM android priority HIGH, apns-priority 10
    category: str | None = None


class Outcome(Enum):
    """What the outbox should do with a delivery after one send."""

    SENT = "sent"
    RETRY = "retry"
    DEAD_TOKEN = "dead_token"  # noqa: S105
    FAILED = "failed"  # permanent, but not the token's fault


@dataclass(frozen=True)
class PushResult:
    """The outcome of one send, with what the provider said in a storable form."""

    outcome: Outcome
    status: int | None  # HTTP status; None when no answer came (connection error, timeout)
    retry_after: float | None  # seconds the provider asked us to wait
    provider_response: str  # short and secret-free, e.g. "UNREGISTERED", "BadDeviceToken"
    token_invalid_since: datetime | None = None  # APNs 410 timestamp


class PushSender(Protocol):
    """A push channel: sends one message and reports the outcome as a value."""

    channel: str

    def send(self, message: PushMessage) -> PushResult:
        """Send one message; never raise for a provider's answer."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def short_collapse_id(collapse_id: str, max_bytes: int = 64) -> str:
    """Return the collapse id, or a stable hash of it when it is longer than max_bytes."""
    if len(collapse_id.encode()) <= max_bytes:
        return collapse_id
    # A hash keeps retries of the same tip collapsing together while fitting the limit.
    return hashlib.sha256(collapse_id.encode()).hexdigest()[:max_bytes]


def result(
    outcome: Outcome,
    status: int | None,
    summary: str,
    *,
    retry_after: float | None = None,
    token_invalid_since: datetime | None = None,
) -> PushResult:
    """Build a PushResult with the summary cut to a storable length."""
    return PushResult(
        outcome=outcome,
        status=status,
        retry_after=retry_after,
        provider_response=summary[:200],
        token_invalid_since=token_invalid_since,
    )
