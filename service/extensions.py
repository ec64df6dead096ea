"""Extensions, created unbound here and bound to the app in create_app."""

from __future__ import annotations

from flask import Flask, current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_qualified_name, get_remote_address
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


# endpoint -> whether its view carries a limit (views do not change once the app serves).
_LIMITED: dict[str, bool] = {}


def has_limit(app: Flask, endpoint: str) -> bool:
    """Whether the endpoint's view carries a rate limit, as Flask-Limiter itself tells (its
    decorators mark the names of the views they wrap)."""
    limited = _LIMITED.get(endpoint)
    if limited is None:
        view = app.view_functions.get(endpoint)
        marked = limiter._marked_for_limiting  # the names its decorators marked
        limited = _LIMITED[endpoint] = view is not None and get_qualified_name(view) in marked
    return limited


@limiter.request_filter
def _route_without_limit() -> bool:
    """Spare the limiter's per-request work on the routes that carry no limit.

    The service sets no default, application or blueprint limits: only the routes decorated
    with a limit (sign-in, sign-up) have one, checked by their decorators. Every other request
    still made the limiter resolve its limits to nothing, about a tenth of a light request's
    time. Setting default limits would mean removing this filter.
    """
    return not has_limit(current_app, request.endpoint or "")


# One budget for signing in through the API (POST /v1/auth/token) and the console: a client
# cannot double its guesses by alternating between the two.
sign_in_limit = limiter.shared_limit(login_limit, scope="auth-token", methods=["POST"])
