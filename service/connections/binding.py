"""Bind a wearable link to the browser that started it: a forwarded consent link attaches nothing.

1. The app calls `POST /v1/me/connections/{provider}` with its bearer token. The `authorize_url`
   it gets back is our own `GET /v1/integrations/{provider}/authorize?state=...`, not the
   provider's consent page.
2. The app opens that URL in a browser tab (ASWebAuthenticationSession on iOS, a Custom Tab on
   Android, the browser on the web). It works once, within `OPEN_WITHIN` of step 1: it sets a
   cookie holding an HMAC of the state under SECRET_KEY (HttpOnly, SameSite=Lax, Secure under
   https, path limited to the callback) and redirects to the provider's consent page.
3. The provider sends the same browser to our callback; a Lax cookie goes along on that
   top-level GET. The callback spends the state, then refuses (403, nothing attached) unless the
   cookie matches it, before any code is exchanged.

A consent URL lifted from the address bar and sent to someone else reaches the callback without
the cookie; the start link itself opens only once and only for a few minutes.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from sqlalchemy import update
from sqlalchemy.orm import Session

from integrations.wearables.records import pkce_challenge
from service.config import Settings
from service.connections.models import OAuthState
from service.connections.providers import provider_for
from service.crypto import cipher_for
from service.errors import BadRequest, Forbidden

COOKIE = "backstride_link"
OPEN_WITHIN = dt.timedelta(minutes=5)


def start_url(provider: str, state: str, settings: Settings) -> str:
    """The URL the app opens in a browser tab to begin consent (see the module docstring)."""
    query = urlencode({"state": state})
    return f"{settings.public_base_url}/v1/integrations/{provider}/authorize?{query}"


def callback_path(provider: str, settings: Settings) -> str:
    """The path of the provider's redirect URI: the only path the cookie is sent to."""
    return f"{urlsplit(settings.public_base_url).path}/v1/integrations/{provider}/callback"


def binding_for(provider: str, state: str, settings: Settings) -> str:
    """The cookie value that binds `state` to a browser: an HMAC only this server can make."""
    message = f"oauth-link:{provider}:{state}".encode()
    mac = hmac.new(settings.secret_key.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def check_binding(provider: str, state: str, presented: str | None, settings: Settings) -> None:
    """Refuse a callback whose browser did not open this link's start URL."""
    expected = binding_for(provider, state, settings)
    if not presented or not hmac.compare_digest(presented.encode(), expected.encode()):
        raise Forbidden(
            "this link was finished in a different browser from the one that started it; "
            "start linking again from the Backstride app"
        )


@dataclass(frozen=True)
class OpenedLink:
    """Where to send the browser, and the cookie to set on the way."""

    consent_url: str
    cookie: str
    cookie_path: str
    max_age: int
    secure: bool


def open_link(
    session: Session, provider_name: str, state: str | None, settings: Settings, now: dt.datetime
) -> OpenedLink:
    """Open a start link once: mark it opened and return the consent URL and binding cookie."""
    provider = provider_for(provider_name, settings)
    if not state:
        raise BadRequest("missing state")
    # A conditional UPDATE: of two opens racing, exactly one wins.
    result = session.execute(
        update(OAuthState)
        .where(
            OAuthState.state == state,
            OAuthState.provider == provider_name,
            OAuthState.opened_at.is_(None),
            OAuthState.expires_at > now,
            OAuthState.created_at > now - OPEN_WITHIN,
        )
        .values(opened_at=now)
        .execution_options(synchronize_session=False)
    )
    row = session.get(OAuthState, state, populate_existing=True)
    if result.rowcount != 1 or row is None:  # type: ignore[attr-defined]
        raise BadRequest(_why_not_opened(row, provider_name))
    verifier = cipher_for(settings).decrypt(row.code_verifier_enc)
    consent_url = provider.authorize_url(
        state=state,
        redirect_uri=row.redirect_uri,
        code_challenge=pkce_challenge(verifier) if verifier else None,
    )
    return OpenedLink(
        consent_url=consent_url,
        cookie=binding_for(provider_name, state, settings),
        cookie_path=callback_path(provider_name, settings),
        max_age=max(1, int((row.expires_at - now).total_seconds())),
        secure=settings.public_base_url.startswith("https:"),
    )


def _why_not_opened(row: OAuthState | None, provider: str) -> str:
    if row is None or row.provider != provider:
        return "unknown link; start linking again from the Backstride app"
    if row.opened_at is not None:
        return "this link was already opened; start linking again from the Backstride app"
    return "this link has expired; start linking again from the Backstride app"
