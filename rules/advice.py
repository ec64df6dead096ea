"""Advice on a valid rule set: what does not block it but deserves a look (CLI and API alike)."""

from __future__ import annotations

from rules.kinds import ActionKind
from rules.ruleset import RuleSet


def warnings(ruleset: RuleSet) -> list[dict[str, str]]:
    """Unsent tips, rules without an embedded test, rules whose tips have no `reason:`."""
    sent = {a.tip for rule in ruleset.rules for a in rule.actions if a.kind == ActionKind.SEND_TIP}
    tested = {rid for case in ruleset.tests for rid in (*case.fires, *case.not_fires)}
    out = [
        {"path": f"tips.{tip_id}", "message": f"tip '{tip_id}' is not sent by any rule"}
        for tip_id in ruleset.tips
        if tip_id not in sent
    ]
    out += [
        {"path": f"rules.{rule.id}", "message": f"rule '{rule.id}' has no embedded test"}
        for rule in ruleset.rules
        if rule.id not in tested
    ]
    out += [
        {
            "path": f"rules.{rule.id}",
            "message": f"rule '{rule.id}' sends tips without a reason: the patient's 'why' "
            "shows its description",
        }
        for rule in ruleset.rules
        if not rule.has_reason and any(a.kind == ActionKind.SEND_TIP for a in rule.actions)
    ]
    return out
