"""The sandbox provider is deterministic and its personas behave as named."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest

from integrations.wearables import PROVIDERS, ReauthRequired
from integrations.wearables.sandbox import PERSONAS, SandboxProvider, persona_pain_reports

TODAY = date(2026, 11, 27)
TZ = ZoneInfo("America/Los_Angeles")


def sandbox() -> SandboxProvider:
    provider = PROVIDERS["sandbox"](client_id="demo", client_secret="demo")
    assert isinstance(provider, SandboxProvider)
    return provider


@pytest.mark.parametrize("persona", PERSONAS)
def test_it_gives_the_same_output_for_the_same_input(persona: str) -> None:
    token = SandboxProvider.token_for(persona)
    first = sandbox().fetch(token, cursor=None, tz=TZ, today=TODAY, max_days=28)
    second = sandbox().fetch(token, cursor=None, tz=TZ, today=TODAY, max_days=28)
    assert first == second
    assert first.days, "every persona has some data"
    assert len({d.date for d in first.days}) == len(first.days)
    assert len({s.external_id for s in first.sessions}) == len(first.sessions)


def test_it_makes_personas_differ() -> None:
    def steps(persona: str) -> list[int]:
        token = SandboxProvider.token_for(persona)
        result = sandbox().fetch(token, cursor=None, tz=TZ, today=TODAY, max_days=28)
        return [d.steps for d in result.days]

    improver = steps("steady_improver")
    assert sum(improver[-7:]) > sum(improver[:7]) * 1.1
    flare = steps("pain_flare_week3")
    assert sum(flare[14:21]) < sum(flare[7:14]) * 0.7
    assert len(steps("low_adherence")) < 24
    assert sum(steps("red_flag")[-3:]) < 3500


def test_it_links_through_the_callback_without_http() -> None:
    url = sandbox().authorize_url(
        state="s1", redirect_uri="http://127.0.0.1:8000/cb", code_challenge=None
    )
    assert url == "http://127.0.0.1:8000/cb?code=steady_improver&state=s1"
    token = sandbox().exchange_code(code="plateau", redirect_uri="x", code_verifier=None)
    assert token.access_token == "plateau"
    assert sandbox().refresh(token) == token
    with pytest.raises(ReauthRequired):
        sandbox().exchange_code(code="nobody", redirect_uri="x", code_verifier=None)


def test_it_places_walks_at_local_morning_across_dst() -> None:
    token = SandboxProvider.token_for("plateau")
    dst_end = date(2026, 11, 1)
    result = sandbox().fetch(
        token, cursor=dst_end.isoformat(), tz=TZ, today=dst_end + timedelta(1), lookback_days=2
    )
    assert {s.start.astimezone(TZ).hour for s in result.sessions} == {9}
    assert {s.start.utcoffset() for s in result.sessions} == {timedelta(0)}


def test_it_gives_deterministic_pain_reports_with_red_flags() -> None:
    start, end = TODAY - timedelta(days=27), TODAY
    reports = persona_pain_reports("red_flag", start, end, TZ)
    assert reports == persona_pain_reports("red_flag", start, end, TZ)
    assert any(
        "leg_weakness" in r.red_flags for r in reports if r.recorded_at.date() >= end - timedelta(3)
    )
    assert all(0 <= r.score <= 10 for r in reports)
    calm = persona_pain_reports("plateau", start, end, TZ)
    assert all(r.red_flags == () for r in calm)
