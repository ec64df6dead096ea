"""Fixtures for the push senders: throwaway keys, fake FCM and APNs servers on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from integrations.push import ApnsSender, FcmSender
from tests.fakes.apns import FakeApns, make_apns_key
from tests.fakes.fcm import FakeFcm, make_service_account
from tests.support.push import make_apns_sender


@pytest.fixture(scope="session")
def service_account() -> tuple[dict[str, str], Any]:
    """Return throwaway service-account credentials and the public key (RSA keygen is slow)."""
    return make_service_account()


@pytest.fixture
def fake_fcm(service_account: tuple[dict[str, str], Any]) -> Iterator[FakeFcm]:
    """Serve a fake FCM for one test."""
    with FakeFcm(public_key=service_account[1]) as fake:
        yield fake


@pytest.fixture
def fcm_credentials(
    service_account: tuple[dict[str, str], Any], fake_fcm: FakeFcm
) -> dict[str, str]:
    """Return credentials whose token_uri points at the fake."""
    return {**service_account[0], "token_uri": fake_fcm.token_url}


@pytest.fixture
def fcm_sender(fcm_credentials: dict[str, str], fake_fcm: FakeFcm) -> Iterator[FcmSender]:
    """Return an FcmSender talking to the fake."""
    sender = FcmSender(credentials=fcm_credentials, base_url=fake_fcm.base_url, timeout=5)
    yield sender
    sender.close()


@pytest.fixture(scope="session")
def apns_key() -> tuple[str, Any]:
    """Return a throwaway .p8-style key and its public key."""
    return make_apns_key()


@pytest.fixture
def fake_apns(apns_key: tuple[str, Any]) -> Iterator[FakeApns]:
    """Serve a fake APNs for one test."""
    with FakeApns(public_key=apns_key[1]) as fake:
        yield fake


@pytest.fixture
def apns_sender(apns_key: tuple[str, Any], fake_apns: FakeApns) -> Iterator[ApnsSender]:
    """Return an ApnsSender talking to the fake."""
    sender = make_apns_sender(apns_key[0], fake_apns)
    yield sender
    sender.close()
