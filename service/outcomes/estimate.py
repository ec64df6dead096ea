"""The effect of sending a tip on the next hour's steps: weighted, centred least squares.

The estimator of the micro-randomised-trial literature (Boruvka et al. 2018, "Assessing
time-varying causal effect moderation in mobile health", JASA; as used for HeartSteps): over
eligible decisions (fired or randomised out; never ineligible ones) with outcome
Y = log(steps in the 60 minutes after + 0.5), regress

    Y ~ 1 + (A - p~)

by weighted least squares, where A is 1 when the tip was sent, p the decision's randomisation
probability, p~ a constant (the mean of p over the decisions analysed), and the weight
W = p~/p when sent, (1 - p~)/(1 - p) when not (1 when every decision had the same p). Centring
A makes its coefficient the average causal effect of sending over the decisions analysed
(marginal over everything else), unbiased whatever else moves steps, because the probability
is known. Patients are the clusters of a cluster-robust covariance, with the two
small-sample corrections a clinic's tens of patients need (both statsmodels'):

- the covariance is the cluster jackknife (CV3, `cov_type="cluster-crv3"`: the spread of
  the estimates leaving out one patient at a time, times (G - 1)/G), which MacKinnon, Nielsen
  and Webb (2023, "Cluster-robust inference: a guide to empirical practice", J Econometrics)
  recommend over the usual sandwich (CV1) when clusters are few or unequal in size - a
  clinic's patients have unequal numbers of eligible decisions;
- the 95% interval uses Student's t with (patients - 1) degrees of freedom (`use_t`), not
  the normal quantile.

`bench/outcomes.py` measures the coverage over simulated cohorts of 40 patients: with the
normal quantile about 90%; with t and CV1 93.9% (effect) and 95.1% (none) over 1,000 cohorts
each; with t and CV3 94.2% and 95.3% (docs/bench-output/outcomes.txt). When leaving a
patient out leaves no contrast (every other decision sent, or none), the jackknife is not
defined and CV1 (with t) is used. Decisions with P = 1 carry no contrast and are left out.
statsmodels is imported when first needed: it is slow to import.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MIN_PATIENTS = 2  # a cluster-robust covariance needs at least two clusters


@dataclass(frozen=True)
class Decision:
    """One eligible decision: the patient, whether the tip was sent, P and the hour's steps."""

    patient: int
    sent: bool
    probability: float
    steps_60m: int


@dataclass(frozen=True)
class Effect:
    """An estimated effect with its 95% interval (None, and a note, when it cannot be fitted)."""

    estimate: float | None
    low: float | None
    high: float | None
    decisions: int
    patients: int
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return the effect as JSON-serialisable data."""
        return dict(self.__dict__)


def outcome(steps: int) -> float:
    """The proximal outcome on the scale the effect is estimated on."""
    return math.log(steps + 0.5)


def effect(decisions: Sequence[Decision]) -> Effect:
    """Estimate the effect of sending on log(steps in the next 60 minutes + 0.5)."""
    used = [d for d in decisions if d.probability < 1]
    patients = len({d.patient for d in used})
    if not used:
        return Effect(None, None, None, 0, 0, "no randomised decisions with outcomes yet")
    if patients < MIN_PATIENTS:
        return Effect(None, None, None, len(used), patients, "needs at least two patients")
    if all(d.sent for d in used) or not any(d.sent for d in used):
        note = "needs both sent and not-sent decisions"
        return Effect(None, None, None, len(used), patients, note)
    import numpy as np  # noqa: PLC0415 - heavy, only when an estimate is asked for
    from statsmodels.regression.linear_model import WLS  # noqa: PLC0415

    sent = np.array([d.sent for d in used], dtype=float)
    p = np.array([d.probability for d in used], dtype=float)
    y = np.log(np.array([d.steps_60m for d in used], dtype=float) + 0.5)
    groups = np.array([d.patient for d in used])
    p_tilde = float(p.mean())
    weights = np.where(sent == 1.0, p_tilde / p, (1.0 - p_tilde) / (1.0 - p))
    design = np.column_stack([np.ones_like(sent), sent - p_tilde])
    model = WLS(y, design, weights=weights)
    kwds = {"groups": groups}
    try:
        fit = model.fit(cov_type="cluster-crv3", cov_kwds=kwds, use_t=True)
    except ValueError:  # a leave-one-patient-out fit without contrast: no jackknife
        fit = model.fit(cov_type="cluster", cov_kwds=kwds, use_t=True)
    low, high = fit.conf_int(alpha=0.05)[1]
    return Effect(float(fit.params[1]), float(low), float(high), len(used), patients)
