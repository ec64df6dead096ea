"""Every request an adapter makes and every answer a fake gives keep to the provider's own
published description (tests/fixtures/contracts/), so neither can drift from it unnoticed."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from integrations.wearables import PROVIDERS, IntegrationError, WearableProvider
from tests.fakes.contracts import CONTRACTS_BY_PROVIDER, Contract
from tests.fakes.contracts_openapi import PolarContract
from tests.fakes.garmin import FakeGarmin
from tests.fakes.polar import ON_REQUEST, FakePolar
from tests.fakes.server import (
    CLIENT_ID,
    CLIENT_SECRET,
    Exchange,
    FakeProviderServer,
    FakeRequest,
    FakeResponse,
    load_payload,
)
from tests.integrations.wearables.conftest import (
    FAKES,
    TODAY,
    WEBHOOK_SECRET,
    link,
    make_provider,
)

TZ = ZoneInfo("Europe/Berlin")
CALLBACK = "https://backstride.test/v1/integrations/{name}/webhook"
DOCUMENTED = sorted(CONTRACTS_BY_PROVIDER)


def workload(name: str, fake: FakeProviderServer, provider: WearableProvider) -> None:
    """Drive an adapter through what the service does with it: link, fetch (several pages,
    a refresh, faults), subscribe, renew, backfill, unsubscribe and revoke. The fake has
    intraday steps this morning, so the answers that carry them are checked with data in."""
    morning = datetime.combine(TODAY, time(9), TZ).astimezone(UTC)
    fake.intraday = {morning + timedelta(minutes=m): 12 + m for m in range(20)}
    if isinstance(fake, FakePolar):
        fake.zone = TZ
    token = link(provider)
    callback = provider.callback_url(CALLBACK.format(name=name))
    subscriptions = provider.subscribe(token, callback_url=callback)
    for subscription in subscriptions:
        provider.renew(subscription)
    provider.request_backfill(token, now=datetime(2026, 5, 10, 12, tzinfo=UTC))
    if isinstance(fake, FakeGarmin):
        for kind in ("dailies", "activities", "manuallyUpdatedActivities", "epochs"):
            ping = fake.ping(kind, TODAY - timedelta(days=2), TODAY)
            [event] = provider.handle_webhook(
                method="POST",
                headers={},
                query={"secret": WEBHOOK_SECRET},
                body=json.dumps(ping).encode(),
            )
            cursor = provider.cursor_with_pending(None, event.pull)
            result = provider.fetch(token, cursor=cursor, tz=TZ, today=TODAY)
            assert bool(result.intraday) == (kind == "epochs")
    else:
        # Without a refresh grant (Polar), a patient whose token died links again.
        renew = provider.refresh if provider.refreshes else lambda _token: link(provider)
        first = provider.fetch(token, cursor=None, tz=TZ, today=TODAY)
        # The providers whose API has intraday steps answered with this morning's.
        assert sum(c.steps for c in first.intraday) == (
            sum(fake.intraday.values()) if name in ("google_health", "polar", "withings") else 0
        )
        token = renew(token)
        fake.rate_limit(retry_after=0)  # a 429, slept through
        provider.fetch(token, cursor=TODAY.isoformat(), tz=TZ, today=TODAY)
        fake.expire_access_token()  # a 401
        with pytest.raises(IntegrationError):
            provider.fetch(token, cursor=TODAY.isoformat(), tz=TZ, today=TODAY)
        token = renew(token)
    provider.unsubscribe(token, subscriptions, callback_url=callback)
    provider.revoke(token)


@pytest.fixture(params=DOCUMENTED)
def exercised(request: pytest.FixtureRequest) -> Iterator[tuple[str, list[Exchange]]]:
    """Yield a provider's name and every exchange its adapter had with its fake."""
    name = request.param
    with FAKES[name]() as fake:
        provider = make_provider(name, fake)
        workload(name, fake, provider)
        yield name, list(fake.exchanges)


def test_it_keeps_every_request_and_answer_to_the_published_description(
    exercised: tuple[str, list[Exchange]],
) -> None:
    name, exchanges = exercised
    contract = CONTRACTS_BY_PROVIDER[name]()
    checked = [e for e in exchanges if e.request.path not in contract.outside]
    assert len(checked) >= 4  # the workload reached the documented API, not only OAuth
    assert contract.check_all(exchanges) == []


def _first(exchanges: list[Exchange], test: Callable[[Exchange], bool]) -> Exchange:
    return next(e for e in exchanges if test(e))


def _with_path(exchange: Exchange, path: str) -> Exchange:
    return Exchange(replace(exchange.request, path=path), exchange.response)


def _with_query(exchange: Exchange, **query: str) -> Exchange:
    return Exchange(
        replace(exchange.request, query={**exchange.request.query, **query}), exchange.response
    )


def _with_form(exchange: Exchange, **fields: str) -> Exchange:
    form = {**exchange.request.form(), **fields}
    body = "&".join(f"{key}={value}" for key, value in form.items()).encode()
    return Exchange(replace(exchange.request, body=body), exchange.response)


def _with_body(exchange: Exchange, change: Callable[[object], object]) -> Exchange:
    body = change(copy.deepcopy(exchange.response.body))
    return Exchange(
        exchange.request, FakeResponse(exchange.response.status, body, exchange.response.headers)
    )


def _first_item(body: object, key: str | None = None) -> dict[str, object]:
    items = body[key] if key is not None else body  # type: ignore[index]
    return items[0]  # type: ignore[no-any-return,index]


def _rename(body: object, *path: str | int, old: str, new: str) -> object:
    node = body
    for step in path:
        node = node[step]  # type: ignore[index]
    node[new] = node.pop(old)  # type: ignore[union-attr]
    return body


# Each drift: (provider, which exchange, how it drifts). A mutated path in the adapter, a
# renamed field or a wrong type in a fake, or an undocumented parameter must all be caught.
DRIFTS: list[tuple[str, Callable[[Exchange], bool], Callable[[Exchange], Exchange]]] = [
    (
        "oura",
        lambda e: e.request.path == "/v2/usercollection/daily_activity",
        lambda e: _with_path(e, "/v2/usercollection/daily_activities"),
    ),
    (
        "oura",
        lambda e: e.request.path == "/v2/usercollection/daily_activity",
        lambda e: Exchange(replace(e.request, method="POST"), e.response),
    ),
    (
        "oura",
        lambda e: e.request.path == "/v2/usercollection/daily_activity",
        lambda e: _with_body(e, lambda b: _rename(b, "data", 0, old="steps", new="step_count")),
    ),
    (
        "strava",
        lambda e: e.request.path == "/athlete/activities",
        lambda e: _with_query(e, per_page="many"),
    ),
    (
        "strava",
        lambda e: e.request.path == "/athlete/activities" and bool(e.response.body),
        lambda e: _with_body(e, lambda b: _rename(b, 0, old="elapsed_time", new="elapsed")),
    ),
    (
        "google_health",
        lambda e: e.request.path.endswith(":dailyRollUp"),
        lambda e: _with_path(e, "/v4/users/me/dataTypes/steps/dataPoints:dailyRollup"),
    ),
    (
        "google_health",
        lambda e: e.request.path.endswith(":dailyRollUp") and e.response.status == 200,
        lambda e: _with_body(
            e, lambda b: _rename(b, "rollupDataPoints", 0, old="steps", new="stepCount")
        ),
    ),
    (
        "google_health",
        lambda e: e.request.path.endswith("/exercise/dataPoints"),
        lambda e: _with_query(e, pageSize="twenty"),
    ),
    (
        "withings",
        lambda e: e.request.form().get("action") == "getactivity",
        lambda e: _with_form(e, action="getactivities"),
    ),
    (
        "withings",
        lambda e: e.request.form().get("action") == "getworkouts",
        lambda e: _with_form(e, lastupdate="1715000000"),  # not with startdateymd
    ),
    (
        "withings",
        lambda e: e.request.form().get("action") == "getworkouts" and e.response.status == 200,
        lambda e: _with_body(e, lambda b: _set(b, ["body", "series", 0, "category"], "walk")),
    ),
    (
        "withings",
        lambda e: e.request.form().get("action") == "revoke" and e.request.path == "/v2/oauth2",
        lambda e: _with_form(e, userid="twelve"),
    ),
    (
        "polar",
        lambda e: e.request.path == "/v3/users/activities",
        lambda e: _with_path(e, "/v3/users/activity"),
    ),
    (
        "polar",
        lambda e: e.request.path == "/v3/users/activities" and e.response.status == 200,
        lambda e: _with_body(e, lambda b: _rename(b, 0, old="steps", new="step_count")),
    ),
    (
        "polar",
        lambda e: e.request.path == "/v3/users/activities",
        lambda e: _with_query(e, **{"from": "2026-03-01"}),  # beyond the 28-day range
    ),
    (
        "polar",
        lambda e: e.request.path == "/v3/exercises" and bool(e.response.body),
        lambda e: _with_body(e, lambda b: _set(b, [0, "detailed_sport_info"], 17)),
    ),
    (
        "polar",
        lambda e: e.request.path == "/v2/oauth2/token" and e.response.status == 200,
        lambda e: _with_body(e, lambda b: {**b, "refresh_token": "r1"}),  # none is documented
    ),
    (
        "polar",
        lambda e: e.request.path == "/v2/oauth2/token",
        lambda e: _with_form(e, grant_type="refresh_token"),
    ),
    (
        "garmin",
        lambda e: e.request.path == "/wellness-api/rest/dailies",
        lambda e: _with_body(e, lambda b: _rename(b, 0, old="steps", new="stepCount")),
    ),
    (
        "garmin",
        lambda e: e.request.path.startswith("/wellness-api/rest/backfill/"),
        lambda e: _with_query(e, summaryStartTimeInSeconds="0"),  # far beyond 90 days
    ),
]


def _set(body: object, path: list[str | int], value: object) -> object:
    node = body
    for step in path[:-1]:
        node = node[step]  # type: ignore[index]
    node[path[-1]] = value  # type: ignore[index]
    return body


@pytest.mark.parametrize(
    ("name", "pick", "drift"), DRIFTS, ids=[f"{d[0]}-{n}" for n, d in enumerate(DRIFTS)]
)
def test_it_catches_a_request_or_answer_that_drifts_from_the_description(
    name: str,
    pick: Callable[[Exchange], bool],
    drift: Callable[[Exchange], Exchange],
) -> None:
    with FAKES[name]() as fake:
        workload(name, fake, make_provider(name, fake))
        exchange = _first(list(fake.exchanges), pick)
    contract: Contract = CONTRACTS_BY_PROVIDER[name]()
    assert contract.check(exchange) == []
    assert contract.check(drift(exchange)) != []


def test_it_routes_withings_by_action_and_its_alternatives() -> None:
    contract = CONTRACTS_BY_PROVIDER["withings"]()
    bearer = {"authorization": "Bearer x"}
    form = b"action=subscribe&callbackurl=https%3A%2F%2Fb.test&appli=16"
    request = FakeRequest("POST", "/notify", {}, bearer, form)
    answer = FakeResponse(200, {"status": 0, "body": {}})
    assert contract.check(Exchange(request, answer)) == []  # token: no nonce or signature
    unsigned = replace(request, headers={})
    assert contract.check(Exchange(unsigned, answer)) != []  # neither token nor signature


def test_polar_documented_examples_keep_to_the_excerpt_and_a_drifted_one_does_not() -> None:
    contract = PolarContract()
    exercises = load_payload("polar_exercises_list.json")
    activities = load_payload("polar_users_activities.json")
    assert contract.validate("exercisesHashId", exercises) == []
    assert contract.validate("array-of-activity-summary-with-all-samples", activities) == []
    activities[0]["step_count"] = activities[0].pop("steps")
    assert contract.validate("array-of-activity-summary-with-all-samples", activities) != []


def test_polar_reads_walks_from_detailed_sport_info_of_the_documented_exercise() -> None:
    [documented] = load_payload("polar_exercises_list.json")  # sport OTHER, a water ski
    # Samples, zones and route come only when asked for (and the document's own sample-type
    # "1" is not the base64 its `format: byte` says), so the list serves the rest.
    example = {key: value for key, value in documented.items() if key not in ON_REQUEST}
    walk = {**example, "id": "walk1", "detailed_sport_info": "WALKING"}
    not_a_walk = {**example, "id": "run1", "sport": "WALKING", "detailed_sport_info": "RUNNING"}
    day = datetime.fromisoformat(example["start_time"]).date()
    with FakePolar() as fake:
        fake.served_exercises = [example, walk, not_a_walk]
        provider = make_provider("polar", fake)
        result = provider.fetch(link(provider), cursor=None, tz=TZ, today=day)
        exchanges = list(fake.exchanges)
    [session] = result.sessions
    assert session.external_id == "polar:walk1"
    # Local 10:40:02 at UTC+180 minutes is 07:40:02 UTC; PT2H44M later it ends.
    assert session.start == datetime(2008, 10, 13, 7, 40, 2, tzinfo=UTC)
    assert session.end - session.start == timedelta(hours=2, minutes=44)
    assert session.distance_m == 1600
    assert PolarContract().check_all(exchanges) == []


def test_polar_webhooks_keep_to_the_documented_payloads_and_signature() -> None:
    contract = PolarContract()
    body = json.dumps(load_payload("polar_webhook_exercise.json")).encode()
    ping = load_payload("polar_webhook_ping.json")
    assert contract.check_webhook(json.loads(body)) == []
    assert contract.check_webhook(ping) == []
    assert contract.check_webhook({**json.loads(body), "user_id": "475"}) != []
    assert contract.check_webhook({"event": "WORKOUT", "user_id": 475}) != []
    provider = PROVIDERS["polar"](
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, webhook_secret=WEBHOOK_SECRET
    )
    signature = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    [event] = provider.handle_webhook(  # type: ignore[misc]
        method="POST", headers={"Polar-Webhook-Signature": signature}, query={}, body=body
    )
    assert (event.kind, event.provider_user_id) == ("activity", "475")
