"""The chaos soak, compressed for CI: ~75 s of load with every fault, then zero violations.

The same run as `bench/soak.py` (3 gunicorn instances, 3 scheduler processes, fake FCM, APNs
and Google Health with faults on, a private PostgreSQL restarted mid-run), smaller and
shorter: a few hundred patients, the provider blocked for 15 s instead of a minute, fewer
push 429s (FCM's back-off floor is a minute, and the drain waits for their retries).
"""

from __future__ import annotations

import pytest

from tests.soak.run import SoakConfig, run

pytestmark = [pytest.mark.pgserver, pytest.mark.slow]


def test_a_short_soak_under_every_fault_breaks_no_invariant() -> None:
    result = run(
        SoakConfig(
            seconds=75,
            patients=500,
            connections=50,
            clients=8,
            rate=12,
            block_provider_s=15,
            drain_s=200,
            push_quota=4,
            push_errors=10,
        )
    )
    counts = result.counts
    report = "\n".join([*result.events, *result.anomalies, str(counts), str(result.latency)])
    assert result.violations == dict.fromkeys(result.violations, 0), report
    # The faults really happened and the work really flowed.
    assert counts["web_503_retryable"] > 0, report
    assert counts["evaluations_run"] >= counts["evaluations_due"] > 0, report
    for name in (
        "pushes_accepted",
        "uploads_accepted",
        "reports_accepted",
        "refreshes",
    ):
        assert counts[name] > 0, f"{name} is 0\n{report}"
    assert counts["drain_pending_left"] == 0, report
    assert counts["drain_due_left"] == 0, report
