"""Persona histories replayed through the default rule set: what each may and may not receive.

The histories are `rules/examples/personas/*.json` (the shared history format). Day 0 is the
enrolment day, Monday 2026-05-04, Europe/London; pain reports come in the evening unless a
persona says otherwise.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import rules
from rules import Decision, RenderedTip
from rules.history_files import read_history
from rules.simulation import DayResult

ROOT = Path(__file__).resolve().parents[2]
PERSONAS = ROOT / "rules" / "examples" / "personas"
ZONE = ZoneInfo("Europe/London")
DAY0 = date(2026, 5, 4)
DEFAULT = rules.load_ruleset(rules.default_ruleset_text())


@cache
def replay(name: str) -> tuple[DayResult, ...]:
    """Simulate a persona from enrolment to its last day with steps."""
    history = read_history("history.json", (PERSONAS / f"{name}.json").read_text())
    last = max(row.day for row in history.daily_steps)
    return tuple(rules.simulate(DEFAULT, history, DAY0, last))


def day(name: str, number: int) -> DayResult:
    """Day `number` of a persona (0: enrolment)."""
    result = replay(name)[number]
    assert result.day == DAY0 + timedelta(days=number)
    return result


def moment(number: int, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(DAY0 + timedelta(days=number), datetime.min.time(), ZONE).replace(
        hour=hour, minute=minute
    )


def decisions(name: str) -> Iterator[Decision]:
    for result in replay(name):
        yield from result.decisions


def tips_from(name: str, start: datetime, end: datetime | None = None) -> list[RenderedTip]:
    """Tips of the evaluations at or after `start` (and before `end`)."""
    return [
        tip
        for decision in decisions(name)
        if decision.now >= start and (end is None or decision.now < end)
        for tip in decision.tips
    ]


def alerts(name: str) -> list[str]:
    return [alert.severity for decision in decisions(name) for alert in decision.alerts]


def texts(tip: RenderedTip) -> str:
    return " ".join((tip.title, tip.text, tip.why))


# --- red flag, emergency tier: saddle numbness and bladder change on day 10 at 11:00 --------


def test_it_sends_the_emergency_patient_to_an_emergency_department_in_plain_words() -> None:
    report = next(d for d in decisions("red_flag_emergency") if d.now == moment(10, 11))
    assert report.trigger == "pain_report"
    [tip] = report.tips
    assert tip.category == "safety"
    assert tip.title == "Go to an emergency department now"
    assert "go to your nearest emergency department now" in tip.text
    assert "numbness in the groin or between the legs" in tip.text
    assert "a change in bladder or bowel control" in tip.text
    # One instruction, not a menu of clinician, GP, urgent care or emergency services.
    assert "urgent care" not in tip.text
    assert "GP" not in tip.text
    assert "contact your clinician" not in tip.text
    assert not re.search(r"[a-z]+_[a-z]+", texts(tip))
    assert report.episode is not None
    assert (report.episode.action, report.episode.tier) == ("open", "emergency")


def test_it_sends_only_safety_tips_after_the_flag_until_the_end() -> None:
    after = tips_from("red_flag_emergency", moment(10, 11))
    assert after
    assert {tip.category for tip in after} == {"safety"}
    assert {tip.tip_id for tip in after} <= {"emergency-now", "plan-on-hold"}
    # The 15:00 decision the same day no longer tells the patient to keep moving.
    afternoon = next(d for d in decisions("red_flag_emergency") if d.now == moment(10, 15))
    assert afternoon.tips == []
    since = moment(10, 11).isoformat()
    assert afternoon.facts["pain.latest"] == 7
    assert afternoon.suppressed["pain-flare"] == f"safety episode open since {since}"
    assert afternoon.target is None


def test_it_raises_one_urgent_alert_for_the_episode_and_attaches_the_repeat() -> None:
    assert alerts("red_flag_emergency") == ["urgent"]
    repeat = next(d for d in decisions("red_flag_emergency") if d.now == moment(11, 9))
    assert [tip.tip_id for tip in repeat.tips] == ["emergency-now"]
    assert repeat.episode is not None
    assert repeat.episode.action == "attach"
    assert repeat.alerts == []
    assert any(item["action"] == "alert_clinician urgent" for item in repeat.suppressed_actions)


def test_it_holds_the_emergency_patient_and_never_raises_the_target() -> None:
    results = replay("red_flag_emergency")
    before = day("red_flag_emergency", 9).target
    for result in results[10:]:
        assert result.held
        assert result.episode == "emergency"
        assert result.target == before
        assert "progress" not in result.fired


def test_it_answers_a_report_without_flags_during_the_episode_calmly() -> None:
    calm = next(d for d in decisions("red_flag_emergency") if d.now == moment(12, 19))
    [tip] = calm.tips
    assert tip.tip_id == "plan-on-hold"
    assert "Your walking plan stays paused until your care team has reviewed" in tip.text
    assert tip.text.endswith("go to an emergency department now.")


def test_it_reminds_of_the_pause_at_most_once_a_week() -> None:
    reminders = [d.now for d in decisions("red_flag_emergency") if "episode-on-hold" in d.fired]
    assert reminders
    assert all(b - a >= timedelta(days=7) for a, b in itertools.pairwise(reminders))


# --- the same patient, and a clinician's `resume` on day 14 at 08:00 ------------------------


def test_it_resumes_walking_tips_and_progression_on_the_day_of_resume() -> None:
    paused = tips_from("red_flag_resume", moment(10, 11), moment(14, 8))
    assert {tip.category for tip in paused} == {"safety"}
    resumed = day("red_flag_resume", 14)
    assert resumed.safety == ["08:00 resume: episode closed"]
    assert resumed.episode is None
    assert not resumed.held
    assert "back-on-track" in resumed.tips
    assert "progress" in resumed.fired
    assert resumed.target is not None
    assert resumed.target > day("red_flag_resume", 13).target  # type: ignore[operator]
    later = tips_from("red_flag_resume", moment(14, 8))
    assert {"progression", "form"} <= {tip.category for tip in later}
    assert not any(tip.category == "safety" for tip in later)


def test_it_counts_the_flags_the_clinician_assessed_as_past() -> None:
    # The repeat flag of day 11 at 09:00 is still inside 72 h at 08:30 on day 14, but the
    # clinician's resolution at 08:00 came after it: it neither reopens nor blocks anything.
    morning = next(d for d in decisions("red_flag_resume") if d.now == moment(14, 8, 30))
    assert morning.facts["pain.red_flags"] == frozenset()
    assert morning.facts["safety.days_since_resolved"] == 0
    assert morning.episode is None
    assert alerts("red_flag_resume") == ["urgent"]


# --- night pain only ------------------------------------------------------------------------


def test_it_asks_to_mention_night_pain_within_the_week_once_with_a_warning() -> None:
    assert alerts("night_pain") == ["warning"]
    mentions = [tip for tip in tips_from("night_pain", moment(0, 0)) if tip.category == "safety"]
    assert [tip.tip_id for tip in mentions] == ["mention-night-pain"]
    [tip] = mentions
    assert "within the next week" in tip.text
    assert "It is not an emergency" in tip.text
    assert "today" not in tip.text
    assert all(result.episode is None for result in replay("night_pain"))


def test_it_lets_gentle_walking_continue_after_night_pain() -> None:
    after = tips_from("night_pain", moment(8, 7, 30))
    assert {"form", "flexibility"} <= {tip.category for tip in after}
    held = [result.held for result in replay("night_pain")[8:]]
    assert held[:7] == [True] * 7  # the goal stays where it is for a week
    assert not all(held)


# --- a late-day 8/10 report on a day whose budget (one tip a day) is spent -------------------


def test_it_answers_a_late_high_pain_report_over_budget_and_says_why_the_goal_fell() -> None:
    report = next(d for d in decisions("late_pain_full_budget") if d.trigger == "pain_report")
    assert report.now == moment(9, 20, 30)
    assert report.facts["tips.sent_today"] == 1  # the persona's own budget
    assert [tip.tip_id for tip in report.tips] == ["rest-and-reduce"]
    assert report.target is not None
    assert report.target < report.facts["plan.target"]  # type: ignore[operator]
    assert "8/10" in report.tips[0].text
    assert report.tips[0].why == (
        "You rated your back 8 out of 10, so we are easing off for a few days."
    )


# --- a patient with no clinic -------------------------------------------------------------


def test_it_tells_a_patient_without_a_clinic_whom_to_contact() -> None:
    report = next(d for d in decisions("no_clinic") if d.now == moment(6, 18))
    [tip] = report.tips
    assert tip.tip_id == "doctor-today"
    assert "a recent fall or injury" in tip.text
    assert "please contact your GP (family doctor) today" in tip.text
    assert "We cannot pass this on to a doctor for you" in tip.text
    everything = tips_from("no_clinic", moment(0, 0))
    assert everything
    assert not any("care team" in texts(tip) for tip in everything)
    assert not any("alerted" in texts(tip) or "let your" in texts(tip) for tip in everything)


# --- conditions that need a clinician's clearance -----------------------------------------


def test_it_keeps_a_recent_surgery_patient_steady_until_cleared() -> None:
    results = replay("recent_surgery")
    cleared = moment(28, 9)
    before = tips_from("recent_surgery", moment(0, 0), cleared)
    assert [tip.tip_id for tip in before].count("goal-steady-until-cleared") == 1
    assert not any(tip.category == "strength" for tip in before)
    assert all(result.target == 4000 for result in results[:28])
    info = [a for d in decisions("recent_surgery") for a in d.alerts]
    assert [(a.severity, a.rule_id) for a in info] == [("info", "clearance-needed")]
    assert info[0].message.startswith("With recent surgery, the goal will not rise")
    after = tips_from("recent_surgery", cleared)
    assert any(tip.category == "strength" for tip in after)
    assert results[-1].target is not None
    assert results[-1].target > 4000


def test_it_asks_a_stenosis_patient_to_consult_once_and_progresses_after_clearance() -> None:
    results = replay("spinal_stenosis")
    consults = [
        t for t in tips_from("spinal_stenosis", moment(0, 0)) if t.rule_id == "condition-consult"
    ]
    assert len(consults) == 1
    assert "With spinal stenosis, walking further or faster" in consults[0].text
    assert alerts("spinal_stenosis") == ["info"]
    assert all(result.target == 4000 for result in results[:21])
    assert results[-1].target is not None
    assert results[-1].target > 4000


# --- across every persona -------------------------------------------------------------------

_BAD = [
    re.compile(r"\bnull\b"),
    re.compile(r"\bNone\b"),
    re.compile(r"\b[a-z]+_[a-z_]+\b"),  # a raw code
    re.compile(r"\d\.\d{2,}"),  # an unrounded number
    re.compile(r"\{|\}"),  # a placeholder left unrendered
]
NAMES = sorted(path.stem for path in PERSONAS.glob("*.json"))


@pytest.mark.parametrize("name", NAMES)
def test_it_never_shows_a_persona_a_code_null_or_an_unrounded_number(name: str) -> None:
    shown = tips_from(name, moment(0, 0))
    assert shown
    for tip in shown:
        for pattern in _BAD:
            assert not pattern.search(texts(tip)), (name, tip.tip_id, texts(tip))


@pytest.mark.parametrize("name", NAMES)
def test_it_never_drops_a_pain_report_answer_for_the_budget(name: str) -> None:
    for decision in decisions(name):
        if decision.trigger != "pain_report":
            continue
        reasons = [*decision.suppressed.values()]
        reasons += [item["reason"] for item in decision.suppressed_actions]
        assert not any(reason.startswith("budget") for reason in reasons), decision.explain()


def test_it_has_the_personas_the_suite_promises() -> None:
    assert {
        "red_flag_emergency",
        "red_flag_resume",
        "night_pain",
        "late_pain_full_budget",
        "no_clinic",
        "recent_surgery",
    } <= set(NAMES)
