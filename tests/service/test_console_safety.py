"""Safety on the console: open episodes head Today and the alert queue; a clinician decides on
the patient's page and records clearances, through the API's use cases."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from service.audit.models import AuditEvent
from service.extensions import db
from service.safety.models import Clearance, SafetyEpisode
from tests.support.console import post_form, signed_in
from tests.support.factories import Seed


def _red_flag(app: Flask, seed: Seed) -> int:
    api = app.test_client()
    response = api.post(
        "/v1/me/pain",
        json={"score": 6, "red_flags": ["leg_weakness"]},
        headers=seed.headers("patient_a"),
    )
    assert response.status_code == 201, response.json
    episode = db.session.scalar(select(SafetyEpisode))
    assert episode is not None
    return episode.id


def test_it_puts_an_open_episode_first_and_closes_it_from_the_patient_page(
    app: Flask, seed: Seed
) -> None:
    episode_id = _red_flag(app, seed)
    browser = signed_in(app, seed.clinician)
    today = browser.get("/console/").get_data(as_text=True)
    assert "Safety episode open" in today
    assert today.index("a@patients.example") < today.index("b@patients.example")
    queue = browser.get("/console/alerts").get_data(as_text=True)
    assert "Safety episodes" in queue
    assert "new or worsening weakness in the legs" in queue
    assert "leg_weakness" not in queue
    page = browser.get(f"/console/patients/{seed.patient_a}").get_data(as_text=True)
    assert "Open: the programme is paused." in page
    assert f"/console/episodes/{episode_id}/resolve" in page
    refused = post_form(
        browser,
        f"/console/episodes/{episode_id}/resolve",
        {"decision": "resume_lower", "note": "Seen today."},
        follow_redirects=True,
    )
    assert "daily_target: is required with resume_lower" in refused.get_data(as_text=True)
    closed = post_form(
        browser,
        f"/console/episodes/{episode_id}/resolve",
        {"decision": "resume", "daily_target": "", "note": "Strength normal on examination."},
        follow_redirects=True,
    )
    assert "Episode closed: the programme resumes." in closed.get_data(as_text=True)
    episode = db.session.get(SafetyEpisode, episode_id)
    assert episode is not None
    db.session.refresh(episode)
    assert (episode.resolution, episode.closed_by) == ("resume", seed.clinician)
    assert "Safety episodes" not in browser.get("/console/alerts").get_data(as_text=True)
    actions = db.session.scalars(select(AuditEvent.action)).all()
    assert "safety_episode.resolve" in actions


def test_it_records_a_clearance_from_the_patient_page(app: Flask, seed: Seed) -> None:
    api = app.test_client()
    patched = api.patch(
        "/v1/me", json={"conditions": ["osteoporosis"]}, headers=seed.headers("patient_a")
    )
    assert patched.status_code == 200
    browser = signed_in(app, seed.clinician)
    page = browser.get(f"/console/patients/{seed.patient_a}").get_data(as_text=True)
    assert "Waiting for your clearance: osteoporosis." in page
    assert "no plank or bridge exercises are suggested" in page
    cleared = post_form(
        browser,
        f"/console/patients/{seed.patient_a}/clearances",
        {"condition": "osteoporosis", "note": "DEXA reviewed: fine to progress."},
        follow_redirects=True,
    )
    assert "Clearance recorded" in cleared.get_data(as_text=True)
    clearance = db.session.scalar(select(Clearance))
    assert clearance is not None
    assert (clearance.condition, clearance.cleared_by) == ("osteoporosis", seed.clinician)
    after = browser.get(f"/console/patients/{seed.patient_a}").get_data(as_text=True)
    assert "Cleared for osteoporosis" in after
    assert "Waiting for your clearance" not in after
