"""Who may call what: every route of the app x six callers -> the expected status.

How to add your routes (other packages do this too):

- Write `tests/support/authz_<pkg>.py` exporting `ROWS`, a list of
  `(method, url_template, {who: status}[, body])`. `url_template` is the route with Flask's
  `<int:name>` written `{name}` (e.g. `/v1/me/tips/{tip_id}/read`); `who` covers all of
  `CALLERS`; `body`, optional, is the JSON sent (a dict, or a callable taking the refs dict).
- Placeholders are filled by `resolve(url_template, refs)`. The built-in refs are created for
  each row after seeding: `patient_id` (patient A), `tip_id` (a tip of patient A), `device_id`
  (a device of patient A), `alert_id` (an open alert about patient A in A's clinic),
  `provider` ("sandbox"), `filename` ("missing.txt"). A module may also export
  `make_refs(seed) -> dict` (run inside the app context after the built-ins; commit with
  `db.transaction()`) to add more, e.g. `slug` and `number` of a rule set.
- Each row gets a fresh database; its callers go in the order of `CALLERS`, so write rows for
  mutating routes knowing that the owner (patient A or A's clinician) comes after outsiders.

`test_it_has_a_row_for_every_route` fails when a route of `app.url_map` has no row, or a row
names a route that does not exist.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

import tests.support as package
from service.alerts.models import ClinicianAlert
from service.extensions import db
from service.patients.models import Device
from service.tips.models import Tip
from tests.support.console import csrf_token, signed_in
from tests.support.factories import Seed

CALLERS = ("anonymous", "patient_b", "other_clinician", "clinician", "admin", "patient_a")
IGNORED_METHODS = {"HEAD", "OPTIONS"}
Row = tuple[Any, ...]


def _authz_modules() -> list[Any]:
    folder = Path(package.__file__).parent
    return [
        importlib.import_module(f"tests.support.{info.name}")
        for info in sorted(pkgutil.iter_modules([str(folder)]), key=lambda i: i.name)
        if info.name.startswith("authz_")
    ]


MODULES = _authz_modules()
ROWS: list[Row] = [row for module in MODULES for row in module.ROWS]
# Rows of modules with `AUTH = "console"` are called as a browser would: a console session
# cookie per caller and form bodies with the session's CSRF token.
CONSOLE_ROWS = {
    (row[0].upper(), row[1])
    for module in MODULES
    if getattr(module, "AUTH", "bearer") == "console"
    for row in module.ROWS
}


def template_of(rule: str) -> str:
    """`/v1/me/tips/<int:tip_id>/read` -> `/v1/me/tips/{tip_id}/read`."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def resolve(url_template: str, refs: dict[str, Any]) -> str:
    """Fill `{name}` placeholders from the refs; an unknown name is a test-setup error."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in refs:
            raise KeyError(f"no ref {name!r} for {url_template}: add it with make_refs")
        return str(refs[name])

    return re.sub(r"{([^{}]+)}", fill, url_template)


def base_refs(seed: Seed) -> dict[str, Any]:
    """Records the built-in placeholders point at."""
    with db.transaction() as session:
        tip = Tip(
            patient_id=seed.patient_a,
            rule_id="authz",
            tip_key="authz",
            category="general",
            title="t",
            text="t",
        )
        device = Device(patient_id=seed.patient_a, platform="ios", token="authz-device")
        alert = ClinicianAlert(
            clinic_id=seed.clinic_id, patient_id=seed.patient_a, severity="info", message="m"
        )
        session.add_all([tip, device, alert])
        session.flush()
        return {
            "patient_id": seed.patient_a,
            "tip_id": tip.id,
            "device_id": device.id,
            "alert_id": alert.id,
            "provider": "sandbox",
            "filename": "missing.txt",
        }


def _route_keys(app: Flask) -> set[tuple[str, str]]:
    return {
        (method, template_of(rule.rule))
        for rule in app.url_map.iter_rules()
        for method in (rule.methods or set()) - IGNORED_METHODS
    }


def test_it_has_a_row_for_every_route(app: Flask) -> None:
    rows = [(row[0].upper(), row[1]) for row in ROWS]
    duplicates = {key for key in rows if rows.count(key) > 1}
    routes = _route_keys(app)
    missing = sorted(routes - set(rows))
    stale = sorted(set(rows) - routes)
    assert not missing, f"routes without an authorization row: {missing}"
    assert not stale, f"rows for routes that do not exist: {stale}"
    assert duplicates == set()


def test_it_lists_every_caller_in_every_row() -> None:
    incomplete = [(row[0], row[1]) for row in ROWS if set(row[2]) != set(CALLERS)]
    assert incomplete == []


@pytest.mark.parametrize("row", ROWS, ids=[f"{row[0].upper()} {row[1]}" for row in ROWS])
def test_it_gives_each_caller_the_expected_status(
    app: Flask, client: Any, seed: Seed, row: Row
) -> None:
    method, template, expected = row[0].upper(), row[1], row[2]
    body = row[3] if len(row) > 3 else None
    refs = base_refs(seed)
    for module in MODULES:
        make_refs: Callable[[Seed], dict[str, Any]] | None = getattr(module, "make_refs", None)
        if make_refs is not None:
            refs.update(make_refs(seed))
    url = resolve(template, refs)
    payload = body(refs) if callable(body) else body
    got = {}
    for who in CALLERS:
        if (method, template) in CONSOLE_ROWS:
            browser = (
                app.test_client() if who == "anonymous" else signed_in(app, getattr(seed, who))
            )
            form = (
                None if method == "GET" else {**(payload or {}), "csrf_token": csrf_token(browser)}
            )
            response = browser.open(url, method=method, data=form)
        else:
            response = client.open(url, method=method, json=payload, headers=seed.headers(who))
        got[who] = response.status_code
    assert got == {who: expected[who] for who in CALLERS}
