"""Coded values facts can hold, and the plain words a patient reads instead of each code.

A set of codes in a template renders as its labels joined in a sentence ("fever and a recent
fall or injury"); a code never reaches a patient. The loader also checks string literals
compared with coded facts against these tables, so a misspelt code is an error, not a rule
that silently never fires.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

RED_FLAG_LABELS: dict[str, str] = {
    "numbness_saddle": "numbness in the groin or between the legs (the saddle area)",
    "bladder_bowel_change": "a change in bladder or bowel control",
    "leg_weakness": "new or worsening weakness in the legs",
    "fever": "a fever",
    "unexplained_weight_loss": "weight loss you cannot explain",
    "trauma": "a recent fall or injury",
    "night_pain": "pain at night",
}
CONDITION_LABELS: dict[str, str] = {
    "spinal_stenosis": "spinal stenosis",
    "acute_disc_herniation": "a recently slipped (herniated) disc",
    "osteoporosis": "osteoporosis",
    "pregnancy": "pregnancy",
    "recent_surgery": "recent surgery",
}
# Triage tiers (SPEC §11.1), most severe first, with what the patient is told each one means.
TIER_LABELS: dict[str, str] = {
    "emergency": "symptoms that need emergency care now",
    "urgent": "symptoms that need a doctor today",
    "soon": "symptoms to mention to a clinician within the week",
}
RED_FLAG_TIERS: dict[str, str] = {
    "numbness_saddle": "emergency",
    "bladder_bowel_change": "emergency",
    "leg_weakness": "emergency",
    "fever": "urgent",
    "trauma": "urgent",
    "unexplained_weight_loss": "urgent",
    "night_pain": "soon",
}
TIERS = tuple(TIER_LABELS)  # most severe first
OPENING_TIERS = frozenset({"emergency", "urgent"})
"""Tiers whose flags open a safety episode a clinician must close."""

# Conditions a clinician must clear before the programme steps up: "hold" ones also keep loaded
# core exercises (planks, bridges) out; "consult" ones ask the patient to talk to their
# clinician once and tell the clinician once.
CLEARANCE: dict[str, str] = {
    "recent_surgery": "hold",
    "osteoporosis": "hold",
    "pregnancy": "hold",
    "spinal_stenosis": "consult",
    "acute_disc_herniation": "consult",
}
TRIGGER_LABELS: dict[str, str] = {
    "schedule": "a scheduled check",
    "pain_report": "a pain report",
    "activity": "new activity data",
    "exercise_report": "an exercise report",
}

RED_FLAGS = frozenset(RED_FLAG_LABELS)
CONDITIONS = frozenset(CONDITION_LABELS)
TRIGGERS = tuple(TRIGGER_LABELS)

# Every code of every table, for rendering and for spotting codes pasted into texts.
LABELS: dict[str, str] = {**RED_FLAG_LABELS, **CONDITION_LABELS, **TIER_LABELS, **TRIGGER_LABELS}


def tier_rank(tier: object) -> int:
    """How severe a tier is: 3 emergency, 2 urgent, 1 soon, 0 none or unknown."""
    return len(TIERS) - TIERS.index(tier) if isinstance(tier, str) and tier in TIER_LABELS else 0


def highest_tier(flags: Iterable[str]) -> str | None:
    """The most severe tier among these red-flag codes, or None when there is none."""
    tiers = {RED_FLAG_TIERS[flag] for flag in flags if flag in RED_FLAG_TIERS}
    return max(tiers, key=tier_rank) if tiers else None


def label(code: object) -> str:
    """The plain words for one code (an unknown code reads as words, never with underscores)."""
    text = str(code)
    found = LABELS.get(text)
    return found if found is not None else text.replace("_", " ")


def join_labels(codes: Iterable[object]) -> str:
    """Labels of a set of codes as a phrase: 'a, b and c' (sorted, so the text is stable)."""
    words = sorted(label(code) for code in codes)
    if not words:
        return "none"
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " and " + words[-1]


def suggest(word: str, codes: Mapping[str, str] | Iterable[str]) -> str | None:
    """The code the author most likely meant: same words in another order, else a close one."""
    known = list(codes)
    parts = sorted(word.lower().replace("-", "_").replace(" ", "_").split("_"))
    for code in known:
        if sorted(code.split("_")) == parts:
            return code
    for code in known:  # one word of a longer code ('stenosis' for 'spinal_stenosis')
        if set(parts) <= set(code.split("_")):
            return code
    close = difflib.get_close_matches(word.lower(), known, n=1, cutoff=0.6)
    return close[0] if close else None
