"""Helpers for console tests: a browser-like test client signed in as anyone, CSRF tokens."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask, g

from service.console import sessions
from service.db import utcnow
from service.extensions import db, get_settings

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def signed_in(app: Flask, user_id: int) -> Any:
    """A test client with a console session for this user, whatever their role.

    The session is opened directly (as sign-in would after checking the password), so tests
    can also hold a session for a patient and check that every page still refuses them.
    """
    client = app.test_client()
    with db.transaction() as session:
        session_id = sessions.open_session(session, get_settings(), user_id, utcnow())
    with client.session_transaction() as cookie:
        cookie["sid"] = session_id
    return client


def csrf_token(client: Any) -> str:
    """The CSRF token of the client's session, read from a page as a browser would."""
    # Tests hold one app context across requests, so `g` outlives a request here (it never
    # does in a server); Flask-WTF keeps the token it generated in `g`, which would hand one
    # client's token to the next. Forget it, so the token comes from this client's session.
    g.pop("csrf_token", None)
    page = client.get("/console/login")
    found = CSRF_META.search(page.get_data(as_text=True))
    assert found is not None, "the page carries no CSRF token"
    return found.group(1)


def post_form(client: Any, url: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    """Submit a console form with the session's CSRF token."""
    return client.post(url, data={**(data or {}), "csrf_token": csrf_token(client)}, **kwargs)
