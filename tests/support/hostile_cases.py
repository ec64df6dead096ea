"""Hostile requests, by class, and how to send and judge them (used by test_hostile_input).

Each class once answered 500 somewhere: ids beyond 64 bits, dates outside the supported range,
deeply nested JSON (webhooks included), NUL and lone surrogates in strings, page sizes, forged
cursors, ids that are not integers, implausible phone uploads and rule-set YAML whose values
cannot be built. Every case names the field (or, for YAML, the line) its problem must point at.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from service.accounts.models import Clinic
from service.config import PROVIDERS
from service.db import utcnow
from service.extensions import db
from service.rulesets.service import ensure_default
from tests.support.factories import Seed

PROBLEM = "application/problem+json"
NO_BODY = object()
TODAY = dt.datetime.now(dt.UTC).date()
DAY = TODAY - dt.timedelta(days=1)
RANGE = {"from": (TODAY - dt.timedelta(days=5)).isoformat(), "to": TODAY.isoformat()}
PID = "{patient_a}"
SIMULATE = "/v1/rulesets/low-back-walking/simulate"
DAILY = "/v1/me/activity/daily"
SESSIONS = "/v1/me/activity/sessions"
PLAN = f"/v1/clinician/patients/{PID}/plan"


@dataclass(frozen=True)
class Case:
    """One hostile request and what it must get back."""

    kind: str
    who: str
    method: str
    path: str
    json: Any = NO_BODY
    raw: bytes | None = None
    content_type: str = "application/json"
    field: str | None = None  # the field the problem must name (None: a 404, a whole-body 400)
    statuses: tuple[int, ...] = (422,)
    label: str = ""
    line: int | None = None  # rule-set YAML: the line an error must point at

    @property
    def id(self) -> str:
        """A readable label."""
        return f"{self.kind}:{self.method} {self.path[:60]} {self.label}".strip()


def _day(**changes: Any) -> dict[str, Any]:
    return {"days": [{"date": DAY.isoformat(), "steps": 4000, "source": "manual", **changes}]}


def _walk(**changes: Any) -> dict[str, Any]:
    start = dt.datetime.combine(DAY, dt.time(9), tzinfo=dt.UTC)
    end = start + dt.timedelta(minutes=30)
    walk = {"start": start.isoformat(), "end": end.isoformat(), "kind": "walking"}
    return {"sessions": [{**walk, "source": "manual", **changes}]}


def _simulate(**changes: Any) -> dict[str, Any]:
    history = {"daily_steps": [{"date": DAY.isoformat(), "steps": 5000}]}
    return {**RANGE, "history": history, **changes}


def _history(**changes: Any) -> dict[str, Any]:
    return _simulate(history={"daily_steps": [{"date": DAY.isoformat(), "steps": 5000}], **changes})


def _steps(**changes: Any) -> dict[str, Any]:
    return _history(daily_steps=[{"date": DAY.isoformat(), "steps": 10, **changes}])


Body = Callable[[Any], Any]
# (who, method, path, body from the hostile value, the field it lands in)
Row = tuple[str, str, str, Body, str]

ID_PATHS = [  # {n} is the hostile id; each must answer the resource's own 404
    ("patient_a", "POST", "/v1/me/tips/{n}/read"),
    ("patient_a", "POST", "/v1/me/tips/{n}/opened"),
    ("patient_a", "DELETE", "/v1/me/devices/{n}"),
    ("clinician", "GET", "/v1/clinician/patients/{n}"),
    ("clinician", "GET", "/v1/clinician/patients/{n}/timeline"),
    ("clinician", "GET", "/v1/clinician/patients/{n}/evaluations"),
    ("clinician", "POST", "/v1/clinician/alerts/{n}/ack"),
    ("clinician", "GET", "/v1/rulesets/low-back-walking/versions/{n}"),
    ("clinician", "POST", "/v1/rulesets/low-back-walking/versions/{n}/publish"),
]
ID_BODIES = [  # JSON bodies whose ids reach a path: the same 404
    ("patient_a", "POST", "/v1/me/tips/{n}/feedback", {"helpful": True}),
    ("clinician", "PATCH", "/v1/clinician/patients/{n}/plan", {"daily_target": 5000}),
]
INTEGER_FIELDS: list[Row] = [
    ("clinician", "GET", f"/v1/clinician/patients/{PID}/evaluations?before={{n}}", None, "before"),
    ("patient_a", "GET", "/v1/me/tips?limit={n}", None, "limit"),
    ("clinician", "GET", "/v1/clinician/alerts?limit={n}", None, "limit"),
    ("admin", "POST", "/v1/clinician/invites", lambda n: {"clinic_id": n}, "clinic_id"),
    (
        "clinician",
        "POST",
        "/v1/clinician/invites",
        lambda n: {"expires_in_days": n},
        "expires_in_days",
    ),
    ("clinician", "POST", SIMULATE, lambda n: _simulate(patient_id=n), "patient_id"),
    ("clinician", "POST", SIMULATE, lambda n: _simulate(version=n), "version"),
    ("patient_a", "PUT", DAILY, lambda n: _day(steps=n), "days.0.steps"),
    ("patient_a", "PUT", DAILY, lambda n: _day(distance_m=n), "days.0.distance_m"),
    ("patient_a", "POST", SESSIONS, lambda n: _walk(steps=n), "sessions.0.steps"),
    ("patient_a", "POST", "/v1/me/pain", lambda n: {"score": n}, "score"),
    ("patient_a", "PATCH", "/v1/me", lambda n: {"max_tips_per_day": n}, "max_tips_per_day"),
    ("clinician", "PATCH", PLAN, lambda n: {"daily_target": n}, "daily_target"),
    (
        "patient_a",
        "POST",
        "/v1/me/exercise",
        lambda n: {"kind": "strength", "name": "plank", "duration_s": n},
        "duration_s",
    ),
    ("clinician", "POST", SIMULATE, lambda n: _steps(steps=n), "history.daily_steps[0].steps"),
]


def _huge_ids() -> list[Case]:
    cases = []
    for number in (2**64, 2**63, 10**40):
        for who, method, path in ID_PATHS:
            cases.append(
                Case("huge-id", who, method, path.replace("{n}", str(number)), statuses=(404,))
            )
        for who, method, path, body in ID_BODIES:
            cases.append(
                Case(
                    "huge-id",
                    who,
                    method,
                    path.replace("{n}", str(number)),
                    json=body,
                    statuses=(404,),
                )
            )
        for who, method, path, make, field in INTEGER_FIELDS:
            body = make(number) if make else NO_BODY
            cases.append(
                Case("huge-id", who, method, path.replace("{n}", str(number)), body, field=field)
            )
    digits = b'{"score": 1' + b"0" * 5000 + b"}"  # past Python's 4300-digit parsing limit
    cases.append(Case("huge-id", "patient_a", "POST", "/v1/me/pain", raw=digits, statuses=(400,)))
    return cases


DAY_FIELDS: list[Row] = [
    ("patient_a", "PUT", DAILY, lambda d: _day(date=d), "days.0.date"),
    ("patient_a", "PATCH", "/v1/me", lambda d: {"shoes_changed_on": d}, "shoes_changed_on"),
    ("patient_a", "GET", "/v1/me/activity?from={d}", None, "from"),
    ("patient_a", "GET", "/v1/me/activity?to={d}", None, "to"),
    ("clinician", "GET", f"/v1/clinician/patients/{PID}/timeline?from={{d}}", None, "from"),
    ("clinician", "GET", f"/v1/clinician/patients/{PID}/timeline?to={{d}}", None, "to"),
    ("clinician", "POST", SIMULATE, lambda d: _simulate(**{"from": d}), "from"),
    ("clinician", "POST", SIMULATE, lambda d: _simulate(to=d), "to"),
    (
        "clinician",
        "POST",
        SIMULATE,
        lambda d: _history(shoes_changed_on=d),
        "history.shoes_changed_on",
    ),
    ("clinician", "POST", SIMULATE, lambda d: _steps(date=d), "history.daily_steps[0].date"),
]
TIME_FIELDS: list[Row] = [
    ("patient_a", "POST", SESSIONS, lambda t: _walk(start=t, end=t), "sessions.0.start"),
    ("patient_a", "POST", "/v1/me/pain", lambda t: {"score": 3, "recorded_at": t}, "recorded_at"),
    ("clinician", "PATCH", PLAN, lambda t: {"hold_progression_until": t}, "hold_progression_until"),
    ("clinician", "POST", SIMULATE, lambda t: _history(enrolled_at=t), "history.enrolled_at"),
    (
        "patient_a",
        "POST",
        "/v1/me/exercise",
        lambda t: {"kind": "stretch", "name": "hamstrings", "performed_at": t},
        "performed_at",
    ),
    (
        "clinician",
        "POST",
        SIMULATE,
        lambda t: _history(pain=[{"at": t, "score": 3}]),
        "history.pain[0].at",
    ),
    (
        "clinician",
        "POST",
        SIMULATE,
        lambda t: _history(exercise=[{"at": t, "kind": "strength"}]),
        "history.exercise[0].at",
    ),
]
INSTANTS = (
    "0001-01-01T00:00:00+14:00",  # before year 1 in UTC
    "0001-01-01T00:30:00+00:00",
    "1999-12-31T12:00:00+00:00",
    "9999-12-31T23:59:59-14:00",  # after year 9999 in UTC
    "9999-12-31T23:59:59+00:00",
)


def _rows(kind: str, rows: list[Row], values: tuple[str, ...], key: str) -> list[Case]:
    cases = []
    for value in values:
        for who, method, path, make, field in rows:
            body = make(value) if make else NO_BODY
            url = path.replace("{" + key + "}", value)
            cases.append(Case(kind, who, method, url, body, field=field, label=value[:12]))
    return cases


def _dates() -> list[Case]:
    days = ("0001-01-01", "1999-12-31", "9999-12-31", "2999-01-01")
    return _rows("date", DAY_FIELDS, days, "d") + _rows("date", TIME_FIELDS, INSTANTS, "t")


def _nesting() -> list[Case]:
    routes = [
        ("anonymous", "POST", "/v1/auth/register"),
        ("anonymous", "POST", "/v1/auth/token"),
        ("patient_a", "PATCH", "/v1/me"),
        ("patient_a", "PUT", DAILY),
        ("patient_a", "POST", SESSIONS),
        ("patient_a", "POST", "/v1/me/pain"),
        ("patient_a", "POST", "/v1/me/exercise"),
        ("patient_a", "POST", "/v1/me/devices"),
        ("clinician", "POST", "/v1/clinician/invites"),
        ("clinician", "POST", SIMULATE),
    ]
    # Webhooks get no token and no signature: the depth check comes first.
    routes += [("anonymous", "POST", f"/v1/integrations/{p}/webhook") for p in PROVIDERS]
    bodies = {
        "array x100000": b"[" * 100_000 + b"]" * 100_000,
        "object x20000": b'{"a":' * 20_000 + b"1" + b"}" * 20_000,
        "array x100": b"[" * 100 + b"]" * 100,
    }
    return [
        Case("nesting", who, method, path, raw=raw, statuses=(400,), label=label)
        for who, method, path in routes
        for label, raw in bodies.items()
    ]


SIGN_UP = {"email": "new@patients.example", "password": "a long password", "timezone": "UTC"}
SIGN_IN = {"email": "a@patients.example", "password": "a long password"}
EXERCISE = {"kind": "strength", "name": "plank"}
# (who, method, path, a valid body, the top-level string field to spoil)
TEXT_FIELDS = [
    ("anonymous", "POST", "/v1/auth/register", SIGN_UP, field)
    for field in ("email", "password", "timezone", "invite_code")
] + [
    ("anonymous", "POST", "/v1/auth/token", SIGN_IN, "email"),
    ("anonymous", "POST", "/v1/auth/token", SIGN_IN, "password"),
    ("patient_a", "PATCH", "/v1/me", {}, "timezone"),
    ("patient_a", "PATCH", "/v1/me", {}, "locale"),
    ("patient_a", "POST", "/v1/me/devices", {"platform": "ios"}, "token"),
    ("patient_a", "POST", "/v1/me/pain", {"score": 3}, "note"),
    ("patient_a", "POST", "/v1/me/pain", {"score": 3}, "location"),
    ("patient_a", "POST", "/v1/me/exercise", EXERCISE, "name"),
    ("clinician", "POST", "/v1/clinician/invites", {}, "ruleset"),
]
NESTED_TEXT_FIELDS: list[Row] = [
    ("patient_a", "POST", SESSIONS, lambda s: _walk(external_id=s), "sessions.0.external_id"),
    ("clinician", "POST", SIMULATE, lambda s: _history(timezone=s), "history.timezone"),
    ("clinician", "POST", SIMULATE, lambda s: _history(conditions=[s]), "history.conditions[0]"),
    ("clinician", "POST", SIMULATE, lambda s: _history(primary_source=s), "history.primary_source"),
    ("clinician", "POST", SIMULATE, lambda s: _steps(source=s), "history.daily_steps[0].source"),
]
BAD_TEXTS = {"NUL": "a\u0000b", "surrogate": "a\ud800b", "low surrogate": "\udfff"}


def _texts() -> list[Case]:
    cases = []
    for label, bad in BAD_TEXTS.items():
        spoilt = f"Europe/Lon{bad}don"
        cases += [
            Case("text", who, method, path, {**body, field: spoilt}, field=field, label=label)
            for who, method, path, body, field in TEXT_FIELDS
        ]
        cases += [
            Case("text", who, method, path, make(spoilt), field=field, label=label)
            for who, method, path, make, field in NESTED_TEXT_FIELDS
        ]
    cases += [  # an unknown key is named as it was sent
        Case("text", "patient_a", "POST", "/v1/me/pain", {"score": 3, key: 1}, field=key)
        for key in ("no\u0000te", "no\ud800te")
    ]
    cases += [
        Case("text", "patient_a", "GET", "/v1/me/tips?cursor=%00", statuses=(400,), field="cursor"),
        Case("text", "patient_a", "GET", "/v1/me/activity?from=%00", field="from"),
        Case("text", "patient_a", "POST", "/v1/me/pain", raw=b'{"note": "\xff"}', statuses=(400,)),
    ]
    return cases


def _cursor(created: str, tip_id: Any) -> str:
    raw = json.dumps([created, tip_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _pages() -> list[Case]:
    limits = [
        ("patient_a", "/v1/me/tips?limit="),
        ("clinician", "/v1/clinician/alerts?limit="),
        ("clinician", f"/v1/clinician/patients/{PID}/evaluations?limit="),
    ]
    cases = [
        Case("limit", who, "GET", path + value, field="limit")
        for value in ("0", "-1", "201", "1e3", "100000")
        for who, path in limits
    ]
    cursors = {
        "garbage": "not-a-cursor",
        "year 9999": _cursor("9999-12-31T23:59:59-14:00", 1),
        "year 1": _cursor("0001-01-01T00:00:00+14:00", 1),
        "huge id": _cursor("2026-01-01T00:00:00+00:00", 2**64),
        "bool id": _cursor("2026-01-01T00:00:00+00:00", True),
        "naive": _cursor("2026-01-01T00:00:00", 1),
        "object": base64.urlsafe_b64encode(b'{"a": 1}').decode(),
        "long": "A" * 5000,
    }
    for label, cursor in cursors.items():
        path = f"/v1/me/tips?cursor={cursor}"
        cases.append(
            Case("cursor", "patient_a", "GET", path, statuses=(400,), field="cursor", label=label)
        )
    return cases


TEXT_PATHS = [  # {s} is a segment PostgreSQL could not compare: no route matches it
    ("clinician", "GET", "/v1/rulesets/{s}/versions"),
    ("clinician", "GET", "/v1/rulesets/{s}/versions/1"),
    ("patient_a", "POST", "/v1/me/connections/{s}"),
    ("patient_a", "DELETE", "/v1/me/connections/{s}"),
    ("anonymous", "GET", "/v1/integrations/{s}/callback"),
    ("anonymous", "POST", "/v1/integrations/{s}/webhook"),
]


def _path_ids() -> list[Case]:
    cases = [
        Case("path-id", who, method, path.replace("{n}", segment), statuses=(404,))
        for segment in ("abc", "-1", "1.5", "0", "%20", "1e3", "%C3%A9", "0x10")
        for who, method, path in ID_PATHS
    ]
    for segment in ("a%00b", "%00"):
        cases += [
            Case("path-id", who, method, path.replace("{s}", segment), statuses=(404,))
            for who, method, path in TEXT_PATHS
        ]
        simulate = f"/v1/rulesets/{segment}/simulate"
        cases.append(Case("path-id", "clinician", "POST", simulate, _simulate(), statuses=(404,)))
    return cases


def _phone_uploads() -> list[Case]:
    start = dt.datetime.combine(DAY, dt.time(9), tzinfo=dt.UTC)
    before = (start - dt.timedelta(minutes=5)).isoformat()
    day_long = (start + dt.timedelta(hours=25)).isoformat()
    rows = [
        ("PUT", DAILY, _day(steps=-1), "days.0.steps"),
        ("PUT", DAILY, _day(steps=200_001), "days.0.steps"),
        ("PUT", DAILY, _day(distance_m=-5), "days.0.distance_m"),
        ("PUT", DAILY, _day(active_minutes=1441), "days.0.active_minutes"),
        ("POST", SESSIONS, _walk(end=before), "sessions.0.end"),
        ("POST", SESSIONS, _walk(end=day_long), "sessions.0.end"),
        ("POST", SESSIONS, _walk(distance_m=-1), "sessions.0.distance_m"),
        ("POST", SESSIONS, _walk(steps=-3), "sessions.0.steps"),
    ]
    return [Case("implausible", "patient_a", m, p, body, field=f) for m, p, body, f in rows]


RULESET = """\
ruleset: my-rules
title: My rules
settings:
  decision_times: ["08:30"]
  max_tips_per_day: 3
  target: {initial: 4000, min: 2000, max: 12000, max_weekly_increase: 0.1}
tips:
  walk-today:
    category: general
    title: A short walk
    text: A ten-minute walk on flat ground is a good start today.
rules:
  - id: nudge
    priority: 10
    when: steps.today < plan.target
    then:
      - send_tip: walk-today
      - hold_progression: 2
    cooldown: 1d
tests:
  - name: nudges when behind
    facts: {steps.today: 100, plan.target: 4000}
    expect: {fires: [nudge]}
"""
YAML_EDITS = [  # (label, text to replace, replacement, line of the error)
    ("!!int abc", "initial: 4000", "initial: !!int abc", 6),
    ("!!timestamp abc", '["08:30"]', "[!!timestamp abc]", 4),
    ("bare bad date", "title: My rules", "title: 2026-13-45", 2),
    ("!!bool maybe", "max_tips_per_day: 3", "max_tips_per_day: !!bool maybe", 5),
    ("!!float abc", "max_weekly_increase: 0.1", "max_weekly_increase: !!float abc", 6),
    ("huge int", "priority: 10", "priority: 1" + "0" * 5000, 14),
    ("huge hold", "hold_progression: 2", "hold_progression: 99999999999999999999", 18),
    ("NUL byte", "title: My rules", "title: My\x00rules", 2),
    ("escaped NUL", "title: My rules", 'title: "My\\0rules"', 2),
    ("escaped surrogate", "title: My rules", 'title: "My\\ud800rules"', 2),
    ("surrogate in a tip", "title: A short walk", 'title: "A \\udfff walk"', 10),
    ("target max .inf", "max: 12000", "max: .inf", 6),
    ("target max 1e300", "max: 12000", "max: 1.0e+300", 6),
    ("target max past the cap", "max: 12000", "max: 150000", 6),
    ("target min negative", "min: 2000", "min: -5", 6),
    ("increase .nan", "max_weekly_increase: 0.1", "max_weekly_increase: .nan", 6),
    ("budget negative", "max_tips_per_day: 3", "max_tips_per_day: -1", 5),
    ("cooldown absurd", "cooldown: 1d", "cooldown: 99999d", 19),
    ("fact .inf", "steps.today: 100", "steps.today: .inf", 22),
    ("fact 1e300", "steps.today: 100", "steps.today: 1.0e+300", 22),
    ("fact huge int", "steps.today: 100", "steps.today: 12345678901234567890", 22),
    ("expect target .nan", "fires: [nudge]", "fires: [nudge], target: .nan", 23),
]


def _yaml() -> list[Case]:
    cases = []
    for label, old, new, line in YAML_EDITS:
        assert old in RULESET, label
        text = RULESET.replace(old, new, 1).encode("utf-8")
        for path in ("/v1/rulesets/validate", "/v1/rulesets"):
            case = Case("yaml", "clinician", "POST", path, raw=text, label=label, line=line)
            cases.append(dataclasses.replace(case, content_type="application/yaml"))
    return cases


CASES = [
    *_huge_ids(),
    *_dates(),
    *_nesting(),
    *_texts(),
    *_pages(),
    *_path_ids(),
    *_phone_uploads(),
    *_yaml(),
]
KINDS = sorted({case.kind for case in CASES})


def install_default_ruleset(seed: Seed) -> None:
    """Give the seeded clinic its default rule set, as `flask setup` would."""
    with db.transaction() as session:
        clinic = session.get(Clinic, seed.clinic_id)
        assert clinic is not None
        ensure_default(session, clinic, utcnow())


def send(base_url: str, seed: Seed, case: Case) -> requests.Response:
    """Send one case to the live server."""
    headers = seed.headers(case.who)
    data = case.raw
    if data is None and case.json is not NO_BODY:
        # ensure_ascii writes a lone surrogate as a \\ud800 escape, as a client would send it.
        data = json.dumps(case.json).encode()
    if data is not None:
        headers["Content-Type"] = case.content_type
    url = base_url + case.path.replace(PID, str(seed.patient_a))
    return requests.request(case.method, url, data=data, headers=headers, timeout=30)


def check(answer: requests.Response, case: Case) -> str | None:
    """Why an answer to a case is wrong, or None when it is right."""
    if answer.status_code not in case.statuses:
        return f"status {answer.status_code}: {answer.text[:300]}"
    if answer.headers.get("Content-Type") != PROBLEM:
        return f"content type {answer.headers.get('Content-Type')}"
    body = answer.json()
    detail = body.get("detail", "")
    if body.get("status") != answer.status_code or "_schema" in detail or ": :" in detail:
        return f"problem body {body}"
    errors = body.get("errors", [])
    if case.field is not None and not any(e.get("field") == case.field for e in errors):
        return f"does not name {case.field!r}: {body}"
    if case.line is not None and not any(e.get("line") == case.line for e in errors):
        return f"no error on line {case.line}: {body}"
    return None
