"""Rule-set management API: /v1/rulesets (clinicians, their own clinic's rule sets)."""

from __future__ import annotations

from typing import Any

from flask import request
from flask_smorest import Blueprint

from service.apidoc import UnsupportedMediaType, problems, reject_non_json_bodies
from service.auth import current_principal, require
from service.errors import PROBLEM
from service.rulesets import service
from service.rulesets.schemas import (
    RuleSetListSchema,
    RuleSetProblemSchema,
    SimulateRequestSchema,
    SimulationSchema,
    ValidationResultSchema,
    VersionCreatedSchema,
    VersionListSchema,
    VersionSchema,
)

blp = Blueprint(
    "rulesets", __name__, url_prefix="/v1/rulesets", description="Clinicians' rule sets."
)
# The smallest useful rule set; the OpenAPI example, and a test sends it to both YAML routes.
EXAMPLE_RULESET = """\
ruleset: my-rules
title: My rules
settings:
  decision_times: ["15:00"]
  target: {initial: 4000, min: 2000, max: 12000}
tips:
  afternoon-walk:
    category: progression
    title: Time for a walk
    text: A ten-minute walk on flat ground this afternoon would bring you closer to today's goal.
rules:
  - id: afternoon-nudge
    when: steps.today < plan.target / 2
    then:
      - send_tip: afternoon-walk
    cooldown: 1d
tests:
  - name: nudges a patient far behind
    facts: {steps.today: 1000, plan.target: 4000}
    expect: {fires: [afternoon-nudge]}
"""
YAML_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml"})
YAML_BODY = {
    "required": True,
    "description": "A rule set in YAML (SPEC §5).",
    "content": {
        "application/yaml": {
            "schema": {"type": "string"},
            "example": EXAMPLE_RULESET,
        }
    },
}


@blp.before_request
def _json_for_simulate() -> None:
    # The YAML routes read their own body; only simulate takes JSON.
    if request.endpoint and request.endpoint.endswith(".simulate"):
        reject_non_json_bodies()


def _yaml_body() -> str:
    """The request body as YAML text, or 415 when it is sent as something else."""
    if request.mimetype not in YAML_TYPES:
        raise UnsupportedMediaType(
            f"send the rule set as application/yaml, not {request.mimetype or 'no content type'}"
        )
    try:
        return request.get_data(cache=False).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnsupportedMediaType("the YAML must be UTF-8") from exc


@blp.route("/validate", methods=["POST"])
@require("clinician")
@blp.doc(requestBody=YAML_BODY)
@blp.response(200, ValidationResultSchema)
@blp.alt_response(422, schema=RuleSetProblemSchema, content_type=PROBLEM)
@problems(blp, 401, 403, 413, 415)
def validate_ruleset() -> dict[str, Any]:
    """Validate a rule set without storing it."""
    checked = service.check(_yaml_body())
    return {"valid": True, "warnings": checked.warnings}


@blp.route("", methods=["POST"])
@require("clinician")
@blp.doc(requestBody=YAML_BODY)
@blp.response(201, VersionCreatedSchema, description="A new draft version")
@blp.alt_response(
    200, schema=VersionCreatedSchema, description="These exact bytes are already that version"
)
@blp.alt_response(422, schema=RuleSetProblemSchema, content_type=PROBLEM)
@problems(blp, 401, 403, 409, 413, 415)
def create_version() -> tuple[dict[str, Any], int]:
    """Store a rule set as a new draft version of its slug (the same YAML again: that version)."""
    view, created = service.create_version(current_principal(), _yaml_body())
    return view, 201 if created else 200


@blp.route("", methods=["GET"])
@require("clinician")
@blp.response(200, RuleSetListSchema)
@problems(blp, 401, 403)
def list_rulesets() -> dict[str, Any]:
    """List the clinic's rule sets."""
    return {"items": service.list_rulesets(current_principal())}


@blp.route("/<string:slug>/versions", methods=["GET"])
@require("clinician")
@blp.response(200, VersionListSchema)
@problems(blp, 401, 403, 404)
def list_versions(slug: str) -> dict[str, Any]:
    """List a rule set's versions, newest first."""
    return {"items": service.list_versions(current_principal(), slug)}


@blp.route("/<string:slug>/versions/<int:number>", methods=["GET"])
@require("clinician")
@blp.response(200, VersionSchema)
@problems(blp, 401, 403, 404)
def get_version(slug: str, number: int) -> dict[str, Any]:
    """Show one version with its YAML."""
    return service.get_version(current_principal(), slug, number)


@blp.route("/<string:slug>/versions/<int:number>/publish", methods=["POST"])
@require("clinician")
@blp.response(200, VersionSchema)
@problems(blp, 401, 403, 404)
def publish_version(slug: str, number: int) -> dict[str, Any]:
    """Publish a version: patients following this rule set use it from now on."""
    return service.publish_version(current_principal(), slug, number)


@blp.route("/<string:slug>/simulate", methods=["POST"])
@require("clinician")
@blp.arguments(SimulateRequestSchema())
@blp.response(200, SimulationSchema)
@problems(blp, 400, 401, 403, 404, 413, 415, 422)
def simulate(body: dict[str, Any], slug: str) -> dict[str, Any]:
    """Replay a version day by day over a patient's history or a posted one."""
    return service.simulate(current_principal(), slug, body)
