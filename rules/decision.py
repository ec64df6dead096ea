"""What an evaluation takes in besides facts (`EvaluationState`) and gives back (`Decision`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from rules.values import TraceEntry, format_value


@dataclass
class EvaluationState:
    """Per-patient memory the service loads from its database before an evaluation.

    `last_fired`: rule id -> when it last fired (for cooldowns). `last_variant`: tip id -> the
    variant index last sent (rotation never repeats it immediately). `tips_sent_today`: tips
    already created today (patient-local day). `max_tips_per_day`: the patient's own limit, or
    None to use the rule set's setting. `target_7d_ago`: the plan target in force 7 days before
    `now`, the base of the weekly-increase cap; when None the current target is the base.
    """

    last_fired: dict[str, datetime] = field(default_factory=dict)
    last_variant: dict[str, int] = field(default_factory=dict)
    tips_sent_today: int = 0
    max_tips_per_day: int | None = None
    target_7d_ago: float | None = None


class RenderedTip(NamedTuple):
    """A tip ready for the inbox: texts rendered, with the reason it was chosen.

    Immutable records built thousands of times a second by a population run: named tuples
    construct several times faster than frozen dataclasses.
    """

    rule_id: str
    tip_id: str
    category: str
    title: str
    text: str
    variant: int
    urgent: bool
    asks: str | None
    why: str

    def as_dict(self) -> dict[str, object]:
        """Return the tip as a JSON-serialisable dict."""
        return self._asdict()


@dataclass(frozen=True)
class Alert:
    """A clinician alert raised by a rule."""

    rule_id: str
    severity: str
    message: str

    def as_dict(self) -> dict[str, object]:
        """Return the alert as a JSON-serialisable dict."""
        return dict(self.__dict__)


class RuleTrace(NamedTuple):
    """One rule's outcome: fired or not, the reason, and each sub-condition's value."""

    rule_id: str
    fired: bool
    reason: str
    entries: tuple[TraceEntry, ...]

    def as_dict(self) -> dict[str, object]:
        """Return the trace as a JSON-serialisable dict."""
        return {
            "rule_id": self.rule_id,
            "fired": self.fired,
            "reason": self.reason,
            "conditions": [entry.as_dict() for entry in self.entries],
        }


@dataclass
class Decision:
    """The outcome of one evaluation.

    `fired`: rule ids in evaluation order. `suppressed`: rule id -> reason for every rule that
    did not fire (trigger, condition false, cooldown, stopped by, budget). `suppressed_actions`:
    actions of fired rules that were not applied (a second set_target, a tip over budget, a
    duplicate tip). `target`: the new daily target after clamping, or None when unchanged.
    `traces`: every rule's outcome; when `traced` is false (`evaluate(..., trace=False)`) only
    fired rules carry their sub-condition values.
    """

    ruleset: str
    trigger: str
    now: datetime
    facts: dict[str, object]
    fired: list[str] = field(default_factory=list)
    suppressed: dict[str, str] = field(default_factory=dict)
    suppressed_actions: list[dict[str, str]] = field(default_factory=list)
    tips: list[RenderedTip] = field(default_factory=list)
    target: int | None = None
    target_requested: float | None = None
    target_rule: str | None = None
    target_notes: list[str] = field(default_factory=list)
    hold_days: int | None = None
    alerts: list[Alert] = field(default_factory=list)
    traces: dict[str, RuleTrace] = field(default_factory=dict)
    traced: bool = True

    def to_dict(self) -> dict[str, object]:
        """Return the decision as JSON-serialisable data (traces only when they were computed)."""
        data: dict[str, object] = {
            "ruleset": self.ruleset,
            "trigger": self.trigger,
            "now": self.now.isoformat(),
            "facts": {name: _jsonable(value) for name, value in sorted(self.facts.items())},
            "fired": list(self.fired),
            "suppressed": dict(self.suppressed),
            "suppressed_actions": [dict(item) for item in self.suppressed_actions],
            "tips": [tip.as_dict() for tip in self.tips],
            "target": self.target,
            "target_requested": self.target_requested,
            "target_rule": self.target_rule,
            "target_notes": list(self.target_notes),
            "hold_days": self.hold_days,
            "alerts": [alert.as_dict() for alert in self.alerts],
        }
        if self.traced:
            data["traces"] = [trace.as_dict() for trace in self.traces.values()]
        return data

    def explain(self) -> str:
        """Return a readable account of what fired, what did not and why."""
        lines = [f"{self.ruleset} at {self.now.isoformat()} (trigger: {self.trigger})"]
        for trace in self.traces.values():
            status = "FIRED" if trace.fired else "not fired"
            lines.append(
                f"- {trace.rule_id}: {status}" + ("" if trace.fired else f" ({trace.reason})")
            )
            for entry in trace.entries:
                lines.append(
                    f"    {entry.expr}  ->  {entry.values}  ->  {format_value(entry.result)}"
                )
        for tip in self.tips:
            urgent = " [urgent]" if tip.urgent else ""
            lines.append(
                f"tip {tip.tip_id} (rule {tip.rule_id}, variant {tip.variant}){urgent}: "
                f"{tip.title}: {tip.text}"
            )
            lines.append(f"    why: {tip.why}")
        for item in self.suppressed_actions:
            lines.append(f"{item['rule_id']}: {item['action']} not applied: {item['reason']}")
        if self.target is not None:
            lines.append(f"target: {self.target} (asked by {self.target_rule})")
        lines += [f"    {note}" for note in self.target_notes]
        if self.hold_days:
            lines.append(f"progression held for {self.hold_days} days")
        for alert in self.alerts:
            lines.append(f"alert ({alert.severity}) from {alert.rule_id}: {alert.message}")
        return "\n".join(lines)


def _jsonable(value: object) -> object:
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value
