"""FHIR over HTTP: content negotiation, OperationOutcome errors, streamed responses."""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from flask import Response, request
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from service.errors import ServiceError, flatten_messages
from service.extensions import db

log = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"
FHIR_NDJSON = "application/fhir+ndjson"
JSON = "application/json"
# What `Accept` (or `_format` / `_outputFormat`) may ask for; the first is what we answer with.
JSON_TYPES = (FHIR_JSON, JSON, "application/json+fhir", "json")
NDJSON_TYPES = (FHIR_NDJSON, "application/ndjson", "ndjson")
# What each HTTP status means in FHIR's issue-type vocabulary.
ISSUE_TYPES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "conflict",
    413: "too-costly",
    415: "not-supported",
    422: "invalid",
    429: "throttled",
    503: "transient",
}
CHUNK = 64 * 1024


class NotAcceptable(ServiceError):
    """The client accepts none of the formats this route produces."""

    status = 406
    title = "Not acceptable"


def _accepts(offered: tuple[str, ...], param: str | None) -> bool:
    if param is not None:
        return param in offered
    if not request.headers.get("Accept"):
        return True
    mimetypes = [name for name in offered if "/" in name]
    return request.accept_mimetypes.best_match(mimetypes) is not None


def negotiate(offered: tuple[str, ...], param: str | None = None) -> None:
    """Refuse (406) unless the Accept header or a `_format` value allows one of `offered`."""
    if not _accepts(offered, param):
        raise NotAcceptable(f"this route answers with {offered[0]}")


def outcome(
    status: int,
    detail: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """An OperationOutcome response: one issue per field error, else one for the request."""
    code = ISSUE_TYPES.get(status, "exception" if status >= 500 else "processing")
    severity = "fatal" if status >= 500 else "error"
    if errors:
        issues = [
            {
                "severity": severity,
                "code": "required" if error["message"].startswith("Missing") else code,
                "details": {"text": f"{error['field']}: {error['message']}"},
                "expression": [error["field"]],
            }
            for error in errors
        ]
    else:
        issues = [{"severity": severity, "code": code, "details": {"text": detail}}]
    body = {"resourceType": "OperationOutcome", "issue": issues}
    response = Response(json.dumps(body), status=status, mimetype=FHIR_JSON)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _service_error(exc: ServiceError) -> Response:
    return outcome(exc.status, exc.detail, errors=exc.errors, headers=exc.headers)


def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    data = getattr(exc, "data", None)  # webargs' validation messages
    errors = None
    if isinstance(data, Mapping) and data.get("messages") is not None:
        errors = flatten_messages(data["messages"])
        for error in errors:
            head, _, rest = error["field"].partition(".")
            if head in {"query", "headers", "path", "view_args", "json"}:
                error["field"] = rest or "_schema"
    headers = {}
    if status == 429:
        headers["Retry-After"] = exc.get_response().headers.get("Retry-After", "60")
    return outcome(status, exc.description or exc.name, errors=errors, headers=headers)


def _unexpected(exc: Exception) -> Response:
    # Roll back what the request started and say nothing about the internals.
    db.session.rollback()
    log.exception("unhandled error on a FHIR route", exc_info=exc)
    return outcome(500, "The error has been logged.")


def register_outcomes(blueprint: Any) -> None:
    """Answer every error raised on the blueprint's routes with an OperationOutcome."""
    blueprint.register_error_handler(ServiceError, _service_error)
    blueprint.register_error_handler(HTTPException, _http_error)
    blueprint.register_error_handler(Exception, _unexpected)


def streamed(
    chunks: Callable[[Session], Iterator[str | bytes]],
    mimetype: str,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A response written as `chunks` yields, inside one read transaction, in ~64 KiB writes.

    The body is written after the view has returned and its request context is gone, so it reads
    through a session of its own rather than the request's.
    """

    def generate() -> Iterator[bytes]:
        buffer: list[bytes] = []
        size = 0
        with Session(db.engine) as session, session.begin():
            for chunk in chunks(session):
                data = chunk.encode() if isinstance(chunk, str) else chunk
                buffer.append(data)
                size += len(data)
                if size >= CHUNK:
                    yield b"".join(buffer)
                    buffer, size = [], 0
        if buffer:
            yield b"".join(buffer)

    body = generate()
    # The first chunk is made here, inside the view: a failure before any byte is sent is still
    # an OperationOutcome with its status, and a small body is written entirely right now.
    first = next(body, b"")
    response = Response(itertools.chain([first], body), mimetype=mimetype)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response
