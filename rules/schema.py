"""Marshmallow schemas for the structure of a rule-set document (SPEC §5).

They check keys, types and bounds; expressions, references between sections and embedded tests
are checked by `rules.loader`. Errors are flattened into (path, message) pairs for location lookup.

Bounds (numbers are also finite and within `rules.source.MAX_NUMBER` before they get here):
targets 0 to MAX_TARGET steps a day, at most 50 tips a day, holds of 1 to 365 days, cooldowns up
to MAX_COOLDOWN_DAYS, priorities within +-1000, ids and slugs up to MAX_ID_LENGTH characters.
"""

from __future__ import annotations

import math
import re
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from rules.codes import TRIGGERS
from rules.kinds import ActionKind, Severity

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
TIME = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
DURATION = re.compile(r"^([1-9][0-9]{0,6})([mhd])$")
MINUTES = {"m": 1, "h": 60, "d": 24 * 60}
MAX_COOLDOWN_DAYS = 365
MAX_TARGET = 100_000  # steps a day: well above any walking target, far below an overflow
MAX_ID_LENGTH = 64  # the width of the columns that store rule, tip and rule-set ids
CATEGORIES = (
    "pain",
    "progression",
    "strength",
    "form",
    "flexibility",
    "footwear",
    "checkin",
    "safety",
    "general",
)
ACTIONS = tuple(ActionKind)


class _Strict(Schema):
    class Meta:
        unknown = RAISE


def _time(value: str) -> None:
    if not TIME.match(value):
        raise ValidationError(f"bad time '{value}': use HH:MM, 00:00 to 23:59")


def _duration(value: str) -> None:
    match = DURATION.match(value)
    if not match:
        raise ValidationError(f"bad duration '{value}': use a whole number and m, h or d (e.g. 2d)")
    if int(match[1]) * MINUTES[match[2]] > MAX_COOLDOWN_DAYS * MINUTES["d"]:
        raise ValidationError(f"a cooldown lasts at most {MAX_COOLDOWN_DAYS} days")


class _Number(fields.Float):
    """A finite number that must not be a boolean (YAML `true` is not 1)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValidationError("must be a number")
        if not math.isfinite(value):
            raise ValidationError("must be a finite number")
        return value


class _Text(fields.String):
    """A string that refuses YAML's non-string scalars instead of stringifying them."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str):
            raise ValidationError(f"must be a string, got {type(value).__name__}")
        return value


class _Whole(fields.Integer):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError("must be a whole number")
        return value


class QuietHoursSchema(_Strict):
    start = _Text(required=True, validate=_time)
    end = _Text(required=True, validate=_time)


STEPS = validate.Range(min=0, max=MAX_TARGET)
ID_LENGTH = validate.Length(max=MAX_ID_LENGTH)


class TargetSettingsSchema(_Strict):
    initial = _Number(required=True, validate=STEPS)
    min = _Number(required=True, validate=STEPS)
    max = _Number(required=True, validate=STEPS)
    max_weekly_increase = _Number(load_default=0.10, validate=validate.Range(min=0, max=1))

    @validates_schema
    def _ordered(self, data: dict[str, Any], **kwargs: Any) -> None:
        known = {"min", "max", "initial"} <= data.keys()
        if known and not data["min"] <= data["initial"] <= data["max"]:
            raise ValidationError("need min <= initial <= max", "initial")


class SettingsSchema(_Strict):
    decision_times = fields.List(
        _Text(validate=_time), required=True, validate=validate.Length(min=1, max=24)
    )
    max_tips_per_day = _Whole(load_default=3, validate=validate.Range(min=0, max=50))
    quiet_hours = fields.Nested(QuietHoursSchema, load_default=None)
    target = fields.Nested(TargetSettingsSchema, required=True)


class VariantSchema(_Strict):
    title = _Text(required=True)
    text = _Text(required=True, validate=validate.Length(min=1, max=2000))


class TipSchema(_Strict):
    category = _Text(required=True, validate=validate.OneOf(CATEGORIES))
    title = _Text(required=True, validate=validate.Length(min=1, max=200))
    text = _Text(required=True, validate=validate.Length(min=1, max=2000))
    variants = fields.List(fields.Nested(VariantSchema), load_default=list)
    asks = _Text(load_default=None, validate=validate.OneOf(["pain", "exercise"]))

    @validates_schema
    def _asks_only_checkin(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("asks") and data.get("category") != "checkin":
            raise ValidationError("only a checkin tip may ask", "asks")
        if data.get("category") == "checkin" and not data.get("asks"):
            raise ValidationError("a checkin tip must say what it asks: pain or exercise", "asks")


class AlertSchema(_Strict):
    severity = _Text(required=True, validate=validate.OneOf(list(Severity)))
    message = _Text(required=True, validate=validate.Length(min=1, max=1000))


class ActionSchema(_Strict):
    send_tip = _Text()
    set_target = fields.Raw()
    hold_progression = _Whole(validate=validate.Range(min=1, max=365))
    alert_clinician = fields.Nested(AlertSchema)
    ask = _Text(validate=ID_LENGTH)

    @validates_schema
    def _exactly_one(self, data: dict[str, Any], **kwargs: Any) -> None:
        if len(data) != 1:
            raise ValidationError(f"an action is exactly one of: {', '.join(ACTIONS)}")
        value = data.get("set_target")
        if "set_target" in data and (
            isinstance(value, bool) or not isinstance(value, (str, int, float))
        ):
            raise ValidationError("must be an expression or a number", "set_target")


class RandomizeSchema(_Strict):
    # 1 is allowed: the rule always fires, and its decisions are recorded like randomised ones.
    probability = _Number(
        required=True,
        validate=validate.Range(
            min=0, max=1, min_inclusive=False, error="must be more than 0 and at most 1"
        ),
    )


class RuleSchema(_Strict):
    id = _Text(
        required=True,
        validate=[validate.Regexp(SLUG, error="ids use a-z, 0-9 and '-'"), ID_LENGTH],
    )
    description = _Text(load_default="")
    priority = _Whole(load_default=0, validate=validate.Range(min=-1000, max=1000))
    on = fields.List(_Text(validate=validate.OneOf(TRIGGERS)), load_default=lambda: list(TRIGGERS))
    when = _Text(required=True)
    reason = _Text(load_default=None, validate=validate.Length(min=1, max=500))
    then = fields.List(fields.Nested(ActionSchema), required=True, validate=validate.Length(min=1))
    cooldown = _Text(load_default=None, validate=_duration)
    stop = fields.Boolean(load_default=False, truthy={True}, falsy={False})
    randomize = fields.Nested(RandomizeSchema, load_default=None)


class ExpectSchema(_Strict):
    fires = fields.List(_Text(), load_default=list)
    not_fires = fields.List(_Text(), load_default=list)
    target = _Number(allow_none=True, validate=STEPS)
    tips = fields.List(_Text())


class TestCaseSchema(_Strict):
    name = _Text(required=True)
    trigger = _Text(load_default="schedule", validate=validate.OneOf(TRIGGERS))
    facts = fields.Dict(keys=_Text(), values=fields.Raw(allow_none=True), load_default=dict)
    cooling = fields.List(_Text(), load_default=list)
    expect = fields.Nested(ExpectSchema, required=True)


class RuleSetSchema(_Strict):
    ruleset = _Text(
        required=True,
        validate=[validate.Regexp(SLUG, error="slug uses a-z, 0-9, '-'"), ID_LENGTH],
    )
    title = _Text(required=True, validate=validate.Length(min=1, max=200))
    description = _Text(load_default="")
    settings = fields.Nested(SettingsSchema, required=True)
    tips = fields.Dict(
        keys=_Text(validate=[validate.Regexp(SLUG, error="tip ids use a-z, 0-9, '-'"), ID_LENGTH]),
        values=fields.Nested(TipSchema),
        load_default=dict,
    )
    rules = fields.List(fields.Nested(RuleSchema), required=True, validate=validate.Length(min=1))
    tests = fields.List(fields.Nested(TestCaseSchema), load_default=list)


def flatten_errors(
    errors: Any, path: tuple[str | int, ...] = ()
) -> list[tuple[tuple[str | int, ...], str]]:
    """Turn marshmallow's nested error dict into (path, message) pairs."""
    if isinstance(errors, list):
        out: list[tuple[tuple[str | int, ...], str]] = []
        for item in errors:
            out += (
                flatten_errors(item, path)
                if isinstance(item, (dict, list))
                else [(path, str(item))]
            )
        return out
    if isinstance(errors, dict):
        out = []
        for key, value in errors.items():
            if key == "_schema" or (
                key in ("value", "key") and len(path) >= 2 and path[-2] in ("tips", "facts")
            ):
                out += flatten_errors(value, path)
            else:
                out += flatten_errors(value, (*path, key))
        return out
    return [(path, str(errors))]
