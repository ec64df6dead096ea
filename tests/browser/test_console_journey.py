"""A clinician's day in a real browser (headless Chromium) against the live app.

The demo clinic is seeded as `make run` seeds it, its sandbox wearables synced and every
patient evaluated once, as the scheduler would. Every page is screenshotted into
`test-artifacts/console/<backend>/`, scanned with axe-core (no serious or critical
violations), and may load nothing from another host.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

import rules
from service import bootstrap
from service.accounts.models import User
from service.alerts.models import ClinicianAlert
from service.connections.sync import sync_due_connections
from service.db import utcnow
from service.evaluation.service import evaluate
from service.extensions import db, get_settings
from service.patients.models import PatientProfile
from service.rulesets.models import RuleSet
from service.tips.models import Tip
from tests.support.browser import Guard, accessibility_violations, chromium, guarded_page, snapshot

pytestmark = pytest.mark.browser

DEFAULT = rules.default_ruleset_text()
# The journey misspells a fact in the default set; the line it lands on is read from the set.
TYPO_AT = "(pain.latest >= 8"
TYPO_LINE = next(n for n, text in enumerate(DEFAULT.splitlines(), 1) if TYPO_AT in text)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium for the module's tests."""
    with chromium() as launched:
        yield launched


@pytest.fixture
def demo_clinic(app: Flask) -> dict[str, int]:
    """The demo clinic of `make run`: seeded, synced from the sandbox, evaluated once."""
    now = utcnow()
    with db.transaction() as session:
        bootstrap.seed_demo(session, get_settings(), now)
    sync_due_connections(now)
    with db.transaction() as session:
        ids = list(session.scalars(select(PatientProfile.user_id)))
        evaluate(session, ids, "schedule", now)
    with db.transaction() as session:
        rows = session.execute(
            select(User.email, User.id).join(PatientProfile, PatientProfile.user_id == User.id)
        )
        return {str(email): int(pid) for email, pid in rows}


def _check(page: Page, guard: Guard, name: str) -> None:
    """Screenshot the page, scan it with axe-core, and hold it to its guard."""
    snapshot(page, name)
    violations = accessibility_violations(page, name)
    assert violations == [], f"{name}: {violations}"
    assert guard.foreign == [], f"{name} reached another host: {guard.foreign}"
    assert guard.errors == [], f"{name} logged errors: {guard.errors}"


def _sign_in_by_keyboard(page: Page) -> None:
    page.goto("/console")
    expect(page).to_have_url(re.compile(r"/console/login"))
    # Keyboard only: tab to the email field, type, tab, type, Enter.
    for _ in range(10):
        if page.evaluate("document.activeElement && document.activeElement.id") == "email":
            break
        page.keyboard.press("Tab")
    page.keyboard.type("clinician@example.org")
    page.keyboard.press("Tab")
    page.keyboard.type("demo-clinician")
    page.keyboard.press("Enter")
    page.wait_for_selector("#worklist")


def test_it_walks_a_clinician_through_the_day(
    browser: Browser, live_server: Any, demo_clinic: dict[str, int]
) -> None:
    page, guard = guarded_page(browser, live_server.url)
    page.goto("/console/login")
    _check(page, guard, "01-sign-in")
    _sign_in_by_keyboard(page)
    _check(page, guard, "02-today")

    # The red-flag patient needs attention most: first on the list, with the urgent alert.
    first = page.locator("#worklist tbody tr").first
    expect(first.locator("th a")).to_have_text("red-flag@demo.example")
    expect(first).to_contain_text("urgent")
    first.locator("th a").click()
    page.wait_for_selector("#chart-table")
    _check(page, guard, "03-patient")

    # The chart's table: 28 days, the red flags on the days they were reported.
    rows = page.locator("#chart-table tbody tr")
    expect(rows).to_have_count(28)
    flagged = page.locator("#chart-table tbody tr", has_text="red flags: leg_weakness")
    assert flagged.count() >= 1
    # A tip marker, reached by keyboard, shows its tooltip.
    marker = page.locator("svg.daychart g.marker").first
    marker.focus()
    assert marker.evaluate("m => getComputedStyle(m.querySelector('.tooltip')).visibility") == (
        "visible"
    )
    assert "Why:" in (marker.get_attribute("aria-label") or "")

    # Acknowledge the alert from the patient page.
    page.get_by_role("button", name=re.compile("^Acknowledge")).first.click()
    expect(page.locator(".flash-success")).to_have_text("Alert acknowledged.")
    patient_id = demo_clinic["red-flag@demo.example"]
    with db.transaction() as session:
        open_alerts = session.scalars(
            select(ClinicianAlert).where(
                ClinicianAlert.patient_id == patient_id, ClinicianAlert.acked_at.is_(None)
            )
        ).all()
    assert open_alerts == []

    # A word from the clinician.
    page.fill("#message-text", "I have seen your report. Please call the clinic today.")
    page.get_by_role("button", name="Send to the patient").click()
    expect(page.locator(".flash-success")).to_contain_text("Message sent")
    expect(page.locator("ul.tips li.from-clinician").first).to_contain_text(
        "Please call the clinic today."
    )
    with db.transaction() as session:
        sent = session.scalar(select(Tip).where(Tip.category == "clinician"))
    assert sent is not None
    assert sent.patient_id == patient_id

    page.get_by_role("link", name="Alerts").click()
    page.wait_for_selector("#alert-queue")
    _check(page, guard, "04-alerts")

    # The rule-set editor: a typo shows at its line; fixed, it saves as version 2.
    page.get_by_role("link", name="Rule sets").click()
    _check(page, guard, "05-rulesets")
    page.get_by_role("link", name="low-back-walking").click()
    page.get_by_role("link", name="Edit the newest version").click()
    page.wait_for_selector("#yaml")
    _check(page, guard, "06-editor")
    page.fill("#yaml", DEFAULT.replace(TYPO_AT, TYPO_AT.replace("latest", "lastest"), 1))
    page.get_by_role("button", name="Check").click()
    page.wait_for_selector("#issues")
    # The refused text comes back as a 422 page, which the browser logs; that one is expected.
    assert [e for e in guard.errors if "status of 422" not in e] == []
    guard.errors.clear()
    expect(page.locator(".gutter .bad")).to_have_text(str(TYPO_LINE))
    expect(page.locator("#issues li").first).to_contain_text(f"Line {TYPO_LINE}")
    expect(page.locator("#issues li").first).to_contain_text("pain.lastest")
    page.locator("#issues a[data-line]").first.click()  # puts the cursor on that line
    selected = page.locator("#yaml").evaluate(
        "area => area.value.slice(area.selectionStart, area.selectionEnd)"
    )
    assert "pain.lastest" in selected
    _check(page, guard, "07-editor-problem")
    page.fill("#yaml", DEFAULT.replace("max_tips_per_day: 3", "max_tips_per_day: 2", 1))
    page.get_by_role("button", name="Check").click()
    expect(page.locator("#outcome")).to_contain_text("Valid")
    page.get_by_role("button", name="Save as a new version").click()
    expect(page.locator(".flash-success")).to_contain_text("Saved as version 2")

    page.get_by_role("link", name="Compare versions").click()
    expect(page.locator("pre.diff .add")).to_contain_text("max_tips_per_day: 2")
    _check(page, guard, "08-diff")

    # Simulate version 2 on the red-flag persona, then on a patient of the clinic.
    page.goto("/console/rulesets/low-back-walking/simulate")
    page.select_option("#sim-version", "2")
    page.select_option("#sim-source", "example:red_flag")
    page.get_by_role("button", name="Simulate").click()
    page.wait_for_selector("#sim-table")
    expect(page.locator("#sim-table tbody tr")).to_have_count(28)
    _check(page, guard, "09-simulate")
    page.select_option("#sim-source", f"patient:{demo_clinic['plateau@demo.example']}")
    page.get_by_role("button", name="Simulate").click()
    expect(page.locator("#sim-result")).to_contain_text("Version 2")

    # Publish it and assign it.
    page.goto("/console/rulesets/low-back-walking")
    page.get_by_role("button", name="Publish version 2").click()
    expect(page.locator(".flash-success")).to_contain_text("Version 2 is published")
    page.fill("#assign-patient", "plateau@demo.example")
    page.get_by_role("button", name="Assign low-back-walking").click()
    expect(page.locator(".flash-success")).to_contain_text("now follows low-back-walking")
    with db.transaction() as session:
        plateau = session.get(PatientProfile, demo_clinic["plateau@demo.example"])
        ruleset = session.scalar(select(RuleSet).where(RuleSet.slug == "low-back-walking"))
        assert plateau is not None
        assert ruleset is not None
        assert (plateau.ruleset_id, ruleset.published_version) == (ruleset.id, 2)

    # An invite with its QR code.
    page.get_by_role("link", name="Invites").click()
    page.get_by_role("button", name="Create invite").click()
    expect(page.locator(".qr svg")).to_be_visible()
    _check(page, guard, "10-invite")

    page.get_by_role("button", name="Sign out").click()
    expect(page.locator(".flash-success")).to_have_text("You are signed out.")
    page.goto("/console/")
    expect(page).to_have_url(re.compile(r"/console/login"))


def test_it_renders_the_api_docs_with_the_network_cut_off(
    browser: Browser, live_server: Any
) -> None:
    page, guard = guarded_page(browser, live_server.url)
    page.goto("/docs")
    page.wait_for_selector(".opblock-tag-section")
    expect(page.locator(".opblock").first).to_be_visible()
    expect(page.locator("body")).to_contain_text("/v1/clinician/patients/{patient_id}/messages")
    snapshot(page, "11-docs")
    assert guard.foreign == []
    assert [e for e in guard.errors if "Content Security Policy" in e] == []


def test_it_scans_pages_that_do_have_violations(browser: Browser) -> None:
    # The scan can fail: an unlabelled field and an image without text are caught.
    page = browser.new_page()
    page.set_content(
        '<!doctype html><html lang="en"><title>Bad</title><main>'
        '<img src="data:,"><input type="text"></main></html>'
    )
    found = {v["id"] for v in accessibility_violations(page, "00-known-bad")}
    page.close()
    assert {"image-alt", "label"} <= found
