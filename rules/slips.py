"""Common slips from other languages, each with what to write instead (SPEC §11.2).

Authors coming from SQL, spreadsheets or C write `=`, `&&`, `AND`, `contains`, `between` or
`80%`. None of these is valid in the rule language, so finding one before parsing costs
nothing for a correct expression and replaces Python's "invalid syntax" with advice.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_Advice = Callable[[re.Match[str]], str]


def _percent(match: re.Match[str]) -> str:
    number = float(match.group(1)) / 100
    fraction = f"{number:.6f}".rstrip("0").rstrip(".")
    return f"write {fraction} instead of '{match.group(0).strip()}' (a percentage is a fraction)"


def _fixed(message: str) -> _Advice:
    return lambda match: message


_KEYWORD_END = r"(?=\s*(?:$|[),\]]|\b(?:and|or|if|else)\b))"
SLIPS: tuple[tuple[re.Pattern[str], _Advice], ...] = (
    (re.compile(r"&&"), _fixed("write 'and' instead of '&&'")),
    (re.compile(r"\|\|"), _fixed("write 'or' instead of '||'")),
    (re.compile(r"\bAND\b"), _fixed("write 'and' (lower case) instead of 'AND'")),
    (re.compile(r"\bOR\b"), _fixed("write 'or' (lower case) instead of 'OR'")),
    (re.compile(r"\bNOT\b"), _fixed("write 'not' (lower case) instead of 'NOT'")),
    (
        re.compile(r"\bcontains\b"),
        _fixed("write 'CODE in SET' (e.g. 'fever' in pain.red_flags) instead of 'contains'"),
    ),
    (
        re.compile(r"\bbetween\b"),
        _fixed("write a chained comparison (e.g. 2 <= pain.latest <= 5) instead of 'between'"),
    ),
    (re.compile(r"=>"), _fixed("write '>=' instead of '=>'")),
    (re.compile(r"=<"), _fixed("write '<=' instead of '=<'")),
    (re.compile(r"<>"), _fixed("write '!=' instead of '<>'")),
    (re.compile(r"(?<![=!<>])=(?!=)"), _fixed("write '==' to compare ('=' alone is not allowed)")),
    (re.compile(r"!(?!=)"), _fixed("write 'not' instead of '!'")),
    (re.compile(r"(\d+(?:\.\d+)?)\s*%" + _KEYWORD_END), _percent),
    (re.compile(r"\?"), _fixed("write 'A if CONDITION else B' instead of 'CONDITION ? A : B'")),
)


def mask_strings(text: str) -> str:
    """The text with the inside of every quoted string blanked (offsets are kept)."""
    out = []
    quote = ""
    for char in text:
        if quote:
            if char == quote:
                quote = ""
                out.append(char)
            else:
                out.append(" ")
        else:
            if char in "'\"":
                quote = char
            out.append(char)
    return "".join(out)


def find_slip(text: str) -> tuple[int, str] | None:
    """The first slip in `text` as (offset, advice), or None."""
    masked = mask_strings(text)
    found: tuple[int, str] | None = None
    for pattern, advice in SLIPS:
        match = pattern.search(masked)
        if match is not None and (found is None or match.start() < found[0]):
            found = (match.start(), advice(match))
    return found
