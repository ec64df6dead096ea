"""Contracts checked by openapi-core: Oura (OpenAPI 3.1), Strava (Swagger 2.0, converted) and
Polar AccessLink (OpenAPI 3.0, object schemas closed)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar

from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_schema_validator import OAS30Validator
from werkzeug.datastructures import Headers, ImmutableMultiDict

from tests.fakes.contracts_base import Contract, load
from tests.fakes.server import Exchange, FakeRequest

# --- OpenAPI through openapi-core -----------------------------------------------------------


@dataclass
class _Request:
    """An openapi-core request (openapi_core.protocols.Request) from a recorded request."""

    host_url: str
    path: str
    method: str
    parameters: RequestParameters
    body: bytes | None
    content_type: str


@dataclass
class _Response:
    """An openapi-core response (openapi_core.protocols.Response) from a recorded answer."""

    data: bytes
    status_code: int
    content_type: str
    headers: Headers


def _openapi_request(request: FakeRequest, server: str, path: str) -> _Request:
    headers = Headers(request.headers)
    return _Request(
        host_url=server,
        path=path,
        method=request.method.lower(),
        parameters=RequestParameters(
            query=ImmutableMultiDict(request.query), header=headers, cookie=ImmutableMultiDict()
        ),
        body=request.body or None,
        content_type=request.headers.get("content-type", "application/json"),
    )


class OpenApiContract(Contract):
    """A provider's OpenAPI 3 document, validated by openapi-core."""

    def __init__(self, spec: Mapping[str, Any], server: str, *, base_path: str = "") -> None:
        # Documents as published are not always valid OpenAPI (Oura's names security schemes
        # it never defines): the operations are what is checked, not the document itself.
        config = Config(spec_validator_cls=None, security_provider_factory=_NoSecurity())
        self.openapi = OpenAPI.from_dict(dict(spec), config=config)
        self.server = server
        self.base_path = base_path

    def problems(self, exchange: Exchange) -> list[str]:
        """Validate the request, then the response, as the document describes them."""
        request = _openapi_request(
            exchange.request, self.server, self.base_path + exchange.request.path
        )
        found = []
        try:
            self.openapi.validate_request(request)
        except Exception as exc:  # openapi-core raises a family of validation errors
            found.append(f"request: {_describe(exc)}")
        response = _Response(
            data=exchange.body,
            status_code=exchange.response.status,
            content_type=exchange.content_type,
            headers=Headers(exchange.response.headers),
        )
        try:
            self.openapi.validate_response(request, response)
        except Exception as exc:
            found.append(f"response {exchange.response.status}: {_describe(exc)}")
        return found


class _NoSecurity:
    """Security is the fakes' own business (they refuse a missing token); the documents name
    schemes they do not all define, so openapi-core is not asked to check them."""

    def create(self, scheme: Any) -> Callable[[Any], None]:
        return lambda request: None


def _describe(exc: BaseException) -> str:
    """Return an openapi-core error with its causes (the schema errors say what is wrong)."""
    parts = [f"{type(exc).__name__}: {exc}"]
    for cause in getattr(exc, "schema_errors", ()) or ():
        parts.append(str(getattr(cause, "message", cause)))
    inner = exc.__cause__
    while inner is not None:
        parts.append(f"{type(inner).__name__}: {inner}")
        for cause in getattr(inner, "schema_errors", ()) or ():
            parts.append(str(getattr(cause, "message", cause)))
        inner = inner.__cause__
    return "; ".join(parts)[:600]


class OuraContract(OpenApiContract):
    """Oura API v2 (OpenAPI 1.29).

    Collection responses are documented as `anyOf` the typed documents or a dict of anything
    (`MultiDocumentResponseDict`), the latter for `fields` projections. We never project, so
    the typed branch is the contract: a request with `fields` is itself a problem here.
    """

    outside: ClassVar[Mapping[str, str]] = {
        "/oauth/authorize": "OAuth consent page: cloud.ouraring.com, not in the API document",
        "/oauth/token": "OAuth token endpoint: not in the API document",
    }

    def __init__(self) -> None:
        spec = load("oura_openapi_1.29.json")
        for item in spec["paths"].values():
            for operation in item.values():
                answer = operation["responses"].get("200", {}).get("content", {})
                schema = answer.get("application/json", {}).get("schema", {})
                if len(schema.get("anyOf", [])) == 2 and schema["anyOf"][1].get(
                    "$ref", ""
                ).endswith("ResponseDict"):
                    answer["application/json"]["schema"] = schema["anyOf"][0]
        super().__init__(spec, "https://api.ouraring.com")

    def problems(self, exchange: Exchange) -> list[str]:
        """As documented, without `fields` projections."""
        found = super().problems(exchange)
        if "fields" in exchange.request.query:
            found.append("`fields` projections are not part of this contract")
        return found


# --- Strava: Swagger 2.0 converted to OpenAPI 3.0 -------------------------------------------


def swagger2_to_openapi3(doc: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Convert a Swagger 2.0 document to OpenAPI 3.0 (parameters, bodies, responses, OAuth2).

    External `$ref`s (Strava's schemas live in other files) become `{}`; they are returned
    by JSON pointer, with the documented example of each response, for checks of their own.
    """
    shared = doc.get("parameters", {})
    external: dict[str, Any] = {}

    def schema(value: Any, pointer: str) -> Any:
        if isinstance(value, dict):
            ref = value.get("$ref")
            if isinstance(ref, str) and not ref.startswith("#"):
                external[pointer] = ref
                return {}
            return {key: schema(item, f"{pointer}/{key}") for key, item in value.items()}
        if isinstance(value, list):
            return [schema(item, f"{pointer}/{n}") for n, item in enumerate(value)]
        return value

    def parameter(value: Mapping[str, Any]) -> dict[str, Any]:
        if "$ref" in value:
            value = shared[value["$ref"].rsplit("/", 1)[-1]]
        keys = ("type", "format", "items", "enum", "default", "minimum", "maximum")
        return {
            "name": value["name"],
            "in": value["in"],
            "required": bool(value.get("required", value["in"] == "path")),
            "schema": {key: value[key] for key in keys if key in value},
        }

    paths: dict[str, Any] = {}
    for path, item in doc["paths"].items():
        converted: dict[str, Any] = {}
        for method, operation in item.items():
            if method == "parameters":
                continue
            params = [p for p in operation.get("parameters", []) if p.get("in") != "body"]
            bodies = [p for p in operation.get("parameters", []) if p.get("in") == "body"]
            responses = {}
            for status, answer in operation.get("responses", {}).items():
                out: dict[str, Any] = {"description": answer.get("description", "")}
                if "schema" in answer:
                    pointer = f"{path} {method} {status}"
                    out["content"] = {
                        "application/json": {"schema": schema(answer["schema"], pointer)}
                    }
                responses[str(status)] = out
            op: dict[str, Any] = {
                "parameters": [parameter(p) for p in params],
                "responses": responses,
            }
            if bodies:
                op["requestBody"] = {
                    "content": {"application/json": {"schema": schema(bodies[0]["schema"], path)}}
                }
            converted[method] = op
        paths[path] = converted
    converted_doc = {
        "openapi": "3.0.3",
        "info": doc["info"],
        "servers": [{"url": f"https://{doc['host']}{doc.get('basePath', '')}"}],
        "paths": paths,
    }
    return converted_doc, external


class StravaContract(OpenApiContract):
    """Strava API v3 (Swagger 2.0 from developers.strava.com, converted)."""

    outside: ClassVar[Mapping[str, str]] = {
        "/oauth/authorize": "OAuth consent page: not in the Swagger document",
        "/oauth/token": "token endpoint: only named in securityDefinitions",
        "/oauth/deauthorize": "deauthorization: described in prose (developers.strava.com/docs)",
    }

    def __init__(self) -> None:
        doc = load("strava_swagger.json")
        converted, self.external = swagger2_to_openapi3(doc)
        super().__init__(converted, "https://www.strava.com", base_path="/api/v3")
        example = doc["paths"]["/athlete/activities"]["get"]["responses"]["200"]["examples"]
        self.activity_fields = set(example["application/json"][0])

    def problems(self, exchange: Exchange) -> list[str]:
        """Also hold SummaryActivity items (an external schema) to the example's fields."""
        found = super().problems(exchange)
        if exchange.request.path == "/athlete/activities" and exchange.response.status == 200:
            for item in exchange.response.body or []:
                extra = sorted(set(item) - self.activity_fields)
                if extra:
                    found.append(f"activity fields not in the document's example: {extra}")
        return found


# --- Polar AccessLink: OpenAPI 3.0 whose object schemas stay open ---------------------------


def close_objects(value: Any) -> Any:
    """Return `value` with every object schema that lists properties refusing any other."""
    if isinstance(value, dict):
        out = {key: close_objects(item) for key, item in value.items()}
        if isinstance(out.get("properties"), dict):
            out.setdefault("additionalProperties", False)
        return out
    if isinstance(value, list):
        return [close_objects(item) for item in value]
    return value


class PolarContract(OpenApiContract):
    """Polar AccessLink v3 (excerpt of polar.com/accesslink-api/swagger.yaml).

    The document's object schemas list the fields AccessLink returns without closing
    themselves, so a renamed field would pass as an extra one: they are closed here. The
    "Rate limiting" prose gives every request a 429 answer, added to each operation. The
    prose limits of a date range (`to` not before `from`, at most 28 days) are checked too.
    Webhook notifications are not exchanges with a fake: `check_webhook` holds a body to the
    document's payload schema for its event.
    """

    outside: ClassVar[Mapping[str, str]] = {
        "/oauth2/authorization": "consent page on flow.polar.com, not in the API document",
    }
    # The token endpoint (polarremote.com) is described in the reference pages' prose only.
    TOKEN_PATH = "/v2/oauth2/token"
    TOKEN_FIELDS = frozenset({"access_token", "token_type", "expires_in", "x_user_id"})
    TOKEN_ERRORS = frozenset(
        {
            "invalid_request",
            "invalid_client",
            "invalid_grant",
            "unauthorized_client",
            "unsupported_grant_type",
            "invalid_scope",
        }
    )
    MAX_RANGE_DAYS = 28
    WEBHOOK_SCHEMAS: ClassVar[Mapping[str, str]] = {
        "EXERCISE": "webhookPayloadExercise",
        "ACTIVITY_SUMMARY": "webhookPayloadActivitySummary",
        "PING": "webhookPing",
    }

    def __init__(self) -> None:
        spec = close_objects(load("polar_accesslink_v3_excerpt.yaml"))
        for item in spec["paths"].values():
            for operation in item.values():
                operation["responses"].setdefault(
                    "429", {"description": "Too Many Requests (the Rate limiting section)"}
                )
        self.schemas: dict[str, Any] = spec["components"]["schemas"]
        super().__init__(spec, "https://www.polaraccesslink.com")

    def problems(self, exchange: Exchange) -> list[str]:
        """As documented, with the date range's limits; the token endpoint as its prose says."""
        if exchange.request.path == self.TOKEN_PATH:
            return self._token(exchange)
        found = super().problems(exchange)
        query = exchange.request.query
        if exchange.request.path == "/v3/users/activities" and "from" in query:
            try:
                first = date.fromisoformat(query["from"])
                last = date.fromisoformat(query.get("to", first.isoformat()))
            except ValueError:
                return [*found, "from/to are not dates"]
            if not 0 <= (last - first).days < self.MAX_RANGE_DAYS:
                found.append(f"from..to must span 1 to {self.MAX_RANGE_DAYS} days")
        return found

    def _token(self, exchange: Exchange) -> list[str]:
        request, response = exchange.request, exchange.response
        form = request.form()
        found = []
        if request.method != "POST":
            found.append("the token endpoint takes POST")
        if not request.headers.get("authorization", "").startswith("Basic "):
            found.append("client credentials go in Basic auth")
        if form.get("grant_type") != "authorization_code" or not form.get("code"):
            found.append("grant_type must be authorization_code, with the code")
        body = response.body if isinstance(response.body, dict) else {}
        if response.status == 200 and set(body) != self.TOKEN_FIELDS:
            found.append(
                f"token answer fields {sorted(body)}, documented {sorted(self.TOKEN_FIELDS)}"
            )
        if response.status != 200 and (
            set(body) != {"error"} or body["error"] not in self.TOKEN_ERRORS
        ):
            found.append(f"token error answer {body!r} is not a documented error")
        return found

    def validate(self, name: str, value: Any) -> list[str]:
        """Return the ways `value` breaks the document's component schema `name`."""
        schema = {"$ref": f"#/components/schemas/{name}", "components": {"schemas": self.schemas}}
        return [error.message for error in OAS30Validator(schema).iter_errors(value)]

    def check_webhook(self, payload: Any) -> list[str]:
        """Hold a notification body to the payload schema of its `event`."""
        event = payload.get("event") if isinstance(payload, dict) else None
        name = self.WEBHOOK_SCHEMAS.get(str(event))
        if name is None:
            return [f"no documented payload for event {event!r}"]
        return self.validate(name, payload)
