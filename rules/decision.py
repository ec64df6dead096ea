"""What an evaluation takes in besides facts (`EvaluationState`) and gives back (`Decision`).

A decision is complete when `RuleSet.evaluate` returns: what fired, what did not and why, the
tips (rendered, unless the caller asked for `texts=False`), the target, holds and alerts. The
per-condition traces are derived from the decision's own copy of the facts the first time
someone reads them (`traces`, `explain()`, `to_dict()`), so an evaluation nobody asks "why"
about never pays for them; they are the same values either way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from rules.kinds import Severity
from rules.values import TraceEntry, format_value

if TYPE_CHECKING:
    from rules.asks import Ask
    from rules.model import Rule
    from rules.randomization import Randomization
    from rules.safety import EpisodeChange


@dataclass
class EvaluationState:
    """Per-patient memory the service loads from its database before an evaluation.

    `last_fired`: rule id -> when it last fired (for cooldowns). `last_variant`: tip id -> the
    variant index last sent (rotation never repeats it immediately). `tips_sent_today`: tips
    already created today (patient-local day). `max_tips_per_day`: the patient's own limit, or
    None to use the rule set's setting. `target_7d_ago`: the plan target in force 7 days before
    `now`, the base of the weekly-increase cap; when None the current target is the base.
    `episode_since`: when the open safety episode opened (the facts say whether one is open;
    this only dates the reasons it gives). `seed`: whose draws randomised rules make (the
    service passes the patient id; None: no draw, randomised rules fire). `unavailable`: why the
    patient cannot take a randomised tip now (e.g. "quiet hours"), or None.
    """

    last_fired: dict[str, datetime] = field(default_factory=dict)
    last_variant: dict[str, int] = field(default_factory=dict)
    tips_sent_today: int = 0
    max_tips_per_day: int | None = None
    target_7d_ago: float | None = None
    episode_since: datetime | None = None
    seed: str | None = None
    unavailable: str | None = None


_FIELDS = ("rule_id", "tip_id", "category", "title", "text", "variant", "urgent", "asks", "why")


class RenderedTip:
    """A tip for the inbox: its texts and `why` (the rule's reason, in plain words).

    Texts are strings when the evaluation rendered them; with `evaluate(..., texts=False)` they
    are rendered on first read (`render` is the callable that does it).
    """

    __slots__ = ("_render", "_text", "_title", "_why", *_FIELDS[:3], *_FIELDS[5:8])

    def __init__(  # noqa: PLR0917 - the field order of the named tuple it replaced
        self,
        rule_id: str,
        tip_id: str,
        category: str,
        title: str | None,
        text: str | None,
        variant: int,
        urgent: bool,
        asks: str | None,
        why: str | None,
        render: Callable[[], tuple[str, str, str]] | None = None,
    ) -> None:
        self.rule_id = rule_id
        self.tip_id = tip_id
        self.category = category
        self._title = title
        self._text = text
        self.variant = variant
        self.urgent = urgent
        self.asks = asks
        self._why = why
        self._render = render

    def _texts(self) -> None:
        if self._render is not None:
            self._title, self._text, self._why = self._render()
            self._render = None

    @property
    def title(self) -> str:
        """The tip's title."""
        self._texts()
        return self._title or ""

    @property
    def text(self) -> str:
        """The tip's text."""
        self._texts()
        return self._text or ""

    @property
    def why(self) -> str:
        """Why the patient got this tip, in plain words (the rule's reason)."""
        self._texts()
        return self._why or ""

    def as_tuple(self) -> tuple[Any, ...]:
        """Every field, in the order of the constructor."""
        return tuple(getattr(self, name) for name in _FIELDS)

    def as_dict(self) -> dict[str, object]:
        """Return the tip as a JSON-serialisable dict."""
        return dict(zip(_FIELDS, self.as_tuple(), strict=True))

    _asdict = as_dict

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RenderedTip) and self.as_tuple() == other.as_tuple()

    def __hash__(self) -> int:
        return hash(self.as_tuple())

    def __repr__(self) -> str:
        return f"RenderedTip({', '.join(f'{k}={v!r}' for k, v in self.as_dict().items())})"


@dataclass(frozen=True)
class Alert:
    """A clinician alert raised by a rule."""

    rule_id: str
    severity: Severity
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


class Decision:
    """The outcome of one evaluation.

    `fired`: rule ids in evaluation order. `suppressed`: rule id -> reason for every rule that
    did not fire (trigger, condition false, cooldown, stopped by, budget). `suppressed_actions`:
    actions of fired rules that were not applied (a second set_target, a tip over budget, a
    duplicate tip, a non-safety tip, an ask or a repeated urgent alert during a safety episode).
    `asks`: the questionnaires rules asked for (`rules.asks.Ask`; each also adds an inbox tip).
    `target`: the new daily target after clamping, or None when unchanged. `episode`: what the
    decision does to the patient's safety episode (`rules.safety.EpisodeChange`), or None.
    `traces`: every rule's outcome; when `traced` is false (`evaluate(..., trace=False)`) only
    fired rules carry their sub-condition values. `facts`: the facts evaluated, with `trigger`.
    """

    __slots__ = (
        "_rules",
        "_settings",
        "_traces",
        "alerts",
        "asks",
        "episode",
        "facts",
        "fired",
        "hold_days",
        "now",
        "randomized",
        "ruleset",
        "suppressed",
        "suppressed_actions",
        "target",
        "target_notes",
        "target_requested",
        "target_rule",
        "tips",
        "traced",
        "trigger",
    )

    def __init__(
        self,
        ruleset: str,
        trigger: str,
        now: datetime,
        facts: dict[str, object],
        *,
        rules: Sequence[Rule] = (),
        settings: dict[str, object] | None = None,
        traced: bool = True,
        suppressed: dict[str, str] | None = None,
    ) -> None:
        self.ruleset = ruleset
        self.trigger = trigger
        self.now = now
        self.facts = facts
        self.traced = traced
        self.fired: list[str] = []
        self.suppressed: dict[str, str] = {} if suppressed is None else suppressed
        self.suppressed_actions: list[dict[str, str]] = []
        self.tips: list[RenderedTip] = []
        self.target: int | None = None
        self.target_requested: float | None = None
        self.target_rule: str | None = None
        self.target_notes: list[str] = []
        self.hold_days: int | None = None
        self.alerts: list[Alert] = []
        self.asks: list[Ask] = []
        self.episode: EpisodeChange | None = None
        self.randomized: list[Randomization] = []
        self._rules = rules
        self._settings = settings or {}
        self._traces: dict[str, RuleTrace] | None = None

    @property
    def traces(self) -> dict[str, RuleTrace]:
        """Every rule's outcome with its sub-condition values, in evaluation order."""
        if self._traces is None:
            traces: dict[str, RuleTrace] = {}
            fired = set(self.fired)
            for rule in self._rules:
                is_fired = rule.id in fired
                reason = "fired" if is_fired else self.suppressed.get(rule.id, "")
                ran = self.trigger in rule.on
                entries = (
                    tuple(rule.when.trace(self.facts)) if ran and (is_fired or self.traced) else ()
                )
                traces[rule.id] = RuleTrace(rule.id, is_fired, reason, entries)
            self._traces = traces
        return self._traces

    def to_dict(self) -> dict[str, object]:
        """Return the decision as JSON-serialisable data (traces only when they were computed)."""
        facts = {**self._settings, **self.facts}
        data: dict[str, object] = {
            "ruleset": self.ruleset,
            "trigger": self.trigger,
            "now": self.now.isoformat(),
            "facts": {name: _jsonable(value) for name, value in sorted(facts.items())},
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
            "asks": [ask.as_dict() for ask in self.asks],
            "episode": self.episode.as_dict() if self.episode is not None else None,
            "randomized": [item.as_dict() for item in self.randomized],
        }
        if self.traced:
            data["traces"] = [trace.as_dict() for trace in self.traces.values()]
        return data

    def explain(self) -> str:
        """Return a readable account of what fired, what did not and why (conditions as trees)."""
        lines = [f"{self.ruleset} at {self.now.isoformat()} (trigger: {self.trigger})"]
        fired = set(self.fired)
        for rule in self._rules:
            is_fired = rule.id in fired
            status = "FIRED" if is_fired else f"not fired ({self.suppressed.get(rule.id, '')})"
            lines.append(f"- {rule.id}: {status}")
            if self.trigger in rule.on and (is_fired or self.traced):
                lines += [f"    {line}" for line in rule.when.tree(self.facts)]
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
        for ask in self.asks:
            lines.append(f"questionnaire {ask.instrument} asked by {ask.rule_id}")
        if self.episode is not None:
            episode = self.episode
            lines.append(f"safety episode: {episode.action} ({episode.tier})")
        for draw in self.randomized:
            lines.append(f"randomised {draw.rule_id} (p={draw.probability:g}): {draw.reason}")
        return "\n".join(lines)


def _jsonable(value: object) -> object:
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


__all__ = ["Alert", "Decision", "EvaluationState", "RenderedTip", "RuleTrace", "format_value"]
