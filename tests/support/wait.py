"""Awaiting an event instead of sleeping on wall time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T], timeout: float = 60.0, *, what: str = "the condition"
) -> T:
    """Poll `predicate` until it returns something truthy and return that.

    The timeout only bounds a failure (generous, so a loaded machine still passes); a passing
    test waits only as long as the event takes. Raises AssertionError naming `what`.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:g} s")
        time.sleep(0.005)
