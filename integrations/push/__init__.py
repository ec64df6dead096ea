"""Push channels: FCM HTTP v1, APNs over HTTP/2 and Web Push, each a PushSender."""

from __future__ import annotations

from integrations.push.apns import ApnsSender
from integrations.push.base import (
    Outcome,
    PayloadTooLargeError,
    PushConfigError,
    PushMessage,
    PushResult,
    PushSender,
)
from integrations.push.fcm import FcmSender
from integrations.push.webpush import WebPushSender

__all__ = [
    "ApnsSender",
    "FcmSender",
    "Outcome",
    "PayloadTooLargeError",
    "PushConfigError",
    "PushMessage",
    "PushResult",
    "PushSender",
    "WebPushSender",
]
