"""Withings: `{status, body}` envelopes, requesttoken, getactivity, getintradayactivity and
getworkouts, notify subscriptions, and the signed (nonce) calls such as revoke.

Checked against Withings' OpenAPI document (developer.withings.com/openapi.yaml; the copy in
tests/fixtures/contracts/ says which operations): oauth2-getaccesstoken, oauth2-revoke,
signaturev2-getnonce, measurev2-getactivity, measurev2-getintradayactivity,
measurev2-getworkouts, notify-subscribe and notify-revoke.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from integrations.wearables.base import (
    DailyActivity,
    FetchResult,
    IntegrationError,
    IntradaySteps,
    Quota,
    RateLimited,
    ReauthRequired,
    Subscription,
    TokenExpired,
    TokenSet,
    WalkingSession,
    WearableProvider,
    WebhookEvent,
    WebhookRejected,
    WebhookResponse,
    as_count,
    as_distance,
    fetch_window,
    intraday_days,
    local_day_bounds,
    merge_days,
    merge_sessions,
    read_or_note,
)

# Withings answers HTTP 200 and puts the outcome in `status` (0 = ok). The status table
# (section "Response status" of the API reference) groups them in families:
AUTH_STATUSES = frozenset({100, 101, 102, 200, 401, 2555})  # authentication failed
INVALID_PARAMS = frozenset(range(501, 512))  # invalid parameters: the same call fails again
RATE_LIMIT_STATUS = 601
TRANSIENT_STATUSES = frozenset({500, 522})  # internal error, timeout
MAX_PAGES = 20
# Notify `appli` values (Notifications section): 16 is activity (steps, workouts).
APPLI_ACTIVITY = 16
APPLI_KINDS = {"16": "daily", "44": "sleep", "1": "weight", "4": "blood_pressure"}
# getworkouts `category` values that are walks: Walk, Hiking, Indoor walk, Walk with walker,
# Walk with cane, Dog walking, Nordic walking (workout_object.category in the reference).
WALK_CATEGORIES = frozenset({1, 3, 306, 542, 543, 559, 566})
# getintradayactivity: "If your input startdate and enddate are separated by more than 24h,
# only the first 24h after startdate will be returned" (a 25-hour DST day takes two calls).
INTRADAY_SPAN = timedelta(hours=24)


def sign(secret: str, params: Mapping[str, str]) -> str:
    """Return Withings' request signature: HMAC-SHA256, keyed with the client secret, of the
    values of `params` ordered by parameter name and joined by commas."""
    message = ",".join(str(params[key]) for key in sorted(params))
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


class WithingsProvider(WearableProvider):
    """Withings. `date` in getactivity is the day in the activity's own `timezone`."""

    name: ClassVar[str] = "withings"
    title: ClassVar[str] = "Withings"
    # Withings Public API plan: 120 requests/minute per application. UNVERIFIED (third-party
    # reconstruction of the docs: api-evangelist withings-rate-limits.yml).
    quota: ClassVar[Quota] = Quota(app="120/minute")
    calls_per_sync: ClassVar[int] = 4  # getactivity, getworkouts, getintradayactivity for two days
    default_scopes: ClassVar[tuple[str, ...]] = ("user.activity",)
    default_base_url: ClassVar[str] = "https://wbsapi.withings.net"
    default_auth_url: ClassVar[str] = "https://account.withings.com/oauth2_user/authorize2"
    default_token_url: ClassVar[str] = "https://wbsapi.withings.net/v2/oauth2"  # noqa: S105
    auth_path: ClassVar[str] = "/oauth2_user/authorize2"
    token_path: ClassVar[str] = "/v2/oauth2"  # noqa: S105
    scope_separator: ClassVar[str] = ","

    def token_request(self, form: dict[str, str]) -> dict[str, Any]:
        """Call requesttoken and unwrap the envelope; a dead grant becomes ReauthRequired."""
        form = {"action": "requesttoken", **form}
        try:
            return self.call(self.token_url, form, None)
        except IntegrationError as exc:
            if form["grant_type"] == "refresh_token" and exc.permanent:
                # Withings reports a used or revoked refresh token as a non-zero status
                # (invalid_grant text in `error`); either way the user must link again.
                raise ReauthRequired(
                    "withings: refresh refused", permanent=True, status=exc.status
                ) from None
            raise

    def call(
        self, path: str, form: dict[str, str], token: TokenSet | None, *, app_auth: str = "secret"
    ) -> dict[str, Any]:
        """POST a Withings action and return the envelope's body or raise by its status.

        Without a token the call authenticates as the app: with the client secret
        (`app_auth="secret"`), with a nonce and a signature (`"signed"`, the secret never
        travels), or with what `form` already carries (`"form"`).
        """
        headers = self.bearer(token) if token else {"Accept": "application/json"}
        signed = token is None and app_auth == "signed"
        if signed:
            form = self.signed_form(form)
        elif token is None and app_auth == "secret":
            form = {**form, "client_id": self.client_id, "client_secret": self.client_secret}
        # Withings reads are POSTs; they change nothing, so retrying is safe. Signed calls
        # spend their nonce: never repeated.
        payload = self.http.json("POST", path, data=form, headers=headers, idempotent=not signed)
        if not isinstance(payload, dict) or not isinstance(payload.get("status"), int):
            raise IntegrationError("withings: response without status", permanent=True)
        status = payload["status"]
        if status == 0:
            body = payload.get("body")
            if not isinstance(body, dict):
                raise IntegrationError("withings: response without body", permanent=True)
            return body
        message = f"withings {form.get('action', '?')}: status {status}"
        error_text = str(payload.get("error", ""))
        if status in AUTH_STATUSES:
            raise TokenExpired(message, permanent=True, status=401, body=error_text)
        if status == RATE_LIMIT_STATUS:
            raise RateLimited(message, permanent=False, status=429, body=error_text)
        raise IntegrationError(
            message,
            permanent=status not in TRANSIENT_STATUSES,
            status=status,
            body=error_text,
        )

    def signed_form(self, form: Mapping[str, str]) -> dict[str, str]:
        """Return `form` signed per "Signature v2": a fresh nonce, then the signature of
        action, client_id and nonce."""
        timestamp = str(int(time.time()))
        nonce_form = {"action": "getnonce", "client_id": self.client_id, "timestamp": timestamp}
        nonce_form["signature"] = sign(self.client_secret, nonce_form)
        answer = self.call("/v2/signature", nonce_form, None, app_auth="form")
        nonce = answer.get("nonce")
        if not isinstance(nonce, str) or not nonce:
            raise IntegrationError("withings getnonce: no nonce", permanent=True)
        signed = {"action": form["action"], "client_id": self.client_id, "nonce": nonce}
        return {**form, **signed, "signature": sign(self.client_secret, signed)}

    def user_id_from_token(self, payload: Mapping[str, Any]) -> str | None:
        """Withings returns the user id with the tokens."""
        user = payload.get("userid")
        return str(user) if user is not None else None

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
        """Read daily activity (getactivity), walking workouts (getworkouts) and, for the
        last days of the window, the steps per interval (getintradayactivity)."""
        first, last = fetch_window(cursor, today, lookback_days, max_days)
        window = {"startdateymd": first.isoformat(), "enddateymd": last.isoformat()}
        rejected: list[str] = []
        days: list[DailyActivity] = []
        fields = "steps,distance,soft,moderate,intense"
        form = {"action": "getactivity", **window, "data_fields": fields}
        for item in self._pages(token, form, "activities"):
            record = read_or_note(item, self._day, rejected, "withings activity", "date")
            if record is not None and first <= record.date <= last:
                days.append(record)
        sessions: list[WalkingSession] = []
        form = {"action": "getworkouts", **window, "data_fields": "steps,distance"}
        for item in self._pages(token, form, "series"):
            if item.get("category") in WALK_CATEGORIES:
                walk = read_or_note(item, self._walk, rejected, "withings workout", "id")
                if walk is not None:
                    sessions.append(walk)
        intraday: list[IntradaySteps] = []
        for day in intraday_days(first, last):
            intraday.extend(self._intraday(token, *local_day_bounds(day, tz), rejected))
        return FetchResult(
            merge_days(days), merge_sessions(sessions), last.isoformat(), rejected, intraday
        )

    def _day(self, item: dict[str, Any]) -> DailyActivity:
        return DailyActivity(
            date=date.fromisoformat(item["date"]),
            steps=as_count(item["steps"]),
            distance_m=as_distance(item.get("distance")),
            active_minutes=_active_minutes(item),
            source=self.name,
        )

    def _walk(self, item: dict[str, Any]) -> WalkingSession:
        data = item.get("data") or {}
        steps = data.get("steps")
        return WalkingSession(
            external_id=f"withings:{item['id']}",
            start=datetime.fromtimestamp(as_count(item["startdate"]), UTC),
            end=datetime.fromtimestamp(as_count(item["enddate"]), UTC),
            steps=as_count(steps) if steps is not None else None,
            distance_m=as_distance(data.get("distance")),
            source=self.name,
        )

    def _intraday(
        self, token: TokenSet, start: datetime, end: datetime, rejected: list[str]
    ) -> list[IntradaySteps]:
        """Steps per interval in [start, end) from getintradayactivity (at most 24 h a call).

        `series` maps each interval's start (epoch seconds, a string key) to its values;
        `duration` is in seconds (a minute when absent: the sample's counts are per minute).
        Intervals without `steps` (the tracker recorded nothing countable) are skipped; an
        empty `series` is taken as `[]` too, the way PHP encodes an empty map.
        """
        counts: list[IntradaySteps] = []
        begin = start
        while start < end:
            stop = min(end, start + INTRADAY_SPAN)
            form = {
                "action": "getintradayactivity",
                "startdate": str(int(start.timestamp())),
                "enddate": str(int(stop.timestamp())),
                "data_fields": "steps,duration",  # duration: the interval's length, seconds
            }
            series = self.call("/v2/measure", form, token).get("series")
            if series in (None, []):
                series = {}
            if not isinstance(series, dict):
                raise IntegrationError("withings getintradayactivity: no series", permanent=True)
            for key, item in series.items():
                if not isinstance(item, dict) or item.get("steps") is None:
                    continue
                try:
                    at = datetime.fromtimestamp(as_count(key), UTC)
                    seconds = as_count(item.get("duration", 60))
                    minutes = max(1, -(-seconds // 60))  # whole minutes, rounded up
                    counts.append(IntradaySteps(at, minutes, as_count(item["steps"]), self.name))
                except (TypeError, ValueError) as exc:
                    rejected.append(f"withings intraday {str(key)[:12]}: {exc}")
                    continue
            start = stop
        return [c for c in counts if begin <= c.start < end]

    def _pages(self, token: TokenSet, form: dict[str, str], key: str) -> Iterator[dict[str, Any]]:
        """Yield the items of a paged measure action (`more` / `offset`)."""
        for _ in range(MAX_PAGES):
            body = self.call("/v2/measure", form, token)
            items = body.get(key)
            if not isinstance(items, list):
                raise IntegrationError(f"withings {form['action']}: no {key} list", permanent=True)
            yield from (item for item in items if isinstance(item, dict))
            if not body.get("more"):
                return
            form = {**form, "offset": str(body.get("offset", 0))}
        raise IntegrationError(f"withings {form['action']}: too many pages", permanent=False)

    def revoke(self, token: TokenSet) -> None:
        """Revoke our access (oauth2 action=revoke, signed); Withings also drops the user's
        notification subscriptions."""
        if token.provider_user_id:
            form = {"action": "revoke", "userid": token.provider_user_id}
            self.call(self.token_url, form, None, app_auth="signed")

    # --- notifications ------------------------------------------------------------------------

    def callback_url(self, endpoint: str) -> str:
        """Withings does not sign notifications: the URL carries our secret."""
        parts = urlsplit(endpoint)
        query = urlencode([*parse_qsl(parts.query), ("secret", self.require_webhook_secret())])
        return urlunsplit(parts._replace(query=query))

    def subscribe(self, token: TokenSet, *, callback_url: str) -> list[Subscription]:
        """Subscribe the user's activity notifications (notify subscribe, appli 16)."""
        form = {"action": "subscribe", "callbackurl": callback_url, "appli": str(APPLI_ACTIVITY)}
        self.call("/notify", {**form, "comment": "Backstride"}, token)
        user = token.provider_user_id or "?"
        return [Subscription(f"{user}:{APPLI_ACTIVITY}", "activity")]

    def unsubscribe(
        self, token: TokenSet, subscriptions: Iterable[Subscription], *, callback_url: str
    ) -> None:
        """Cancel the user's notifications (notify revoke, per appli)."""
        for subscription in subscriptions:
            appli = subscription.external_id.rsplit(":", 1)[-1]
            form = {"action": "revoke", "callbackurl": callback_url, "appli": appli}
            self.call("/notify", form, token)

    def handle_webhook(
        self, *, method: str, headers: Mapping[str, str], query: Mapping[str, str], body: bytes
    ) -> WebhookResponse | list[WebhookEvent]:
        """Answer Withings' HEAD/GET URL check; turn a notify POST into an event.

        Withings does not sign notifications, so the callback URL registered with Withings
        carries our secret: `...?secret=<webhook_secret>`.
        """
        self.check_query_secret(query)
        if method.upper() in ("HEAD", "GET"):
            return WebhookResponse(200, "", "text/plain")
        form = dict(parse_qsl(body.decode("utf-8", "replace")))
        user = form.get("userid")
        if not user:
            raise WebhookRejected(
                "withings: notification without userid", permanent=True, status=400
            )
        appli = form.get("appli", "")
        kind = APPLI_KINDS.get(appli, f"appli_{appli}")
        # Measure notifications name a range (startdate, enddate); activity ones (appli 16)
        # name the day that changed (`date`): the id needs whichever the notification has.
        span = ":".join(form.get(key, "") for key in ("startdate", "enddate", "date"))
        return [WebhookEvent(user, kind, f"withings:{user}:{appli}:{span}")]


def _active_minutes(item: Mapping[str, Any]) -> int | None:
    """Return moderate + intense activity in minutes (Withings reports seconds)."""
    if item.get("moderate") is None and item.get("intense") is None:
        return None
    return (as_count(item.get("moderate") or 0) + as_count(item.get("intense") or 0)) // 60
