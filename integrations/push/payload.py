"""Per-channel payloads, shortened so the bytes actually sent stay under each provider's limit."""

from __future__ import annotations

import json
import time
import unicodedata
from collections.abc import Callable
from typing import Any

from integrations.push.base import PayloadTooLargeError, PushMessage, short_collapse_id

ELLIPSIS = "…"
FCM_MAX_BYTES = 4096
APNS_MAX_BYTES = 4096
# Web Push services must accept 4096-byte records, but encryption adds about 100 bytes and
# several services reject bodies past about 3 KB in practice.
WEBPUSH_MAX_BYTES = 3072

_ZERO_WIDTH_JOINER = "\u200d"


def to_json_bytes(value: Any) -> bytes:
    """Encode compactly as UTF-8 JSON, the exact bytes that go on the wire."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _clings_to_previous(char: str) -> bool:
    # Combining marks (incl. variation selectors), joiners and skin-tone modifiers belong to
    # the character before them: cutting in front of one would leave half a glyph on screen.
    return (
        unicodedata.category(char) in {"Mn", "Mc", "Me"}
        or char == _ZERO_WIDTH_JOINER
        or "\U0001f3fb" <= char <= "\U0001f3ff"
    )


def truncate_text(text: str, max_bytes: int) -> str:
    """Return text, or its longest clean prefix plus "…", within max_bytes of UTF-8."""
    if len(text.encode()) <= max_bytes:
        return text
    budget = max_bytes - len(ELLIPSIS.encode())
    if budget <= 0:
        return ""
    # Whole code points only: count bytes per character instead of slicing the byte string.
    used = 0
    cut = 0
    for index, char in enumerate(text):
        used += len(char.encode())
        if used > budget:
            break
        cut = index + 1
    while cut > 0 and cut < len(text) and _clings_to_previous(text[cut]):
        cut -= 1
    prefix = text[:cut].rstrip()
    while prefix and prefix[-1] == _ZERO_WIDTH_JOINER:
        prefix = prefix[:-1]
    return prefix + ELLIPSIS if prefix else ""


def fit_title_body(
    build: Callable[[str, str], bytes], title: str, body: str, max_bytes: int
) -> bytes:
    """Return build(title, body), shortening body, then title, to stay within max_bytes."""
    encoded = build(title, body)
    if len(encoded) <= max_bytes:
        return encoded
    # The body gives way first: the title is what the lock screen shows.
    shortened = _largest_fit(
        lambda budget: build(title, truncate_text(body, budget)), len(body.encode()), max_bytes
    )
    if shortened is None:
        shortened = _largest_fit(
            lambda budget: build(truncate_text(title, budget), ""), len(title.encode()), max_bytes
        )
    if shortened is None:
        raise PayloadTooLargeError(f"payload exceeds {max_bytes} bytes without title and body")
    return shortened


def _largest_fit(make: Callable[[int], bytes], upper: int, max_bytes: int) -> bytes | None:
    # Binary search over the text's byte budget: JSON escaping makes the encoded size grow
    # faster than the text, so the overflow alone does not say how much to cut.
    best = None
    low, high = 0, upper
    while low <= high:
        middle = (low + high) // 2
        encoded = make(middle)
        if len(encoded) <= max_bytes:
            best, low = encoded, middle + 1
        else:
            high = middle - 1
    return best


def _string_data(message: PushMessage) -> dict[str, str]:
    # FCM rejects any non-string data value with INVALID_ARGUMENT; callers may pass ints.
    return {str(key): str(value) for key, value in message.data.items()}


def apns_headers(message: PushMessage, *, now: float | None = None) -> dict[str, str]:
    """Return the APNs request headers that depend on the message (not auth or topic)."""
    issued = time.time() if now is None else now
    headers = {
        "apns-push-type": "alert",
        "apns-priority": "10" if message.urgent else "5",
        # 0 tells APNs to try once and not store; otherwise an absolute epoch time.
        "apns-expiration": str(int(issued) + message.ttl_seconds if message.ttl_seconds > 0 else 0),
    }
    if message.collapse_id:
        headers["apns-collapse-id"] = short_collapse_id(message.collapse_id)
    return headers


def _aps(message: PushMessage, title: str | None, body: str | None) -> dict[str, Any]:
    aps: dict[str, Any] = {}
    if title is not None and body is not None:
        aps["alert"] = {"title": title, "body": body}
    if message.category:
        aps["category"] = message.category
    return aps


def fcm_body(message: PushMessage, *, now: float | None = None) -> bytes:
    """Return the JSON body for FCM HTTP v1 messages:send."""
    data = _string_data(message)
    android: dict[str, Any] = {
        "ttl": f"{max(0, message.ttl_seconds)}s",
        # Lower-case, as firebase-admin sends it; FCM maps it to HIGH / NORMAL.
        "priority": "high" if message.urgent else "normal",
    }
    if message.collapse_id:
        android["collapse_key"] = message.collapse_id
        # The tag replaces a notification already on screen; collapse_key only dedupes
        # messages still waiting on FCM's side.
        android["notification"] = {"tag": message.collapse_id}
    apns: dict[str, Any] = {"headers": apns_headers(message, now=now)}
    aps = _aps(message, None, None)
    if aps:
        apns["payload"] = {"aps": aps}

    def build(title: str, body: str) -> bytes:
        inner: dict[str, Any] = {
            "token": message.token,
            "notification": {"title": title, "body": body},
        }
        if data:
            inner["data"] = data
        inner["android"] = android
        inner["apns"] = apns
        return to_json_bytes({"message": inner})

    return fit_title_body(build, message.title, message.body, FCM_MAX_BYTES)


def apns_body(message: PushMessage) -> bytes:
    """Return the APNs JSON payload: aps alert plus the data keys as custom keys."""
    custom = {key: value for key, value in _string_data(message).items() if key != "aps"}

    def build(title: str, body: str) -> bytes:
        return to_json_bytes({"aps": _aps(message, title, body), **custom})

    return fit_title_body(build, message.title, message.body, APNS_MAX_BYTES)


def webpush_body(message: PushMessage) -> bytes:
    """Return the JSON the service worker receives (tag = collapse id replaces a shown one)."""
    data = _string_data(message)

    def build(title: str, body: str) -> bytes:
        payload: dict[str, Any] = {"title": title, "body": body, "data": data}
        if message.collapse_id:
            payload["tag"] = message.collapse_id
        if message.category:
            payload["category"] = message.category
        return to_json_bytes(payload)

    return fit_title_body(build, message.title, message.body, WEBPUSH_MAX_BYTES)
