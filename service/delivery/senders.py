"""One long-lived push sender per channel per app (process), built from the settings.

Senders keep pooled connections and cached provider tokens, so they are built once and shared
by the worker's threads (each sender is thread-safe); a per-message sender would reconnect and
re-authenticate every time.
"""

from __future__ import annotations

import logging
import threading

from flask import Flask

from integrations.netguard import Resolver, system_resolver
from integrations.push import PushConfigError, PushSender
from service.channels import CHANNELS
from service.config import Settings
from service.extensions import endpoint_resolver

log = logging.getLogger(__name__)

_EXTENSION = "backstride.push_senders"
_create_lock = threading.Lock()


class SenderUnavailableError(RuntimeError):
    """A channel's sender cannot be built (missing or unreadable credentials)."""


def build_sender(
    channel: str, settings: Settings, resolver: Resolver = system_resolver
) -> PushSender:
    """Build the sender of one channel from the settings, or raise SenderUnavailableError."""
    entry = CHANNELS.get(channel)
    if entry is None or not entry.configured(settings):
        raise SenderUnavailableError(f"{channel}: not configured")
    try:
        return entry.build(settings, resolver)
    except (OSError, ValueError, PushConfigError) as exc:  # ValueError covers bad JSON
        raise SenderUnavailableError(f"{channel}: {type(exc).__name__}: {exc}") from exc


class Senders:
    """The senders of one app, built on first use and kept until close()."""

    def __init__(self, settings: Settings, resolver: Resolver = system_resolver) -> None:
        self._settings = settings
        self._resolver = resolver
        self._lock = threading.Lock()
        self._senders: dict[str, PushSender] = {}

    def get(self, channel: str) -> PushSender:
        """Return the channel's sender, building it the first time."""
        with self._lock:
            sender = self._senders.get(channel)
            if sender is None:
                sender = build_sender(channel, self._settings, self._resolver)
                self._senders[channel] = sender
            return sender

    def close(self) -> None:
        """Close every sender's connections."""
        with self._lock:
            for sender in self._senders.values():
                sender.close()
            self._senders.clear()


def senders_for(app: Flask) -> Senders:
    """Return the app's senders, creating the holder once even when threads race."""
    with _create_lock:
        senders = app.extensions.get(_EXTENSION)
        if senders is None:
            senders = Senders(app.extensions["backstride.settings"], endpoint_resolver(app))
            app.extensions[_EXTENSION] = senders
        return senders


def close_senders(app: Flask) -> None:
    """Close the app's senders (tests, shutdown)."""
    senders = app.extensions.pop(_EXTENSION, None)
    if senders is not None:
        senders.close()
