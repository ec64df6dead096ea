"""Wearable-provider adapters: plain data in and out, no Flask, no database."""

from __future__ import annotations

from integrations.wearables.base import (
    DailyActivity,
    FetchResult,
    IntegrationError,
    RateLimited,
    ReauthRequired,
    TokenExpired,
    TokenSet,
    WalkingSession,
    WearableProvider,
    WebhookEvent,
    WebhookRejected,
    WebhookResponse,
    pkce_pair,
)
from integrations.wearables.google_health import GoogleHealthProvider
from integrations.wearables.oura import OuraProvider

PROVIDERS: dict[str, type[WearableProvider]] = {
    provider.name: provider
    for provider in (
        GoogleHealthProvider,
        OuraProvider,
    )
}

__all__ = [
    "PROVIDERS",
    "DailyActivity",
    "FetchResult",
    "IntegrationError",
    "RateLimited",
    "ReauthRequired",
    "TokenExpired",
    "TokenSet",
    "WalkingSession",
    "WearableProvider",
    "WebhookEvent",
    "WebhookRejected",
    "WebhookResponse",
    "pkce_pair",
]
