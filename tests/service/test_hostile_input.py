"""Hostile input over real HTTP: every class answers a 4xx problem+json naming the field.

Each case is sent to the app on a live port (SQLite, and PostgreSQL under `-m db` with the
PostgreSQL backend). The classes are those that once answered 500: ids beyond 64 bits, dates
outside the supported range, deeply nested JSON (webhooks included, before any signature is
read), NUL and lone surrogates in any string, unbounded page sizes, forged cursors, ids that are
not integers, and implausible phone uploads.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from service.accounts.models import Clinic
from service.config import PROVIDERS
from service.db import utcnow
from service.extensions import db
from service.rulesets.service import ensure_default
from tests.conftest import LiveServer
from tests.factories import Seed

PROBLEM = "application/problem+json"
BIG = 2**64  # one past unsigned 64-bit
INT63 = 2**63  # one past the BIGINT columns
HUGE = 10**40
NO_BODY = object()
TODAY = dt.datetime.now(dt.UTC).date()
DAY = TODAY - dt.timedelta(days=1)
RANGE = {"from": (TODAY - dt.timedelta(days=5)).isoformat(), "to": TODAY.isoformat()}
PROVIDER_NAMES = PROVIDERS


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
    # The field the problem must name (None: no field, e.g. a 404 or a whole-body 400).
    field: str | None = None
    statuses: tuple[int, ...] = (422,)
    label: str = ""
    # For rule-set YAML: the line an error must point at.
    line: int | None = None

    @property
    def id(self) -> str:
        """A readable test id."""
        return f"{self.kind}:{self.method} {self.path[:60]} {self.label}".strip()


def _cursor(created: str, tip_id: Any) -> str:
    raw = json.dumps([created, tip_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _day(**changes: Any) -> dict[str, Any]:
    return {"days": [{"date": DAY.isoformat(), "steps": 4000, "source": "manual", **changes}]}


def _walk(**changes: Any) -> dict[str, Any]:
    start = dt.datetime.combine(DAY, dt.time(9), tzinfo=dt.UTC)
    walk = {
        "start": start.isoformat(),
        "end": (start + dt.timedelta(minutes=30)).isoformat(),
        "kind": "walking",
        "source": "manual",
    }
    return {"sessions": [{**walk, **changes}]}


def _simulate(**changes: Any) -> dict[str, Any]:
    history = {"days": [{"date": DAY.isoformat(), "steps": 5000}]}
    return {**RANGE, "history": history, **changes}


def _history(**changes: Any) -> dict[str, Any]:
    return _simulate(history={"days": [{"date": DAY.isoformat(), "steps": 5000}], **changes})


SIMULATE = "/v1/rulesets/low-back-walking/simulate"
PID = "{patient_a}"


def _huge_ids() -> list[Case]:
    cases = []
    for number in (BIG, INT63, HUGE):
        cases += [
            Case("huge-id", "patient_a", "POST", f"/v1/me/tips/{number}/read", statuses=(404,)),
            Case("huge-id", "patient_a", "POST", f"/v1/me/tips/{number}/opened", statuses=(404,)),
            Case(
                "huge-id",
                "patient_a",
                "POST",
                f"/v1/me/tips/{number}/feedback",
                json={"helpful": True},
                statuses=(404,),
            ),
            Case("huge-id", "patient_a", "DELETE", f"/v1/me/devices/{number}", statuses=(404,)),
            Case(
                "huge-id", "clinician", "GET", f"/v1/clinician/patients/{number}", statuses=(404,)
            ),
            Case(
                "huge-id",
                "clinician",
                "GET",
                f"/v1/clinician/patients/{number}/timeline",
                statuses=(404,),
            ),
            Case(
                "huge-id",
                "clinician",
                "GET",
                f"/v1/clinician/patients/{number}/evaluations",
                statuses=(404,),
            ),
            Case(
                "huge-id",
                "clinician",
                "PATCH",
                f"/v1/clinician/patients/{number}/plan",
                json={"daily_target": 5000},
                statuses=(404,),
            ),
            Case(
                "huge-id",
                "clinician",
                "POST",
                f"/v1/clinician/alerts/{number}/ack",
                statuses=(404,),
            ),
            Case(
                "huge-id",
                "clinician",
                "GET",
                f"/v1/rulesets/low-back-walking/versions/{number}",
                statuses=(404,),
            ),
            Case(
                "huge-id",
                "clinician",
                "POST",
                f"/v1/rulesets/low-back-walking/versions/{number}/publish",
                statuses=(404,),
            ),
            Case(
                "huge-id",
                "clinician",
                "GET",
                f"/v1/clinician/patients/{PID}/evaluations?before={number}",
                field="before",
            ),
            Case("huge-id", "patient_a", "GET", f"/v1/me/tips?limit={number}", field="limit"),
            Case(
                "huge-id", "clinician", "GET", f"/v1/clinician/alerts?limit={number}", field="limit"
            ),
            Case(
                "huge-id",
                "admin",
                "POST",
                "/v1/clinician/invites",
                json={"clinic_id": number},
                field="clinic_id",
            ),
            Case(
                "huge-id",
                "clinician",
                "POST",
                SIMULATE,
                json=_simulate(patient_id=number),
                field="patient_id",
            ),
            Case(
                "huge-id",
                "clinician",
                "POST",
                SIMULATE,
                json=_simulate(version=number),
                field="version",
            ),
            Case(
                "huge-id",
                "patient_a",
                "PUT",
                "/v1/me/activity/daily",
                json=_day(steps=number),
                field="days.0.steps",
            ),
            Case(
                "huge-id",
                "patient_a",
                "PUT",
                "/v1/me/activity/daily",
                json=_day(distance_m=number),
                field="days.0.distance_m",
            ),
            Case(
                "huge-id",
                "patient_a",
                "POST",
                "/v1/me/activity/sessions",
                json=_walk(steps=number),
                field="sessions.0.steps",
            ),
            Case(
                "huge-id", "patient_a", "POST", "/v1/me/pain", json={"score": number}, field="score"
            ),
            Case(
                "huge-id",
                "patient_a",
                "POST",
                "/v1/me/exercise",
                json={"kind": "strength", "name": "plank", "duration_s": number},
                field="duration_s",
            ),
            Case(
                "huge-id",
                "patient_a",
                "PATCH",
                "/v1/me",
                json={"max_tips_per_day": number},
                field="max_tips_per_day",
            ),
            Case(
                "huge-id",
                "clinician",
                "PATCH",
                f"/v1/clinician/patients/{PID}/plan",
                json={"daily_target": number},
                field="daily_target",
            ),
            Case(
                "huge-id",
                "clinician",
                "POST",
                "/v1/clinician/invites",
                json={"expires_in_days": number},
                field="expires_in_days",
            ),
            Case(
                "huge-id",
                "clinician",
                "POST",
                SIMULATE,
                json=_simulate(history={"days": [{"date": DAY.isoformat(), "steps": number}]}),
                field="history.days.0.steps",
            ),
        ]
    # An integer longer than Python's int parsing limit (4300 digits).
    cases.append(
        Case(
            "huge-id",
            "patient_a",
            "POST",
            "/v1/me/pain",
            raw=b'{"score": 1' + b"0" * 5000 + b"}",
            statuses=(400, 422),
            label="5000 digits",
        )
    )
    return cases


def _dates() -> list[Case]:
    cases = []
    for day in ("0001-01-01", "1999-12-31", "9999-12-31", "2999-01-01"):
        cases += [
            Case(
                "date",
                "patient_a",
                "PUT",
                "/v1/me/activity/daily",
                json=_day(date=day),
                field="days.0.date",
            ),
            Case(
                "date",
                "patient_a",
                "PATCH",
                "/v1/me",
                json={"shoes_changed_on": day},
                field="shoes_changed_on",
            ),
            Case("date", "patient_a", "GET", f"/v1/me/activity?from={day}", field="from"),
            Case("date", "patient_a", "GET", f"/v1/me/activity?to={day}", field="to"),
            Case(
                "date",
                "clinician",
                "GET",
                f"/v1/clinician/patients/{PID}/timeline?from={day}",
                field="from",
            ),
            Case(
                "date",
                "clinician",
                "GET",
                f"/v1/clinician/patients/{PID}/timeline?to={day}",
                field="to",
            ),
            Case(
                "date", "clinician", "POST", SIMULATE, json=_simulate(**{"from": day}), field="from"
            ),
            Case("date", "clinician", "POST", SIMULATE, json=_simulate(to=day), field="to"),
            Case(
                "date",
                "clinician",
                "POST",
                SIMULATE,
                json=_simulate(history={"days": [{"date": day, "steps": 10}]}),
                field="history.days.0.date",
            ),
            Case(
                "date",
                "clinician",
                "POST",
                SIMULATE,
                json=_history(shoes_changed_on=day),
                field="history.shoes_changed_on",
            ),
        ]
    for instant in (
        "0001-01-01T00:00:00+14:00",
        "0001-01-01T00:30:00+00:00",
        "1999-12-31T12:00:00+00:00",
        "9999-12-31T23:59:59-14:00",
        "9999-12-31T23:59:59+00:00",
    ):
        cases += [
            Case(
                "date",
                "patient_a",
                "POST",
                "/v1/me/activity/sessions",
                json=_walk(start=instant, end=instant),
                field="sessions.0.start",
            ),
            Case(
                "date",
                "patient_a",
                "POST",
                "/v1/me/pain",
                json={"score": 3, "recorded_at": instant},
                field="recorded_at",
            ),
            Case(
                "date",
                "patient_a",
                "POST",
                "/v1/me/exercise",
                json={"kind": "stretch", "name": "hamstrings", "performed_at": instant},
                field="performed_at",
            ),
            Case(
                "date",
                "clinician",
                "PATCH",
                f"/v1/clinician/patients/{PID}/plan",
                json={"hold_progression_until": instant},
                field="hold_progression_until",
            ),
            Case(
                "date",
                "clinician",
                "POST",
                SIMULATE,
                json=_history(enrolled_at=instant),
                field="history.enrolled_at",
            ),
            Case(
                "date",
                "clinician",
                "POST",
                SIMULATE,
                json=_history(pain=[{"recorded_at": instant, "score": 3}]),
                field="history.pain.0.recorded_at",
            ),
            Case(
                "date",
                "clinician",
                "POST",
                SIMULATE,
                json=_history(exercise=[{"performed_at": instant, "kind": "strength"}]),
                field="history.exercise.0.performed_at",
            ),
        ]
    return cases


def _deep(depth: int, opener: str = "[", closer: str = "]") -> bytes:
    return (opener * depth + closer * depth).encode()


def _deep_object(depth: int) -> bytes:
    return ('{"a":' * depth + "1" + "}" * depth).encode()


def _nesting() -> list[Case]:
    routes = [
        ("anonymous", "POST", "/v1/auth/register"),
        ("anonymous", "POST", "/v1/auth/token"),
        ("patient_a", "PATCH", "/v1/me"),
        ("patient_a", "PUT", "/v1/me/activity/daily"),
        ("patient_a", "POST", "/v1/me/activity/sessions"),
        ("patient_a", "POST", "/v1/me/pain"),
        ("patient_a", "POST", "/v1/me/exercise"),
        ("patient_a", "POST", "/v1/me/devices"),
        ("clinician", "POST", "/v1/clinician/invites"),
        ("clinician", "POST", SIMULATE),
    ]
    routes += [("anonymous", "POST", f"/v1/integrations/{p}/webhook") for p in PROVIDER_NAMES]
    cases = []
    for who, method, path in routes:
        for label, raw in (
            ("array x100000", _deep(100_000)),
            ("object x20000", _deep_object(20_000)),
            ("array x100", _deep(100)),
        ):
            cases.append(Case("nesting", who, method, path, raw=raw, statuses=(400,), label=label))
    return cases


BAD_TEXTS = {"NUL": "a\u0000b", "surrogate": "a\ud800b", "low surrogate": "\udfff"}


def _texts() -> list[Case]:
    cases = []
    for label, bad in BAD_TEXTS.items():
        register = {"email": "new@patients.example", "password": "a long password"}
        register["timezone"] = "Europe/London"
        cases += [
            Case(
                "text",
                "anonymous",
                "POST",
                "/v1/auth/register",
                json={**register, "password": f"long password {bad}"},
                field="password",
                label=label,
            ),
            Case(
                "text",
                "anonymous",
                "POST",
                "/v1/auth/register",
                json={**register, "email": f"n{bad}w@patients.example"},
                field="email",
                label=label,
            ),
            Case(
                "text",
                "anonymous",
                "POST",
                "/v1/auth/register",
                json={**register, "timezone": f"Europe/{bad}"},
                field="timezone",
                label=label,
            ),
            Case(
                "text",
                "anonymous",
                "POST",
                "/v1/auth/register",
                json={**register, "invite_code": f"AB{bad}"},
                field="invite_code",
                label=label,
            ),
            Case(
                "text",
                "anonymous",
                "POST",
                "/v1/auth/token",
                json={"email": "a@patients.example", "password": f"pw{bad}"},
                field="password",
                label=label,
            ),
            Case(
                "text",
                "anonymous",
                "POST",
                "/v1/auth/token",
                json={"email": f"a{bad}@patients.example", "password": "pw"},
                field="email",
                label=label,
            ),
            Case(
                "text",
                "patient_a",
                "PATCH",
                "/v1/me",
                json={"timezone": f"Europe/Lon{bad}"},
                field="timezone",
                label=label,
            ),
            Case(
                "text",
                "patient_a",
                "PATCH",
                "/v1/me",
                json={"locale": f"en{bad}"},
                field="locale",
                label=label,
            ),
            Case(
                "text",
                "patient_a",
                "POST",
                "/v1/me/devices",
                json={"platform": "ios", "token": f"tok{bad}en"},
                field="token",
                label=label,
            ),
            Case(
                "text",
                "patient_a",
                "POST",
                "/v1/me/pain",
                json={"score": 3, "note": f"ouch {bad}"},
                field="note",
                label=label,
            ),
            Case(
                "text",
                "patient_a",
                "POST",
                "/v1/me/pain",
                json={"score": 3, "location": f"low {bad}"},
                field="location",
                label=label,
            ),
            Case(
                "text",
                "patient_a",
                "POST",
                "/v1/me/exercise",
                json={"kind": "strength", "name": f"plank {bad}"},
                field="name",
                label=label,
            ),
            Case(
                "text",
                "patient_a",
                "POST",
                "/v1/me/activity/sessions",
                json=_walk(external_id=f"walk-{bad}"),
                field="sessions.0.external_id",
                label=label,
            ),
            Case(
                "text",
                "patient_a",
                "POST",
                "/v1/me/pain",
                json={"score": 3, f"no{bad}te": "x"},
                field=f"no{bad}te",
                label=label,
            ),
            Case(
                "text",
                "clinician",
                "POST",
                "/v1/clinician/invites",
                json={"ruleset": f"low{bad}"},
                field="ruleset",
                label=label,
            ),
            Case(
                "text",
                "clinician",
                "POST",
                SIMULATE,
                json=_history(timezone=f"Europe/{bad}"),
                field="history.timezone",
                label=label,
            ),
            Case(
                "text",
                "clinician",
                "POST",
                SIMULATE,
                json=_history(conditions=[f"x{bad}"]),
                field="history.conditions.0",
                label=label,
            ),
            Case(
                "text",
                "clinician",
                "POST",
                SIMULATE,
                json=_history(primary_source=f"x{bad}"),
                field="history.primary_source",
                label=label,
            ),
            Case(
                "text",
                "clinician",
                "POST",
                SIMULATE,
                json=_simulate(
                    history={"days": [{"date": DAY.isoformat(), "steps": 1, "source": bad}]}
                ),
                field="history.days.0.source",
                label=label,
            ),
        ]
    cases += [
        Case("text", "patient_a", "GET", "/v1/me/tips?cursor=%00", statuses=(400,), field="cursor"),
        Case("text", "patient_a", "GET", "/v1/me/activity?from=%00", field="from"),
        Case(
            "text",
            "patient_a",
            "POST",
            "/v1/me/pain",
            raw=b'{"score": 3, "note": "\xff\xfe"}',
            statuses=(400,),
            label="not UTF-8",
        ),
    ]
    return cases


def _pages() -> list[Case]:
    cases = []
    for value in ("0", "-1", "201", "1e3", "100000"):
        cases += [
            Case("limit", "patient_a", "GET", f"/v1/me/tips?limit={value}", field="limit"),
            Case("limit", "clinician", "GET", f"/v1/clinician/alerts?limit={value}", field="limit"),
            Case(
                "limit",
                "clinician",
                "GET",
                f"/v1/clinician/patients/{PID}/evaluations?limit={value}",
                field="limit",
            ),
        ]
    for label, cursor in (
        ("garbage", "not-a-cursor"),
        ("year 9999", _cursor("9999-12-31T23:59:59-14:00", 1)),
        ("year 1", _cursor("0001-01-01T00:00:00+14:00", 1)),
        ("huge id", _cursor("2026-01-01T00:00:00+00:00", BIG)),
        ("bool id", _cursor("2026-01-01T00:00:00+00:00", True)),
        ("naive", _cursor("2026-01-01T00:00:00", 1)),
        ("object", base64.urlsafe_b64encode(b'{"a": 1}').decode()),
        ("long", "A" * 5000),
    ):
        cases.append(
            Case(
                "cursor",
                "patient_a",
                "GET",
                f"/v1/me/tips?cursor={cursor}",
                statuses=(400,),
                field="cursor",
                label=label,
            )
        )
    return cases


def _path_ids() -> list[Case]:
    cases = []
    for segment in ("abc", "-1", "1.5", "0", "%20", "1e3", "%C3%A9"):
        cases += [
            Case("path-id", "patient_a", "POST", f"/v1/me/tips/{segment}/read", statuses=(404,)),
            Case("path-id", "patient_a", "DELETE", f"/v1/me/devices/{segment}", statuses=(404,)),
            Case(
                "path-id", "clinician", "GET", f"/v1/clinician/patients/{segment}", statuses=(404,)
            ),
            Case(
                "path-id",
                "clinician",
                "POST",
                f"/v1/clinician/alerts/{segment}/ack",
                statuses=(404,),
            ),
            Case(
                "path-id",
                "clinician",
                "GET",
                f"/v1/rulesets/low-back-walking/versions/{segment}",
                statuses=(404,),
            ),
        ]
    return cases


def _phone_uploads() -> list[Case]:
    daily = "/v1/me/activity/daily"
    sessions = "/v1/me/activity/sessions"
    start = dt.datetime.combine(DAY, dt.time(9), tzinfo=dt.UTC)
    return [
        Case("implausible", "patient_a", "PUT", daily, json=_day(steps=-1), field="days.0.steps"),
        Case(
            "implausible", "patient_a", "PUT", daily, json=_day(steps=200_001), field="days.0.steps"
        ),
        Case(
            "implausible",
            "patient_a",
            "PUT",
            daily,
            json=_day(distance_m=-5),
            field="days.0.distance_m",
        ),
        Case(
            "implausible",
            "patient_a",
            "PUT",
            daily,
            json=_day(active_minutes=1441),
            field="days.0.active_minutes",
        ),
        Case(
            "implausible",
            "patient_a",
            "POST",
            sessions,
            json=_walk(end=(start - dt.timedelta(minutes=5)).isoformat()),
            field="sessions.0.end",
        ),
        Case(
            "implausible",
            "patient_a",
            "POST",
            sessions,
            json=_walk(end=(start + dt.timedelta(hours=25)).isoformat()),
            field="sessions.0.end",
        ),
        Case(
            "implausible",
            "patient_a",
            "POST",
            sessions,
            json=_walk(distance_m=-1),
            field="sessions.0.distance_m",
        ),
        Case(
            "implausible",
            "patient_a",
            "POST",
            sessions,
            json=_walk(steps=-3),
            field="sessions.0.steps",
        ),
    ]


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
# (label, text to replace, replacement, line of the error)
YAML_EDITS = [
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
        text = RULESET.replace(old, new, 1).encode("utf-8", "surrogatepass")
        for path in ("/v1/rulesets/validate", "/v1/rulesets"):
            cases.append(
                Case(
                    "yaml",
                    "clinician",
                    "POST",
                    path,
                    raw=text,
                    content_type="application/yaml",
                    label=label,
                    line=line,
                )
            )
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


def send(base_url: str, seed: Seed, case: Case) -> requests.Response:
    """Send one case to the live server."""
    path = case.path.replace(PID, str(seed.patient_a))
    headers = seed.headers(case.who)
    if case.raw is not None:
        data: bytes | None = case.raw
    elif case.json is not NO_BODY:
        # ensure_ascii keeps lone surrogates as \\ud800 escapes, as a client would send them.
        data = json.dumps(case.json).encode()
    else:
        data = None
    if data is not None:
        headers["Content-Type"] = case.content_type
    return requests.request(case.method, base_url + path, data=data, headers=headers, timeout=30)


def _named(errors: list[dict[str, Any]], wanted: str) -> bool:
    return any(error.get("field") == wanted for error in errors)


def install_default_ruleset(seed: Seed) -> None:
    """Give the seeded clinic its default rule set, as `flask setup` would."""
    with db.transaction() as session:
        clinic = session.get(Clinic, seed.clinic_id)
        assert clinic is not None
        ensure_default(session, clinic, utcnow())


KINDS = sorted({case.kind for case in CASES})


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
    if case.field is not None and not _named(errors, case.field):
        return f"does not name {case.field!r}: {body}"
    if case.line is not None and not any(e.get("line") == case.line for e in errors):
        return f"no error on line {case.line}: {body}"
    return None


@pytest.mark.parametrize("kind", KINDS)
def test_it_answers_hostile_input_with_a_problem_naming_the_field(
    live_server: LiveServer, seed: Seed, kind: str
) -> None:
    install_default_ruleset(seed)
    wrong = {}
    for case in (c for c in CASES if c.kind == kind):
        problem = check(send(live_server.url, seed, case), case)
        if problem:
            wrong[case.id] = problem
    report = "\n".join(f"{label}: {problem}" for label, problem in wrong.items())
    assert not wrong, f"{len(wrong)} wrong answers:\n{report}"
