"""Chart geometry for the console's server-rendered SVG (templates draw it; no JavaScript).

`day_chart` lays out daily steps (bars) against the target (a step line), pain reports on a
second axis (0-10, dots), exercise sessions (squares at the base) and a marker per tip that
went out; each marker carries the tip's title, reason and feedback for its tooltip, which
CSS shows on hover and on keyboard focus. `sparkline` is the Today list's 28-day miniature.
"""

from __future__ import annotations

import datetime as dt
import textwrap
from dataclasses import dataclass, field
from typing import Any

WIDTH, HEIGHT = 760, 280
LEFT, RIGHT, TOP, BOTTOM = 60, 44, 40, 36
TIP_WIDTH, TIP_LINE = 260, 16


@dataclass
class Tick:
    """An axis label at a position."""

    at: float
    label: str


@dataclass
class Marker:
    """A focusable tip marker and its tooltip lines."""

    x: float
    y: float
    label: str
    lines: list[str]
    box_x: float
    box_y: float
    box_height: float
    clinician: bool


@dataclass
class DayChart:
    """Everything the chart template draws, in SVG user units."""

    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM
    bars: list[dict[str, Any]] = field(default_factory=list)
    target_path: str = ""
    pain: list[dict[str, Any]] = field(default_factory=list)
    exercise: list[dict[str, Any]] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)
    steps_ticks: list[Tick] = field(default_factory=list)
    pain_ticks: list[Tick] = field(default_factory=list)
    day_ticks: list[Tick] = field(default_factory=list)
    summary: str = ""


def _nice_max(value: float) -> int:
    for step in (1000, 2000, 2500, 5000, 10000, 20000, 50000):
        if value <= step * 5:
            return int(-(-value // step) * step) or step
    return int(value)


def _feedback(tip: dict[str, Any]) -> str:
    if tip.get("helpful") is None and tip.get("done") is None:
        return "no feedback yet" if tip.get("read_at") is None else "read, no feedback"
    parts = []
    if tip.get("helpful") is not None:
        parts.append("helpful" if tip["helpful"] else "not helpful")
    if tip.get("done") is not None:
        parts.append("done" if tip["done"] else "not done")
    return ", ".join(parts)


def tip_summary(tip: dict[str, Any]) -> str:
    """One line for a tip: its title, why it went out and the patient's feedback."""
    return f"{tip['title']}. Why: {tip['why']} Feedback: {_feedback(tip)}."


def day_chart(days: list[dict[str, Any]]) -> DayChart:
    """Lay out a patient's (or a simulation's) days: `date`, `steps`, `target`, `pain` (scores),
    `exercise` (count) and `tips` (dicts with title, why, category, helpful, done, read_at)."""
    chart = DayChart()
    if not days:
        return chart
    plot_w = chart.right - chart.left
    plot_h = chart.bottom - chart.top
    band = plot_w / len(days)
    top_value = max([d["steps"] or 0 for d in days] + [d["target"] or 0 for d in days] + [1000])
    scale = _nice_max(top_value)

    def y_steps(value: float) -> float:
        return chart.bottom - plot_h * value / scale

    def y_pain(score: float) -> float:
        return chart.bottom - plot_h * score / 10

    path: list[str] = []
    previous: float | None = None
    for index, day in enumerate(days):
        x = chart.left + index * band
        if day["steps"] is not None:
            height = chart.bottom - y_steps(day["steps"])
            met = day["target"] is not None and day["steps"] >= day["target"]
            chart.bars.append(
                {
                    "x": round(x + band * 0.15, 1),
                    "y": round(y_steps(day["steps"]), 1),
                    "width": round(band * 0.7, 1),
                    "height": round(height, 1),
                    "met": met,
                }
            )
        target = day["target"]
        if target is not None:
            y = round(y_steps(target), 1)
            if previous is None:
                path.append(f"M{x:.1f},{y}")
            elif previous != y:
                path.append(f"L{x:.1f},{previous} L{x:.1f},{y}")
            path.append(f"L{x + band:.1f},{y}")
            previous = y
        for score in day.get("pain", []):
            chart.pain.append({"x": round(x + band / 2, 1), "y": round(y_pain(score), 1)})
        if day.get("exercise"):
            chart.exercise.append({"x": round(x + band / 2 - 3, 1), "y": chart.bottom + 4})
        for stack, tip in enumerate(day.get("tips", [])):
            chart.markers.append(_marker(chart, tip, x + band / 2, stack, day["date"]))
    chart.target_path = " ".join(path)
    chart.steps_ticks = [
        Tick(round(y_steps(scale * i / 4), 1), f"{scale * i // 4:,}") for i in range(5)
    ]
    chart.pain_ticks = [Tick(round(y_pain(v), 1), str(v)) for v in (0, 5, 10)]
    every = max(1, len(days) // 6)
    chart.day_ticks = [
        Tick(round(chart.left + i * band + band / 2, 1), days[i]["date"].strftime("%d %b"))
        for i in range(0, len(days), every)
    ]
    with_steps = [d for d in days if d["steps"] is not None]
    met = sum(1 for d in with_steps if d["target"] is not None and d["steps"] >= d["target"])
    chart.summary = (
        f"{len(days)} days from {days[0]['date']:%d %B} to {days[-1]['date']:%d %B}: steps on "
        f"{len(with_steps)} days, the target met on {met}; {len(chart.pain)} pain reports, "
        f"{len(chart.markers)} tips. The table below lists every day."
    )
    return chart


def _marker(chart: DayChart, tip: dict[str, Any], x: float, stack: int, day: dt.date) -> Marker:
    by = "Message from the clinician" if tip.get("category") == "clinician" else "Tip"
    lines = [f"{by}, {day:%d %b}:"]
    lines += textwrap.wrap(tip["title"], 38)
    lines += textwrap.wrap(f"Why: {tip['why']}", 38)
    lines.append(f"Feedback: {_feedback(tip)}")
    box_height = TIP_LINE * len(lines) + 10
    y = chart.top - 26 + min(stack, 3) * 8
    box_x = x - TIP_WIDTH - 8 if x > chart.left + (chart.right - chart.left) / 2 else x + 8
    box_y = min(y, chart.bottom - box_height)
    return Marker(
        x=round(x, 1),
        y=round(y, 1),
        label=f"{by} on {day:%d %B}: {tip_summary(tip)}",
        lines=lines,
        box_x=round(box_x, 1),
        box_y=round(max(box_y, 2), 1),
        box_height=box_height,
        clinician=tip.get("category") == "clinician",
    )


@dataclass
class Sparkline:
    """A 28-day miniature: step segments (gaps where no data) and the target path."""

    width: int
    height: int
    segments: list[str]
    target_path: str
    label: str


def sparkline(
    series: list[tuple[dt.date, int | None, int | None]], width: int = 140, height: int = 32
) -> Sparkline:
    """Steps (lines, broken where a day has no data) against the target (a step path)."""
    if not series:
        return Sparkline(width, height, [], "", "No data")
    top = max([s or 0 for _, s, _ in series] + [t or 0 for _, _, t in series] + [1])
    step = width / max(len(series) - 1, 1)

    def y(value: float) -> float:
        return round(height - 2 - (height - 4) * value / top, 1)

    segments: list[str] = []
    current: list[str] = []
    for index, (_, steps, _) in enumerate(series):
        if steps is None:
            if current:
                segments.append(" ".join(current))
            current = []
            continue
        current.append(f"{index * step:.1f},{y(steps)}")
    if current:
        segments.append(" ".join(current))
    # A lone point draws nothing as a polyline: widen it to a short dash.
    segments = [s if " " in s else f"{s} {s}" for s in segments]
    targets = [(i, t) for i, (_, _, t) in enumerate(series) if t is not None]
    target_path = " ".join(
        f"{'M' if n == 0 else 'L'}{i * step:.1f},{y(t)}" for n, (i, t) in enumerate(targets)
    )
    days = [s for _, s, _ in series if s is not None]
    met = sum(1 for _, s, t in series if s is not None and t is not None and s >= t)
    if days:
        label = (
            f"Steps over {len(series)} days: {len(days)} days with data, averaging "
            f"{round(sum(days) / len(days)):,}; the target was met on {met}."
        )
    else:
        label = f"No step data in the last {len(series)} days."
    return Sparkline(width, height, segments, target_path, label)
