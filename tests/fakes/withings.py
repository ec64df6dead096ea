"""Fake Withings API in its `{status, body}` envelopes: requesttoken, getactivity,
getintradayactivity, getworkouts, notify subscribe/revoke, and the signed calls (getnonce,
oauth2 revoke) per Withings' OpenAPI document
(tests/fixtures/contracts/withings_openapi_excerpt.yaml)."""

from __future__ import annotations

import copy
import hashlib
import hmac
import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tests.fakes.server import (
    CLIENT_ID,
    CLIENT_SECRET,
    FakeProviderServer,
    FakeRequest,
    FakeResponse,
    load_payload,
)

USER_ID = "12345678"
PAGE_SIZE = 3  # small, so fetches cross page boundaries
UNKNOWN_ACTION = {"status": 2554, "body": {}, "error": "Unknown action"}


def signature_of(params: dict[str, str]) -> str:
    """Withings' signature: HMAC-SHA256 (client secret) of the values sorted by name."""
    message = ",".join(params[key] for key in sorted(params))
    return hmac.new(CLIENT_SECRET.encode(), message.encode(), hashlib.sha256).hexdigest()


class FakeWithings(FakeProviderServer):
    """Withings: HTTP 200 everywhere, the outcome in `status`."""

    authorize_path = "/oauth2_user/authorize2"
    token_path = "/v2/oauth2"

    def __init__(self) -> None:
        super().__init__()
        self.token_sample = load_payload("withings_oauth2_requesttoken.json")
        activity = load_payload("withings_measure_getactivity.json")
        self.activity_template = activity["body"]["activities"][0]
        # The published sample's series: a minute with steps, and an interval without any.
        series = load_payload("withings_measure_getintradayactivity.json")["body"]["series"]
        self.minute_template = series["1434758640"]
        self.gap_template = series["1434758700"]
        self.nonces: set[str] = set()
        self._nonce_counter = itertools.count(1)
        self.revoked_users: list[str] = []
        # (userid, appli) -> callbackurl, as notify subscribe left them.
        self.subscriptions: dict[tuple[str, str], str] = {}
        self.status_override: int | None = None  # answer data calls with this status
        self.page_size = PAGE_SIZE

    # --- OAuth and signed calls ---------------------------------------------------------------

    def token(self, request: FakeRequest) -> FakeResponse:
        """Withings multiplexes /v2/oauth2 on `action`: requesttoken, revoke (signed)."""
        action = request.form().get("action")
        if action == "revoke":
            return self.revoke(request.form())
        if action != "requesttoken":
            return FakeResponse(200, UNKNOWN_ACTION)
        return super().token(request)

    def take_nonce(self, form: dict[str, str]) -> bool:
        """Check a signed call: a nonce we issued, unused, and the signature over it."""
        signed = {key: form.get(key, "") for key in ("action", "client_id", "nonce")}
        with self._lock:
            fresh = form.get("nonce") in self.nonces
            self.nonces.discard(form.get("nonce", ""))
        return (
            fresh
            and form.get("client_id") == CLIENT_ID
            and "client_secret" not in form
            and hmac.compare_digest(form.get("signature", ""), signature_of(signed))
        )

    def revoke(self, form: dict[str, str]) -> FakeResponse:
        """oauth2 action=revoke: tokens die and the user's notifications go with them."""
        if not self.take_nonce(form):
            return FakeResponse(200, {"status": 293, "body": {}, "error": "Invalid signature"})
        user = form.get("userid", "")
        with self._lock:
            self.revoked_users.append(user)
            self.access_tokens.clear()
            self.refresh_tokens.clear()
            for key in [key for key in self.subscriptions if key[0] == user]:
                del self.subscriptions[key]
        return FakeResponse(200, {"status": 0, "body": {}})

    def getnonce(self, form: dict[str, str]) -> FakeResponse:
        """signaturev2-getnonce: signed over action, client_id and timestamp."""
        signed = {key: form.get(key, "") for key in ("action", "client_id", "timestamp")}
        good = form.get("client_id") == CLIENT_ID and hmac.compare_digest(
            form.get("signature", ""), signature_of(signed)
        )
        if not good:
            return FakeResponse(200, {"status": 293, "body": {}, "error": "Invalid signature"})
        nonce = f"nonce-{next(self._nonce_counter)}"
        with self._lock:
            self.nonces.add(nonce)
        return FakeResponse(200, {"status": 0, "body": {"nonce": nonce}})

    def public(self, request: FakeRequest) -> FakeResponse | None:
        """Serve /v2/signature (no bearer token: signed with the client secret)."""
        if request.path == "/v2/signature" and request.form().get("action") == "getnonce":
            return self.getnonce(request.form())
        return None

    def token_response(self, access: str, refresh: str) -> FakeResponse:
        """Answer in the requesttoken envelope."""
        body = dict(self.token_sample["body"], access_token=access, refresh_token=refresh)
        body["userid"] = int(USER_ID)  # an integer in oauth2-getaccesstoken's response
        return FakeResponse(200, {"status": 0, "body": body})

    def token_error(self, status: int, error: str) -> FakeResponse:
        """Withings: HTTP 200, non-zero status."""
        return FakeResponse(
            200,
            {
                "status": 503 if status == 400 else 401,
                "body": {},
                "error": f"Invalid Params: {error}",
            },
        )

    def unauthorized(self) -> FakeResponse:
        """Withings: HTTP 200, status 401."""
        return FakeResponse(
            200, {"status": 401, "body": {}, "error": "XRequestID: Not provided invalid_token"}
        )

    # --- data ---------------------------------------------------------------------------------

    def activity(self, day: date) -> dict[str, Any]:
        """Return one getactivity record."""
        item = copy.deepcopy(self.activity_template)
        item.update(
            date=day.isoformat(),
            steps=self.steps_for(day),
            distance=round(self.steps_for(day) * 0.8),
        )
        if day in self.corrupt_days:
            item["steps"] = None
        return item

    def workouts(self, day: date) -> list[dict[str, Any]]:
        """A walk (category 1) every day at 07:30 UTC and a run (category 2) on even days."""
        items = []
        kinds = (1, 2) if day.toordinal() % 2 == 0 else (1,)
        for n, category in enumerate(kinds):
            start = datetime(day.year, day.month, day.day, 7, 30, tzinfo=UTC) + timedelta(hours=n)
            items.append(
                {
                    "id": day.toordinal() * 10 + n,
                    "category": category,
                    "timezone": "Europe/Paris",
                    "model": 93,
                    "attrib": 7,
                    "startdate": int(start.timestamp()),
                    "enddate": int((start + timedelta(minutes=40)).timestamp()),
                    "date": day.isoformat(),
                    "modified": int(start.timestamp()) + 3600,
                    "deviceid": "892359876fd8805ac45bab078c4828692f0276b1",
                    "data": {"steps": 4200, "distance": 3100},
                }
            )
        return items

    def page(self, form: dict[str, str], key: str, items: list[dict[str, Any]]) -> FakeResponse:
        """Answer one page of a paged measure action."""
        offset, size = int(form.get("offset", "0")), self.page_size
        more = offset + size < len(items)
        body = {key: items[offset : offset + size], "more": more, "offset": offset + size}
        if not more:
            body["offset"] = 0
        return FakeResponse(200, {"status": 0, "body": body})

    def route(self, request: FakeRequest) -> FakeResponse:
        """Serve /v2/measure (getactivity, getworkouts) and /notify (subscribe, revoke)."""
        form = request.form()
        if self.status_override is not None:
            return FakeResponse(200, {"status": self.status_override, "body": {}, "error": "x"})
        action = form.get("action")
        if request.path == "/notify" and action in ("subscribe", "revoke"):
            return self.notify(action, form)
        if request.path == "/v2/measure" and action == "getintradayactivity":
            return self.intraday_series(form)
        if request.path != "/v2/measure" or action not in ("getactivity", "getworkouts"):
            return FakeResponse(200, UNKNOWN_ACTION)
        start = date.fromisoformat(form["startdateymd"])
        end = date.fromisoformat(form["enddateymd"])
        days = [start + timedelta(n) for n in range((end - start).days + 1)]
        if action == "getactivity":
            return self.page(form, "activities", [self.activity(d) for d in days])
        return self.page(form, "series", [w for d in days for w in self.workouts(d)])

    def intraday_series(self, form: dict[str, str]) -> FakeResponse:
        """getintradayactivity: the minutes set in `intraday`, keyed by epoch second, each
        followed by a stretch without steps (as in the sample); at most the first 24 hours."""
        start = datetime.fromtimestamp(int(form["startdate"]), UTC)
        end = min(datetime.fromtimestamp(int(form["enddate"]), UTC), start + timedelta(hours=24))
        series: dict[str, dict[str, Any]] = {}
        for at, steps in self.minutes_between(start, end):
            series[str(int(at.timestamp()))] = dict(self.minute_template, steps=steps)
            gap = at + timedelta(minutes=1)
            if gap < end and gap not in self.intraday:
                series.setdefault(str(int(gap.timestamp())), dict(self.gap_template))
        return FakeResponse(200, {"status": 0, "body": {"series": series}})

    def notify(self, action: str, form: dict[str, str]) -> FakeResponse:
        """notify-subscribe / notify-revoke for the token's user."""
        key = (USER_ID, form.get("appli", ""))
        with self._lock:
            if action == "subscribe":
                self.subscriptions[key] = form.get("callbackurl", "")
            else:
                self.subscriptions.pop(key, None)
        return FakeResponse(200, {"status": 0, "body": {}})
