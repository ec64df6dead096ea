"""One history format, the simulation bound, and a command line that never shows a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

import rules
from rules.history import parse_history
from rules.history_files import read_csv, read_history
from rules.simulation import MAX_WORK, simulation_work

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "rules" / "defaults" / "low_back_walking.yaml"
EXAMPLE = ROOT / "rules" / "examples" / "six_weeks.json"


def run_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rules", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        input=stdin,
    )


def test_it_names_every_bad_field_of_a_history() -> None:
    data = {
        "timezone": "Nowhere/Land",
        "daily_steps": [{"date": "2026-02-30", "steps": 10}, {"date": "2026-03-01", "steps": 1e9}],
        "pain": [{"at": "2026-03-01T10:00:00", "score": 3, "red_flags": ["fevr"]}],
        "exercise": [{"kind": "yoga", "at": "2026-03-01T10:00:00Z"}],
        "surprise": 1,
    }
    with pytest.raises(rules.HistoryError) as caught:
        parse_history(data)
    where = [w for w, _ in caught.value.errors]
    assert where == [
        "surprise",
        "timezone",
        "daily_steps[0].date",
        "daily_steps[1].steps",
        "pain[0].at",
        "pain[0].red_flags[0]",
        "exercise[0].kind",
    ]


def test_it_reads_clinics_clearances_and_resolutions_and_names_their_mistakes() -> None:
    data = {
        "enrolled_at": "2026-03-01T08:00:00Z",
        "has_clinic": False,
        "clearances": [{"at": "2026-03-10T09:00:00Z", "condition": "pregnancy"}],
        "resolutions": [
            {"at": "2026-03-12T09:00:00Z", "decision": "keep_paused", "note": "Scan booked."},
            {"at": "2026-03-14T09:00:00Z", "decision": "resume_lower", "daily_target": 3000},
        ],
    }
    history = parse_history(data)
    assert history.has_clinic is False
    assert [(c.condition, c.at.day) for c in history.clearances] == [("pregnancy", 10)]
    assert [(r.decision, r.daily_target, r.closes) for r in history.resolutions] == [
        ("keep_paused", None, False),
        ("resume_lower", 3000, True),
    ]
    assert parse_history({"enrolled_at": "2026-03-01T08:00:00Z"}).has_clinic is True
    bad = {
        "enrolled_at": "2026-03-01T08:00:00Z",
        "has_clinic": "no",
        "clearances": [{"at": "2026-03-10T09:00:00Z", "condition": "stenosis"}],
        "resolutions": [
            {"at": "2026-03-12T09:00:00Z", "decision": "resume", "daily_target": 3000},
            {"at": "2026-03-13T09:00:00Z", "decision": "resume_lower"},
            {"at": "2026-03-14T09:00:00Z", "decision": "close"},
        ],
    }
    with pytest.raises(rules.HistoryError) as caught:
        parse_history(bad)
    assert caught.value.errors == [
        ("has_clinic", "must be true or false"),
        (
            "clearances[0].condition",
            "must be one of: acute_disc_herniation, osteoporosis, pregnancy, recent_surgery, "
            "spinal_stenosis",
        ),
        ("resolutions[0].daily_target", "only resume_lower sets a target"),
        ("resolutions[1].daily_target", "is required with resume_lower"),
        ("resolutions[2].decision", "must be one of: resume, resume_lower, keep_paused"),
    ]


def test_it_needs_an_object_and_an_enrolment_or_some_data() -> None:
    with pytest.raises(rules.HistoryError, match="must be an object"):
        parse_history([1, 2])
    with pytest.raises(rules.HistoryError, match="enrolled_at: is required"):
        parse_history({"timezone": "UTC"})
    history = parse_history({"daily_steps": [{"date": "2026-03-05", "steps": 100}]})
    assert history.enrolled_at.isoformat() == "2026-03-05T00:00:00+00:00"


def test_it_gives_the_line_and_column_of_a_bad_field_in_a_file() -> None:
    text = EXAMPLE.read_text().replace('"score": 2', '"score": 12', 1)
    with pytest.raises(rules.HistoryError) as caught:
        read_history("six_weeks.json", text)
    [(where, message)] = caught.value.errors
    line = next(n for n, row in enumerate(text.splitlines(), 1) if '"score": 12' in row)
    column = text.splitlines()[line - 1].index("12") + 1
    assert where == f"line {line}, column {column}: pain[0].score"
    assert message == "must be between 0 and 10"
    with pytest.raises(rules.HistoryError, match="line 1, column 2"):
        read_history("broken.json", "{oops")


def test_it_names_the_line_and_column_of_a_bad_csv_cell() -> None:
    text = "date,steps,pain\n2026-03-01,100,\n2026-03-02,lots,\n2026-03-03,5,11\n"
    with pytest.raises(rules.HistoryError) as caught:
        read_csv(text)
    assert caught.value.errors == [("line 3", "column 'steps': 'lots' is not a number")]
    with pytest.raises(rules.HistoryError) as range_error:
        read_csv(text.replace("lots", "7"))
    assert range_error.value.errors == [("line 4, column 'pain'", "must be between 0 and 10")]


def test_it_refuses_a_simulation_past_the_work_bound_before_running() -> None:
    ruleset = rules.load_ruleset(DEFAULT.read_text())
    history = read_history("history.json", EXAMPLE.read_text())
    six_weeks = simulation_work(ruleset, history, date(2026, 3, 2), date(2026, 4, 12))
    assert six_weeks < MAX_WORK
    years = (date(2026, 3, 2), date(2028, 3, 2))
    assert simulation_work(ruleset, history, *years) > MAX_WORK
    with pytest.raises(rules.SimulationTooLarge, match="more than the limit of 200,000"):
        rules.simulate(ruleset, history, *years)


def test_it_prints_warnings_when_validating_as_the_api_does(tmp_path: Path) -> None:
    text = DEFAULT.read_text().replace(
        "    reason: You have not logged any stretching this week.\n", ""
    )
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    result = run_cli("validate", str(path))
    assert result.returncode == 0
    assert (
        f"{path}: warning: rules.flexibility: rule 'flexibility' sends tips without a reason"
        in (result.stdout)
    )
    assert rules.warnings(rules.load_ruleset(text)) == [
        {
            "path": "rules.flexibility",
            "message": "rule 'flexibility' sends tips without a reason: the patient's 'why' "
            "shows its description",
        }
    ]


@pytest.mark.parametrize(
    ("facts", "message"),
    [
        ("{not json", "--facts: line 1, column 2: Expecting property name"),
        ("[1, 2]", "--facts: give a JSON object"),
        (
            '{"pain.lastest": 8}',
            "--facts: unknown fact 'pain.lastest' (did you mean 'pain.latest'?)",
        ),
        ('{"pain.latest": "eight"}', "--facts: fact 'pain.latest' must be a number"),
        ('{"pain.red_flags": ["fevr"]}', "--facts: 'fevr' is not a code of pain.red_flags"),
        ("missing.json", "missing.json: cannot read"),
    ],
)
def test_it_explains_bad_facts_without_a_traceback(facts: str, message: str) -> None:
    result = run_cli("explain", str(DEFAULT), "--facts", facts)
    assert result.returncode == 1
    assert result.stderr.startswith(message)
    assert "Traceback" not in result.stderr


def test_it_reports_bad_histories_and_options_without_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(EXAMPLE.read_text().replace('"steps": 4356', '"steps": -4'))
    result = run_cli("simulate", str(DEFAULT), str(bad))
    assert result.returncode == 1
    assert result.stderr.startswith(f"{bad}: line ")
    assert "daily_steps[2].steps: must be between 0 and 200000" in result.stderr
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00")
    for args in (
        ("simulate", str(DEFAULT), str(binary)),
        ("simulate", str(DEFAULT), str(EXAMPLE), "--start", "yesterday"),
        ("simulate", str(DEFAULT), str(EXAMPLE), "--start", "2026-04-01", "--end", "2026-03-01"),
        ("simulate", str(DEFAULT), str(EXAMPLE), "--end", "2031-01-01"),
        ("explain", str(DEFAULT), "--facts", "{}", "--now", "noon"),
        ("validate", str(tmp_path)),
    ):
        failed = run_cli(*args)
        assert failed.returncode == 1, args
        assert failed.stderr.strip(), args
        assert "Traceback" not in failed.stderr, failed.stderr


def test_it_is_quiet_when_the_reader_stops_reading() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "rules", "facts", "--definitions"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    process.stdout.readline()
    process.stdout.close()  # like `| head -1`
    errors = process.stderr.read().decode()
    process.stderr.close()
    assert process.wait(timeout=60) == 0
    assert errors == ""


def test_it_explains_with_the_and_or_tree() -> None:
    facts = json.dumps({"pain.latest": 8, "pain.hours_since": 1, "plan.target": 5000})
    result = run_cli("explain", str(DEFAULT), "--facts", facts, "--trigger", "pain_report")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    flare = lines.index("- pain-flare: FIRED")
    assert lines[flare + 1 : flare + 9] == [
        "    and  ->  true",
        "      pain.latest is not null  ->  8 is not null  ->  true",
        "      pain.hours_since <= 48  ->  1 <= 48  ->  true",
        "      or  ->  true",
        "        pain.latest >= 8  ->  8 >= 8  ->  true",
        "        and  ->  false",
        "          pain.latest >= 4  ->  8 >= 4  ->  true",
        "          pain.baseline is not null  ->  null is not null  ->  false",
    ]
    assert "    why: You rated your back 8 out of 10, so we are easing off for a few days." in lines
