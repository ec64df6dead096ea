"""Plain records the adapters return, and the small normalisation helpers they share."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

R = TypeVar("R")

# What reading a malformed provider item raises: a missing key, a wrong type, a bad value.
UNREADABLE = (AttributeError, KeyError, TypeError, ValueError)


@dataclass(frozen=True)
class TokenSet:
    """The credentials of one linked account."""

    access_token: str
    refresh_token: str | None
    expires_at: datetime | None  # aware UTC
    scopes: tuple[str, ...] = ()
    provider_user_id: str | None = None

    def expires_within(self, seconds: float, now: datetime | None = None) -> bool:
        """Return True when the access token expires within `seconds` (unknown expiry: False)."""
        if self.expires_at is None:
            return False
        now = now or datetime.now(UTC)
        return self.expires_at - now <= timedelta(seconds=seconds)

    def __repr__(self) -> str:
        # Tokens must never reach logs through a repr.
        return (
            f"TokenSet(expires_at={self.expires_at!r}, scopes={self.scopes!r}, "
            f"provider_user_id={self.provider_user_id!r})"
        )


@dataclass(frozen=True)
class DailyActivity:
    """One provider's total for one patient-local calendar day."""

    date: date
    steps: int
    distance_m: float | None
    active_minutes: int | None
    source: str


@dataclass(frozen=True)
class WalkingSession:
    """One walk recorded by a provider."""

    external_id: str
    start: datetime
    end: datetime
    steps: int | None
    distance_m: float | None
    source: str


@dataclass(frozen=True)
class IntradaySteps:
    """Steps a provider counted in one interval (`minutes` long from `start`, aware UTC)."""

    start: datetime
    minutes: int
    steps: int
    source: str


@dataclass(frozen=True)
class FetchResult:
    """What one fetch brought back, and where the next fetch continues.

    `intraday`: step counts per interval, from providers whose API has them (else empty).
    """

    days: list[DailyActivity]
    sessions: list[WalkingSession]
    cursor: str | None
    rejected: list[str]
    intraday: list[IntradaySteps] = field(default_factory=list)


@dataclass(frozen=True)
class WebhookEvent:
    """What a verified webhook says happened."""

    provider_user_id: str | None
    kind: str
    event_id: str
    days: list[DailyActivity] = field(default_factory=list)
    sessions: list[WalkingSession] = field(default_factory=list)
    # Callback URLs to pull (Garmin ping): hand them to `cursor_with_pending`, then fetch.
    pull: list[str] = field(default_factory=list)
    intraday: list[IntradaySteps] = field(default_factory=list)  # pushed epochs (Garmin)


@dataclass(frozen=True)
class Subscription:
    """A notification subscription held at the provider.

    `shared` subscriptions belong to the provider app and serve every user (Oura's are per
    application and data type); the others belong to one linked user (Withings, per appli).
    """

    external_id: str
    data_type: str
    expires_at: datetime | None = None  # aware UTC; None: does not expire
    shared: bool = False


@dataclass(frozen=True)
class WebhookResponse:
    """An immediate answer to a webhook call (verification handshakes)."""

    status: int
    body: str | dict[str, Any]
    content_type: str = "application/json"


def pkce_pair() -> tuple[str, str]:
    """Return a fresh PKCE (verifier, S256 challenge) pair."""
    verifier = secrets.token_urlsafe(64)[:96]
    return verifier, pkce_challenge(verifier)


def pkce_challenge(verifier: str) -> str:
    """Return the S256 code challenge for `verifier`."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def fetch_window(
    cursor: str | None, today: date, lookback_days: int, max_days: int
) -> tuple[date, date]:
    """Return the inclusive (first, last) local dates one fetch should read.

    From the cursor (the last fully synced date) the window re-reads `lookback_days` days,
    because providers revise recent days; it never spans more than `max_days`, so a connection
    that fell far behind catches up over several fetches.
    """
    lookback = max(1, lookback_days)
    if cursor is None:
        first = today - timedelta(days=max_days - 1)
    else:
        first = min(date.fromisoformat(cursor), today) - timedelta(days=lookback - 1)
    first = min(first, today - timedelta(days=lookback - 1))
    last = min(today, first + timedelta(days=max_days - 1))
    return first, last


# Intraday counts are read for the last days of a fetch window only (today and yesterday): the
# proximal outcomes need the hour after recent decisions, counts a tracker uploads a day late
# still land, and older days would spend calls (Withings: one a day) the provider's request
# budget keeps for daily totals.
INTRADAY_DAYS = 2


def intraday_days(first: date, last: date, days: int = INTRADAY_DAYS) -> list[date]:
    """Return the local dates of [first, last] whose intraday counts a fetch reads."""
    start = max(first, last - timedelta(days=days - 1))
    return [start + timedelta(n) for n in range((last - start).days + 1)]


def local_day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Return the UTC instants where local `day` starts and the next local day starts."""
    start = datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
    return start, end


def as_count(value: Any) -> int:
    """Return a non-negative int from a JSON number or int64 string, or raise ValueError."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not a count: {value!r}")
    if isinstance(value, str):
        value = int(value.strip())
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"not a whole count: {value!r}")
        value = int(value)
    if not isinstance(value, int) or value < 0:
        raise ValueError(f"not a count: {value!r}")
    return value


def as_distance(value: Any) -> float | None:
    """Return a non-negative distance in metres, None when absent, or raise ValueError."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"not a distance: {value!r}")
    number = float(value)
    if number < 0 or math.isnan(number):
        raise ValueError(f"not a distance: {value!r}")
    return number


def parse_instant(value: Any) -> datetime:
    """Return an aware UTC datetime from an RFC 3339 string, or raise ValueError."""
    if not isinstance(value, str):
        raise ValueError(f"not a timestamp: {value!r}")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp without offset: {value!r}")
    return parsed.astimezone(UTC)


def read_or_note(
    item: Any, read: Callable[[Any], R], rejected: list[str], what: str, key: str
) -> R | None:
    """`read(item)`, or None when the provider's item cannot be read: `rejected` then gets a
    line naming the item (`what` and its `key` field) and why, and the fetch goes on without it
    (one bad day must not cost the patient the others)."""
    try:
        return read(item)
    except UNREADABLE as exc:
        name = str(item.get(key, "?")).strip() if isinstance(item, dict) else "?"
        rejected.append(f"{what} {name[:60]}: {exc}")
        return None


def body_event_id(provider: str, payload: Any) -> str:
    """Return a stable id for a webhook payload that carries none."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return f"{provider}:{hashlib.sha256(canonical.encode()).hexdigest()[:32]}"


def same_secret(given: str | None, expected: str) -> bool:
    """Compare a presented secret with the expected one in constant time."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Return a header value by case-insensitive name."""
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def merge_days(days: list[DailyActivity]) -> list[DailyActivity]:
    """Keep one record per date (the last one seen wins: providers list revisions later)."""
    by_date: dict[date, DailyActivity] = {}
    for day in days:
        by_date[day.date] = day
    return [by_date[d] for d in sorted(by_date)]


def merge_sessions(sessions: list[WalkingSession]) -> list[WalkingSession]:
    """Keep one session per external id, ordered by start."""
    by_id: dict[str, WalkingSession] = {}
    for session in sessions:
        by_id[session.external_id] = session
    return sorted(by_id.values(), key=lambda s: (s.start, s.external_id))
