"""Operations endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import hmac
import time

from flask import Blueprint, Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from service.errors import Unauthorized, Unavailable
from service.extensions import db, get_settings

blp = Blueprint("ops", __name__)

REQUESTS = Counter("backstride_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "backstride_http_request_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


@blp.get("/healthz")
def healthz() -> dict[str, str]:
    """Say the process is alive."""
    return {"status": "ok"}


@blp.get("/readyz")
def readyz() -> dict[str, str]:
    """Say whether the database answers."""
    try:
        with db.transaction() as session:
            session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        raise Unavailable("database unreachable") from exc
    return {"status": "ready"}


@blp.get("/metrics")
def metrics() -> Response:
    """Expose Prometheus metrics (to `Authorization: Bearer METRICS_TOKEN` when it is set)."""
    expected = get_settings().metrics_token
    if expected is not None:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        # Compared as bytes: compare_digest refuses non-ASCII str, and headers may carry any.
        ok = scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), expected.encode()
        )
        if not ok:
            raise Unauthorized(
                "metrics need the METRICS_TOKEN bearer token",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
    return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)


def install_request_metrics(app: Flask) -> None:
    """Count and time every request by its route template (not its raw path)."""

    @app.before_request
    def _start_timer() -> None:
        g.request_started = time.perf_counter()

    @app.after_request
    def _record(response: Response) -> Response:
        route = request.url_rule.rule if request.url_rule else "<unmatched>"
        REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        started = g.get("request_started")
        if started is not None:
            LATENCY.labels(request.method, route).observe(time.perf_counter() - started)
        return response
