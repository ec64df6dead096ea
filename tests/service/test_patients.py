"""The patient's profile and push devices."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from service.extensions import db
from service.patients.models import Device
from tests.support.factories import Seed


def test_it_shows_the_callers_profile(client: Any, seed: Seed) -> None:
    response = client.get("/v1/me", headers=seed.headers("patient_a"))
    assert response.status_code == 200
    assert response.json["id"] == seed.patient_a
    assert response.json["timezone"] == "Europe/London"
    assert response.json["quiet_hours"] is None


def test_it_updates_the_profile_partially(client: Any, seed: Seed) -> None:
    headers = seed.headers("patient_a")
    body = {
        "timezone": "Asia/Tokyo",
        "locale": "en-GB",
        "conditions": ["spinal_stenosis", "osteoporosis", "spinal_stenosis"],
        "quiet_hours": {"start": "21:30", "end": "07:00"},
        "max_tips_per_day": 2,
        "shoes_changed_on": "2026-01-15",
        "primary_source": "healthkit",
    }
    response = client.patch("/v1/me", json=body, headers=headers)
    assert response.status_code == 200
    me = response.json
    assert me["timezone"] == "Asia/Tokyo"
    assert me["conditions"] == ["osteoporosis", "spinal_stenosis"]
    assert me["quiet_hours"] == {"start": "21:30", "end": "07:00"}
    assert me["shoes_changed_on"] == "2026-01-15"
    cleared = client.patch("/v1/me", json={"quiet_hours": None}, headers=headers).json
    assert cleared["quiet_hours"] is None
    assert cleared["max_tips_per_day"] == 2


def test_it_names_the_invalid_profile_field(client: Any, seed: Seed) -> None:
    headers = seed.headers("patient_a")
    cases = [
        ({"conditions": ["broken_leg"]}, "conditions.0"),
        ({"quiet_hours": {"start": "25:00", "end": "07:00"}}, "quiet_hours.start"),
        ({"timezone": "Europe/Atlantis"}, "timezone"),
        ({"primary_source": "fitbit"}, "primary_source"),
        ({"max_tips_per_day": "3"}, "max_tips_per_day"),
        ({"shoes_changed_on": "2999-01-01"}, "shoes_changed_on"),
        ({"favourite_colour": "blue"}, "favourite_colour"),
    ]
    for body, field in cases:
        response = client.patch("/v1/me", json=body, headers=headers)
        assert response.status_code == 422, body
        assert response.json["errors"][0]["field"] == field


def test_it_registers_devices_idempotently_and_moves_a_token(client: Any, seed: Seed) -> None:
    body = {"platform": "ios", "token": "apns-token-1"}
    first = client.post("/v1/me/devices", json=body, headers=seed.headers("patient_a"))
    again = client.post("/v1/me/devices", json=body, headers=seed.headers("patient_a"))
    assert first.status_code == again.status_code == 201
    assert first.json["id"] == again.json["id"]
    moved = client.post("/v1/me/devices", json=body, headers=seed.headers("patient_b"))
    assert moved.json["id"] == first.json["id"]
    devices = list(db.session.scalars(select(Device)))
    assert [(d.patient_id, d.token) for d in devices] == [(seed.patient_b, "apns-token-1")]


def test_it_deletes_only_the_callers_devices(client: Any, seed: Seed) -> None:
    body = {"platform": "android", "token": "fcm-token-1"}
    device_id = client.post("/v1/me/devices", json=body, headers=seed.headers("patient_a")).json[
        "id"
    ]
    path = f"/v1/me/devices/{device_id}"
    assert client.delete(path, headers=seed.headers("patient_b")).status_code == 404
    assert client.delete(path, headers=seed.headers("patient_a")).status_code == 204
    assert client.delete(path, headers=seed.headers("patient_a")).status_code == 404


def test_it_refuses_an_unknown_platform(client: Any, seed: Seed) -> None:
    body = {"platform": "blackberry", "token": "x"}
    response = client.post("/v1/me/devices", json=body, headers=seed.headers("patient_a"))
    assert response.status_code == 422
    assert response.json["errors"][0]["field"] == "platform"
