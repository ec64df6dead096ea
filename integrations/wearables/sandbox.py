"""A deterministic synthetic provider for the demo and tests: no HTTP, personas instead of users.

The "token" is the persona name. Each persona is a small seeded model of four weeks of walking
counted back from `today`; the same inputs always give the same outputs. Days come with their
walks and with intraday counts per quarter hour (07:00-21:00 local: the walks' steps in their
quarter hours, the rest of the day spread over the waking hours), as providers with an intraday
API report them. `integrations.wearables.sandbox_cohort` simulates cohorts whose response to a
tip is known, for validating the outcome estimates.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import ClassVar
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from integrations.wearables.base import (
    DailyActivity,
    FetchResult,
    IntradaySteps,
    ReauthRequired,
    TokenSet,
    WalkingSession,
    WearableProvider,
    WebhookEvent,
    WebhookRejected,
    WebhookResponse,
    fetch_window,
)

PERSONAS = (
    "steady_improver",
    "pain_flare_week3",
    "plateau",
    "low_adherence",
    "red_flag",
    "spinal_stenosis",
)
DEFAULT_PERSONA = "steady_improver"
PROGRAM_DAYS = 28  # the model's programme started this many days before `today`
QUARTERS = 56  # quarter hours from 07:00 to 21:00


@dataclass(frozen=True)
class SyntheticPainReport:
    """A pain report the demo seed can store."""

    score: int
    recorded_at: datetime  # aware UTC
    red_flags: tuple[str, ...] = ()


def _rng(*parts: object) -> random.Random:
    """Return a Random seeded from the parts (stable across runs and Python versions)."""
    seed = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(seed[:8], "big"))  # noqa: S311 - not security


def _programme_day(day: date, today: date) -> int:
    """Return the day's index in the programme (0 = first day, today = PROGRAM_DAYS - 1)."""
    return (day - today).days + PROGRAM_DAYS - 1


def persona_steps(persona: str, day: date, today: date) -> int | None:
    """Return the persona's steps on `day` (None: no data, the device was not worn)."""
    n = _programme_day(day, today)
    rng = _rng(persona, day.isoformat())
    noise = rng.uniform(0.9, 1.1)
    if persona == "steady_improver":
        base = 3000 * (1.05 ** (max(n, 0) / 7))
    elif persona == "pain_flare_week3":
        base = 3500 * (1.05 ** (max(n, 0) / 7))
        if 14 <= n < 21:
            base *= 0.45
    elif persona == "plateau":
        base = 4500
    elif persona == "low_adherence":
        if rng.random() < 0.45:
            return None
        base = 2200
    elif persona == "red_flag":
        base = 4000 if n < PROGRAM_DAYS - 4 else 900
    elif persona == "spinal_stenosis":
        base = 2600 + 15 * max(n, 0)  # short, frequent walks: slow build
    else:
        raise ValueError(f"unknown sandbox persona {persona!r}")
    return round(base * noise)


def persona_pain_reports(
    persona: str, start: date, end: date, tz: ZoneInfo, today: date | None = None
) -> list[SyntheticPainReport]:
    """Return the persona's pain reports for local days start..end, one most evenings."""
    if persona not in PERSONAS:
        raise ValueError(f"unknown sandbox persona {persona!r}")
    today = today or end
    reports: list[SyntheticPainReport] = []
    day = start
    while day <= end:
        n = _programme_day(day, today)
        rng = _rng(persona, "pain", day.isoformat())
        if rng.random() < 0.7:
            score = 4 - n // 7 if persona == "steady_improver" else 4
            flags: tuple[str, ...] = ()
            if persona == "pain_flare_week3" and 14 <= n < 21:
                score = 7
            elif persona == "red_flag" and n >= PROGRAM_DAYS - 3:
                score, flags = 8, ("leg_weakness", "numbness_saddle")
            elif persona == "spinal_stenosis":
                score = 5
            score = max(0, min(10, score + rng.choice((-1, 0, 0, 1))))
            at = datetime.combine(day, time(20, rng.randrange(60)), tzinfo=tz).astimezone(UTC)
            reports.append(SyntheticPainReport(score, at, flags))
        day += timedelta(days=1)
    return reports


class SandboxProvider(WearableProvider):
    """The demo provider: consent is instant, data is synthetic and reproducible."""

    name: ClassVar[str] = "sandbox"
    title: ClassVar[str] = "Sandbox"  # ours: no quota
    # An export must not pass its made-up steps off as a patient's walking.
    source_title: ClassVar[str | None] = "Backstride sandbox (synthetic data)"
    default_scopes: ClassVar[tuple[str, ...]] = ("steps",)

    @staticmethod
    def token_for(persona: str) -> TokenSet:
        """Return the token of a persona (for seeding a demo connection)."""
        if persona not in PERSONAS:
            raise ValueError(f"unknown sandbox persona {persona!r}")
        return TokenSet(persona, persona, None, ("steps",), f"sandbox-{persona}")

    def authorize_url(self, *, state: str, redirect_uri: str, code_challenge: str | None) -> str:
        """Point straight back at the service callback; the code is the default persona."""
        return f"{redirect_uri}?{urlencode({'code': DEFAULT_PERSONA, 'state': state})}"

    def exchange_code(self, *, code: str, redirect_uri: str, code_verifier: str | None) -> TokenSet:
        """Accept a persona name as the code."""
        if code not in PERSONAS:
            raise ReauthRequired("sandbox: unknown persona code", permanent=True, status=400)
        return self.token_for(code)

    def refresh(self, token: TokenSet) -> TokenSet:
        """Return the same persona token (nothing expires in the sandbox)."""
        return self.token_for(token.access_token)

    def fetch(
        self,
        token: TokenSet,
        *,
        cursor: str | None,
        tz: ZoneInfo,
        today: date,
        lookback_days: int = 3,
        max_days: int = 30,
    ) -> FetchResult:
        """Generate the persona's days and walks for the window."""
        persona = token.access_token
        if persona not in PERSONAS:
            raise ReauthRequired("sandbox: unknown persona", permanent=True, status=401)
        first, last = fetch_window(cursor, today, lookback_days, max_days)
        days: list[DailyActivity] = []
        sessions: list[WalkingSession] = []
        intraday: list[IntradaySteps] = []
        day = first
        while day <= last:
            steps = persona_steps(persona, day, today)
            if steps is not None:
                days.append(
                    DailyActivity(day, steps, round(steps * 0.75, 1), steps // 110, self.name)
                )
                walks = self._walks(persona, day, steps, tz)
                sessions.extend(walks)
                intraday.extend(self._quarter_hours(persona, day, steps, walks, tz))
            day += timedelta(days=1)
        return FetchResult(days, sessions, last.isoformat(), [], intraday)

    def _quarter_hours(
        self, persona: str, day: date, steps: int, walks: list[WalkingSession], tz: ZoneInfo
    ) -> list[IntradaySteps]:
        """The day's steps per quarter hour, 07:00-21:00 local; they add up to the total."""
        start = datetime.combine(day, time(7, 0), tzinfo=tz).astimezone(UTC)
        slots = [start + timedelta(minutes=15 * i) for i in range(QUARTERS)]
        counts = [0] * QUARTERS
        for walk in walks:
            index = min(max(int((walk.start - start).total_seconds() // 900), 0), QUARTERS - 1)
            counts[index] += walk.steps or 0
        rng = _rng(persona, "intraday", day.isoformat())
        weights = [rng.random() for _ in range(QUARTERS)]
        rest, total = steps - sum(counts), sum(weights)
        for i, weight in enumerate(weights):
            counts[i] += int(rest * weight / total)
        counts[-1] += steps - sum(counts)  # what rounding left over
        return [IntradaySteps(at, 15, n, self.name) for at, n in zip(slots, counts, strict=True)]

    def _walks(self, persona: str, day: date, steps: int, tz: ZoneInfo) -> list[WalkingSession]:
        """A morning walk carrying about half the day's steps (two short ones for stenosis)."""
        parts = 2 if persona == "spinal_stenosis" else 1
        walks = []
        for i in range(parts):
            walk_steps = steps // (2 * parts)
            start = datetime.combine(day, time(9 + 6 * i, 0), tzinfo=tz).astimezone(UTC)
            minutes = max(5, walk_steps // 100)
            walks.append(
                WalkingSession(
                    f"sandbox:{persona}:{day.isoformat()}:{i}",
                    start,
                    start + timedelta(minutes=minutes),
                    walk_steps,
                    round(walk_steps * 0.75, 1),
                    self.name,
                )
            )
        return walks

    def handle_webhook(
        self, *, method: str, headers: Mapping[str, str], query: Mapping[str, str], body: bytes
    ) -> WebhookResponse | list[WebhookEvent]:
        """The sandbox sends no webhooks: refuse every call."""
        raise WebhookRejected("sandbox: no webhooks", permanent=True, status=403)
