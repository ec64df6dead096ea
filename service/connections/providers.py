"""Build provider adapters from settings, sharing one HTTP session per provider per process,
and one request budget per app (in Redis when REDIS_URL is set, so all processes share it)."""

from __future__ import annotations

import threading
from functools import lru_cache

import requests
from flask import current_app, has_app_context
from requests.adapters import HTTPAdapter

from integrations.budget import RateBudget, app_key, budget_rules
from integrations.wearables import PROVIDERS, WearableProvider
from service.config import ProviderSettings, Settings
from service.errors import Conflict, NotFound

# Pooled connections per provider host: at least the per-provider sync concurrency.
POOL_SIZE = 64
HTTP_TIMEOUT_S = 10.0

_sessions: dict[str, requests.Session] = {}
_sessions_lock = threading.Lock()
_budget_lock = threading.Lock()
BUDGET_EXTENSION = "backstride.provider_budget"


def known_provider(name: str) -> type[WearableProvider]:
    """Return the adapter class for a provider name, or 404."""
    adapter = PROVIDERS.get(name)
    if adapter is None:
        raise NotFound(f"unknown provider {name!r}")
    return adapter


def shared_session(name: str) -> requests.Session:
    """Return this process's one HTTP session for a provider (connection reuse)."""
    with _sessions_lock:
        session = _sessions.get(name)
        if session is None:
            session = requests.Session()
            # No per-request look-ups of proxy and CA settings in os.environ (~1 ms of CPU per
            # call at sync volume; config.py is the one place that reads the environment).
            session.trust_env = False
            adapter = HTTPAdapter(pool_connections=8, pool_maxsize=POOL_SIZE)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            _sessions[name] = session
        return session


def provider_settings(name: str, settings: Settings) -> ProviderSettings:
    """Return a provider's settings; the sandbox needs no credentials and is always linkable."""
    config = settings.provider(name)
    if name == "sandbox" and not config.configured:
        return ProviderSettings(
            client_id="sandbox",
            client_secret="sandbox",  # noqa: S106 - not a secret: the sandbox has none
            webhook_secret=config.webhook_secret,
        )
    return config


def provider_for(
    name: str, settings: Settings, *, require_credentials: bool = True
) -> WearableProvider:
    """Return the adapter for `name` built from settings (404 unknown, 409 not configured)."""
    known_provider(name)
    config = provider_settings(name, settings)
    if require_credentials and not config.configured:
        raise Conflict(
            f"provider {name!r} is not configured on this server "
            f"(set {name.upper()}_CLIENT_ID and {name.upper()}_CLIENT_SECRET)"
        )
    return _build(name, config, provider_budget(settings))


def provider_budget(settings: Settings) -> RateBudget | None:
    """Return the running app's provider request budget (None outside an app)."""
    if not has_app_context():
        return None
    rules = budget_rules(
        {name: adapter.quota for name, adapter in PROVIDERS.items()},
        {name: settings.provider(name).rate_limit for name in PROVIDERS},
        {name: settings.provider(name).user_rate_limit for name in PROVIDERS},
    )
    storage = settings.redis_url or "memory://"
    key = (storage, settings.budget_key_prefix, tuple(sorted(rules.items())))
    extensions = current_app.extensions
    with _budget_lock:
        found = extensions.get(BUDGET_EXTENSION)
        # One budget per app, like one per process: in memory each process counts alone
        # (right only for a single scheduler process); with Redis every process spends the
        # same one. Rebuilt only if its settings change (tests swap settings after create_app).
        if found is None or found[0] != key:
            budget = RateBudget(rules, storage_uri=storage, key_prefix=settings.budget_key_prefix)
            found = (key, budget)
            extensions[BUDGET_EXTENSION] = found
    current: RateBudget = found[1]
    return current


def app_budget_size(name: str, settings: Settings) -> int | None:
    """Return the fewest requests any app-wide window of `name` allows (None: unlimited)."""
    budget = provider_budget(settings)
    items = budget.limits_for(app_key(name)) if budget is not None else ()
    return min((item.amount for item in items), default=None)


@lru_cache(maxsize=64)
def _build(name: str, config: ProviderSettings, budget: RateBudget | None) -> WearableProvider:
    # Adapters hold no per-user state, so one instance per (provider, settings) serves all threads.
    return PROVIDERS[name](
        client_id=config.client_id or "",
        client_secret=config.client_secret or "",
        base_url=config.base_url,
        auth_url=config.auth_url,
        token_url=config.token_url,
        webhook_secret=config.webhook_secret,
        timeout=HTTP_TIMEOUT_S,
        session=shared_session(name),
        budget=budget,
    )
