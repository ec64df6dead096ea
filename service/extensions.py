"""Extensions, created unbound here and bound to the app in create_app."""

from __future__ import annotations

from flask import Flask, current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_smorest import Api

from integrations.netguard import Resolver, system_resolver
from service.config import Settings
from service.db import Database

db = Database()
api = Api()
limiter = Limiter(key_func=get_remote_address, default_limits=[])


def get_settings() -> Settings:
    """The settings of the running app."""
    settings: Settings = current_app.extensions["backstride.settings"]
    return settings


# The name resolver Web Push endpoints are checked with (tests install one they control).
RESOLVER_EXTENSION = "backstride.resolver"


def endpoint_resolver(app: Flask) -> Resolver:
    """The resolver this app checks client-supplied push endpoints with."""
    resolver: Resolver = app.extensions.get(RESOLVER_EXTENSION, system_resolver)
    return resolver


def login_limit() -> str:
    """The per-address budget of sign-in attempts (LOGIN_RATE_LIMIT)."""
    return get_settings().login_rate_limit


# One budget for signing in through the API (POST /v1/auth/token) and the console: a client
# cannot double its guesses by alternating between the two.
sign_in_limit = limiter.shared_limit(login_limit, scope="auth-token", methods=["POST"])
