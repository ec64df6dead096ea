"""How many provider calls a sync makes, learnt as syncs run (what a sync reserves up front)."""

from __future__ import annotations

import threading

FIRST_CALLS_ESTIMATE = 2.0  # a sync reads days and walks: two calls at least


class CallEstimates:
    """Provider calls per sync, learnt in this process: what a sync reserves from the app
    budget before it starts, so a tight budget completes some syncs rather than starting
    many and cutting them all short."""

    def __init__(self) -> None:
        self._average: dict[str, float] = {}
        self._lock = threading.Lock()

    def reservation(
        self, provider: str, budget_size: int | None, first: float = FIRST_CALLS_ESTIMATE
    ) -> int:
        """Return the app-budget units to reserve (none when the app budget is unlimited);
        `first` is the estimate before any sync was seen (the adapter's `calls_per_sync`)."""
        if budget_size is None:
            return 0
        with self._lock:
            average = self._average.setdefault(provider, first)
        # Not rounded up: calls beyond the reservation are charged one by one anyway, while
        # reserved units a sync does not use are lost for the window.
        return max(1, min(budget_size, round(average)))

    def observe(self, provider: str, calls: int, *, at_least: bool = False) -> None:
        """Fold one sync's call count into the moving average (`at_least`: a sync cut short,
        which only says the count is higher than that)."""
        with self._lock:
            average = self._average.get(provider, FIRST_CALLS_ESTIMATE)
            if at_least and calls <= average:
                return
            self._average[provider] = 0.8 * average + 0.2 * calls


call_estimates = CallEstimates()
