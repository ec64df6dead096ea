"""The `ask: <instrument>` action: a questionnaire for the patient (SPEC §11.4).

A firing rule's `ask` adds an `Ask` to the decision (the service creates the questionnaire
assignment from it) and an inbox tip of category `checkin` whose `asks` is `questionnaire`, so
the app knows to open the waiting questionnaire. The tip's words are the engine's own: kind,
short, with no score or code in them; its `why` is the rule's reason. It never spends the day's
tip budget (a check-in the patient answers is not advice), and a safety episode holds it back
like every non-safety tip.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from rules.decision import RenderedTip

if TYPE_CHECKING:
    from collections.abc import Mapping

    from rules.decision import Decision
    from rules.model import Rule

ASKS = "questionnaire"  # the tip's `asks`: the app answers it with GET /v1/me/questionnaires
TITLE = "A short check-in is waiting"
TEXT = (
    "When you have a minute, there are a few quick questions about how your back has been "
    "lately. There are no right or wrong answers, and they help show how things are changing "
    "for you."
)


class Ask(NamedTuple):
    """A questionnaire a rule asks for: the rule and the instrument id."""

    rule_id: str
    instrument: str

    def as_dict(self) -> dict[str, object]:
        """Return the ask as a JSON-serialisable dict."""
        return {"rule_id": self.rule_id, "instrument": self.instrument}


def tip_key(instrument: str) -> str:
    """The tip id of the inbox item announcing a questionnaire."""
    return f"ask-{instrument}"


def ask_tip(rule: Rule, instrument: str, env: Mapping[str, object]) -> RenderedTip:
    """The inbox tip that tells the patient a questionnaire is waiting."""
    why = rule.reason.render(env)
    return RenderedTip(
        rule.id, tip_key(instrument), "checkin", TITLE, TEXT, 0, rule.urgent, ASKS, why
    )


def ask(
    rule: Rule,
    decision: Decision,
    env: Mapping[str, object],
    held: str | None,
    drop: Callable[[str, str], None],
) -> None:
    """Apply a firing rule's asks: each instrument once per evaluation, none while `held`."""
    for instrument in rule.asks:
        if held is not None or any(a.instrument == instrument for a in decision.asks):
            drop(f"ask {instrument}", held or "asked already in this evaluation")
            continue
        decision.asks.append(Ask(rule.id, instrument))
        decision.tips.append(ask_tip(rule, instrument, env))
