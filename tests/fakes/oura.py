"""Fake Oura API v2 answering with the recorded payload shapes."""

from __future__ import annotations

import copy
import itertools
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import requests

from tests.fakes.server import (
    CLIENT_ID,
    CLIENT_SECRET,
    FakeProviderServer,
    FakeRequest,
    FakeResponse,
    load_payload,
)

PAGE_SIZE = 2  # small, so every test crosses a next_token page boundary
SUBSCRIPTION_TTL = timedelta(days=30)


def _dates(request: FakeRequest) -> list[date]:
    start = date.fromisoformat(request.query["start_date"][:10])
    end = date.fromisoformat(request.query["end_date"][:10])
    return [start + timedelta(n) for n in range((end - start).days)]


class FakeOura(FakeProviderServer):
    """Oura: /v2/usercollection/daily_activity and /workout, paginated with next_token."""

    authorize_path = "/oauth/authorize"
    token_path = "/oauth/token"

    user_id = "8f4b2c1e-oura-user"

    def __init__(self, *, now: datetime | None = None) -> None:
        """`now` is the test's clock (subscription expiry times); without one, the real time,
        read once."""
        super().__init__()
        self.daily_template = load_payload("oura_v2_usercollection_daily_activity.json")["data"][0]
        workouts = load_payload("oura_v2_usercollection_workout.json")["data"]
        self.walk_template = next(w for w in workouts if w["activity"] == "walking")
        self.run_template = next(w for w in workouts if w["activity"] == "running")
        # WebhookSubscriptionModel by id; `now` is when the fake thinks it is (expiry times).
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.now = now or datetime.now(UTC)
        self.verify_callbacks = False  # GET the callback with a challenge, as Oura does
        self._ids = itertools.count(1)

    @staticmethod
    def meta(day: date) -> dict[str, Any]:
        """Metadata, required on every document since OpenAPI 1.29 (the recorded 2024
        samples predate it)."""
        return {"updated_at": f"{day.isoformat()}T23:00:00Z", "version": 1}

    def daily_item(self, day: date) -> dict[str, Any]:
        """Return one daily_activity document in Oura's shape."""
        item = copy.deepcopy(self.daily_template)
        item.update(
            id=f"daily-{day.isoformat()}",
            day=day.isoformat(),
            timestamp=f"{day.isoformat()}T04:00:00+01:00",
            steps=self.steps_for(day),
            equivalent_walking_distance=round(self.steps_for(day) * 0.75),
            meta=self.meta(day),
        )
        if day in self.corrupt_days:
            item["steps"] = "lots"
        return item

    def workout_items(self, day: date) -> list[dict[str, Any]]:
        """Return a walk every day and a run on even days."""
        walk = copy.deepcopy(self.walk_template)
        walk.update(
            id=f"walk-{day.isoformat()}",
            day=day.isoformat(),
            start_datetime=f"{day.isoformat()}T09:07:00+02:00",
            end_datetime=f"{day.isoformat()}T09:48:00+02:00",
            distance=2400.5,
            meta=self.meta(day),
        )
        items = [walk]
        if day.toordinal() % 2 == 0:
            run = copy.deepcopy(self.run_template)
            run.update(id=f"run-{day.isoformat()}", day=day.isoformat(), meta=self.meta(day))
            items.append(run)
        return items

    def public(self, request: FakeRequest) -> FakeResponse | None:
        """Serve the webhook subscription API (app credentials, no bearer token)."""
        if not request.path.startswith("/v2/webhook/subscription"):
            return None
        credentials = (request.headers.get("x-client-id"), request.headers.get("x-client-secret"))
        if credentials != (CLIENT_ID, CLIENT_SECRET):
            return FakeResponse(401, {"detail": "Unauthorized"})
        parts = request.path.split("/")[4:]  # after /v2/webhook/subscription
        if not parts and request.method == "GET":
            with self._lock:
                return FakeResponse(200, list(self.subscriptions.values()))
        if not parts and request.method == "POST":
            return self.create_subscription(request.json())
        if len(parts) == 2 and parts[0] == "renew" and request.method == "PUT":
            with self._lock:
                found = self.subscriptions.get(parts[1])
                if found is None:
                    return FakeResponse(403, {"detail": "Forbidden"})
                found["expiration_time"] = (self.now + SUBSCRIPTION_TTL).isoformat()
                return FakeResponse(200, dict(found))
        if len(parts) == 1 and request.method == "DELETE":
            with self._lock:
                self.subscriptions.pop(parts[0], None)
            return FakeResponse(204)
        return FakeResponse(404, {"detail": "Not Found"})

    def create_subscription(self, body: dict[str, Any]) -> FakeResponse:
        """POST /v2/webhook/subscription: verify the callback (when asked to), then store."""
        missing = {"callback_url", "verification_token", "event_type", "data_type"} - set(body)
        if missing:
            return FakeResponse(422, {"detail": f"missing {sorted(missing)}"})
        if self.verify_callbacks:
            challenge = f"challenge-{next(self._ids)}"
            answer = requests.get(
                body["callback_url"],
                params={"verification_token": body["verification_token"], "challenge": challenge},
                timeout=5,
            )
            if answer.status_code != 200 or answer.json() != {"challenge": challenge}:
                return FakeResponse(422, {"detail": "Callback verification failed"})
        item = {
            "id": str(uuid.UUID(int=next(self._ids))),
            "callback_url": body["callback_url"],
            "event_type": body["event_type"],
            "data_type": body["data_type"],
            "expiration_time": (self.now + SUBSCRIPTION_TTL).isoformat(),
        }
        with self._lock:
            self.subscriptions[item["id"]] = item
        return FakeResponse(201, dict(item))

    def route(self, request: FakeRequest) -> FakeResponse:
        """Serve the usercollection endpoints."""
        if request.path == "/v2/usercollection/personal_info":
            # The documented PersonalInfoResponse; `id` is the user_id webhooks carry.
            return FakeResponse(
                200,
                {
                    "id": self.user_id,
                    "age": 41,
                    "weight": 70.5,
                    "height": 1.74,
                    "biological_sex": "female",
                    "email": None,
                },
            )
        if request.path == "/v2/usercollection/daily_activity":
            items = [self.daily_item(d) for d in _dates(request)]
        elif request.path == "/v2/usercollection/workout":
            items = [w for d in _dates(request) for w in self.workout_items(d)]
        else:
            return FakeResponse(404, {"detail": "Not Found"})
        offset = int(request.query.get("next_token", "0"))
        page = items[offset : offset + PAGE_SIZE]
        more = offset + PAGE_SIZE < len(items)
        return FakeResponse(
            200, {"data": page, "next_token": str(offset + PAGE_SIZE) if more else None}
        )

    def unauthorized(self) -> FakeResponse:
        """Oura: 401 'access token is expired, malformed or revoked'."""
        return FakeResponse(401, {"detail": "Unauthorized"})

    def rate_limit_body(self) -> Any:
        """Oura's 429 text."""
        return {"detail": "Request Rate Limit Exceeded"}
