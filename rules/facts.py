"""The fact catalogue: one definition of every fact a rule may read (SPEC §6, §11.3).

The validator type-checks expressions against it, `python -m rules facts` prints it, and the
service computes the same facts in SQL. `rules.reference.compute_facts` is the executable form of
the definitions below; the service is property-tested against it.

Shared definitions used by the texts below:

- *today* is the patient's local calendar date at evaluation time `now` (IANA time zone of the
  patient). Days are calendar days, so a DST day has 23 or 25 hours.
- *complete days* exclude today. "The last 7 complete days" are today-7 .. today-1 inclusive;
  "the 7 before" are today-14 .. today-8; "the last 14 complete days" are today-14 .. today-1.
- *event window* ("last 7 days" for sessions, pain and exercise reports): the local dates
  today-6 .. today inclusive (today counts, up to `now`). An event belongs to the local date of
  its timestamp in the patient's time zone.
- *effective steps* of a day: the primary source's value if that source has a row for the day,
  otherwise the largest value among the day's sources. Sources are never summed. A day "has data"
  when it has at least one row.
- *target of a day*: the plan target in force at the end of that local day, i.e. of the latest
  plan change whose effective time is before the next local midnight. A day without a target in
  force (before the first plan) has no target and is never "met".
- *met*: the day has data and its effective steps are >= the target of that day.
- *safety episode*: opened by an emergency- or urgent-tier red flag (`rules.codes.RED_FLAG_TIERS`)
  at the evaluation that first sees it, closed only by a clinician's decision (`resume` or
  `resume_lower`; `keep_paused` records a review and keeps it open). *The last resolution* is
  the latest closing time at or before now; red flags reported at or before it were assessed by
  the clinician and no longer count.
- Every fact may be `null` when missing; counts are 0 rather than null when the inputs exist.
"""

from __future__ import annotations

from rules.codes import CONDITIONS, RED_FLAGS, TRIGGERS
from rules.fact_model import Fact
from rules.facts_care import CARE_FACTS
from rules.facts_personal import PERSONAL_FACTS
from rules.facts_programme import PROGRAMME_FACTS
from rules.facts_prom import PROM_FACTS
from rules.kinds import Kind

__all__ = ["CATALOGUE", "CONDITIONS", "RED_FLAGS", "TRIGGERS", "Fact", "Kind", "fact_types"]

_ORDER = (
    "steps.",
    "data.",
    "walk.",
    "shoes.",
    "pain.",
    "safety.",
    "strength.",
    "stretch.",
    "exercise.",
    "plan.",
    "patient.",
    "checkins.",
    "tips.",
)

CATALOGUE: dict[str, Fact] = {
    fact.name: fact
    for fact in sorted(
        PROGRAMME_FACTS + CARE_FACTS + PERSONAL_FACTS + PROM_FACTS,
        key=lambda f: next((i for i, p in enumerate(_ORDER) if f.name.startswith(p)), len(_ORDER)),
    )
}
"""Every non-settings fact, by name (grouped by family, in the order `python -m rules facts`
prints them)."""


SETTINGS_FACTS: dict[str, Kind] = {
    "settings.max_tips_per_day": Kind.NUMBER,
    "settings.target.initial": Kind.NUMBER,
    "settings.target.min": Kind.NUMBER,
    "settings.target.max": Kind.NUMBER,
    "settings.target.max_weekly_increase": Kind.NUMBER,
}
"""Settings readable from expressions; values come from the rule set's own `settings`."""


def fact_types() -> dict[str, Kind]:
    """Return the type of every fact an expression may read, settings included."""
    types: dict[str, Kind] = {name: fact.type for name, fact in CATALOGUE.items()}
    types.update(SETTINGS_FACTS)
    return types
