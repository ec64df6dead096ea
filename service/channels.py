"""The push channels, in one registry: adding a channel is one entry in `CHANNELS`.

Each channel says which device platform it serves, when the settings configure it, how its
sender is built from them (senders live in `integrations.push`, their HTTP sessions come from
`integrations.http`) and any back-off its provider asks for. Everything else derives from it:
the platforms a device may register (`PLATFORMS`: the device schema and `Device`'s check), the
outbox (which devices get a delivery), the senders holder and the worker's retries. It sits
beside the resource packages, not in `delivery`, because `patients` (devices) reads it too
and `delivery` reads `patients`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from integrations.netguard import Resolver
from integrations.push import ApnsSender, FcmSender, PushSender, WebPushSender
from service.config import Settings


@dataclass(frozen=True)
class Channel:
    """One push channel: its name, the platform it serves, when configured, how built."""

    name: str
    platform: str  # Device.platform
    configured: Callable[[Settings], bool]
    build: Callable[[Settings, Resolver], PushSender]
    # The least back-off after a 5xx answer, in seconds, where the provider documents one.
    server_error_min_s: float | None = None


def _fcm(settings: Settings, _resolver: Resolver) -> PushSender:
    assert settings.fcm_credentials_file is not None
    return FcmSender(
        credentials=json.loads(Path(settings.fcm_credentials_file).read_text()),
        base_url=settings.fcm_base_url or "https://fcm.googleapis.com",
    )


def _apns(settings: Settings, _resolver: Resolver) -> PushSender:
    assert settings.apns_key_file is not None
    return ApnsSender(
        key_pem=Path(settings.apns_key_file).read_text(),
        key_id=settings.apns_key_id or "",
        team_id=settings.apns_team_id or "",
        topic=settings.apns_topic or "",
        base_url=settings.apns_base_url or "https://api.push.apple.com",
    )


def _webpush(settings: Settings, resolver: Resolver) -> PushSender:
    assert settings.vapid_private_key is not None
    return WebPushSender(
        vapid_private_key=settings.vapid_private_key,
        vapid_claims_sub=settings.vapid_subject,
        resolver=resolver,
    )


CHANNELS: dict[str, Channel] = {
    channel.name: channel
    for channel in (
        Channel(
            "apns",
            "ios",
            lambda s: bool(s.apns_key_file and s.apns_key_id and s.apns_team_id and s.apns_topic),
            _apns,
            server_error_min_s=15 * 60.0,  # Apple: retry a 5xx "after 15 minutes", with back-off
        ),
        Channel("fcm", "android", lambda s: bool(s.fcm_credentials_file), _fcm),
        Channel("webpush", "web", lambda s: bool(s.vapid_private_key), _webpush),
    )
}
CHANNEL_OF_PLATFORM = {channel.platform: channel.name for channel in CHANNELS.values()}
# The platforms a device may register, in the registry's order (ios, android, web).
PLATFORMS: tuple[str, ...] = tuple(CHANNEL_OF_PLATFORM)


def configured_channels(settings: Settings) -> frozenset[str]:
    """Return the push channels whose credentials are configured."""
    return frozenset(name for name, channel in CHANNELS.items() if channel.configured(settings))
