"""Access tokens: signature, expiry and the verified-token cache."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from service.accounts import security
from service.accounts.security import TokenClaims, decode_token, issue_token
from service.config import load_settings

SETTINGS = load_settings(
    {"SECRET_KEY": "k" * 40, "TOKEN_ENCRYPTION_KEY": "", "BACKSTRIDE_ENV": "testing"}
)
CLAIMS = TokenClaims(user_id=7, role="patient", clinic_id=None, version=0)


def test_it_decodes_a_token_it_signed_and_remembers_it() -> None:
    token = issue_token(CLAIMS, SETTINGS)
    assert decode_token(token, SETTINGS) == CLAIMS
    assert decode_token(token, SETTINGS) == CLAIMS  # from the cache, same answer


def test_it_refuses_a_cached_token_once_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    token = issue_token(CLAIMS, SETTINGS)
    assert decode_token(token, SETTINGS) == CLAIMS  # verified and cached
    later = time.time() + SETTINGS.access_token_ttl_s + 1
    monkeypatch.setattr(security.time, "time", lambda: later)
    assert decode_token(token, SETTINGS) is None


def test_it_refuses_a_token_issued_already_expired() -> None:
    issued = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=SETTINGS.access_token_ttl_s + 5)
    assert decode_token(issue_token(CLAIMS, SETTINGS, now=issued), SETTINGS) is None


def test_it_refuses_a_token_signed_with_another_key() -> None:
    other = SETTINGS.replace(secret_key="o" * 40)
    token = issue_token(CLAIMS, other)
    assert decode_token(token, other) == CLAIMS
    assert decode_token(token, SETTINGS) is None


def test_it_refuses_a_tampered_token() -> None:
    token = issue_token(CLAIMS, SETTINGS)
    head, payload, signature = token.split(".")
    assert decode_token(f"{head}.{payload}.{signature[:-2]}xx", SETTINGS) is None
