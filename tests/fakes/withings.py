"""Fake Withings API: requesttoken and getactivity in their `{status, body}` envelopes."""

from __future__ import annotations

import copy
from datetime import date, timedelta
from typing import Any

from tests.fakes.server import FakeProviderServer, FakeRequest, FakeResponse, load_payload

USER_ID = "12345678"
PAGE_SIZE = 2


class FakeWithings(FakeProviderServer):
    """Withings: HTTP 200 everywhere, the outcome in `status`."""

    authorize_path = "/oauth2_user/authorize2"
    token_path = "/v2/oauth2"

    def __init__(self) -> None:
        super().__init__()
        self.token_sample = load_payload("withings_oauth2_requesttoken.json")
        activity = load_payload("withings_measure_getactivity.json")
        self.activity_template = activity["body"]["activities"][0]

    def token(self, request: FakeRequest) -> FakeResponse:
        """Withings multiplexes the token endpoint on `action`."""
        if request.form().get("action") != "requesttoken":
            return FakeResponse(200, {"status": 2554, "body": {}, "error": "Unknown action"})
        return super().token(request)

    def token_response(self, access: str, refresh: str) -> FakeResponse:
        """Answer in the requesttoken envelope."""
        body = dict(self.token_sample["body"], access_token=access, refresh_token=refresh)
        body["userid"] = USER_ID
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

    def route(self, request: FakeRequest) -> FakeResponse:
        """Serve POST /v2/measure action=getactivity with offset paging."""
        form = request.form()
        if request.path != "/v2/measure" or form.get("action") != "getactivity":
            return FakeResponse(200, {"status": 2554, "body": {}, "error": "Unknown action"})
        start = date.fromisoformat(form["startdateymd"])
        end = date.fromisoformat(form["enddateymd"])
        items = [self.activity(start + timedelta(n)) for n in range((end - start).days + 1)]
        offset = int(form.get("offset", "0"))
        more = offset + PAGE_SIZE < len(items)
        body = {
            "activities": items[offset : offset + PAGE_SIZE],
            "more": more,
            "offset": offset + PAGE_SIZE if more else 0,
        }
        return FakeResponse(200, {"status": 0, "body": body})
