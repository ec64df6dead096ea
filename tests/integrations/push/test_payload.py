"""Payload building: UTF-8-aware shortening and per-channel byte limits."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from integrations.push import PayloadTooLargeError, PushMessage
from integrations.push.payload import (
    APNS_MAX_BYTES,
    FCM_MAX_BYTES,
    WEBPUSH_MAX_BYTES,
    apns_body,
    fcm_body,
    truncate_text,
    webpush_body,
)
from tests.support.push import message


def test_it_keeps_text_that_fits() -> None:
    assert truncate_text("Walk ten minutes", 16) == "Walk ten minutes"


def test_it_shortens_with_an_ellipsis_within_the_byte_budget() -> None:
    assert truncate_text("Walk ten minutes", 10) == "Walk te…"


@pytest.mark.parametrize(
    ("text", "budget", "expected"),
    [
        ("ééééé", 8, "éé…"),  # 2-byte characters: 4 + 3 bytes, a third é would need 9
        ("步行十分钟", 10, "步行…"),  # 3-byte characters
        ("🚶🚶🚶", 10, "🚶…"),  # 4-byte characters
        ("Walk   now", 9, "Walk…"),  # no dangling spaces before the ellipsis
        ("e\u0301e\u0301e\u0301", 8, "e\u0301…"),  # a combining accent stays with its letter
    ],
)
def test_it_never_cuts_inside_a_character(text: str, budget: int, expected: str) -> None:
    shortened = truncate_text(text, budget)

    assert shortened == expected
    assert len(shortened.encode()) <= budget


def test_it_keeps_a_skin_tone_with_its_emoji() -> None:
    # 👍 and its tone modifier are 4 bytes each: with room for 👍 but not its tone, the
    # sender drops both rather than show a different emoji.
    assert truncate_text("👍🏽👍🏽", 11) == "👍🏽…"
    assert truncate_text("👍🏽👍🏽", 10) == ""


def test_it_returns_nothing_when_not_even_the_ellipsis_fits() -> None:
    assert truncate_text("Walk", 2) == ""


@given(st.text(max_size=60), st.integers(min_value=0, max_value=120))
def test_it_always_returns_a_valid_prefix_within_budget(text: str, budget: int) -> None:
    shortened = truncate_text(text, budget)

    assert len(shortened.encode()) <= budget or shortened == text
    if shortened != text and shortened:
        assert shortened.endswith("…")
        assert text.startswith(shortened[:-1])


@pytest.mark.parametrize(
    ("build", "limit"),
    [(fcm_body, FCM_MAX_BYTES), (apns_body, APNS_MAX_BYTES), (webpush_body, WEBPUSH_MAX_BYTES)],
)
@pytest.mark.parametrize("body", ["é" * 4000, "步" * 3000, '"\\' * 3000, "🚶" * 2000])
def test_it_keeps_every_channel_under_its_limit(
    build: Callable[[PushMessage], bytes], limit: int, body: str
) -> None:
    encoded = build(message(body=body))

    assert limit - 8 <= len(encoded) <= limit
    decoded = json.loads(encoded)
    text = json.dumps(decoded, ensure_ascii=False)
    assert "…" in text
    assert "Time for a short walk" in text  # the title survives when the body can give way


def test_it_shortens_the_title_when_data_leaves_no_room_for_the_body() -> None:
    big = message(title="T" * 600, body="B" * 600, data={"blob": "x" * 3800})

    encoded = apns_body(big)

    payload = json.loads(encoded)
    assert len(encoded) <= APNS_MAX_BYTES
    assert payload["aps"]["alert"]["body"] == ""
    assert payload["aps"]["alert"]["title"].endswith("…")


def test_it_refuses_a_payload_whose_data_alone_is_too_large() -> None:
    with pytest.raises(PayloadTooLargeError):
        fcm_body(message(data={"blob": "x" * 5000}))


def test_it_leaves_short_messages_untouched() -> None:
    payload = json.loads(webpush_body(message()))

    assert payload == {
        "title": "Time for a short walk",
        "body": "Ten easy minutes today keeps your back moving.",
        "data": {"tip_id": "tip-42", "category": "progression", "rule_id": "r-7"},
        "tag": "tip-42",
        "category": "TIP",
    }
