"""Pain and exercise reports, evaluated at once."""

from __future__ import annotations

import datetime as dt
from typing import Any

from service.extensions import db
from service.reports.models import ExerciseSession, PainReport
from tests.support.factories import Seed


def test_it_stores_a_pain_report_and_answers_with_its_tips(client: Any, seed: Seed) -> None:
    body = {"score": 6, "location": "lower back", "red_flags": ["night_pain", "night_pain"]}
    response = client.post("/v1/me/pain", json=body, headers=seed.headers("patient_a"))
    assert response.status_code == 201
    assert isinstance(response.json["tips"], list)
    for tip in response.json["tips"]:
        assert {"id", "rule_id", "title", "text", "why"} <= set(tip)
    report = db.session.get(PainReport, response.json["id"])
    assert report is not None
    assert report.patient_id == seed.patient_a
    assert report.red_flags == ["night_pain"]
    assert abs(report.recorded_at - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)


def test_it_validates_pain_reports(client: Any, seed: Seed) -> None:
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).isoformat()
    cases = [
        ({"score": 11}, "score"),
        ({"score": "7"}, "score"),
        ({}, "score"),
        ({"score": 3, "red_flags": ["headache"]}, "red_flags.0"),
        ({"score": 3, "recorded_at": "2026-11-20T10:00:00"}, "recorded_at"),
        ({"score": 3, "recorded_at": future}, "recorded_at"),
    ]
    for body, field in cases:
        response = client.post("/v1/me/pain", json=body, headers=seed.headers("patient_a"))
        assert response.status_code == 422, body
        assert response.json["errors"][0]["field"] == field


def test_it_stores_an_exercise_session(client: Any, seed: Seed) -> None:
    performed = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).replace(microsecond=0)
    body = {
        "kind": "strength",
        "name": "glute bridge",
        "sets": 3,
        "reps": 12,
        "performed_at": performed.isoformat(),
    }
    response = client.post("/v1/me/exercise", json=body, headers=seed.headers("patient_a"))
    assert response.status_code == 201
    exercise = db.session.get(ExerciseSession, response.json["id"])
    assert exercise is not None
    assert (exercise.kind, exercise.name, exercise.sets) == ("strength", "glute bridge", 3)
    assert exercise.performed_at == performed
    bad = client.post(
        "/v1/me/exercise", json={"kind": "yoga", "name": "x"}, headers=seed.headers("patient_a")
    )
    assert bad.status_code == 422
    assert bad.json["errors"][0]["field"] == "kind"


def test_it_shows_the_plan_and_its_history(client: Any, seed: Seed) -> None:
    response = client.get("/v1/me/plan", headers=seed.headers("patient_a"))
    assert response.status_code == 200
    plan = response.json
    assert plan["daily_target"] == 4000
    assert plan["progression_held_until"] is None
    assert [(h["target"], h["reason"]) for h in plan["history"]] == [(4000, "initial")]
