"""Helpers for the delivery tests: an app wired to fake FCM and APNs servers, records, keys."""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.delivery.models import PushDelivery
from service.delivery.senders import close_senders
from service.extensions import db
from service.patients.models import Device
from service.tips.models import Tip
from tests.fakes.apns import KEY_ID, TEAM_ID, TOPIC, FakeApns, make_apns_key
from tests.fakes.fcm import FakeFcm, make_service_account

APNS_TOKEN = "a1" * 32
FCM_TOKEN = "fcm-token-a"
UTC = dt.UTC


@functools.cache
def service_account() -> tuple[dict[str, str], Any]:
    """Return throwaway FCM credentials and their public key (RSA keygen is slow: once)."""
    return make_service_account()


@functools.cache
def apns_key() -> tuple[str, Any]:
    """Return a throwaway APNs key (PEM) and its public key."""
    return make_apns_key()


@dataclass
class PushEnv:
    """An app whose push settings point at running fake servers."""

    app: Flask
    fcm: FakeFcm
    apns: FakeApns
    settings: dict[str, Any]


def write_push_credentials(tmp_path: Path, fcm: FakeFcm, apns: FakeApns) -> dict[str, Any]:
    """Write the credential files and return the settings that point at the fakes."""
    credentials = {**service_account()[0], "token_uri": fcm.token_url}
    fcm_file = tmp_path / "fcm-service-account.json"
    fcm_file.write_text(json.dumps(credentials))
    apns_file = tmp_path / "apns-key.p8"
    apns_file.write_text(apns_key()[0])
    return {
        "fcm_credentials_file": str(fcm_file),
        "fcm_base_url": fcm.base_url,
        "apns_key_file": str(apns_file),
        "apns_key_id": KEY_ID,
        "apns_team_id": TEAM_ID,
        "apns_topic": TOPIC,
        "apns_base_url": apns.base_url,
    }


@contextmanager
def push_env(make_app: Callable[..., Flask], tmp_path: Path) -> Iterator[PushEnv]:
    """Serve fake FCM and APNs, and push the context of an app configured for both."""
    with (
        FakeFcm(public_key=service_account()[1]) as fcm,
        FakeApns(public_key=apns_key()[1]) as apns,
    ):
        settings = write_push_credentials(tmp_path, fcm, apns)
        app = make_app(**settings)
        try:
            with app.app_context():
                yield PushEnv(app, fcm, apns, settings)
        finally:
            close_senders(app)


def add_device(
    session: Session,
    patient_id: int,
    platform: str = "android",
    token: str = FCM_TOKEN,
    *,
    at: dt.datetime,
) -> Device:
    """Register a device directly, at the test's clock."""
    device = Device(
        patient_id=patient_id, platform=platform, token=token, created_at=at, last_seen_at=at
    )
    session.add(device)
    session.flush()
    return device


def add_tip(
    session: Session,
    patient_id: int,
    *,
    created_at: dt.datetime,
    urgent: bool = False,
    title: str = "Time for a short walk",
) -> Tip:
    """Write a tip as the evaluation pipeline would (flushed, not committed), at the test's
    clock."""
    tip = Tip(
        patient_id=patient_id,
        rule_id="afternoon-nudge",
        tip_key="nudge",
        category="progression",
        title=title,
        text="Ten easy minutes on flat ground keeps your back moving.",
        urgent=urgent,
        created_at=created_at,
    )
    session.add(tip)
    session.flush()
    return tip


def all_deliveries() -> list[PushDelivery]:
    """Read every delivery in a fresh transaction."""
    db.session.remove()
    with db.transaction() as session:
        return list(session.scalars(select(PushDelivery).order_by(PushDelivery.id)))


def one_delivery() -> PushDelivery:
    """Read the only delivery."""
    rows = all_deliveries()
    assert len(rows) == 1, rows
    return rows[0]


def device_exists(device_id: int) -> bool:
    """Say whether a device row is still there."""
    db.session.remove()
    with db.transaction() as session:
        return session.get(Device, device_id) is not None
