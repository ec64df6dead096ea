"""How much entropy a configured secret carries, estimated from how it is written.

A key is read the way people generate them: hex (`secrets.token_hex(32)`, `openssl rand -hex
32`) counts 4 bits a digit; base64 or base64url (`secrets.token_urlsafe(32)`, `openssl rand
-base64 32`) 6 bits a character; anything else is raw text and counts log2 of the character
classes it draws from (lower case 26, upper case 26, digits 10, other 33) per character, an upper
bound that is generous to human-chosen phrases. Repetition is not entropy: when a key repeats a
unit twice or more, only the unit counts (`"0123456789abcdef" * 4` is sixteen characters), and a
key of fewer than eight distinct characters counts zero.
"""

from __future__ import annotations

import math
import re
import string

_HEX = re.compile(r"[0-9A-Fa-f]+")
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")
MIN_DISTINCT = 8
GENERATE_HINT = "python -c 'import secrets; print(secrets.token_hex(32))'"


def entropy_bits(key: str) -> int:
    """Estimate the entropy of a key in bits (see the module docstring for how)."""
    key = key.strip()
    if len(set(key)) < MIN_DISTINCT:
        return 0
    symbols = _shortest_period(key.rstrip("="))
    if _HEX.fullmatch(key):
        return 4 * symbols
    if _BASE64.fullmatch(key):
        return 6 * symbols
    return int(symbols * math.log2(_alphabet_size(key)))


def encoding_of(key: str) -> str:
    """Name how `entropy_bits` read the key: hex, base64 or raw text."""
    key = key.strip()
    if _HEX.fullmatch(key):
        return "hex"
    if _BASE64.fullmatch(key):
        return "base64"
    return "raw text"


def _shortest_period(text: str) -> int:
    """Length of the unit `text` repeats at least twice over (its own length if none).

    A border shorter than half the text is chance, not repetition (a random key whose last
    character equals its first would otherwise lose a character).
    """
    # Prefix function (Knuth-Morris-Pratt): the longest proper border gives the period.
    border = [0] * len(text)
    for i in range(1, len(text)):
        k = border[i - 1]
        while k and text[i] != text[k]:
            k = border[k - 1]
        border[i] = k + 1 if text[i] == text[k] else 0
    if not text:
        return 0
    period = len(text) - border[-1]
    return period if 2 * period <= len(text) else len(text)


def _alphabet_size(text: str) -> int:
    size = 0
    for chars, count in (
        (string.ascii_lowercase, 26),
        (string.ascii_uppercase, 26),
        (string.digits, 10),
    ):
        if any(c in chars for c in text):
            size += count
    if any(not c.isascii() or not c.isalnum() for c in text):
        size += 33
    return size
