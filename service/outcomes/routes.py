"""`GET /v1/clinician/outcomes`: the effect of a clinic's randomised tips, and
`/outcomes/programme`: the programme's own outcomes (SPEC §11.4)."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from service.accounts.auth import current_principal, require
from service.apidoc import problems
from service.db import utcnow
from service.extensions import db
from service.outcomes import programme, service
from service.outcomes.schemas import (
    OutcomesQueryArgsSchema,
    OutcomesReportSchema,
    ProgrammeOutcomesSchema,
)

blp = Blueprint(
    "outcomes",
    __name__,
    url_prefix="/v1/clinician",
    description="Outcomes of micro-randomised tips: what followed sending, and the effect.",
)


@blp.route("/outcomes", methods=["GET"])
@require("clinician", "admin")
@blp.arguments(OutcomesQueryArgsSchema(), location="query")
@blp.response(200, OutcomesReportSchema)
@problems(blp, 400, 401, 403, 422)
def get_outcomes(args: dict[str, Any]) -> dict[str, Any]:
    """Report each randomised rule and variant: sends, read and helpful rates, the effect."""
    with db.transaction() as session:
        return service.report(
            session,
            current_principal(),
            ruleset=args.get("ruleset"),
            first=args.get("from_"),
            last=args.get("to"),
        )


@blp.route("/outcomes/programme", methods=["GET"])
@require("clinician", "admin")
@blp.response(200, ProgrammeOutcomesSchema)
@problems(blp, 401, 403)
def get_programme_outcomes() -> dict[str, Any]:
    """Report enrolment, activity, completion, steps and pain change, PEG and engagement."""
    with db.transaction() as session:
        return programme.programme_outcomes(session, current_principal(), utcnow())
