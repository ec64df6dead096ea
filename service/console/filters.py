"""Template filters: dates, ages and numbers the way a clinician reads them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Flask

from service.db import utcnow


def ago(moment: dt.datetime | None, now: dt.datetime | None = None) -> str:
    """'just now', '5 min ago', '3 h ago', '2 days ago', or 'never'."""
    if moment is None:
        return "never"
    seconds = ((now or utcnow()) - moment).total_seconds()
    if seconds < 90:
        return "just now"
    if seconds < 3600:
        return f"{round(seconds / 60)} min ago"
    if seconds < 48 * 3600:
        return f"{round(seconds / 3600)} h ago"
    return f"{round(seconds / 86400)} days ago"


def when(moment: dt.datetime | None) -> str:
    """An instant as '29 Nov 2026, 14:05 UTC'."""
    if moment is None:
        return "-"
    return moment.astimezone(dt.UTC).strftime("%d %b %Y, %H:%M UTC")


def day(value: dt.date | None) -> str:
    """A date as 'Sun 29 Nov'."""
    return "-" if value is None else value.strftime("%a %d %b")


def number(value: Any) -> str:
    """A count with thousands separators, rounded; '-' when missing."""
    if value is None:
        return "-"
    return f"{round(value):,}"


def register(app: Flask) -> None:
    """Make the filters available to every template."""
    for function in (ago, when, day, number):
        app.add_template_filter(function)
