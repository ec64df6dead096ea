"""Request budgets per provider app and per provider user, kept under the providers' quotas.

`RateBudget` implements `integrations.http.Budget` with the `limits` package: in memory (one
process) or in Redis (shared by every process pointed at it). Keys are named by the adapters:
`"<provider>:app"` for the provider app's budget and `"<provider>:user:<id>"` for one user's;
the rules are looked up by the key's first two parts (`"oura:user"`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from limits import RateLimitItem, RateLimitItemPerSecond, parse_many
from limits.errors import StorageError
from limits.storage import Storage, storage_from_string
from limits.strategies import (
    MovingWindowRateLimiter,
    RateLimiter,
    SlidingWindowCounterRateLimiter,
)

log = logging.getLogger(__name__)

# A moving window keeps one timestamp per request in the window: exact, and safe under any
# fixed window a provider counts in, but its memory grows with the limit. Above this many
# requests per window a sliding-window counter (two counters, approximate) is used instead;
# only Google's project-wide quotas are that large, and we run far below them.
MOVING_WINDOW_MAX = 10_000
# Each moving window is held one second longer than the provider's: the provider counts a
# request when it arrives, we when we send it, and the processes sharing a Redis budget stamp
# entries with their own clocks; a second covers that jitter and skew. (Whole seconds, since
# Redis expires keys in whole seconds; on the minute-and-longer windows providers document
# it costs under 2%.)
GUARD_S = 1
MIN_WAIT_S = 0.01
STORAGE_TIMEOUT_S = 0.5
DISABLED = frozenset({"none", "off", "unlimited"})


@dataclass(frozen=True)
class Quota:
    """A provider's documented limits: per app and per user, as `limits` strings ('' = none)."""

    app: str = ""
    user: str = ""


def parse_limits(text: str | None) -> tuple[RateLimitItem, ...]:
    """Parse '100/minute;2000/day' (or 'none') into limits; raise ValueError when malformed."""
    if text is None or not text.strip() or text.strip().lower() in DISABLED:
        return ()
    return tuple(parse_many(text))


def app_key(provider: str) -> str:
    """Return the budget key every call to `provider` is charged to."""
    return f"{provider}:app"


def user_key(provider: str, user: str) -> str:
    """Return the budget key of one user's calls to `provider`."""
    return f"{provider}:user:{user}"


class LocalWindows:
    """Moving windows for one process, all checked and spent under one lock.

    What `limits`' MemoryStorage does for moving windows, without its sweeper thread that
    re-scans every key each 10 ms: with a key per user that cost ~0.4 ms of CPU per request
    (bench/sync.py); here idle windows are dropped every SWEEP_EVERY spends instead.
    """

    SWEEP_EVERY = 10_000

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._windows: dict[tuple[str, int, int], deque[float]] = {}
        self._lock = threading.Lock()
        self._spends = 0

    def acquire(self, key: str, items: Sequence[RateLimitItem], cost: int) -> float | None:
        """Spend `cost` in every window, or none: None when spent, else seconds to wait."""
        now = self._clock()
        with self._lock:
            windows = []
            for item in items:
                expiry = item.get_expiry()
                window = self._windows.setdefault((key, item.amount, expiry), deque())
                while window and window[0] <= now - expiry:
                    window.popleft()
                over = len(window) + cost - item.amount
                if over > 0:
                    # Free once the `over`-th oldest entry leaves (a cost above the whole
                    # window never fits: one full window is the honest answer).
                    oldest = window[over - 1] if over <= len(window) else now
                    return max(MIN_WAIT_S, oldest + expiry - now)
                windows.append(window)
            for window in windows:
                window.extend([now] * cost)
            self._spends += 1
            if self._spends % self.SWEEP_EVERY == 0:
                self._sweep(now)
        return None

    def clear(self, key: str) -> None:
        """Forget a key's windows."""
        with self._lock:
            for name in [name for name in self._windows if name[0] == key]:
                del self._windows[name]

    def _sweep(self, now: float) -> None:
        idle = [name for name, w in self._windows.items() if not w or w[-1] <= now - name[2]]
        for name in idle:
            del self._windows[name]


class RateBudget:
    """A Budget over `limits`: moving windows in Redis (shared by every process using it) or,
    for memory://, in this process (LocalWindows); sliding-window counters for huge quotas."""

    def __init__(
        self,
        rules: Mapping[str, str],
        *,
        storage_uri: str = "memory://",
        key_prefix: str = "backstride-budget",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # rules: "<provider>:app" / "<provider>:user" -> "100/minute;2000/day".
        parsed = {scope: parse_limits(text) for scope, text in rules.items()}
        self.rules = {
            scope: tuple(_guarded(item) for item in items)
            for scope, items in parsed.items()
            if items
        }
        options: dict[str, float | str | bool] = {"wrap_exceptions": True}
        if not storage_uri.startswith("memory"):
            options.update(
                key_prefix=key_prefix,
                socket_timeout=STORAGE_TIMEOUT_S,
                socket_connect_timeout=STORAGE_TIMEOUT_S,
            )
        storage = storage_from_string(storage_uri, **options)
        if not isinstance(storage, Storage):
            raise ValueError(f"not a synchronous limits storage: {storage_uri!r}")
        self.storage = storage
        self._moving = MovingWindowRateLimiter(self.storage)
        self._sliding = SlidingWindowCounterRateLimiter(self.storage)
        # The in-process windows read `clock` (monotonic seconds; tests pass their own).
        self._local = LocalWindows(clock) if storage_uri.startswith("memory") else None

    def limits_for(self, key: str) -> tuple[RateLimitItem, ...]:
        """Return the limits that apply to a key (none for unknown scopes)."""
        scope = ":".join(key.split(":", 2)[:2])
        return self.rules.get(scope, ())

    def acquire(self, key: str, cost: int = 1) -> float | None:
        """Spend `cost` from every limit on `key`: None when spent, else seconds until it frees.

        All limits are tested before any is spent, so a refusal by the daily limit does not
        eat into the per-minute one. A storage outage lets the call through (logged): the
        provider's own 429 handling still stands behind us.
        """
        items = self.limits_for(key)
        if not items:
            return None
        local: tuple[RateLimitItem, ...] = ()
        if self._local is not None:
            local = tuple(item for item in items if item.amount <= MOVING_WINDOW_MAX)
            items = tuple(item for item in items if item.amount > MOVING_WINDOW_MAX)
        try:
            for item in items:
                if not self._limiter(item).test(item, key, cost=cost):
                    return self._wait(item, key)
            if local and self._local is not None:
                wait = self._local.acquire(key, local, cost)
                if wait is not None:
                    return wait
            for item in items:
                # Another thread or process may have taken the last slot since the test.
                if not self._limiter(item).hit(item, key, cost=cost):
                    return self._wait(item, key)
        except StorageError as exc:
            log.warning("request budget storage failed (%s); not enforcing %s", exc, key)
            return None
        return None

    def clear(self, key: str) -> None:
        """Forget what was spent on `key` (tests, operators)."""
        if self._local is not None:
            self._local.clear(key)
        for item in self.limits_for(key):
            self._limiter(item).clear(item, key)

    def _limiter(self, item: RateLimitItem) -> RateLimiter:
        return self._moving if item.amount <= MOVING_WINDOW_MAX else self._sliding

    def _wait(self, item: RateLimitItem, key: str) -> float:
        reset_at = self._limiter(item).get_window_stats(item, key).reset_time
        return max(MIN_WAIT_S, reset_at - time.time())


def _guarded(item: RateLimitItem) -> RateLimitItem:
    """Return the limit as enforced: moving windows lengthened by GUARD_S."""
    if item.amount > MOVING_WINDOW_MAX:
        return item
    return RateLimitItemPerSecond(item.amount, item.get_expiry() + GUARD_S)


def budget_rules(
    quotas: Mapping[str, Quota],
    app_overrides: Mapping[str, str | None],
    user_overrides: Mapping[str, str | None],
) -> dict[str, str]:
    """Return RateBudget rules: each provider's documented `quotas` with configured overrides
    on top. An override of None keeps the default; 'none' removes the limit.
    """
    rules: dict[str, str] = {}
    for name, quota in quotas.items():
        app = app_overrides.get(name)
        user = user_overrides.get(name)
        rules[f"{name}:app"] = quota.app if app is None else app
        rules[f"{name}:user"] = quota.user if user is None else user
    return rules
