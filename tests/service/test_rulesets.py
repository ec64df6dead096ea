"""Rule-set management API: validate, upload versions, publish, simulate."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from sqlalchemy import select

import rules
from rules.history_files import read_history
from service.audit.models import AuditEvent
from service.extensions import db
from tests.support.factories import Seed

YAML = {"Content-Type": "application/yaml"}
DEFAULT = rules.default_ruleset_text()
EXAMPLE = Path(__file__).resolve().parents[2] / "rules" / "examples" / "six_weeks.json"
_RANGE = (dt.date(2026, 3, 2), dt.date(2026, 4, 12))
TYPO = DEFAULT.replace("(pain.latest >= 8", "(pain.lastest >= 8", 1)
RETITLED = DEFAULT.replace("title: Walking for", "title: Walking, gently, for", 1)


def _headers(seed: Seed, who: str = "clinician") -> dict[str, str]:
    return {**seed.headers(who), **YAML}


def test_it_validates_a_good_rule_set_with_warnings(client: Any, seed: Seed) -> None:
    response = client.post("/v1/rulesets/validate", data=DEFAULT, headers=_headers(seed))
    assert response.status_code == 200
    assert response.json["valid"] is True
    assert isinstance(response.json["warnings"], list)


def test_it_names_the_line_and_column_of_a_typo(client: Any, seed: Seed) -> None:
    assert TYPO != DEFAULT
    response = client.post("/v1/rulesets/validate", data=TYPO, headers=_headers(seed))
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    error = response.json["errors"][0]
    line = next(n for n, text in enumerate(TYPO.splitlines(), 1) if "pain.lastest" in text)
    assert error["line"] == line
    assert error["column"] == TYPO.splitlines()[line - 1].index("pain.lastest") + 1
    assert "did you mean 'pain.latest'" in error["message"]


def test_it_refuses_a_body_that_is_neither_yaml_nor_json(client: Any, seed: Seed) -> None:
    response = client.post(
        "/v1/rulesets/validate",
        data="ruleset: x",
        headers={**seed.headers("clinician"), "Content-Type": "text/plain"},
    )
    assert response.status_code == 415
    assert response.mimetype == "application/problem+json"


def test_it_takes_a_rule_set_as_json_too(client: Any, seed: Seed) -> None:
    headers = seed.headers("clinician")
    valid = client.post("/v1/rulesets/validate", json={"yaml": DEFAULT}, headers=headers)
    assert valid.status_code == 200
    assert valid.json["valid"] is True
    typo = client.post("/v1/rulesets/validate", json={"yaml": TYPO}, headers=headers)
    assert typo.status_code == 422
    assert "pain.lastest" in typo.json["errors"][0]["message"]
    created = client.post("/v1/rulesets", json={"yaml": DEFAULT}, headers=headers)
    assert created.status_code == 201
    assert created.json == {"ruleset": "low-back-walking", "version": 1, "status": "draft"}
    stored = client.get("/v1/rulesets/low-back-walking/versions/1", headers=headers)
    assert stored.json["yaml"] == DEFAULT


def test_it_names_the_field_of_a_json_body_without_yaml(client: Any, seed: Seed) -> None:
    headers = seed.headers("clinician")
    for body in ({"a": 1}, {"yaml": ""}, ["yaml"]):
        response = client.post("/v1/rulesets", json=body, headers=headers)
        assert response.status_code == 422, body
        assert response.mimetype == "application/problem+json"
        # The whole body is field "" (as on every JSON route), its parts are named.
        assert {e.get("field") for e in response.json["errors"]} & {"yaml", "a", ""}
    broken = client.post(
        "/v1/rulesets", data="{not json", headers={**headers, "Content-Type": "application/json"}
    )
    assert broken.status_code == 400
    assert client.get("/v1/rulesets", headers=headers).json["items"] == []


def test_it_stores_immutable_versions_and_publishes_one(client: Any, seed: Seed) -> None:
    first = client.post("/v1/rulesets", data=DEFAULT, headers=_headers(seed))
    second = client.post("/v1/rulesets", data=RETITLED, headers=_headers(seed))
    assert first.status_code == 201
    assert first.json == {"ruleset": "low-back-walking", "version": 1, "status": "draft"}
    assert second.json["version"] == 2
    published = client.post(
        "/v1/rulesets/low-back-walking/versions/2/publish", headers=seed.headers("clinician")
    )
    assert published.status_code == 200
    assert published.json["status"] == "published"
    versions = client.get(
        "/v1/rulesets/low-back-walking/versions", headers=seed.headers("clinician")
    )
    assert [(v["version"], v["status"]) for v in versions.json["items"]] == [
        (2, "published"),
        (1, "draft"),
    ]
    one = client.get("/v1/rulesets/low-back-walking/versions/1", headers=seed.headers("clinician"))
    assert one.json["yaml"] == DEFAULT
    assert listing_title(client, seed) == "Walking, gently, for a stronger lower back"
    listing = client.get("/v1/rulesets", headers=seed.headers("clinician"))
    assert listing.json["items"][0]["published_version"] == 2
    assert listing.json["items"][0]["latest_version"] == 2
    actions = set(db.session.scalars(select(AuditEvent.action)))
    assert {"ruleset.version_created", "ruleset.published"} <= actions


def listing_title(client: Any, seed: Seed) -> str:
    """The title the clinic's rule-set list shows for the default slug."""
    items = client.get("/v1/rulesets", headers=seed.headers("clinician")).json["items"]
    title: str = items[0]["title"]
    return title


def test_it_answers_the_same_yaml_with_the_version_that_holds_it(client: Any, seed: Seed) -> None:
    first = client.post("/v1/rulesets", data=DEFAULT, headers=_headers(seed))
    again = client.post("/v1/rulesets", data=DEFAULT, headers=_headers(seed))
    other = client.post("/v1/rulesets", data=RETITLED, headers=_headers(seed))
    back = client.post("/v1/rulesets", data=DEFAULT, headers=_headers(seed))

    assert (first.status_code, again.status_code, other.status_code) == (201, 200, 201)
    assert again.json == {"ruleset": "low-back-walking", "version": 1, "status": "draft"}
    assert other.json["version"] == 2
    assert (back.status_code, back.json["version"]) == (200, 1)
    versions = client.get(
        "/v1/rulesets/low-back-walking/versions", headers=seed.headers("clinician")
    ).json["items"]
    assert [v["version"] for v in versions] == [2, 1]
    created = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "ruleset.version_created")
    ).all()
    assert len(created) == 2
    assert listing_title(client, seed) == "Walking, gently, for a stronger lower back"


def test_it_records_when_each_version_was_last_published(client: Any, seed: Seed) -> None:
    headers = seed.headers("clinician")
    client.post("/v1/rulesets", data=DEFAULT, headers=_headers(seed))
    client.post("/v1/rulesets", data=RETITLED, headers=_headers(seed))
    publish = "/v1/rulesets/low-back-walking/versions/{}/publish"
    first = client.post(publish.format(1), headers=headers).json
    second = client.post(publish.format(2), headers=headers).json
    rollback = client.post(publish.format(1), headers=headers).json
    again = client.post(publish.format(1), headers=headers).json

    assert first["published_at"] < second["published_at"] < rollback["published_at"]
    assert again["published_at"] == rollback["published_at"]  # already published: no event
    versions = client.get("/v1/rulesets/low-back-walking/versions", headers=headers).json
    shown = {v["version"]: (v["status"], v["published_at"]) for v in versions["items"]}
    assert shown == {
        1: ("published", rollback["published_at"]),
        2: ("retired", second["published_at"]),
    }
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "ruleset.published").order_by(AuditEvent.id)
    ).all()
    assert [(e.details["version"], e.details["previous"]) for e in events] == [
        (1, None),
        (2, 1),
        (1, 2),
        (1, 1),
    ]
    assert dt.datetime.fromisoformat(
        events[2].details["published_at"]
    ) == dt.datetime.fromisoformat(rollback["published_at"])


def test_it_keeps_rule_sets_within_their_clinic(client: Any, seed: Seed) -> None:
    client.post("/v1/rulesets", data=DEFAULT, headers=_headers(seed))
    other = client.get(
        "/v1/rulesets/low-back-walking/versions", headers=seed.headers("other_clinician")
    )
    assert other.status_code == 404
    assert client.get("/v1/rulesets", headers=seed.headers("other_clinician")).json["items"] == []


def test_it_rejects_an_invalid_upload_without_storing_it(client: Any, seed: Seed) -> None:
    response = client.post("/v1/rulesets", data=TYPO, headers=_headers(seed))
    assert response.status_code == 422
    assert client.get("/v1/rulesets", headers=seed.headers("clinician")).json["items"] == []


def test_it_simulates_a_posted_history_day_by_day(client: Any, seed: Seed) -> None:
    client.post("/v1/rulesets", data=DEFAULT, headers=_headers(seed))
    start = dt.date(2026, 10, 1)
    days = [{"date": str(start + dt.timedelta(days=n)), "steps": 4500} for n in range(21)]
    pain = [{"at": "2026-10-15T19:00:00+00:00", "score": 8}]
    body = {
        "history": {"timezone": "Europe/London", "daily_steps": days, "pain": pain},
        "from": "2026-10-01",
        "to": "2026-10-21",
    }
    response = client.post(
        "/v1/rulesets/low-back-walking/simulate", json=body, headers=seed.headers("clinician")
    )
    assert response.status_code == 200, response.json
    result = response.json["days"]
    assert len(result) == 21
    flare = next(day for day in result if day["date"] == "2026-10-15")
    assert "pain-flare" in flare["fired"]
    assert "rest-and-reduce" in flare["tips"]
    assert flare["target"] < result[0]["target"] or flare["held"]


def test_it_simulates_the_readme_example_history_as_the_command_line_does(
    client: Any, seed: Seed
) -> None:
    client.post("/v1/rulesets", data=DEFAULT, headers=_headers(seed))
    history = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    body = {"history": history, "from": "2026-03-02", "to": "2026-04-12"}
    response = client.post(
        "/v1/rulesets/low-back-walking/simulate", json=body, headers=seed.headers("clinician")
    )
    assert response.status_code == 200, response.json
    expected = rules.simulate(
        rules.load_ruleset(DEFAULT), read_history("history.json", EXAMPLE.read_text()), *_RANGE
    )
    assert [
        (d["date"], d["fired"], d["tips"], d["episode"], d["safety"]) for d in response.json["days"]
    ] == [(str(d.day), d.fired, d.tips, d.episode, d.safety) for d in expected]
    assert any(d["safety"] for d in response.json["days"])


def test_it_names_each_bad_field_of_a_posted_history(client: Any, seed: Seed) -> None:
    client.post("/v1/rulesets", data=DEFAULT, headers=_headers(seed))
    history = {
        "timezone": "Mars/Olympus",
        "daily_steps": [{"date": "2026-13-45", "steps": 5}, {"date": "2026-10-02", "steps": -1}],
        "pain": [{"at": "2026-10-02T19:00:00", "score": 3, "red_flags": ["saddle_numbness"]}],
        "days": [],
    }
    body = {"history": history, "from": "2026-10-01", "to": "2026-10-03"}
    response = client.post(
        "/v1/rulesets/low-back-walking/simulate", json=body, headers=seed.headers("clinician")
    )
    assert response.status_code == 422
    fields = {error["field"] for error in response.json["errors"]}
    assert {
        "history.timezone",
        "history.daily_steps[0].date",
        "history.daily_steps[1].steps",
        "history.pain[0].at",
        "history.pain[0].red_flags[0]",
        "history.days",
    } <= fields


def test_it_answers_422_past_the_simulation_work_bound(client: Any, seed: Seed) -> None:
    client.post("/v1/rulesets", data=DEFAULT, headers=_headers(seed))
    start = dt.date(2026, 1, 1)
    days = [{"date": str(start + dt.timedelta(days=n)), "steps": 4000} for n in range(300)]
    body = {
        "history": {"daily_steps": days, "enrolled_at": "2026-01-01T08:00:00+00:00"},
        "from": "2026-01-01",
        "to": "2026-12-31",
    }
    response = client.post(
        "/v1/rulesets/low-back-walking/simulate", json=body, headers=seed.headers("clinician")
    )
    assert response.status_code == 422
    assert response.json["errors"][0]["field"] == "to"
    assert "limit" in response.json["errors"][0]["message"]


def test_it_simulates_on_a_stored_patient(client: Any, seed: Seed) -> None:
    client.post("/v1/rulesets", data=DEFAULT, headers=_headers(seed))
    body = {"patient_id": seed.patient_a, "from": "2026-11-01", "to": "2026-11-07", "version": 1}
    response = client.post(
        "/v1/rulesets/low-back-walking/simulate", json=body, headers=seed.headers("clinician")
    )
    assert response.status_code == 200
    assert len(response.json["days"]) == 7
    other = client.post(
        "/v1/rulesets/low-back-walking/simulate", json=body, headers=seed.headers("other_clinician")
    )
    assert other.status_code == 404


def test_it_simulates_a_built_in_history(client: Any, seed: Seed) -> None:
    headers = seed.headers("clinician")
    client.post("/v1/rulesets", data=DEFAULT, headers=_headers(seed))
    six = client.post(
        "/v1/rulesets/low-back-walking/simulate",
        json={"example": "six_weeks", "from": "2026-03-02", "to": "2026-04-12"},
        headers=headers,
    )
    assert six.status_code == 200, six.json
    days = six.json["days"]
    assert len(days) == 42
    assert days[0]["steps"] is not None
    flagged = client.post(
        "/v1/rulesets/low-back-walking/simulate",
        json={"example": "red_flag", "from": "2026-11-01", "to": "2026-11-28"},
        headers=headers,
    )
    assert flagged.status_code == 200, flagged.json
    sent = [tip for day in flagged.json["days"] for tip in day["sent"]]
    assert any(tip["tip"] == "emergency-now" and tip["urgent"] for tip in sent)
    assert any(day["episode"] == "emergency" for day in flagged.json["days"])
    assert all(tip["title"] and tip["why"] for tip in sent)
    assert any(day["pain"] for day in flagged.json["days"])
    unknown = client.post(
        "/v1/rulesets/low-back-walking/simulate",
        json={"example": "nobody", "from": "2026-11-01", "to": "2026-11-28"},
        headers=headers,
    )
    assert unknown.status_code == 422
    assert unknown.json["errors"][0]["field"] == "example"
