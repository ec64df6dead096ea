"""Wiring the console into the app: cookie session, CSRF, security headers, pages, /docs."""

from __future__ import annotations

import datetime as dt

from flask import Flask

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
    csrf.init_app(app)
    filters.register(app)
    app.register_blueprint(blp)
    app.register_blueprint(docs.blp)
    install_security_headers(app, settings)
