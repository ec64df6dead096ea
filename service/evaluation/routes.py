"""A patient's evaluation history for clinicians: /v1/clinician/patients/{id}/evaluations."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from service.accounts.auth import current_principal, require
from service.apidoc import problems
from service.evaluation import queries
from service.evaluation.schemas import EvaluationListSchema, EvaluationQueryArgsSchema
from service.extensions import db

blp = Blueprint(
    "evaluations",
    __name__,
    url_prefix="/v1/clinician/patients",
    description="Why a patient got what they got: every evaluation with its trace.",
)


@blp.route("/<int:patient_id>/evaluations", methods=["GET"])
@require("clinician", "admin")
@blp.arguments(EvaluationQueryArgsSchema(), location="query")
@blp.response(200, EvaluationListSchema)
@problems(blp, 401, 403, 404, 422)
def list_evaluations(args: dict[str, Any], patient_id: int) -> dict[str, Any]:
    """List a patient's evaluations, newest first."""
    with db.transaction() as session:
        return queries.list_evaluations(
            session, current_principal(), patient_id, args["limit"], args.get("before")
        )
