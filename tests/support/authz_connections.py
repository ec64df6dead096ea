"""Authorization rows for the wearable-connection routes, the OAuth callback and webhooks.

The callback and webhooks are public (no bearer token; verified per provider): every caller
gets the same answer, decided by the provider's own checks.
"""

from __future__ import annotations

from typing import Any

from integrations.wearables.sandbox import SandboxProvider
from service.connections.models import WearableConnection
from service.connections.tokens import store_token
from service.crypto import cipher_for
from service.extensions import db, get_settings
from tests.support.factories import Seed

CALLERS = ("anonymous", "patient_b", "other_clinician", "clinician", "admin", "patient_a")


def patients(status: int, *, patient_b: int | None = None) -> dict[str, int]:
    """A /v1/me route: the patients get `status`; staff are refused."""
    return {
        "anonymous": 401,
        "patient_b": patient_b or status,
        "other_clinician": 403,
        "clinician": 403,
        "admin": 403,
        "patient_a": status,
    }


def everyone(status: int) -> dict[str, int]:
    """A public route: the bearer token plays no part."""
    return dict.fromkeys(CALLERS, status)


def make_refs(seed: Seed) -> dict[str, Any]:
    """Link patient A to the sandbox, so unlinking has something to remove."""
    with db.transaction() as session:
        conn = WearableConnection(patient_id=seed.patient_a, provider="sandbox")
        store_token(conn, SandboxProvider.token_for("plateau"), cipher_for(get_settings()))
        session.add(conn)
    return {}


ROWS = [
    ("GET", "/v1/me/connections", patients(200)),
    ("POST", "/v1/me/connections/{provider}", patients(200)),
    # Patient B has no sandbox link (404); A's is removed (204).
    ("DELETE", "/v1/me/connections/{provider}", patients(204, patient_b=404)),
    # No state: refused for everyone alike (the start link is opened in a browser, no token).
    ("GET", "/v1/integrations/{provider}/authorize", everyone(400)),
    ("GET", "/v1/integrations/{provider}/callback", everyone(400)),
    # The sandbox sends no webhooks, so it refuses every call.
    ("GET", "/v1/integrations/{provider}/webhook", everyone(403)),
    ("POST", "/v1/integrations/{provider}/webhook", everyone(403)),
]
