"""The app skeleton: operations endpoints, problem+json errors, migrations match models."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from service.db import Base
from service.extensions import db


def test_it_reports_health_and_readiness(client: Any) -> None:
    assert client.get("/healthz").json == {"status": "ok"}
    assert client.get("/readyz").json == {"status": "ready"}


def test_it_renders_unknown_routes_as_problem_json(client: Any) -> None:
    response = client.get("/v1/no-such-thing")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert response.json["status"] == 404


def test_it_rejects_wrong_methods_as_problem_json(client: Any) -> None:
    response = client.delete("/healthz")
    assert response.status_code == 405
    assert response.mimetype == "application/problem+json"
    assert "GET" in response.headers["Allow"]


def test_it_counts_requests_in_metrics(client: Any) -> None:
    client.get("/healthz")
    body = client.get("/metrics").get_data(as_text=True)
    assert 'backstride_http_requests_total{method="GET",route="/healthz",status="200"}' in body


def test_it_has_migrations_that_produce_exactly_the_models(app: Any) -> None:
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_it_serves_an_openapi_31_document(client: Any) -> None:
    spec = client.get("/openapi.json").json
    assert spec["openapi"] == "3.1.0"
    assert "bearerAuth" in spec["components"]["securitySchemes"]
