"""Built-in histories to simulate a rule set on: the engine's six-week example and the
sandbox personas (the same synthetic patients the demo clinic is seeded with)."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

from integrations.wearables.sandbox import PERSONAS, persona_pain_reports, persona_steps
from rules import DEFAULT_RULESET_PATH, reference
from rules.history_files import read_history

SIX_WEEKS = "six_weeks"
# The engine's example lives beside its default rule set (rules/examples/six_weeks.json).
_SIX_WEEKS_PATH = DEFAULT_RULESET_PATH.parent.parent / "examples" / "six_weeks.json"
PERSONA_DAYS = 28

EXAMPLES: dict[str, str] = {
    SIX_WEEKS: "Six weeks of steady walking (fixed dates, March to April 2026)",
    "steady_improver": "Persona: improves steadily",
    "pain_flare_week3": "Persona: pain flare in week 3",
    "plateau": "Persona: walks the same every day",
    "low_adherence": "Persona: often leaves the phone at home",
    "red_flag": "Persona: red-flag symptoms in the last days",
    "spinal_stenosis": "Persona: spinal stenosis, slow build",
}
assert set(EXAMPLES) - {SIX_WEEKS} == set(PERSONAS)


@lru_cache(maxsize=1)
def _six_weeks() -> reference.History:
    return read_history("six_weeks.json", _SIX_WEEKS_PATH.read_text(encoding="utf-8"))


def example_range(name: str, end: dt.date) -> tuple[dt.date, dt.date]:
    """The dates an example covers (personas: the 28 days ending at `end`)."""
    if name == SIX_WEEKS:
        days = [row.day for row in _six_weeks().daily_steps]
        return min(days), max(days)
    return end - dt.timedelta(days=PERSONA_DAYS - 1), end


def example_history(name: str, end: dt.date) -> reference.History:
    """The named built-in history; a persona's 28 days end at `end`."""
    if name == SIX_WEEKS:
        return _six_weeks()
    zone = ZoneInfo("Europe/London")
    first = end - dt.timedelta(days=PERSONA_DAYS - 1)
    history = reference.History(
        timezone=zone.key,
        enrolled_at=dt.datetime.combine(first, dt.time(8), tzinfo=zone),
        conditions=frozenset({"spinal_stenosis"} if name == "spinal_stenosis" else ()),
        primary_source="sandbox",
    )
    for offset in range(PERSONA_DAYS):
        day = first + dt.timedelta(days=offset)
        steps = persona_steps(name, day, end)
        if steps is not None:
            history.daily_steps.append(reference.DailySteps(day, "sandbox", steps))
    for report in persona_pain_reports(name, first, end, zone, end):
        history.pain.append(
            reference.PainReport(report.recorded_at, report.score, frozenset(report.red_flags))
        )
    return history
