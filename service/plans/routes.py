"""The patient's plan: /v1/me/plan."""

from __future__ import annotations

import zoneinfo
from typing import Any

from flask_smorest import Blueprint

from service.accounts.auth import current_principal, require
from service.apidoc import problems
from service.extensions import db
from service.patients.service import get_profile
from service.plans import service
from service.plans.schemas import PlanSchema

blp = Blueprint("plan", __name__, url_prefix="/v1/me/plan", description="The step plan.")


@blp.route("", methods=["GET"])
@require("patient")
@blp.response(200, PlanSchema)
@problems(blp, 401, 403, 404)
def get_plan() -> dict[str, Any]:
    """Show the caller's daily target and how it changed."""
    with db.reading() as session:
        profile = get_profile(session, current_principal().user_id)
        return service.plan_view(session, profile.user_id, zoneinfo.ZoneInfo(profile.timezone))
