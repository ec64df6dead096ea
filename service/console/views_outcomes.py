"""Outcomes on the console: the effect of each randomised tip (a forest plot and its table) and
the programme's own outcomes, through the same use cases as `GET /v1/clinician/outcomes`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import render_template
from sqlalchemy.orm import Session

from service.accounts.auth import Principal
from service.console.web import blp, staff_page
from service.db import utcnow
from service.outcomes import programme, service

WIDTH, ROW, LEFT, RIGHT, TOP = 640, 26, 220, 20, 24


@dataclass(frozen=True)
class Bar:
    """One effect on the forest plot: its label, interval and point, in SVG units."""

    label: str
    y: float
    x_low: float
    x_high: float
    x_point: float
    text: str


@dataclass(frozen=True)
class Forest:
    """A forest plot of effects with a zero line and ticks."""

    height: int
    x_zero: float
    bars: list[Bar]
    ticks: list[tuple[float, str]]


def forest(items: list[dict[str, Any]]) -> Forest | None:
    """Lay out each rule's effect (and each week of enrolment) with its 95% interval."""
    rows: list[tuple[str, dict[str, Any]]] = []
    for item in items:
        if item["variant"] is not None:
            continue
        rows.append((item["rule_id"], item["effect"]))
        rows += [(f"  week {w['week'] + 1}", w) for w in item["by_week"]]
    rows = [(label, e) for label, e in rows if e["estimate"] is not None]
    if not rows:
        return None
    bound = max(0.1, *(max(abs(e["low"]), abs(e["high"])) for _, e in rows))
    span = WIDTH - LEFT - RIGHT

    def x(value: float) -> float:
        return round(LEFT + (value + bound) / (2 * bound) * span, 1)

    bars = [
        Bar(
            label,
            TOP + i * ROW,
            x(e["low"]),
            x(e["high"]),
            x(e["estimate"]),
            f"{e['estimate']:+.2f} ({e['low']:+.2f} to {e['high']:+.2f})",
        )
        for i, (label, e) in enumerate(rows)
    ]
    ticks = [(x(v), f"{v:+.2f}") for v in (-bound, -bound / 2, 0.0, bound / 2, bound)]
    return Forest(TOP + len(rows) * ROW + 24, x(0.0), bars, ticks)


@blp.get("/outcomes")
@staff_page()
def outcomes_page(tx: Session, principal: Principal) -> str:
    """Randomised tips' effects (chart and table), then the programme outcomes table."""
    report = service.report(tx, principal)
    figures = programme.programme_outcomes(tx, principal, utcnow())
    return render_template(
        "console/outcomes.html",
        report=report,
        chart=forest(report["items"]),
        groups=figures["groups"],
        width=WIDTH,
    )
