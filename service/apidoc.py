"""Shared OpenAPI pieces: the problem+json schema, documented error responses, the JSON guard."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import request
from flask_smorest import Blueprint
from marshmallow import fields

from service.errors import PROBLEM, ServiceError
from service.inputs import ApiSchema

F = TypeVar("F", bound=Callable[..., Any])
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class ProblemErrorSchema(ApiSchema):
    """One field-level error inside a problem."""

    field = fields.String(required=True)
    message = fields.String(required=True)
    # Where the field came from: json, query, path, ...
    in_ = fields.String(data_key="in")


class ProblemSchema(ApiSchema):
    """RFC 9457 problem details, the body of every error response."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String()
    errors = fields.List(fields.Nested(ProblemErrorSchema))


class UnsupportedMediaType(ServiceError):
    """The body is not JSON on a JSON route."""

    status = 415
    title = "Unsupported media type"


def problems(blp: Blueprint, *statuses: int) -> Callable[[F], F]:
    """Document error responses of a view as problem+json (stack under `@blp.response`)."""

    def decorator(view: F) -> F:
        for status in statuses:
            view = blp.alt_response(status, schema=ProblemSchema, content_type=PROBLEM)(view)
        return view

    return decorator


def reject_non_json_bodies() -> None:
    """Refuse a request body that is not JSON (415); register with `blp.before_request`."""
    if request.method not in BODY_METHODS:
        return
    has_body = bool(request.content_length) or "chunked" in request.headers.get(
        "Transfer-Encoding", ""
    )
    if has_body and not request.is_json:
        raise UnsupportedMediaType(
            f"send the body as application/json, not {request.mimetype or 'no content type'}"
        )
