"""Shared HTTP transport for every integration: one session, timeouts, retries, error mapping."""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

import httpx
import requests
from requests.adapters import HTTPAdapter

log = logging.getLogger(__name__)

DEFAULT_USER_AGENT = "backstride/0.1 (+https://backstride.example)"
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
POOL_SIZE = 32
BODY_KEEP_CHARS = 2000


class IntegrationError(Exception):
    """An outside system refused or failed a call; `permanent` says whether a retry can help."""

    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        status: int | None = None,
        retry_after: float | None = None,
        body: str | None = None,
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.status = status
        self.retry_after = retry_after
        # Kept for diagnosis by the caller; never part of str(self) so logs stay clean.
        self.body = body[:BODY_KEEP_CHARS] if body is not None else None


class RateLimited(IntegrationError):
    """The provider asked us to slow down (HTTP 429); `retry_after` is in seconds when known."""


class BudgetExhausted(RateLimited):
    """Our own request budget for a provider is spent; no request was sent.

    `scope` is "user" when the caller's own budget ran out (only that caller must wait) and
    "app" when the whole provider app's budget did (every caller must wait); `retry_after` is
    when the budget frees, in seconds.
    """

    def __init__(self, message: str, *, key: str, scope: str, retry_after: float) -> None:
        super().__init__(message, permanent=False, status=None, retry_after=retry_after)
        self.key = key
        self.scope = scope


class Budget(Protocol):
    """A shared request budget (see integrations/budget.py for the `limits`-backed one)."""

    def acquire(self, key: str, cost: int = 1) -> float | None:
        """Spend `cost` from `key`'s budget: None when spent, else seconds until it frees."""


@dataclass
class BudgetScope:
    """One caller's budgeted calls (one sync): its own key, app units it prepaid, calls made."""

    key: str | None
    prepaid: int = 0
    calls: int = 0


# The budget scope of the calls made in this context (a thread's current user): adapters are
# shared by every thread, so the scope travels with the call, not with the client.
_budget_scope: ContextVar[BudgetScope | None] = ContextVar("budget_scope", default=None)


@contextmanager
def charged_to(key: str | None, *, prepaid: int = 0) -> Iterator[BudgetScope]:
    """Charge the budgeted calls made inside the block to `key` as well as the client's key;
    the first `prepaid` calls take nothing more from the client's key (see `reserve`)."""
    scope = BudgetScope(key, prepaid)
    reset = _budget_scope.set(scope)
    try:
        yield scope
    finally:
        _budget_scope.reset(reset)


class TokenExpired(IntegrationError):
    """The access token was refused (HTTP 401): refresh it, then try again."""


class ReauthRequired(IntegrationError):
    """The grant is gone (invalid_grant, revoked consent): the user must link the account again."""


class WebhookRejected(IntegrationError):
    """An inbound webhook failed verification; `status` is the HTTP status to answer (401/403)."""


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Return the delay in seconds a Retry-After header asks for (delta-seconds or HTTP date)."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


def new_session(
    *,
    pool_size: int = POOL_SIZE,
    pool_connections: int | None = None,
    adapter: HTTPAdapter | None = None,
    proxies_for: str | None = None,
) -> requests.Session:
    """A pooled `requests` session: the one place every integration's HTTP/1.1 sessions are made.

    `adapter` replaces the pooled one (Web Push pins each endpoint's address); `proxies_for`
    reads the proxy settings for that URL once and turns `trust_env` off: with it on, requests
    rescans os.environ and ~/.netrc on every call, which costs more than a push itself.
    """
    session = requests.Session()
    if adapter is None:
        adapter = HTTPAdapter(
            pool_connections=pool_connections or pool_size, pool_maxsize=pool_size
        )
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    if proxies_for is not None:
        session.proxies.update(requests.utils.get_environ_proxies(proxies_for))
        session.trust_env = False
    return session


def new_http2_client(base_url: str, *, timeout: float) -> httpx.Client:
    """An HTTP/2 client (APNs requires HTTP/2; its sender keeps one per concurrent send).

    Cleartext (a fake server on loopback) needs prior-knowledge h2, so HTTP/1.1 is then off.
    """
    cleartext = base_url.startswith("http://")
    return httpx.Client(http2=True, http1=not cleartext, timeout=timeout)


class HttpClient:
    """A JSON-over-HTTP client for one outside service; subclass and override `error_for`."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float,
        session: requests.Session | None = None,
        max_retries: int = 2,
        backoff: float = 0.2,
        max_retry_wait: float = 5.0,
        user_agent: str = DEFAULT_USER_AGENT,
        budget: Budget | None = None,
        budget_key: str | None = None,
        max_budget_wait: float = 5.0,
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        # A Retry-After longer than this is not slept through: the caller gets RateLimited and
        # reschedules, so a worker thread is never parked for minutes.
        self.max_retry_wait = max_retry_wait
        self.user_agent = user_agent
        # Consulted before every budgeted request: the caller's key (see `charged_to`), then
        # `budget_key` (the app-wide one). A short wait is slept through (pacing); a longer
        # one raises BudgetExhausted so the caller reschedules instead of parking a thread.
        self.budget = budget
        self.budget_key = budget_key
        self.max_budget_wait = max_budget_wait
        self.session = session if session is not None else new_session()

    def url_for(self, path: str) -> str:
        """Return the absolute URL for `path` (absolute URLs pass through unchanged)."""
        if urlsplit(path).scheme:
            return path
        return urljoin(self.base_url, path.lstrip("/"))

    def request(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool | None = None,
        budgeted: bool = True,
        **kwargs: Any,
    ) -> requests.Response:
        """Send one request with retries; return the 2xx response or raise IntegrationError.

        With a budget configured and `budgeted` true, every attempt first spends from it
        (BudgetExhausted, sending nothing, when it cannot within `max_budget_wait`).
        """
        method = method.upper()
        url = self.url_for(path)
        retry_safe = idempotent if idempotent is not None else method in IDEMPOTENT_METHODS
        kwargs.setdefault("timeout", self.timeout)
        kwargs.setdefault("allow_redirects", False)
        headers = {"User-Agent": self.user_agent, **(kwargs.pop("headers", None) or {})}
        where = f"{method} {urlsplit(url).path}"  # no query string: it may carry tokens
        attempt = 0
        while True:
            cause: BaseException | None = None
            if budgeted and self.budget is not None:
                self._spend_budget(where)
            try:
                response = self.session.request(method, url, headers=headers, **kwargs)
            except requests.Timeout as exc:
                error = IntegrationError(f"{where}: timed out", permanent=False)
                cause = exc
            except requests.ConnectionError as exc:
                error = IntegrationError(f"{where}: connection failed", permanent=False)
                cause = exc
            else:
                if 200 <= response.status_code < 300:
                    return response
                error = self.error_for(response)
            wait = self._retry_wait(error, attempt, retry_safe)
            if wait is None:
                log.info("%s failed: %s", where, error)
                raise error from cause
            log.info("%s failed (%s); retry %d in %.2fs", where, error, attempt + 1, wait)
            time.sleep(wait)
            attempt += 1

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send a request and return its decoded JSON body (None for an empty 2xx body)."""
        response = self.request(method, path, **kwargs)
        if not response.content.strip():
            return None
        try:
            return response.json()
        except ValueError:
            where = f"{method.upper()} {urlsplit(response.url).path}"
            raise IntegrationError(
                f"{where}: response is not JSON",
                permanent=True,
                status=response.status_code,
                body=response.text,
            ) from None

    def error_for(self, response: requests.Response) -> IntegrationError:
        """Map a non-2xx response to an IntegrationError (override for provider error shapes)."""
        status = response.status_code
        where = f"{response.request.method} {urlsplit(response.url).path}"
        message = f"{where}: HTTP {status}"
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if status == 429:
            return RateLimited(
                message, permanent=False, status=status, retry_after=retry_after, body=response.text
            )
        if status == 401:
            return TokenExpired(message, permanent=True, status=status, body=response.text)
        permanent = 400 <= status < 500 and status not in (408, 425)
        return IntegrationError(
            message, permanent=permanent, status=status, retry_after=retry_after, body=response.text
        )

    def reserve(self, cost: int) -> None:
        """Spend `cost` units of the client's budget at once, waiting briefly or raising
        BudgetExhausted: admission for a job of several calls, so that a tight budget finishes
        a few jobs instead of starting many and finishing none (pass `prepaid` to charged_to).
        """
        if self.budget is not None and self.budget_key is not None and cost > 0:
            self._acquire(self.budget_key, "app", cost, 0.0, "reserve")

    def _spend_budget(self, where: str) -> None:
        """Spend one request from the caller's budget, then the app's; wait briefly or raise."""
        scope = _budget_scope.get()
        waited = 0.0
        if scope is not None:
            scope.calls += 1
            if scope.key is not None:
                waited = self._acquire(scope.key, "user", 1, waited, where)
        if scope is not None and scope.prepaid > 0:
            scope.prepaid -= 1
        elif self.budget_key is not None:
            # After the caller's key, so a wait here does not spend the caller's twice.
            self._acquire(self.budget_key, "app", 1, waited, where)

    def _acquire(self, key: str, scope: str, cost: int, waited: float, where: str) -> float:
        """Spend from one key, sleeping through waits up to `max_budget_wait` in all."""
        assert self.budget is not None
        while (wait := self.budget.acquire(key, cost)) is not None:
            if waited + wait > self.max_budget_wait:
                raise BudgetExhausted(
                    f"{where}: {scope} budget {key!r} spent for {wait:.1f}s",
                    key=key,
                    scope=scope,
                    retry_after=wait,
                )
            # A little jitter so threads released by the same expiry do not collide.
            pause = wait + random.uniform(0.0, 0.005)  # noqa: S311 - scheduling
            time.sleep(pause)
            waited += pause
        return waited

    def _retry_wait(self, error: IntegrationError, attempt: int, retry_safe: bool) -> float | None:
        """Return how long to sleep before retrying, or None to give up."""
        if error.permanent or attempt >= self.max_retries:
            return None
        # A 429 means the request was not processed, so even a POST may be repeated.
        if not retry_safe and not isinstance(error, RateLimited):
            return None
        if error.retry_after is not None:
            return error.retry_after if error.retry_after <= self.max_retry_wait else None
        if isinstance(error, RateLimited):
            return None  # no hint: let the caller's scheduler back off instead of guessing
        # Exponential backoff with full jitter spreads retries from many workers.
        return float(min(self.max_retry_wait, self.backoff * 2**attempt * random.uniform(0.5, 1.5)))  # noqa: S311

    def close(self) -> None:
        """Release pooled connections."""
        self.session.close()
