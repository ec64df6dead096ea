"""Delivery policy in the patient's own calendar: quiet hours, the local day, a tip's useful life.

Everything here works in the patient's IANA time zone and returns aware UTC datetimes. Local
times that a DST change skips (02:30 on a spring-forward night) are read with the offset before
the change, i.e. they land just after the gap; repeated times (fall back) take their first
occurrence. A window whose start equals its end means no quiet hours.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from service.patients.models import PatientProfile

QuietHours = tuple[dt.time, dt.time]

# A nudge ("walk this afternoon") that arrives the next day does more harm than good: the inbox
# still has it. Urgent tips (red flags: stop, seek care) stay relevant for longer and should
# reach a phone that was off for a day or two, so they live three days.
TIP_LIFETIME = dt.timedelta(hours=24)
URGENT_TIP_LIFETIME = dt.timedelta(hours=72)


@dataclass(frozen=True)
class QuietWindow:
    """One occurrence of the quiet hours, as aware UTC instants [start, end)."""

    start: dt.datetime
    end: dt.datetime

    def contains(self, moment: dt.datetime) -> bool:
        """Say whether moment falls inside the window."""
        return self.start <= moment < self.end


def zone_of(name: str | None) -> ZoneInfo:
    """Return the patient's zone, or UTC when the name is missing or unknown."""
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def parse_quiet_hours(text: str | None) -> QuietHours | None:
    """Read "HH:MM-HH:MM" as stored on a delivery; None when empty or malformed."""
    if not text or "-" not in text:
        return None
    start, _, end = text.partition("-")
    try:
        return dt.time.fromisoformat(start), dt.time.fromisoformat(end)
    except ValueError:
        return None


def format_quiet_hours(hours: QuietHours | None) -> str | None:
    """Write quiet hours as "HH:MM-HH:MM" (the delivery's column)."""
    if hours is None:
        return None
    return f"{hours[0].strftime('%H:%M')}-{hours[1].strftime('%H:%M')}"


def effective_quiet_hours(
    profile: PatientProfile | None, fallback: QuietHours | None
) -> QuietHours | None:
    """Return the patient's own quiet hours when set, else the rule set's (fallback)."""
    if profile is not None and profile.quiet_start and profile.quiet_end:
        try:
            return dt.time.fromisoformat(profile.quiet_start), dt.time.fromisoformat(
                profile.quiet_end
            )
        except ValueError:
            pass  # a malformed stored value must not stop delivery; use the rule set's
    return fallback


def _at(day: dt.date, moment: dt.time, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, moment, tzinfo=zone).astimezone(dt.UTC)


def window_around(hours: QuietHours | None, zone: ZoneInfo, now: dt.datetime) -> QuietWindow | None:
    """Return the occurrence of hours that contains now, else the next one; None without hours."""
    if hours is None or hours[0] == hours[1]:
        return None
    start, end = hours
    crosses_midnight = end < start
    today = now.astimezone(zone).date()
    # Yesterday's window may still be running (21:00-08:00 at 02:00); tomorrow's is the next
    # one when today's has already ended.
    for offset in (-1, 0, 1):
        day = today + dt.timedelta(days=offset)
        end_day = day + dt.timedelta(days=1) if crosses_midnight else day
        window = QuietWindow(_at(day, start, zone), _at(end_day, end, zone))
        if now < window.end:
            return window
    return None  # unreachable: tomorrow's window always ends after now


def quiet_window(
    profile: PatientProfile | None, fallback: QuietHours | None, now: dt.datetime
) -> QuietWindow | None:
    """Return the patient's quiet window containing now (or the next one), in UTC."""
    zone = zone_of(profile.timezone if profile is not None else None)
    return window_around(effective_quiet_hours(profile, fallback), zone, now)


def push_not_before(
    hours: QuietHours | None, zone: ZoneInfo, now: dt.datetime, *, urgent: bool
) -> dt.datetime:
    """Return when a push may go: now, or the end of the quiet hours now falls in."""
    if urgent:
        return now
    window = window_around(hours, zone, now)
    return window.end if window is not None and window.contains(now) else now


def local_day_bounds(
    profile: PatientProfile | None, now: dt.datetime
) -> tuple[dt.datetime, dt.datetime]:
    """Return the patient-local calendar day containing now, as UTC [start, end)."""
    zone = zone_of(profile.timezone if profile is not None else None)
    today = now.astimezone(zone).date()
    # Midnight may not exist (a few zones change at 00:00); _at then lands just after the gap.
    return _at(today, dt.time(0), zone), _at(today + dt.timedelta(days=1), dt.time(0), zone)


def tip_expiry(created_at: dt.datetime, *, urgent: bool) -> dt.datetime:
    """Return when a tip's push stops being worth sending."""
    return created_at + (URGENT_TIP_LIFETIME if urgent else TIP_LIFETIME)
