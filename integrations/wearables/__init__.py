"""Wearable-provider adapters: plain data in and out, no Flask, no database."""

from __future__ import annotations

from integrations.wearables.base import (
    DailyActivity,
    FetchResult,
    IntegrationError,
    IntradaySteps,
    Quota,
    RateLimited,
    ReauthRequired,
    Subscription,
    TokenExpired,
    TokenSet,
    WalkingSession,
    WearableProvider,
    WebhookEvent,
    WebhookRejected,
    WebhookResponse,
    pkce_pair,
)
from integrations.wearables.garmin import GarminProvider
from integrations.wearables.google_health import GoogleHealthProvider
from integrations.wearables.oura import OuraProvider
from integrations.wearables.polar import PolarProvider
from integrations.wearables.sandbox import SandboxProvider
from integrations.wearables.strava import StravaProvider
from integrations.wearables.withings import WithingsProvider

# The one registry of wearable providers: settings (service/config.py), record sources and
# their names in exports (service/patients/models.py), request budgets and the connection
# routes all derive from it.
PROVIDERS: dict[str, type[WearableProvider]] = {
    provider.name: provider
    for provider in (
        GoogleHealthProvider,
        OuraProvider,
        WithingsProvider,
        GarminProvider,
        PolarProvider,
        StravaProvider,
        SandboxProvider,
    )
}

__all__ = [
    "PROVIDERS",
    "DailyActivity",
    "FetchResult",
    "IntegrationError",
    "IntradaySteps",
    "Quota",
    "RateLimited",
    "ReauthRequired",
    "Subscription",
    "TokenExpired",
    "TokenSet",
    "WalkingSession",
    "WearableProvider",
    "WebhookEvent",
    "WebhookRejected",
    "WebhookResponse",
    "pkce_pair",
]
