"""What `python -m rules facts` prints: the catalogue, the codes and how texts show values."""

from __future__ import annotations

from rules.codes import (
    CLEARANCE,
    CONDITION_LABELS,
    RED_FLAG_LABELS,
    RED_FLAG_TIERS,
    TIER_LABELS,
    TRIGGER_LABELS,
)
from rules.facts import CATALOGUE, SETTINGS_FACTS, Fact

TEXT_RULES = """\
In texts ({...} in tip titles and texts, `reason:` and alert messages):
  - step counts and targets read as whole numbers with thousands separators (4,400);
    other numbers with at most one decimal (6.5);
  - a code, or a set of codes, reads as its label ("a fever and pain at night");
  - a true/false value is refused: write words, e.g. {'yes' if pain.red_flag else 'no'};
  - a fact that can be null (null? = yes) must be checked in the rule's `when`, by
    `FACT is not null` or by a comparison that is true (`steps.today < 2000`), else the
    rule set is refused: a patient never reads "null".
A rule's `reason:` is the patient's answer to "why this tip?"; traces are for clinicians."""

SAFETY_RULES = """\
Safety episodes (the engine applies these to every rule set):
  - an emergency or urgent red flag opens an episode; only a clinician closes it;
  - while one is open (or opens), only `safety` tips are sent, no target rises and
    progression is held; a repeated flag attaches to it (no second urgent alert), a
    more severe one escalates it;
  - `safety` tips are never dropped by max_tips_per_day.
Clearance (in the facts): "hold" conditions should get no automatic progression and no
loaded core exercises until cleared, "consult" conditions no automatic progression."""


def _range(fact: Fact) -> str:
    if fact.low is None or fact.high is None:
        return ""
    step = "" if fact.grid >= 1 else f" by {fact.grid:g}"
    return f"{fact.low:g}..{fact.high:g}{step}"


def format_table() -> str:
    """Return the catalogue as a plain-text table, then the codes and the text rules."""
    rows = [
        (f.name, f.type, f.unit, "yes" if f.nullable else "no", _range(f), f.description)
        for f in CATALOGUE.values()
    ]
    rows += [
        (name, kind, "", "no", "", "the rule set's own setting")
        for name, kind in SETTINGS_FACTS.items()
    ]
    header = ("fact", "type", "unit", "null?", "range", "meaning")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(5)]
    lines = [
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:5])) + "  " + row[5]
        for row in [header, *rows]
    ]
    red_flags = {code: f"[{RED_FLAG_TIERS[code]}] {text}" for code, text in RED_FLAG_LABELS.items()}
    conditions = {
        code: f"{text} (clearance: {CLEARANCE[code]})" if code in CLEARANCE else text
        for code, text in CONDITION_LABELS.items()
    }
    for title, labels in (
        ("Red-flag codes (pain.red_flags), their [tier]", red_flags),
        ("Triage tiers (pain.red_flag_tier, safety.episode_tier), most severe first", TIER_LABELS),
        ("Condition codes (patient.conditions), the clearance each needs", conditions),
        ("Triggers (trigger)", TRIGGER_LABELS),
    ):
        lines += ["", f"{title}, and what a patient reads:"]
        width = max(len(code) for code in labels)
        lines += [f"  {code.ljust(width)}  {label}" for code, label in labels.items()]
    return "\n".join([*lines, "", SAFETY_RULES, "", TEXT_RULES])


def format_definitions() -> str:
    """Return every fact's precise definition, one paragraph each."""
    return "\n".join(
        f"{f.name} ({f.type}{', ' + f.unit if f.unit else ''}): {f.definition}"
        for f in CATALOGUE.values()
    )
