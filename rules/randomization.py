"""Micro-randomisation of rules (SPEC §11.4): `randomize: {probability: P}`.

At a decision where a randomised rule would fire, it fires with probability P. The draw is a
uniform number in [0, 1) made from a hash of (seed, decision time, rule id), where the seed is
the patient (the service passes the patient id): the same decision replayed, re-derived or
simulated draws the same number, and no global random state is touched. Every decision where
the rule's condition held is recorded as one `Randomization` with P, so the analysis knows who
could have received the tip:

- `fired`: eligible and drawn in (draw < P); its tips go out.
- `randomised_out`: eligible and drawn out; nothing of the rule happens.
- `ineligible`: the patient was not available (a safety episode, the day's budget spent, quiet
  hours, the rule cooling down, a higher rule with `stop`), so no draw was made. Such decisions
  are not "not sent": the estimate leaves them out.

Without a seed (a rule set's embedded tests, `explain` on bare facts) no draw is made and a
randomised rule fires as if drawn in (`draw` is None).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, tzinfo
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rules.decision import EvaluationState
    from rules.model import Rule, Tip

FIRED = "fired"
RANDOMISED_OUT = "randomised_out"
INELIGIBLE = "ineligible"
OUTCOMES = (FIRED, RANDOMISED_OUT, INELIGIBLE)


@dataclass(frozen=True)
class Randomization:
    """One randomised rule at one decision: outcome, probability, the draw and the reason.

    `tip_id` and `variant` are the tip (and wording) the rule sends, or would have sent, so the
    analysis can compare sent and not-sent decisions of the same variant.
    """

    rule_id: str
    outcome: str
    probability: float
    draw: float | None
    reason: str
    tip_id: str | None
    variant: int | None

    def as_dict(self) -> dict[str, object]:
        """Return the record as a JSON-serialisable dict."""
        return dict(self.__dict__)


def draw(seed: str, now: datetime, rule_id: str) -> float:
    """Return the uniform draw in [0, 1) of this (seed, decision time, rule)."""
    moment = now.astimezone(UTC).isoformat() if now.tzinfo else now.isoformat()
    digest = hashlib.sha256(f"{seed}|{moment}|{rule_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def in_quiet_hours(moment: datetime, zone: tzinfo, hours: tuple[time, time] | None) -> bool:
    """Say whether `moment` falls in the quiet hours (start inclusive, end exclusive, local).

    A window may cross midnight (21:00-08:00); one whose start equals its end means none. The
    wall clock is read in the patient's zone, as the delivery policy reads it (a time a DST
    change skips never occurs, so only its neighbours are compared).
    """
    if hours is None or hours[0] == hours[1]:
        return False
    start, end = hours
    local = moment.astimezone(zone).time().replace(tzinfo=None)
    if start < end:
        return start <= local < end
    return local >= start or local < end


def randomize(
    rule: Rule,
    tips: Mapping[str, Tip],
    state: EvaluationState,
    now: datetime,
    held_back: str,
) -> tuple[Randomization, str]:
    """Decide a randomised rule whose condition holds; return its record and why it is held.

    `held_back` is why the engine holds the rule anyway ('' when it would fire); the returned
    reason is '' when the rule fires.
    """
    probability = rule.randomize or 1.0
    tip_id = rule.tip_ids[0] if rule.tip_ids else None
    variant = None
    if tip_id is not None and tip_id in tips:
        last = state.last_variant.get(tip_id)
        variant = 0 if last is None else (last + 1) % len(tips[tip_id].variants)
    if not held_back and state.unavailable:
        held_back = f"unavailable: {state.unavailable}"
    if held_back:
        record = Randomization(
            rule.id, INELIGIBLE, probability, None, f"ineligible: {held_back}", tip_id, variant
        )
        return record, held_back
    if state.seed is None:
        record = Randomization(
            rule.id, FIRED, probability, None, "fired (no draw without a patient)", tip_id, variant
        )
        return record, ""
    value = draw(state.seed, now, rule.id)
    if value < probability:
        reason = f"drawn in ({value:.3f} < {probability:g})"
        return Randomization(rule.id, FIRED, probability, value, reason, tip_id, variant), ""
    reason = f"randomised out ({value:.3f} >= {probability:g})"
    return Randomization(rule.id, RANDOMISED_OUT, probability, value, reason, tip_id, variant), (
        reason
    )


__all__ = [
    "FIRED",
    "INELIGIBLE",
    "OUTCOMES",
    "RANDOMISED_OUT",
    "Randomization",
    "draw",
    "in_quiet_hours",
    "randomize",
]
