"""Simulation of the six-week example and the `python -m rules` command line."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

import rules
from rules.history_files import read_csv, read_history
from rules.simulation import DayResult

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "rules" / "defaults" / "low_back_walking.yaml"
EXAMPLE = ROOT / "rules" / "examples" / "six_weeks.json"


@pytest.fixture(scope="module")
def days() -> list[DayResult]:
    history = read_history("history.json", EXAMPLE.read_text())
    ruleset = rules.load_ruleset(DEFAULT.read_text())
    return rules.simulate(ruleset, history, date(2026, 3, 2), date(2026, 4, 12))


def test_it_raises_the_target_by_at_most_ten_percent_a_week(days: list[DayResult]) -> None:
    targets = [day.target for day in days]
    assert all(t is not None for t in targets)
    for index in range(7, len(days)):
        assert targets[index] <= round(targets[index - 7] * 1.10)  # type: ignore[operator]
    assert max(targets) > 4000  # type: ignore[type-var]
    assert sum("progress" in day.fired for day in days) >= 2


def test_it_rests_and_cuts_the_target_on_a_pain_flare(days: list[DayResult]) -> None:
    flare = next(day for day in days if "pain-flare" in day.fired)
    before = days[days.index(flare) - 1]
    assert "rest-and-reduce" in flare.tips
    assert flare.target is not None
    assert before.target is not None
    assert flare.target < before.target
    assert flare.held


def test_it_pauses_the_programme_from_a_red_flag_until_the_clinician_resumes(
    days: list[DayResult],
) -> None:
    red = next(day for day in days if "red-flag-emergency" in day.fired)
    assert "emergency-now" in red.tips
    assert red.alerts == ["urgent"]
    assert red.safety == ["19:40 episode opened (emergency)"]
    start = days.index(red)
    resumed = next(day for day in days if day.safety and "resume" in day.safety[0])
    paused = days[start + 1 : days.index(resumed)]
    assert len(paused) == 4
    assert all(day.held and day.episode == "emergency" for day in paused)
    assert all(tip in ("plan-on-hold",) for day in paused for tip in day.tips)
    assert resumed.episode is None
    assert resumed.tips == ["back-on-track"]
    assert any("walking-form" in day.tips for day in days[days.index(resumed) + 1 :])


def test_it_suggests_strength_once_walking_is_regular(days: list[DayResult]) -> None:
    first = next(index for index, day in enumerate(days) if "strength" in day.fired)
    assert first >= 5
    assert "strength-start" in days[first].tips
    assert all(len(day.tips) - day.alerts.count("urgent") <= 3 for day in days)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rules", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_it_validates_from_the_command_line(tmp_path: Path) -> None:
    ok = run_cli("validate", str(DEFAULT))
    assert ok.returncode == 0
    loaded = rules.load_ruleset(DEFAULT.read_text())
    assert f"ok ({len(loaded.rules)} rules, {len(loaded.tips)} tips" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(DEFAULT.read_text().replace("when: shoes.km >= 500", "when: shoes.kms >= 500"))
    result = run_cli("validate", str(bad))
    assert result.returncode == 1
    line = next(n for n, text in enumerate(bad.read_text().splitlines(), 1) if "shoes.kms" in text)
    index = [rule.id for rule in loaded.rules].index("footwear")
    assert result.stderr.strip() == (
        f"{bad}:{line}:11: rules[{index}].when: unknown fact 'shoes.kms' (did you mean 'shoes.km'?)"
    )


def test_it_runs_tests_simulates_explains_and_lists_facts() -> None:
    tested = run_cli("test", str(DEFAULT))
    assert tested.returncode == 0
    count = len(rules.load_ruleset(DEFAULT.read_text()).tests)
    assert count >= 70  # every rule fires and does not fire in one
    assert tested.stdout.strip().endswith(f"{count} tests, 0 failures")
    simulated = run_cli("simulate", str(DEFAULT), str(EXAMPLE))
    assert simulated.returncode == 0
    table, episodes = simulated.stdout.strip().split("\n\n")
    assert len(table.splitlines()) == 1 + 42
    assert episodes.splitlines() == [
        "Safety episodes and resolutions:",
        "  2026-04-02 19:40 episode opened (emergency)",
        "  2026-04-07 09:00 resume: episode closed",
    ]
    assert "rest-and-reduce" in simulated.stdout
    facts = json.dumps({"pain.latest": 8, "pain.hours_since": 1, "plan.target": 5000})
    explained = run_cli("explain", str(DEFAULT), "--facts", facts, "--trigger", "pain_report")
    assert "pain.latest >= 7  ->  8 >= 7  ->  true" in explained.stdout
    assert "target: 4000 (asked by pain-flare)" in explained.stdout
    listed = run_cli("facts")
    assert listed.returncode == 0
    assert all(name in listed.stdout for name in rules.CATALOGUE)


def test_it_reads_a_csv_history_like_the_json_one() -> None:
    csv_history = read_csv(
        (ROOT / "rules" / "examples" / "six_weeks.csv").read_text(), timezone="Europe/London"
    )
    json_history = read_history("history.json", EXAMPLE.read_text())
    primary = {(d.day, d.steps) for d in json_history.daily_steps if d.source == "sandbox"}
    assert {(d.day, d.steps) for d in csv_history.daily_steps} == primary
    assert [p.score for p in csv_history.pain] == [p.score for p in json_history.pain]
    assert any(p.red_flags for p in csv_history.pain)
    assert sum(e.kind == "strength" for e in csv_history.exercise) == sum(
        e.kind == "strength" for e in json_history.exercise
    )


def test_it_names_the_line_of_a_bad_csv_row() -> None:
    with pytest.raises(ValueError, match="line 3"):
        read_csv("date,steps\n2026-03-01,100\n2026-03-02,lots\n")
