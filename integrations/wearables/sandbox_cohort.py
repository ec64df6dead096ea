"""A sandbox cohort whose response to a tip is known, for validating the outcome estimates.

Each simulated patient's steps in the hour after a decision follow, on the log scale,

    log(steps + 0.5) = base + patient + afternoon + effect(t) * sent + noise

with a patient level (normal, `patient_sd`), a small afternoon bump, noise (normal, `sd`) and
`effect(t) = effect * 0.5 ** (days since enrolment / half_life_days)`: +0.3 at enrolment, half
that four weeks later, by default. Every random part is seeded by a hash of (seed, patient,
decision time), never by whether the tip was sent, so the randomisation of the rules engine
and the noise are independent, as in a real trial. The hour is reported as four quarter-hour
intraday counts, as the sandbox provider reports any other hour.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from integrations.wearables.records import IntradaySteps

QUARTER = timedelta(minutes=15)


def _rng(*parts: object) -> random.Random:
    seed = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(seed[:8], "big"))  # noqa: S311 - not security


@dataclass(frozen=True)
class CohortModel:
    """The known truth of a simulated cohort (see the module's docstring)."""

    effect: float = 0.3
    half_life_days: float = 28.0
    base: float = 6.0  # about 400 steps in an hour
    patient_sd: float = 0.4
    sd: float = 0.8
    seed: int = 0

    def true_effect(self, at: datetime, enrolled_at: datetime) -> float:
        """The effect of a sent tip on log(steps in the next hour + 0.5) at this time."""
        days = max((at - enrolled_at).total_seconds() / 86400.0, 0.0)
        return self.effect * 0.5 ** (days / self.half_life_days)

    def log_steps(self, patient: str, at: datetime, enrolled_at: datetime, *, sent: bool) -> float:
        """The hour's log(steps + 0.5) after a decision at `at`."""
        level = _rng(self.seed, "patient", patient).gauss(0.0, self.patient_sd)
        noise = _rng(self.seed, "hour", patient, at.isoformat()).gauss(0.0, self.sd)
        afternoon = 0.2 if at.hour >= 12 else 0.0
        treated = self.true_effect(at, enrolled_at) if sent else 0.0
        return self.base + level + afternoon + treated + noise

    def hour_steps(self, patient: str, at: datetime, enrolled_at: datetime, *, sent: bool) -> int:
        """The steps in the hour after a decision at `at`."""
        value = math.exp(self.log_steps(patient, at, enrolled_at, sent=sent)) - 0.5
        return max(round(value), 0)

    def hour_after(
        self, patient: str, at: datetime, enrolled_at: datetime, *, sent: bool
    ) -> list[IntradaySteps]:
        """The hour after a decision as four quarter-hour counts (they add up to the hour)."""
        total = self.hour_steps(patient, at, enrolled_at, sent=sent)
        parts = [total // 4] * 4
        parts[0] += total - sum(parts)
        return [
            IntradaySteps(at + QUARTER * i, 15, steps, "sandbox") for i, steps in enumerate(parts)
        ]
