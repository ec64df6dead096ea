"""Questionnaires over real HTTP: a clinic's instrument, a rule that asks, the patient's answers,
their score as a fact a rule reads, and the clinician's view of the scores."""

from __future__ import annotations

from typing import Any

import requests

from tests.conftest import LiveServer
from tests.support.authz_questionnaires import SLEEP
from tests.support.factories import Seed

RULESET = """\
ruleset: north-prom
title: Asking how things are
settings:
  decision_times: ["08:30"]
  max_tips_per_day: 3
  target: {initial: 4000, min: 2000, max: 12000}
tips:
  peg-high:
    category: pain
    title: Pain is weighing on your days
    text: Your answers say pain is getting in the way. Short, easy walks still count.
rules:
  - id: ask-both
    description: Ask the PEG and the clinic's sleep questions.
    reason: We ask a few questions now and then to see how you are doing.
    on: [pain_report]
    when: pain.latest is not null
    then:
      - ask: peg
      - ask: sleep-check
  - id: peg-high
    description: A high PEG score.
    reason: Your last check-in score was {prom.peg.latest} out of 10.
    on: [pain_report]
    when: prom.peg.latest >= 5
    then:
      - send_tip: peg-high
"""


class Api:
    """One caller over HTTP (a pooled session)."""

    def __init__(self, base: str, token: str | None = None) -> None:
        self.base = base
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.request(method, self.base + path, timeout=15, **kwargs)


def _register(server: LiveServer, clinician: Api, email: str) -> Api:
    invite = clinician.call("POST", "/v1/clinician/invites", json={"ruleset": "north-prom"})
    assert invite.status_code == 201, invite.text
    registered = requests.post(
        server.url + "/v1/auth/register",
        json={
            "email": email,
            "password": "walk-every-day",
            "timezone": "Europe/London",
            "invite_code": invite.json()["code"],
        },
        timeout=15,
    )
    assert registered.status_code == 201, registered.text
    api = Api(server.url, registered.json()["access_token"])
    api.patient_id = registered.json()["patient_id"]  # type: ignore[attr-defined]
    return api


def test_a_clinic_adds_an_instrument_checked_like_a_rule_set(
    live_server: LiveServer, seed: Seed
) -> None:
    north = Api(live_server.url, seed.tokens["clinician"])
    south = Api(live_server.url, seed.tokens["other_clinician"])
    bad = north.call("POST", "/v1/clinician/instruments", json={"yaml": SLEEP + "    oops: 1\n"})
    assert bad.status_code == 422
    assert bad.headers["Content-Type"] == "application/problem+json"
    assert bad.json()["errors"][0]["line"] == 8
    assert bad.json()["errors"][0]["path"] == "items[0].oops"
    added = north.call("POST", "/v1/clinician/instruments", json={"yaml": SLEEP})
    assert added.status_code == 201, added.text
    assert added.json()["items"][0]["scale"] == {
        "low": 0,
        "high": 7,
        "low_label": "none",
        "high_label": "every night",
    }
    again = north.call("POST", "/v1/clinician/instruments", json={"yaml": SLEEP})
    assert again.status_code == 409
    assert [i["id"] for i in north.call("GET", "/v1/clinician/instruments").json()["items"]] == [
        "peg",
        "sleep-check",
    ]
    assert [i["id"] for i in south.call("GET", "/v1/clinician/instruments").json()["items"]] == [
        "peg"
    ]
    # A rule set asking for North's instrument is valid in North only.
    yaml = {"Content-Type": "application/yaml"}
    refused = south.call("POST", "/v1/rulesets", data=RULESET.encode(), headers=yaml)
    assert refused.status_code == 422
    assert "unknown questionnaire 'sleep-check'" in refused.json()["errors"][0]["message"]
    assert north.call("POST", "/v1/rulesets", data=RULESET.encode(), headers=yaml).ok


def test_a_rule_asks_the_patient_answers_and_a_rule_reads_the_score(
    live_server: LiveServer, seed: Seed
) -> None:
    clinician = Api(live_server.url, seed.tokens["clinician"])
    assert clinician.call("POST", "/v1/clinician/instruments", json={"yaml": SLEEP}).ok
    yaml = {"Content-Type": "application/yaml"}
    assert clinician.call("POST", "/v1/rulesets", data=RULESET.encode(), headers=yaml).ok
    assert clinician.call("POST", "/v1/rulesets/north-prom/versions/1/publish").ok
    patient = _register(live_server, clinician, "asked@example.org")
    other = _register(live_server, clinician, "other@example.org")
    pid = patient.patient_id  # type: ignore[attr-defined]

    reported = patient.call("POST", "/v1/me/pain", json={"score": 5})
    assert reported.status_code == 201, reported.text
    notes = [t for t in reported.json()["tips"] if t["asks"] == "questionnaire"]
    assert [(t["category"], t["title"]) for t in notes] == [
        ("checkin", "A short check-in is waiting")
    ] * 2
    pending = patient.call("GET", "/v1/me/questionnaires").json()["items"]
    assert [q["instrument"]["id"] for q in pending] == ["peg", "sleep-check"]
    peg = pending[0]
    assert [item["id"] for item in peg["instrument"]["items"]] == ["pain", "enjoyment", "activity"]
    assert peg["instrument"]["items"][0]["scale"]["low"] == 0
    assert peg["instrument"]["items"][0]["scale"]["high"] == 10
    # A second report while both wait asks nothing new.
    assert patient.call("POST", "/v1/me/pain", json={"score": 4}).ok
    assert len(patient.call("GET", "/v1/me/questionnaires").json()["items"]) == 2
    assert other.call("GET", "/v1/me/questionnaires").json()["items"] == []  # theirs not asked

    path = f"/v1/me/questionnaires/{peg['id']}/responses"
    missing = patient.call("POST", path, json={"answers": {"pain": 7, "enjoyment": 6}})
    assert missing.status_code == 422
    assert missing.json()["errors"] == [{"field": "answers.activity", "message": "is not answered"}]
    wrong = patient.call(
        "POST", path, json={"answers": {"pain": 11, "enjoyment": 6.5, "activity": 5}}
    )
    assert wrong.status_code == 422
    assert {e["field"] for e in wrong.json()["errors"]} == {"answers.pain", "answers.enjoyment"}
    assert other.call("POST", path, json={"answers": {"pain": 1}}).status_code == 404
    key = {"Idempotency-Key": "peg-answer-1"}
    body = {"answers": {"pain": 7, "enjoyment": 5, "activity": 5}}
    answered = patient.call("POST", path, json=body, headers=key)
    assert answered.status_code == 201, answered.text
    assert answered.json()["score"] == 5.7
    replayed = patient.call("POST", path, json=body, headers=key)
    assert replayed.status_code == 201
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.json() == answered.json()
    twice = patient.call("POST", path, json=body)
    assert twice.status_code == 409
    assert [
        q["instrument"]["id"] for q in patient.call("GET", "/v1/me/questionnaires").json()["items"]
    ] == ["sleep-check"]

    # The score is a fact: the next evaluation's rule reads it, and the PEG is asked again.
    later = patient.call("POST", "/v1/me/pain", json={"score": 6}).json()["tips"]
    high = next(t for t in later if t["rule_id"] == "peg-high")
    assert high["why"] == "Your last check-in score was 5.7 out of 10."
    scores = clinician.call("GET", f"/v1/clinician/patients/{pid}/questionnaires")
    assert scores.status_code == 200
    (stored,) = scores.json()["items"]
    assert (stored["instrument"], stored["score"]) == ("peg", 5.7)
    assert stored["answers"] == {"pain": 7, "enjoyment": 5, "activity": 5}
    south = Api(live_server.url, seed.tokens["other_clinician"])
    assert south.call("GET", f"/v1/clinician/patients/{pid}/questionnaires").status_code == 403
