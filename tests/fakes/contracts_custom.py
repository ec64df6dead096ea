"""Contracts openapi-core cannot take as published: Google's discovery document, Withings'
action-multiplexed OpenAPI, and Garmin's prose with examples."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar
from urllib.parse import urlsplit

from jsonschema import Draft7Validator
from openapi_schema_validator import OAS30Validator

from tests.fakes.contracts_base import PAYLOADS, Contract, load
from tests.fakes.server import Exchange, FakeRequest

# --- Google Health: the discovery document ---------------------------------------------------


INT64 = {"type": "string", "pattern": r"^-?[0-9]+$"}


def discovery_json_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Convert one discovery-document schema to JSON Schema (draft 7)."""
    if "$ref" in schema:
        return {"$ref": f"#/definitions/{schema['$ref']}"}
    kind = schema.get("type")
    if kind == "any":
        return {}
    if kind == "object":
        out: dict[str, Any] = {"type": "object"}
        if "properties" in schema:
            out["properties"] = {
                name: discovery_json_schema(value) for name, value in schema["properties"].items()
            }
        if "additionalProperties" in schema:
            out["additionalProperties"] = discovery_json_schema(schema["additionalProperties"])
        elif "properties" in schema:
            out["additionalProperties"] = False  # Google refuses and never sends unknown names
        return out
    if kind == "array":
        return {"type": "array", "items": discovery_json_schema(schema.get("items", {}))}
    if kind == "string" and schema.get("format") in ("int64", "uint64"):
        return dict(INT64)
    out = {"type": kind} if kind else {}
    if "enum" in schema:
        out["enum"] = list(schema["enum"])
    return out


@dataclass(frozen=True)
class _Method:
    http_method: str
    pattern: re.Pattern[str]
    spec: Mapping[str, Any]


class DiscoveryContract(Contract):
    """Google Health API v4, from its discovery document."""

    outside: ClassVar[Mapping[str, str]] = {
        "/o/oauth2/v2/auth": "Google's OAuth consent page (accounts.google.com)",
        "/token": "Google's OAuth token endpoint (oauth2.googleapis.com)",
        "/revoke": "Google's OAuth revocation endpoint (oauth2.googleapis.com)",
    }

    def __init__(self) -> None:
        self.doc = load("google_health_v4_discovery.json")
        self.definitions = {
            name: discovery_json_schema(schema) for name, schema in self.doc["schemas"].items()
        }
        self.methods = list(self._methods(self.doc))

    def _methods(self, node: Mapping[str, Any]) -> Iterable[_Method]:
        for method in node.get("methods", {}).values():
            flat = re.escape(method["flatPath"])
            regex = re.sub(r"\\\{[A-Za-z]+\\\}", "[^/:]+", flat)
            yield _Method(method["httpMethod"], re.compile(f"^/{regex}$"), method)
        for child in node.get("resources", {}).values():
            yield from self._methods(child)

    def validator(self, name: str) -> Draft7Validator:
        """Return a JSON Schema validator for a named discovery schema."""
        return Draft7Validator({"$ref": f"#/definitions/{name}", "definitions": self.definitions})

    def problems(self, exchange: Exchange) -> list[str]:
        """Find the method; check its query parameters, request body and 2xx response."""
        request = exchange.request
        matches = [
            m
            for m in self.methods
            if m.http_method == request.method and m.pattern.match(request.path)
        ]
        if not matches:
            return ["no method of the discovery document has this method and path"]
        method = matches[0].spec
        found = self._parameters(method, request.query)
        if "request" in method:
            try:
                body = request.json()
            except ValueError:
                body = None
            found += [
                f"request body: {error.message}"
                for error in self.validator(method["request"]["$ref"]).iter_errors(body)
            ]
        if 200 <= exchange.response.status < 300 and "response" in method:
            found += [
                f"response body: {error.message}"
                for error in self.validator(method["response"]["$ref"]).iter_errors(
                    exchange.response.body
                )
            ]
        return found

    def _parameters(self, method: Mapping[str, Any], query: Mapping[str, str]) -> list[str]:
        declared = {**self.doc.get("parameters", {}), **method.get("parameters", {})}
        found = []
        for name, value in query.items():
            spec = declared.get(name)
            if spec is None or spec.get("location") != "query":
                found.append(f"query parameter {name!r} is not declared")
                continue
            if spec.get("type") == "integer" and not re.fullmatch(r"-?[0-9]+", value):
                found.append(f"query parameter {name!r} is not an integer: {value!r}")
            if spec.get("type") == "boolean" and value not in ("true", "false"):
                found.append(f"query parameter {name!r} is not a boolean: {value!r}")
            if "enum" in spec and value not in spec["enum"]:
                found.append(f"query parameter {name!r} is not one of {spec['enum']}")
        for name, spec in method.get("parameters", {}).items():
            if spec.get("location") == "query" and spec.get("required") and name not in query:
                found.append(f"required query parameter {name!r} is missing")
        return found


# --- Withings: OpenAPI 3.0 with operations selected by `action` ------------------------------

_ACTION = re.compile(r"value ```(\w+)```")
_EXCLUDES = re.compile(r"DO NOT USE WITH FOLLOWING PARAMS: \[([^\]]*)\]")


def _fix_schema(value: Any) -> Any:
    """`properties: []` (Withings' empty bodies) is `properties: {}` in JSON Schema."""
    if isinstance(value, dict):
        return {
            key: ({} if key == "properties" and item == [] else _fix_schema(item))
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_fix_schema(item) for item in value]
    return value


class WithingsContract(Contract):
    """Withings (excerpt of developer.withings.com/openapi.yaml)."""

    outside: ClassVar[Mapping[str, str]] = {
        "/oauth2_user/authorize2": "consent page on account.withings.com"
    }

    def __init__(self) -> None:
        doc = _fix_schema(load("withings_openapi_excerpt.yaml"))
        self.components = doc.get("components", {})
        self.operations: dict[tuple[str, str], dict[str, Any]] = {}
        for key, item in doc["paths"].items():
            operation = item["post"]
            action = operation.get("x-action")
            for param in operation.get("parameters", []):
                if param["name"] == "action":
                    found = _ACTION.search(param.get("description", ""))
                    action = found.group(1) if found else action
            self.operations[(urlsplit(key.strip()).path, str(action))] = operation

    def _validate(self, schema: Mapping[str, Any], value: Any) -> list[str]:
        validator = OAS30Validator({**schema, "components": self.components})
        return [error.message for error in validator.iter_errors(value)]

    def problems(self, exchange: Exchange) -> list[str]:
        """Route by (path, action); check parameters, then the 200 answer's schema."""
        request = exchange.request
        form = {**request.query, **request.form()}
        operation = self.operations.get((request.path, form.get("action", "")))
        if operation is None:
            return [f"no documented operation for action {form.get('action')!r}"]
        found = []
        params = {p["name"]: p for p in operation.get("parameters", [])}
        present = set(form) | ({"access_token"} if "authorization" in request.headers else set())
        for name, value in form.items():
            param = params.get(name)
            if param is None:
                if params:  # requesttoken's body schemas are not in the excerpt
                    found.append(f"parameter {name!r} is not documented")
                continue
            excluded = _excluded(param)
            if excluded & present:
                found.append(
                    f"parameter {name!r} must not be sent with {sorted(excluded & present)}"
                )
            if param["schema"].get("type") == "integer" and not re.fullmatch(r"-?[0-9]+", value):
                found.append(f"parameter {name!r} is not an integer: {value!r}")
        for name, param in params.items():
            present_here = name in form or (name == "Authorization" and "access_token" in present)
            if param.get("required") and not present_here and not (_excluded(param) & present):
                found.append(f"required parameter {name!r} is missing")
        content = operation["responses"][200].get("content", {})
        schema = content.get("application/json", {}).get("schema")
        if schema is not None and exchange.response.status == 200:
            found += [f"response: {m}" for m in self._validate(schema, exchange.response.body)]
        return found


def _excluded(param: Mapping[str, Any]) -> set[str]:
    found = _EXCLUDES.search(param.get("description", ""))
    if not found:
        return set()
    return {name.strip() for name in found.group(1).split(",") if name.strip()}


# --- Garmin: prose and documented examples ----------------------------------------------------


def _shape(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


# Every summary Garmin sends names its user: the specification's push examples carry these
# two fields in each summary (the stored dailies example was copied without them).
GARMIN_USER_FIELDS = {"userId": "str", "userAccessToken": "str"}


@cache
def _garmin_examples() -> dict[str, dict[str, str]]:
    """Field -> JSON type of each documented summary example."""
    dailies = json.loads((PAYLOADS / "garmin_health_dailies_push.json").read_text())
    activities = json.loads((PAYLOADS / "garmin_health_activities_push.json").read_text())
    activity = {
        key: _shape(value) for item in activities["activities"] for key, value in item.items()
    }
    daily = {key: _shape(value) for item in dailies for key, value in item.items()}
    epochs = json.loads((PAYLOADS / "garmin_health_epochs_push.json").read_text())
    epoch = {key: _shape(value) for item in epochs["epochs"] for key, value in item.items()}
    return {
        "dailies": {**GARMIN_USER_FIELDS, **daily},
        "epochs": {**GARMIN_USER_FIELDS, **epoch},
        "activities": {**GARMIN_USER_FIELDS, **activity},
        "manuallyUpdatedActivities": {**GARMIN_USER_FIELDS, **activity},
    }


class GarminContract(Contract):
    """Garmin Health API: the specification is prose; its examples are the contract."""

    outside: ClassVar[Mapping[str, str]] = {
        "/oauth2Confirm": "consent page on connect.garmin.com",
        "/di-oauth2-service/oauth/token": "token endpoint on diauth.garmin.com",
    }
    BACKFILL_MAX_S = 90 * 86400

    def problems(self, exchange: Exchange) -> list[str]:
        """Check the routes the prose documents against its rules and examples."""
        request, response = exchange.request, exchange.response
        path = request.path
        if path == "/wellness-api/rest/user/id":
            ok = isinstance(response.body, dict) and isinstance(response.body.get("userId"), str)
            return [] if ok or response.status != 200 else ["user id answer without userId"]
        if path == "/wellness-api/rest/user/registration":
            return [] if request.method == "DELETE" else ["registration is deleted, not read"]
        if path.startswith("/wellness-api/rest/backfill/"):
            return self._backfill(request, response.status)
        kind = path.rsplit("/", 1)[-1]
        examples = _garmin_examples().get(kind)
        if examples is None or request.method != "GET":
            return ["not a documented Health API route"]
        found = []
        for name in ("uploadStartTimeInSeconds", "uploadEndTimeInSeconds", "token"):
            if name not in request.query:
                found.append(f"callback URL without {name}")
        if response.status == 200:
            for item in response.body or []:
                for key, value in item.items():
                    if key not in examples:
                        found.append(f"{kind} field {key!r} is not in the documented example")
                    elif _shape(value) != examples[key]:
                        found.append(
                            f"{kind} field {key!r} is {_shape(value)}, not {examples[key]}"
                        )
        return found

    def _backfill(self, request: FakeRequest, status: int) -> list[str]:
        kind = request.path.rsplit("/", 1)[-1]
        found = [] if kind in _garmin_examples() else [f"no backfill for {kind!r}"]
        try:
            start = int(request.query["summaryStartTimeInSeconds"])
            end = int(request.query["summaryEndTimeInSeconds"])
        except (KeyError, ValueError):
            return [*found, "backfill without integer summaryStart/EndTimeInSeconds"]
        if not 0 < end - start <= self.BACKFILL_MAX_S:
            found.append("backfill range must be positive and at most 90 days")
        if status not in (202, 400, 409):
            found.append(f"backfill answered {status}; the prose documents 202 (or 400, 409)")
        return found
