"""Wiring the console into the app: cookie session, CSRF, security headers, pages, /docs."""

from __future__ import annotations

import datetime as dt

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

from service.config import Settings
from service.console import (  # noqa: F401 - the views_* modules register their routes
    docs,
    filters,
    views_auth,
    views_clinic,
    views_outcomes,
    views_patients,
    views_rulesets,
    views_safety,
)
from service.console.security import install_security_headers
from service.console.web import blp, csrf


def init_console(app: Flask, settings: Settings) -> None:
    """Configure sessions (HttpOnly, SameSite=Lax, Secure in production), CSRF and headers;
    register the console and /docs blueprints."""
    app.config.update(
        SESSION_COOKIE_NAME="__Host-console" if settings.is_production else "console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.is_production,
        PERMANENT_SESSION_LIFETIME=dt.timedelta(seconds=settings.console_session_max_s),
        # The console calls csrf.protect() itself; the bearer-token API needs no CSRF token.
        WTF_CSRF_CHECK_DEFAULT=False,
        # The token lives as long as the session (a long edit must not expire its form).
        WTF_CSRF_TIME_LIMIT=None,
    )
    app.session_interface = CookieOnlyWhenSent()
    csrf.init_app(app)
    filters.register(app)
    app.register_blueprint(blp)
    app.register_blueprint(docs.blp)
    install_security_headers(app, settings)


class CookieOnlyWhenSent(SecureCookieSessionInterface):
    """Flask's signed-cookie session, which builds its signer only for a request that sent one.

    Only the console's pages carry the cookie. Flask builds the signer (a key derivation) on
    every request first, a tenth of the inbox's own work in the app; API calls never send the
    cookie, and an empty session is saved as no cookie at all.
    """

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """An empty session when the request sent no cookie; else Flask's own reading."""
        if not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class() if app.secret_key else None
        return super().open_session(app, request)
