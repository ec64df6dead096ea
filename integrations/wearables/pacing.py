"""Clients that pace their calls by the counts a provider reports in every response."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any, ClassVar

import requests

from integrations.wearables.base import IntegrationError, RateLimited, WearableHttpClient


def header_pair(value: str | None) -> tuple[float, float] | None:
    """The two numbers of a rate-limit header ("short window,long window"), or None when it
    holds anything else (the header is then ignored, never a reason to fail a call)."""
    try:
        short, long = (float(part) for part in (value or "").split(","))
    except ValueError:
        return None
    return short, long


class PacedHttpClient(WearableHttpClient):
    """Once a provider's window is used up, calls wait for its reset without being sent: the
    provider would answer 429 and still count them. Subclasses read their provider's headers in
    `note` and call `pause_until`."""

    provider_title: ClassVar[str] = "the provider"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clock = time.time  # seconds since the epoch; tests pin it
        self.paused_until = 0.0
        self._pause_lock = threading.Lock()

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Refuse (RateLimited, nothing sent) while a window is spent; note the counts."""
        wait = self.paused_until - self.clock()
        if wait > 0:
            raise RateLimited(
                f"{method.upper()} {path}: {self.provider_title}'s request window is used up",
                permanent=False,
                retry_after=wait,
            )
        response = super().request(method, path, **kwargs)
        self.note(response.headers)
        return response

    def error_for(self, response: requests.Response) -> IntegrationError:
        """Note the counts an error carries; a 429 waits for the window that is spent."""
        self.note(response.headers)
        error = super().error_for(response)
        if isinstance(error, RateLimited) and error.retry_after is None:
            error.retry_after = max(0.0, self.paused_until - self.clock()) or None
        return error

    def pause_until(self, until: float) -> None:
        """Send nothing before `until` (seconds since the epoch); pauses only ever grow."""
        with self._pause_lock:
            self.paused_until = max(self.paused_until, until)

    def note(self, headers: Mapping[str, str]) -> None:
        """Read the provider's counts from a response's headers."""
        raise NotImplementedError
