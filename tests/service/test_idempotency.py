"""Reports sent with an Idempotency-Key: a retry gets the first answer and stores nothing twice.

Over a live server, so retries racing each other are real concurrent requests, each in its own
server thread and database connection.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import requests
from flask import Flask
from sqlalchemy import func, select

from service.evaluation.models import Evaluation
from service.extensions import db
from service.idempotency.models import IdempotencyKey
from service.reports.models import ExerciseSession, PainReport
from service.scheduler import JOBS, run_job
from service.tips.models import Tip
from tests.conftest import LiveServer
from tests.support.factories import Seed

PAIN = {"score": 8, "location": "lower back"}
EXERCISE = {"kind": "strength", "name": "glute bridge", "sets": 2, "reps": 10}


def _count(model: Any, patient_id: int) -> int:
    db.session.remove()
    return db.session.scalar(
        select(func.count()).select_from(model).where(model.patient_id == patient_id)
    )


def _post(
    base: str, path: str, body: dict[str, Any], who: dict[str, str], key: str | None
) -> requests.Response:
    headers = {**who, "Idempotency-Key": key} if key is not None else who
    return requests.post(f"{base}{path}", json=body, headers=headers, timeout=15)


def test_it_answers_a_retried_pain_report_with_the_first_answer(
    live_server: LiveServer, seed: Seed
) -> None:
    me = seed.headers("patient_a")
    first = _post(live_server.url, "/v1/me/pain", PAIN, me, "3f1c0c52-retry-1")
    again = _post(
        live_server.url, "/v1/me/pain", dict(reversed(PAIN.items())), me, "3f1c0c52-retry-1"
    )

    assert first.status_code == again.status_code == 201
    assert first.json()["tips"]  # a score of 8 is answered with tips: the replay has the same
    assert again.json() == first.json()
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert _count(PainReport, seed.patient_a) == 1
    assert _count(Evaluation, seed.patient_a) == 1
    assert _count(Tip, seed.patient_a) == len(first.json()["tips"])


def test_it_answers_a_retried_exercise_report_with_the_first_answer(
    live_server: LiveServer, seed: Seed
) -> None:
    me = seed.headers("patient_a")
    first = _post(live_server.url, "/v1/me/exercise", EXERCISE, me, "exercise-1")
    again = _post(live_server.url, "/v1/me/exercise", EXERCISE, me, "exercise-1")

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert _count(ExerciseSession, seed.patient_a) == 1
    assert _count(Evaluation, seed.patient_a) == 1


def test_it_refuses_a_key_reused_with_a_different_request(
    live_server: LiveServer, seed: Seed
) -> None:
    me = seed.headers("patient_a")
    first = _post(live_server.url, "/v1/me/pain", PAIN, me, "reused")
    other_body = _post(live_server.url, "/v1/me/pain", {**PAIN, "score": 3}, me, "reused")
    other_route = _post(live_server.url, "/v1/me/exercise", EXERCISE, me, "reused")

    assert first.status_code == 201
    for refused in (other_body, other_route):
        assert refused.status_code == 422
        assert refused.headers["Content-Type"] == "application/problem+json"
        assert refused.json()["errors"][0]["field"] == "Idempotency-Key"
    assert _count(PainReport, seed.patient_a) == 1
    assert _count(ExerciseSession, seed.patient_a) == 0


def test_it_keeps_each_patients_keys_apart_and_runs_requests_without_a_key_each_time(
    live_server: LiveServer, seed: Seed
) -> None:
    a, b = seed.headers("patient_a"), seed.headers("patient_b")
    mine = _post(live_server.url, "/v1/me/pain", PAIN, a, "same-key")
    theirs = _post(live_server.url, "/v1/me/pain", PAIN, b, "same-key")
    plain = [_post(live_server.url, "/v1/me/pain", {"score": 2}, a, None) for _ in range(2)]

    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert mine.json()["id"] != theirs.json()["id"]
    assert [r.status_code for r in plain] == [201, 201]
    assert plain[0].json()["id"] != plain[1].json()["id"]
    assert _count(PainReport, seed.patient_a) == 3
    assert _count(PainReport, seed.patient_b) == 1


def test_it_refuses_malformed_keys_naming_the_header(live_server: LiveServer, seed: Seed) -> None:
    me = seed.headers("patient_a")
    for key in ("", "x" * 256, "two words", "caf\u00e9"):
        answer = requests.post(
            f"{live_server.url}/v1/me/pain",
            json=PAIN,
            headers={**me, "Idempotency-Key": key.encode("utf-8").decode("latin-1")},
            timeout=15,
        )
        assert answer.status_code == 422, key
        assert answer.json()["errors"][0]["field"] == "Idempotency-Key"
    assert _count(PainReport, seed.patient_a) == 0


def _race(base: str, path: str, body: dict[str, Any], who: dict[str, str], key: str) -> list[Any]:
    """Send the same request from several threads at once; return (status, body, replayed)."""
    senders = 6
    start = threading.Barrier(senders)
    answers: list[Any] = []
    errors: list[BaseException] = []

    def send() -> None:
        try:
            start.wait()
            answer = _post(base, path, body, who, key)
            answers.append(
                (answer.status_code, answer.json(), "Idempotent-Replayed" in answer.headers)
            )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=send) for _ in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(answers) == senders
    return answers


def test_it_stores_one_report_when_retries_race(live_server: LiveServer, seed: Seed) -> None:
    me = seed.headers("patient_a")
    for round_ in range(3):
        pains = _race(live_server.url, "/v1/me/pain", PAIN, me, f"race-pain-{round_}")
        exercises = _race(live_server.url, "/v1/me/exercise", EXERCISE, me, f"race-ex-{round_}")
        for answers in (pains, exercises):
            assert {status for status, _, _ in answers} == {201}
            assert len({str(body) for _, body, _ in answers}) == 1  # one answer for all
            assert sum(not replayed for _, _, replayed in answers) == 1  # ran exactly once
    assert _count(PainReport, seed.patient_a) == 3
    assert _count(ExerciseSession, seed.patient_a) == 3
    assert _count(IdempotencyKey, seed.patient_a) == 6


def _age(key: str, by: dt.timedelta) -> None:
    """Make a stored key older, as if it had been sent `by` earlier."""
    with db.transaction() as session:
        row = session.scalar(select(IdempotencyKey).where(IdempotencyKey.key == key))
        assert row is not None
        row.created_at -= by


def test_it_expires_keys_after_a_day_and_the_purge_job_removes_them(
    app: Flask, live_server: LiveServer, seed: Seed
) -> None:
    me = seed.headers("patient_a")
    first = _post(live_server.url, "/v1/me/pain", PAIN, me, "old-key")
    kept = _post(live_server.url, "/v1/me/pain", PAIN, me, "fresh-key")
    _age("old-key", dt.timedelta(hours=24))

    # Expired: the same key starts afresh, so the report is stored again.
    again = _post(live_server.url, "/v1/me/pain", PAIN, me, "old-key")
    assert (first.status_code, kept.status_code, again.status_code) == (201, 201, 201)
    assert again.json()["id"] != first.json()["id"]
    assert "Idempotent-Replayed" not in again.headers
    assert _count(PainReport, seed.patient_a) == 3

    _age("old-key", dt.timedelta(hours=25))
    _age("fresh-key", dt.timedelta(hours=25))
    purge = next(job for job in JOBS if job.id == "purge_old_data")
    assert run_job(app, purge) == "purged 0 old evaluations, 2 expired idempotency keys"
    assert _count(IdempotencyKey, seed.patient_a) == 0


def test_it_documents_the_header_in_openapi(client: Any) -> None:
    paths = client.get("/openapi.json").json["paths"]
    for path in ("/v1/me/pain", "/v1/me/exercise"):
        parameters = paths[path]["post"]["parameters"]
        (header,) = [p for p in parameters if p["name"] == "Idempotency-Key"]
        assert header["in"] == "header"
        assert header["required"] is False
        assert "24 hours" in header["description"]
        assert "422" in paths[path]["post"]["responses"]
