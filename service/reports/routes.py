"""Pain and exercise reports: /v1/me/pain, /v1/me/exercise."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from service.apidoc import problems, reject_non_json_bodies
from service.auth import current_principal, require
from service.db import utcnow
from service.extensions import db
from service.reports import service
from service.reports.schemas import (
    ExerciseCreateSchema,
    PainReportCreateSchema,
    ReportCreatedSchema,
)
from service.tips.service import tip_view

blp = Blueprint("reports", __name__, url_prefix="/v1/me", description="Pain and exercise reports.")
blp.before_request(reject_non_json_bodies)


@blp.route("/pain", methods=["POST"])
@require("patient")
@blp.arguments(PainReportCreateSchema())
@blp.response(201, ReportCreatedSchema)
@problems(blp, 400, 401, 403, 413, 415, 422)
def report_pain(body: dict[str, Any]) -> dict[str, Any]:
    """Report a pain score; the tips it causes come back at once."""
    with db.transaction() as session:
        report, tips = service.report_pain(session, current_principal().user_id, body, utcnow())
        return {"id": report.id, "tips": [tip_view(tip) for tip in tips]}


@blp.route("/exercise", methods=["POST"])
@require("patient")
@blp.arguments(ExerciseCreateSchema())
@blp.response(201, ReportCreatedSchema)
@problems(blp, 400, 401, 403, 413, 415, 422)
def report_exercise(body: dict[str, Any]) -> dict[str, Any]:
    """Log a strength or stretching session."""
    with db.transaction() as session:
        exercise, tips = service.report_exercise(
            session, current_principal().user_id, body, utcnow()
        )
        return {"id": exercise.id, "tips": [tip_view(tip) for tip in tips]}
