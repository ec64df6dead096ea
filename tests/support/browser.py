"""Driving Debian's Chromium with Playwright: launch, page guards, screenshots, axe-core.

Playwright's own browser download cannot run here, so the browser is the system's
`/usr/bin/chromium` (`.ci/run` installs it when missing). axe-core comes from the pinned
`axe-playwright-python` package (its `axe.min.js`), injected through the DevTools protocol
(the pages' CSP allows no inline script, and needs not to).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from axe_playwright_python.base import AXE_SCRIPT
from playwright.sync_api import Browser, Page, Request, Route, expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
# Generous: the suite shares two cores with everything else on a loaded machine.
TIMEOUT_MS = 60_000
# One folder per backend: `make test` runs the SQLite and PostgreSQL suites at the same time.
BACKEND = os.environ.get("BACKSTRIDE_TEST_BACKEND") or "sqlite"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console" / BACKEND
BLOCKING = ("serious", "critical")
# Assertions that wait (expect(...).to_...) get the same patience as navigation.
expect.set_options(timeout=TIMEOUT_MS)


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium for the test module."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Guard:
    """What a page tried that it must not: reach another host, break its CSP, log errors."""

    foreign: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def guarded_page(browser: Browser, base_url: str) -> tuple[Page, Guard]:
    """A page whose requests to any host but the test server are refused and recorded."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=base_url)
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    guard = Guard()
    own = urlsplit(base_url).netloc

    def route(found: Route, request: Request) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in {"data", "blob"} or parts.netloc == own:
            found.continue_()
        else:
            guard.foreign.append(request.url)
            found.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("console", lambda m: guard.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: guard.errors.append(str(error)))
    return page, guard


def snapshot(page: Page, name: str) -> Path:
    """A full-page screenshot in the artifacts folder."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def accessibility_violations(page: Page, name: str) -> list[dict[str, Any]]:
    """Run axe-core on the page; keep the report; return its serious and critical findings."""
    page.evaluate(AXE_SCRIPT)
    report = page.evaluate(
        "axe.run(document, {resultTypes: ['violations'],"
        " runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa',"
        " 'best-practice']}})"
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"{name}.axe.json").write_text(json.dumps(report["violations"], indent=1))
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"]][:5],
        }
        for v in report["violations"]
        if v["impact"] in BLOCKING
    ]
