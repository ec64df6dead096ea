"""Guards every request input passes before a view runs: the one place input limits live.

- `ApiSchema`, the base of every marshmallow schema in the service, gives each field the
  service-wide checks as it is bound: strings without NUL characters or unpaired surrogates (both
  databases refuse them, differently; free-form JSON fields are searched for them), integers
  within 64 bits (the id columns), dates within the supported range. A schema declares only
  what is particular to its fields.
- `IdConverter` takes every `<int:...>` path segment: a segment that is not a row id (`abc`,
  `-1`, twenty digits) reaches the view as `MISSING_ID`, so it gets the resource's own 404.
  `TextConverter` takes every other segment (`<slug>`): a NUL in it reaches the view as U+FFFD,
  so it too gets the resource's own 404.
- `refuse_hostile_json` answers 400 to a JSON body nested too deeply or holding a number too long
  to parse, before any view parses it (webhooks included, whose adapters parse bodies themselves).
"""

from __future__ import annotations

import datetime as dt
import functools
import time
from collections.abc import Callable
from typing import Any

from flask import request
from marshmallow import RAISE, Schema, ValidationError, fields, missing, validate
from werkzeug.routing import IntegerConverter, Map, UnicodeConverter

from service.errors import BadRequest

MAX_ID = 2**63 - 1  # BIGINT on PostgreSQL, INTEGER on SQLite
MIN_INT = -(2**63)
MISSING_ID = 0  # ids start at 1: no row has this one
MAX_PAGE = 200
MAX_JSON_DEPTH = 32
MAX_JSON_DIGITS = 100  # Python refuses to parse integers past 4300 digits, with a ValueError
# Dates the service stores or reads: from FIRST_DATE to tomorrow in the easternmost zone (UTC+14),
# so "tomorrow" covers every patient's local calendar. Fields that look ahead (a progression hold)
# allow up to AHEAD_DAYS more.
FIRST_DATE = dt.date(2000, 1, 1)
EASTERNMOST = dt.timedelta(hours=14)
AHEAD_DAYS = 366


def last_supported_date(now: dt.datetime | None = None, *, ahead_days: int = 0) -> dt.date:
    """The latest date any input may carry: tomorrow in UTC+14 (plus `ahead_days`)."""
    now = now or dt.datetime.now(dt.UTC)
    return (now.astimezone(dt.UTC) + EASTERNMOST).date() + dt.timedelta(days=1 + ahead_days)


def date_problem(value: dt.date, *, ahead_days: int = 0) -> str | None:
    """Why a date (a datetime's own calendar date) is out of range, or None."""
    day = value.date() if isinstance(value, dt.datetime) else value
    last = _last_date(ahead_days)
    if FIRST_DATE <= day <= last:
        return None
    return f"must be a date from {FIRST_DATE.isoformat()} to {last.isoformat()}"


# ahead_days -> (from, until, the last supported date between those epoch seconds): an upload of
# 30 days checked 30 dates, each reading the clock and doing the calendar sums again.
_LAST_DATES: dict[int, tuple[float, float, dt.date]] = {}


def _last_date(ahead_days: int) -> dt.date:
    """`last_supported_date(ahead_days=...)`, worked out again only when the date changes."""
    now = time.time()
    known = _LAST_DATES.get(ahead_days)
    if known is not None and known[0] <= now < known[1]:
        return known[2]
    moment = dt.datetime.fromtimestamp(now, dt.UTC)
    last = last_supported_date(moment, ahead_days=ahead_days)
    # It moves on at the next midnight in UTC+14.
    midnight = dt.datetime.combine(
        (moment + EASTERNMOST).date() + dt.timedelta(days=1), dt.time(), dt.timezone(EASTERNMOST)
    )
    _LAST_DATES[ahead_days] = (now, midnight.timestamp(), last)
    return last


def text_problem(value: str) -> str | None:
    """Why a string cannot be stored (NUL, unpaired surrogate), or None."""
    if "\x00" in value:
        return "must not contain NUL characters"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "must be valid Unicode text (no unpaired surrogates)"
    return None


def _clean_text(value: Any) -> None:
    problem = text_problem(value) if isinstance(value, str) else None
    if problem:
        raise ValidationError(problem)


def _text_in(value: Any, path: str = "") -> tuple[str, str] | None:
    """The path and problem of the first unstorable string in free-form JSON, or None."""
    if isinstance(value, str):
        problem = text_problem(value)
        return (path, problem) if problem else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            found = _text_in(key, where) or _text_in(item, where)
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _text_in(item, f"{path}[{index}]")
            if found:
                return found
    return None


def _clean_tree(value: Any) -> None:
    found = _text_in(value)
    if found:
        path, problem = found
        raise ValidationError({path: [problem]} if path else problem)


@functools.cache
def _dates_within(ahead_days: int) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        problem = date_problem(value, ahead_days=ahead_days) if value is not None else None
        if problem:
            raise ValidationError(problem)

    return check


_INT64 = validate.Range(min=MIN_INT, max=MAX_ID, error="must fit in 64 bits")


def _add(field: fields.Field, check: Callable[[Any], Any]) -> None:
    # Schema instances share their fields' validator lists (marshmallow copies fields shallowly),
    # so a second instance of a schema must not add the same check again.
    if check not in field.validators:
        field.validators.append(check)


def _guard(field: fields.Field) -> None:
    """Give a field (and the fields inside it) the service-wide checks."""
    if isinstance(field, fields.String):
        # An opaque token (a page cursor) is never stored; its use case refuses a bad one.
        if not field.metadata.get("opaque"):
            _add(field, _clean_text)
    elif isinstance(field, fields.Integer):
        _add(field, _INT64)
    elif isinstance(field, fields.Date | fields.DateTime):
        _add(field, _dates_within(int(field.metadata.get("ahead_days", 0))))
    if isinstance(field, fields.List):
        _guard(field.inner)
    elif isinstance(field, fields.Tuple):
        for inner in field.tuple_fields:
            _guard(inner)
    elif isinstance(field, fields.Dict) and (field.key_field or field.value_field):
        for part in (field.key_field, field.value_field):
            if part is not None:
                _guard(part)
    elif isinstance(field, fields.Dict | fields.Raw):
        # Free-form JSON (a posted history): every string in it, keys included.
        _add(field, _clean_tree)


class ApiSchema(Schema):
    """Base of every schema: each field gets the text, integer and date checks."""

    def on_bind_field(self, field_name: str, field_obj: fields.Field) -> None:
        """Add the service-wide checks to a field as it is bound."""
        _guard(field_obj)


class Entries(fields.Nested):
    """`Nested(schema, many=True)` that loads well-formed entries without the schema machinery.

    A 30-day upload is 30 entries: marshmallow's per-entry bookkeeping (error stores, getters,
    unknown-key handling) cost three times the fields' own work. Each entry is first loaded
    field by field with the very same fields (their types, `allow_none` and validators, the
    service-wide checks included); at the first thing that is not plainly valid (a wrong type, an
    unknown or missing key, a failed check) the whole list goes through `schema.load` instead, so
    every error reads exactly as before. Only for schemas this shortcut can copy exactly: no
    hooks, no renamed keys, no load defaults, unknown keys refused.
    """

    def _load(self, value: Any, partial: Any = None) -> Any:
        plan = self._plan()
        if plan is not None and partial is None and type(value) is list:
            loaded = _entries(value, *plan)
            if loaded is not None:
                return loaded
        return super()._load(value, partial)

    def _plan(self) -> tuple[dict[str, fields.Field], frozenset[str], frozenset[str]] | None:
        cached = self.__dict__.get("_cached_plan", False)
        if cached is not False:
            return cached
        schema = self.schema
        loadable = schema.load_fields
        simple = (
            schema.many
            and (self.unknown or schema.unknown) == RAISE
            and not any(schema._hooks.values())  # marshmallow's resolved hooks
            and all(
                f.data_key is None
                and f.attribute is None
                and f.load_default is missing
                and not f.pre_load
                for f in loadable.values()
            )
        )
        plan = None
        if simple:
            required = frozenset(name for name, f in loadable.items() if f.required)
            plan = (dict(loadable), frozenset(loadable), required)
        self.__dict__["_cached_plan"] = plan
        return plan


def _entries(
    value: list[Any],
    loadable: dict[str, fields.Field],
    known: frozenset[str],
    required: frozenset[str],
) -> list[dict[str, Any]] | None:
    """The entries loaded field by field, or None at the first one that needs the schema."""
    loaded = []
    for entry in value:
        if type(entry) is not dict or not (required <= entry.keys() <= known):
            return None
        row = {}
        try:
            for name, field in loadable.items():  # the schema's order, as load returns it
                if name not in entry:
                    continue
                value = entry[name]
                if value is None:
                    if not field.allow_none:
                        return None
                    row[name] = None
                    continue
                # Field.deserialize without its wrapper, which builds an `And` of the
                # validators for every value; a check that fails sends the list to the schema.
                value = field._deserialize(value, name, entry)
                for check in field.validators:
                    if check(value) is False:
                        return None
                row[name] = value
        except ValidationError:
            return None
        loaded.append(row)
    return loaded


def page_size(default: int) -> fields.Integer:
    """A `limit` query parameter: 1 to MAX_PAGE items."""
    return fields.Integer(load_default=default, validate=validate.Range(1, MAX_PAGE))


class IdConverter(IntegerConverter):
    """A row id in a path; any other segment becomes MISSING_ID and so a plain 404."""

    regex = r"[^/]+"
    part_isolating = True  # one path segment, though the pattern mentions '/'

    def __init__(self, url_map: Map) -> None:
        # min/max also document the parameter in /openapi.json (flask-smorest reads them).
        super().__init__(url_map, min=1, max=MAX_ID)

    def to_python(self, value: str) -> int:
        """The id, or MISSING_ID for anything that cannot be one."""
        if not (value.isascii() and value.isdigit() and len(value) <= 19):
            return MISSING_ID
        number = int(value)
        return number if 1 <= number <= MAX_ID else MISSING_ID


class TextConverter(UnicodeConverter):
    """A path segment of text, with any NUL replaced: PostgreSQL could not even compare it."""

    def to_python(self, value: str) -> str:
        """The segment, NUL characters replaced by U+FFFD (no name or slug holds either)."""
        # werkzeug already decodes invalid UTF-8 (and so any surrogate) to U+FFFD.
        return value.replace("\x00", "\ufffd")


_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_OPENERS = frozenset(b"[{")
# Digits become '9' and everything else a space: a long number is then a plain substring.
_DIGITS_ONLY = bytes(0x39 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
_LONG_NUMBER = b"9" * (MAX_JSON_DIGITS + 1)


def _outside_strings(body: bytes) -> bytes:
    """The JSON text without its strings (so their brackets and digits do not count)."""
    if b"\\" in body:
        # Escaped backslashes first, then escaped quotes: the order JSON reads them in.
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    return b"".join(body.split(b'"')[::2])


def _too_deep(brackets: bytes) -> bool:
    # Each pass removes the innermost pairs: a text within the limit is empty after
    # MAX_JSON_DEPTH passes. One that is not is deeper, or unbalanced (the parser refuses it
    # anyway): walk it from the start to tell, stopping at the first level too deep.
    reduced = brackets
    for _ in range(MAX_JSON_DEPTH):
        shorter = reduced.replace(b"[]", b"").replace(b"{}", b"")
        if len(shorter) == len(reduced):
            break
        reduced = shorter
    if not reduced:
        return False
    depth = 0
    for byte in brackets:
        depth += 1 if byte in _OPENERS else -1
        if depth > MAX_JSON_DEPTH:
            return True
    return False


def json_problem(body: bytes) -> str | None:
    """Why a JSON text is too hostile to parse (nesting, number length), or None."""
    # Cheap bounds on the raw text first (strings included, so they can only over-count);
    # most bodies stop here.
    may_be_deep = body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH
    may_be_long = _LONG_NUMBER in body.translate(_DIGITS_ONLY)
    if not (may_be_deep or may_be_long):
        return None
    outside = _outside_strings(body)
    if may_be_deep and _too_deep(outside.translate(None, _NOT_BRACKETS)):
        return f"the JSON body is nested deeper than {MAX_JSON_DEPTH} levels"
    if may_be_long and _LONG_NUMBER in outside.translate(_DIGITS_ONLY):
        return f"the JSON body has a number longer than {MAX_JSON_DIGITS} digits"
    return None


def refuse_hostile_json() -> None:
    """Answer 400 to a JSON body `json_problem` refuses (an app-wide request hook)."""
    if request.method not in ("POST", "PUT", "PATCH"):
        return
    body = request.get_data(cache=True)
    # Any body that starts like JSON, whatever its content type: webhook adapters parse
    # bodies themselves, and a YAML flow collection is bounded well below this anyway.
    if body.lstrip()[:1] not in (b"[", b"{"):
        return
    problem = json_problem(body)
    if problem:
        raise BadRequest(problem)
