"""Safety episodes in the engine (SPEC §11.1): structural, so no rule has to guard for them.

An emergency- or urgent-tier red flag (`pain.red_flag_tier`) opens an episode; the facts
`safety.episode_open` and `safety.episode_tier` say whether one is already open. While one is
open, or this very evaluation opens it:

- a rule that sends tips, none of them `safety`-category, does not fire (reason
  `safety episode open since <time>`); a rule that also sends safety tips fires without the
  others;
- no target rises (progression is held), whatever a rule asks;
- a repeated flag of the same or a lower tier attaches to the episode: urgent clinician alerts
  are not raised again (a more severe tier escalates the episode and alerts anew).

The decision says what happened (`Decision.episode`: open, escalate or attach, with the tier)
and the caller persists it; only a clinician closes an episode.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from rules.codes import OPENING_TIERS, tier_rank

_ANSWERS = "pain_report"


@dataclass(frozen=True)
class EpisodeChange:
    """What a decision does to the patient's safety episode; the caller persists it.

    `action`: `open` (a new episode of `tier`), `escalate` (the open episode becomes `tier`)
    or `attach` (a report with emergency or urgent flags, of the episode's tier or lower, while
    it is open: link the report to it). `flags`: the red flags behind it (`pain.red_flags`).
    """

    action: str
    tier: str
    flags: frozenset[str]

    def as_dict(self) -> dict[str, object]:
        """Return the change as a JSON-serialisable dict."""
        return {"action": self.action, "tier": self.tier, "flags": sorted(self.flags)}


@dataclass(frozen=True)
class Pause:
    """How an open (or opening) episode holds one evaluation.

    `reason`: why a rule or tip was held back. `attached`: the episode was open before and this
    evaluation does not escalate it, so urgent alerts attach to it instead of being raised.
    """

    reason: str
    attached: bool


def episode_change(facts: Mapping[str, object], trigger: str) -> EpisodeChange | None:
    """Whether these facts open, escalate or attach to a safety episode (None: none of these)."""
    tier = facts.get("pain.red_flag_tier")
    if tier not in OPENING_TIERS:
        return None
    flags = facts.get("pain.red_flags")
    flagged = frozenset(flags) if isinstance(flags, (set, frozenset)) else frozenset()
    if facts.get("safety.episode_open") is not True:
        return EpisodeChange("open", str(tier), flagged)
    current = facts.get("safety.episode_tier")
    if tier_rank(tier) > tier_rank(current):
        return EpisodeChange("escalate", str(tier), flagged)
    if trigger == _ANSWERS and facts.get("pain.latest_red_flag_tier") in OPENING_TIERS:
        return EpisodeChange("attach", str(current), flagged)
    return None


def pause(
    facts: Mapping[str, object],
    change: EpisodeChange | None,
    since: datetime | None,
    now: datetime,
) -> Pause | None:
    """The hold an episode puts on this evaluation, or None when no episode is open or opens.

    `since`: when the open episode opened, as the caller knows it (None: unknown).
    """
    if facts.get("safety.episode_open") is True:
        when = f" since {since.isoformat()}" if since is not None else ""
        attached = change is None or change.action == "attach"
        return Pause(f"safety episode open{when}", attached)
    if change is not None:  # opened by this decision
        return Pause(f"safety episode open since {now.isoformat()}", attached=False)
    return None
