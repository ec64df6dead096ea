"""One error hierarchy, rendered as RFC 9457 problem+json in one place."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, has_request_context, json, request
from marshmallow.exceptions import SCHEMA
from prometheus_client import Counter
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from service.extensions import db

log = logging.getLogger(__name__)

DATABASE_ERRORS = Counter(
    "backstride_database_unavailable_total",
    "Lost or refused database connections, by where they surfaced (web, or a job's id)",
    ["where"],
)

PROBLEM = "application/problem+json"
# Seconds a client should wait after losing the database: a restart or failover takes a few.
DATABASE_RETRY_AFTER_S = 5


class ServiceError(Exception):
    """Base of every error a use case raises on purpose; `status` picks the HTTP status."""

    status = 400
    title = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors
        self.headers = dict(headers or {})


class BadRequest(ServiceError):
    """The request is malformed."""


class Unauthorized(ServiceError):
    """No credentials, or credentials that do not check out."""

    status = 401
    title = "Unauthorized"


class Forbidden(ServiceError):
    """Authenticated, but this is not yours."""

    status = 403
    title = "Forbidden"


class NotFound(ServiceError):
    """No such resource (or not one the caller may know about)."""

    status = 404
    title = "Not found"


class Conflict(ServiceError):
    """The request clashes with the current state."""

    status = 409
    title = "Conflict"


class Invalid(ServiceError):
    """Well-formed but invalid input; `errors` names the fields."""

    status = 422
    title = "Unprocessable content"


class TooManyRequests(ServiceError):
    """Slow down."""

    status = 429
    title = "Too many requests"


class Unavailable(ServiceError):
    """A dependency is down."""

    status = 503
    title = "Service unavailable"


def field_error(field: str, message: str) -> Invalid:
    """An Invalid naming one field."""
    return Invalid(f"{field}: {message}", errors=[{"field": field, "message": message}])


def problem(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    errors: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """Build a problem+json response."""
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if errors is not None:
        body["errors"] = errors
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def flatten_messages(messages: Any, prefix: str = "") -> list[dict[str, Any]]:
    """Turn marshmallow/webargs nested messages into `[{field, message}]`.

    An error about the whole body (marshmallow's `_schema`) names the empty field.
    """
    out: list[dict[str, Any]] = []
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            part = "" if key == SCHEMA else str(key)
            name = f"{prefix}.{part}" if prefix and part else (prefix or part)
            out.extend(flatten_messages(value, name))
    elif isinstance(messages, list | tuple):
        if all(isinstance(m, str) for m in messages):
            out.extend({"field": prefix, "message": m} for m in messages)
        else:
            for item in messages:
                out.extend(flatten_messages(item, prefix))
    else:
        out.append({"field": prefix, "message": str(messages)})
    return out


def _strip_location(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """webargs prefixes fields with where they came from ('json.days.0.steps'); keep it apart."""
    for error in errors:
        head, _, rest = error["field"].partition(".")
        if head in {"json", "query", "form", "headers", "files", "path", "view_args"}:
            error["in"] = head
            error["field"] = rest
    return errors


def describe(errors: list[dict[str, Any]], limit: int = 5) -> str:
    """A one-line detail from field errors: `days.0.steps: message; ...`."""
    return "; ".join(
        f"{e['field']}: {e['message']}" if e["field"] else str(e["message"]) for e in errors[:limit]
    )


def _handle_service_error(exc: ServiceError) -> Response:
    return problem(exc.status, exc.title, exc.detail, errors=exc.errors, headers=exc.headers)


def _handle_http_exception(exc: HTTPException) -> Response:
    status = exc.code or 500
    title = exc.name
    data = getattr(exc, "data", None)  # flask-smorest / webargs attach validation messages here
    errors = None
    detail = exc.description
    if isinstance(data, Mapping) and data.get("messages") is not None:
        errors = _strip_location(flatten_messages(data["messages"]))
        detail = describe(errors)
        if status == 422:
            title = "Unprocessable content"
    headers = {}
    if status == 405 and exc.get_response().headers.get("Allow"):
        headers["Allow"] = exc.get_response().headers["Allow"]
    if status == 429:
        headers["Retry-After"] = exc.get_response().headers.get("Retry-After", "60")
    return problem(status, title, detail, errors=errors, headers=headers)


def is_connection_loss(exc: BaseException) -> bool:
    """Whether `exc` says the database connection was lost or refused (not a bad statement).

    psycopg reports a refused or dropped connection, an administrator shutdown and a server
    in recovery as OperationalError, a closed connection as InterfaceError; SQLAlchemy marks
    any driver error that invalidated the pooled connection with `connection_invalidated`.
    """
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def _rollback_quietly() -> None:
    # The connection is gone: rolling back can fail too, and must not hide the first error.
    try:
        db.session.rollback()
    except Exception:
        log.debug("rollback after a lost connection failed", exc_info=True)


def _handle_database_error(exc: DBAPIError) -> Response:
    """Lost database: 503 with Retry-After (the transaction rolled back, nothing half-written).

    The pool pings connections found suspect (service.db.Liveness) and replaces the dead ones
    on checkout, so the worker recovers by itself once the database answers again. Other
    driver errors stay 500.
    """
    if not is_connection_loss(exc):
        return _handle_unexpected(exc)
    _rollback_quietly()
    DATABASE_ERRORS.labels("web").inc()
    log.warning(
        "database unavailable during %s %s: %s", _method(), _path(), connection_error_text(exc)
    )
    return problem(
        503,
        "Service unavailable",
        "The service cannot reach its database for a moment. Nothing was saved; "
        "please try again shortly.",
        headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)},
    )


def connection_error_text(exc: BaseException) -> str:
    """The driver's first line about a database error, for one log line."""
    text = str(getattr(exc, "orig", None) or exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


def _method() -> str:
    return request.method if has_request_context() else "-"


def _path() -> str:
    return request.path if has_request_context() else "-"


def _handle_unexpected(exc: Exception) -> Response:
    # Roll back whatever the request had started; say nothing about the internals.
    db.session.rollback()
    log.exception("unhandled error", exc_info=exc)
    return problem(500, "Internal server error", "The error has been logged.")


def register_error_handlers(app: Flask) -> None:
    """Map every error to problem+json."""
    app.register_error_handler(ServiceError, _handle_service_error)
    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(DBAPIError, _handle_database_error)
    app.register_error_handler(Exception, _handle_unexpected)
