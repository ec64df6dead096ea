"""A word from the clinician: POST /v1/clinician/patients/{id}/messages and the console form."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from flask import Flask
from sqlalchemy import select

from service.audit.models import AuditEvent
from service.db import utcnow
from service.delivery.models import PushDelivery
from service.evaluation.facts import load_contexts
from service.evaluation.service import evaluate_one
from service.extensions import db
from service.patients.models import Device
from service.tips.models import Tip
from tests.support.console import post_form, signed_in
from tests.support.factories import Seed


def _send(client: Any, seed: Seed, body: dict[str, Any], who: str = "clinician") -> Any:
    return client.post(
        f"/v1/clinician/patients/{seed.patient_a}/messages", json=body, headers=seed.headers(who)
    )


def test_it_puts_the_message_in_the_patients_inbox(client: Any, seed: Seed) -> None:
    response = _send(client, seed, {"text": "  Well done on the walks this week.  "})
    assert response.status_code == 201
    sent = response.json
    assert sent["category"] == "clinician"
    assert sent["rule_id"] == "clinician"
    assert sent["title"] == "A word from your clinician"
    assert sent["text"] == "Well done on the walks this week."
    assert sent["why"] == "Your clinician wrote this message for you."
    assert sent["urgent"] is False
    inbox = client.get("/v1/me/tips", headers=seed.headers("patient_a")).json["items"]
    assert [(t["id"], t["category"]) for t in inbox] == [(sent["id"], "clinician")]
    assert client.get("/v1/me/tips", headers=seed.headers("patient_b")).json["items"] == []
    audit = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "patient.message"))
    assert audit is not None
    assert (audit.actor_id, audit.target_id) == (seed.clinician, str(seed.patient_a))
    assert audit.details == {"tip_id": sent["id"], "from_tip": None}


def test_it_starts_from_a_rule_set_tip_and_refuses_placeholders(client: Any, seed: Seed) -> None:
    picked = _send(
        client,
        seed,
        {"text": "Short walks on flat ground today.", "tip": "rest-and-reduce", "title": "Hi"},
    )
    assert picked.status_code == 201
    assert picked.json["title"] == "Hi"
    tip = db.session.get(Tip, picked.json["id"])
    assert tip is not None
    assert tip.tip_key == "rest-and-reduce"
    for body, field in (
        ({"text": "Your back is at {pain.latest}/10."}, "text"),
        ({"text": "Fine", "title": "Hi {name}"}, "title"),
        ({"text": "   "}, "text"),
        ({"text": "x" * 1001}, "text"),
        ({"text": "Fine", "tip": "no-such-tip"}, "tip"),
        ({"text": "Fine", "extra": 1}, "extra"),
    ):
        response = _send(client, seed, body)
        assert response.status_code == 422, body
        assert response.json["errors"][0]["field"] == field, body
    assert len(db.session.scalars(select(Tip)).all()) == 1


def test_it_keeps_messages_to_the_clinicians_own_patients(client: Any, seed: Seed) -> None:
    assert _send(client, seed, {"text": "Hello"}, who="other_clinician").status_code == 403
    assert _send(client, seed, {"text": "Hello"}, who="patient_b").status_code == 403
    assert _send(client, seed, {"text": "Hello"}, who="admin").status_code == 201
    missing = client.post(
        "/v1/clinician/patients/999999/messages", json={"text": "x"},
        headers=seed.headers("clinician"),
    )  # fmt: skip
    assert missing.status_code == 404


def test_it_pushes_the_message_like_any_tip(
    make_app: Callable[..., Flask], seed: Seed, tmp_path: Any
) -> None:
    credentials = tmp_path / "fcm.json"
    credentials.write_text("{}")
    pushing = make_app(fcm_credentials_file=str(credentials))
    with pushing.app_context():
        with db.transaction() as session:
            session.add(Device(patient_id=seed.patient_a, platform="android", token="phone-a"))
        response = pushing.test_client().post(
            f"/v1/clinician/patients/{seed.patient_a}/messages",
            json={"text": "See you on Tuesday."},
            headers=seed.headers("clinician"),
        )
        assert response.status_code == 201
        delivery = db.session.scalar(select(PushDelivery))
        assert delivery is not None
        assert (delivery.tip_id, delivery.channel, delivery.status) == (
            response.json["id"], "fcm", "pending",
        )  # fmt: skip


def test_it_never_counts_messages_against_the_daily_budget(app: Flask, seed: Seed) -> None:
    now = utcnow()
    with db.transaction() as session:
        session.add_all(
            [
                Tip(
                    patient_id=seed.patient_a,
                    rule_id="clinician",
                    tip_key="message",
                    category="clinician",
                    title="Hi",
                    text=f"Message {n}",
                    created_at=now,
                )
                for n in range(5)
            ]
        )
    with db.transaction() as session:
        contexts = load_contexts(session, [seed.patient_a])
        outcome = evaluate_one(session, seed.patient_a, "schedule", now + dt.timedelta(seconds=1))
        assert contexts
        assert outcome.facts is not None
        assert outcome.facts["tips.sent_today"] == 0


def test_it_sends_from_the_patient_page_and_shows_the_feedback(
    app: Flask, client: Any, seed: Seed
) -> None:
    browser = signed_in(app, seed.clinician)
    page = browser.get(f"/console/patients/{seed.patient_a}?tip=rest-and-reduce").get_data(
        as_text=True
    )
    # The picked tip is in the form to edit; a fact with no value yet stays a placeholder.
    assert '<input type="hidden" name="tip" value="rest-and-reduce">' in page
    assert 'value="Go easier for a few days"' in page
    assert ">You rated your back {pain.latest}/10." in page
    refused = post_form(
        browser, f"/console/patients/{seed.patient_a}/messages", {"text": "At {pain.latest}/10"}
    )
    assert refused.status_code == 303
    kept = browser.get(f"/console/patients/{seed.patient_a}").get_data(as_text=True)
    assert "replace every {...} placeholder" in kept
    assert "At {pain.latest}/10</textarea>" in kept  # the draft survives the refusal
    sent = post_form(
        browser, f"/console/patients/{seed.patient_a}/messages",
        {"text": "Lovely progress, keep it up.", "title": "From Dr North"},
    )  # fmt: skip
    assert sent.status_code == 303
    tip = db.session.scalar(select(Tip).where(Tip.category == "clinician"))
    assert tip is not None
    assert tip.text == "Lovely progress, keep it up."
    feedback = client.post(
        f"/v1/me/tips/{tip.id}/feedback", json={"helpful": True, "done": True},
        headers=seed.headers("patient_a"),
    )  # fmt: skip
    assert feedback.status_code == 200
    shown = browser.get(f"/console/patients/{seed.patient_a}").get_data(as_text=True)
    assert "From Dr North" in shown
    assert "Feedback: helpful, done" in shown
