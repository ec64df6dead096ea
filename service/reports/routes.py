"""Pain and exercise reports: /v1/me/pain, /v1/me/exercise."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response, jsonify, request
from flask_smorest import Blueprint
from sqlalchemy.orm import Session

from service.accounts.auth import current_principal, require
from service.apidoc import problems, reject_non_json_bodies
from service.db import utcnow
from service.extensions import db
from service.idempotency import service as idempotency
from service.idempotency.schemas import IdempotencyHeaderSchema
from service.reports import service
from service.reports.schemas import (
    ExerciseCreateSchema,
    PainReportCreateSchema,
    ReportCreatedSchema,
)
from service.tips.service import tip_view

blp = Blueprint("reports", __name__, url_prefix="/v1/me", description="Pain and exercise reports.")
blp.before_request(reject_non_json_bodies)

REPLAYED = {
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored answer to an earlier request with the "
        "same Idempotency-Key",
        "schema": {"type": "string", "enum": ["true"]},
    }
}
_created = ReportCreatedSchema()


@blp.route("/pain", methods=["POST"])
@require("patient")
@blp.arguments(IdempotencyHeaderSchema(), location="headers")
@blp.arguments(PainReportCreateSchema())
@blp.response(201, ReportCreatedSchema, headers=REPLAYED)
@problems(blp, 400, 401, 403, 409, 413, 415, 422)
def report_pain(headers: dict[str, Any], body: dict[str, Any]) -> Any:
    """Report a pain score; the tips it causes come back at once."""

    def use_case(session: Session, patient_id: int) -> dict[str, Any]:
        report, tips = service.report_pain(session, patient_id, body, utcnow())
        return {"id": report.id, "tips": [tip_view(tip) for tip in tips]}

    return _answer_once("pain", headers.get("key"), use_case)


@blp.route("/exercise", methods=["POST"])
@require("patient")
@blp.arguments(IdempotencyHeaderSchema(), location="headers")
@blp.arguments(ExerciseCreateSchema())
@blp.response(201, ReportCreatedSchema, headers=REPLAYED)
@problems(blp, 400, 401, 403, 409, 413, 415, 422)
def report_exercise(headers: dict[str, Any], body: dict[str, Any]) -> Any:
    """Log a strength or stretching session."""

    def use_case(session: Session, patient_id: int) -> dict[str, Any]:
        exercise, tips = service.report_exercise(session, patient_id, body, utcnow())
        return {"id": exercise.id, "tips": [tip_view(tip) for tip in tips]}

    return _answer_once("exercise", headers.get("key"), use_case)


def _answer_once(
    scope: str, key: str | None, use_case: Callable[[Session, int], dict[str, Any]]
) -> dict[str, Any] | Response:
    """Run the report's use case, at most once per Idempotency-Key when the client sent one."""
    patient_id = current_principal().user_id
    if key is None:
        with db.transaction() as session:
            return use_case(session, patient_id)
    answer = idempotency.run_once(
        db.transaction,
        patient_id,
        key,
        idempotency.fingerprint(scope, request.get_json(silent=True)),
        now=utcnow(),
        use_case=lambda session: idempotency.Answer(
            201, _created.dump(use_case(session, patient_id))
        ),
    )
    response = jsonify(answer.body)
    response.status_code = answer.status
    if answer.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response
