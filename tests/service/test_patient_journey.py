"""End to end over real HTTP: a clinician invites, a patient signs up, uploads and reports."""

from __future__ import annotations

import datetime as dt
from typing import Any

import requests

from service.extensions import db
from service.tips.models import Tip
from tests.support.factories import PASSWORD, Seed


def test_it_runs_a_patient_journey_over_http(live_server: Any, seed: Seed) -> None:
    base = live_server.url
    with requests.Session() as http:
        invite = http.post(
            f"{base}/v1/clinician/invites", json={}, headers=seed.headers("clinician"), timeout=10
        )
        assert invite.status_code == 201
        registered = http.post(
            f"{base}/v1/auth/register",
            json={
                "email": "journey@patients.example",
                "password": PASSWORD,
                "timezone": "America/Chicago",
                "invite_code": invite.json()["code"],
            },
            timeout=10,
        )
        assert registered.status_code == 201
        token = http.post(
            f"{base}/v1/auth/token",
            json={"email": "journey@patients.example", "password": PASSWORD},
            timeout=10,
        ).json()
        assert token["role"] == "patient"
        me = {"Authorization": f"Bearer {token['access_token']}"}
        patient_id = registered.json()["patient_id"]
        yesterday = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).date().isoformat()
        upload = http.put(
            f"{base}/v1/me/activity/daily",
            json={"days": [{"date": yesterday, "steps": 4321, "source": "health_connect"}]},
            headers=me,
            timeout=10,
        )
        assert upload.json() == {"upserted": 1, "evaluation": "pending"}
        pain = http.post(f"{base}/v1/me/pain", json={"score": 4}, headers=me, timeout=10)
        assert pain.status_code == 201
        with db.transaction() as session:
            session.add(
                Tip(
                    patient_id=patient_id,
                    rule_id="walk-form",
                    tip_key="form",
                    category="form",
                    title="Stand tall",
                    text="Look ahead, not down.",
                    why="time.hour >= 8",
                )
            )
        inbox = http.get(f"{base}/v1/me/tips?unread=true", headers=me, timeout=10).json()
        assert "walk-form" in [item["rule_id"] for item in inbox["items"]]
        timeline = http.get(
            f"{base}/v1/clinician/patients/{patient_id}/timeline?from={yesterday}&to={yesterday}",
            headers=seed.headers("clinician"),
            timeout=10,
        )
        assert timeline.status_code == 200
        assert timeline.json()["days"][0]["steps"] == 4321
        revoked = http.post(f"{base}/v1/auth/revoke", headers=me, timeout=10)
        assert revoked.status_code == 204
        assert http.get(f"{base}/v1/me", headers=me, timeout=10).status_code == 401
