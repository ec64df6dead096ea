"""The effect estimate's interval: cluster jackknife (CV3) with Student's t, CV1 as fallback."""

from __future__ import annotations

import numpy as np
from statsmodels.regression.linear_model import WLS

from service.outcomes.estimate import Decision, effect, outcome


def _interval(decisions: list[Decision], cov_type: str) -> tuple[float, float]:
    """The interval statsmodels gives for P = 0.5 everywhere (weights 1, A centred at 0.5)."""
    sent = np.array([d.sent for d in decisions], dtype=float)
    y = np.array([outcome(d.steps_60m) for d in decisions])
    design = np.column_stack([np.ones_like(sent), sent - 0.5])
    groups = np.array([d.patient for d in decisions])
    fit = WLS(y, design).fit(cov_type=cov_type, cov_kwds={"groups": groups}, use_t=True)
    low, high = fit.conf_int(alpha=0.05)[1]
    return float(low), float(high)


def _cohort() -> list[Decision]:
    # Six patients of unequal sizes (4 to 9 decisions), their own levels, sent or not by turns.
    decisions = []
    for patient in range(6):
        for n in range(4 + patient):
            sent = (n + patient) % 2 == 0
            steps = 300 + 40 * patient + (60 if sent else 0) + (37 * n * (patient + 1)) % 90
            decisions.append(Decision(patient, sent, 0.5, steps))
    return decisions


def test_the_interval_is_the_cluster_jackknife_with_t() -> None:
    decisions = _cohort()
    found = effect(decisions)
    assert found.low is not None
    assert found.high is not None
    assert (found.low, found.high) == _interval(decisions, "cluster-crv3")
    cv1_low, cv1_high = _interval(decisions, "cluster")
    assert found.high - found.low > cv1_high - cv1_low  # CV3 is the wider, with few patients
    assert (found.patients, found.decisions) == (6, len(decisions))


def test_without_a_jackknife_it_falls_back_to_cv1() -> None:
    # Patient 1 was sent every tip: leaving patient 2 out leaves no contrast to fit.
    decisions = [
        Decision(1, True, 0.5, 100),
        Decision(1, True, 0.5, 120),
        Decision(2, False, 0.5, 80),
        Decision(2, True, 0.5, 90),
        Decision(2, False, 0.5, 70),
    ]
    found = effect(decisions)
    assert found.estimate is not None
    assert (found.low, found.high) == _interval(decisions, "cluster")
