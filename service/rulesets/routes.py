"""Rule-set management API: /v1/rulesets (clinicians, their own clinic's rule sets)."""

from __future__ import annotations

from typing import Any

from flask import request
from flask_smorest import Blueprint
from marshmallow import ValidationError

from service.accounts.auth import current_principal, require
from service.apidoc import UnsupportedMediaType, problems, reject_non_json_bodies
from service.db import utcnow
from service.errors import PROBLEM, Invalid, flatten_messages
from service.extensions import db
from service.rulesets import service
from service.rulesets.schemas import (
    RuleSetListSchema,
    RuleSetProblemSchema,
    RuleSetTextSchema,
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
    "description": (
        "A rule set in YAML (SPEC §5), sent as `application/yaml`, or as JSON "
        '`{"yaml": "..."}` for clients that can only send JSON.'
    ),
    "content": {
        "application/yaml": {"schema": {"type": "string"}, "example": EXAMPLE_RULESET},
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["yaml"],
                "properties": {"yaml": {"type": "string", "minLength": 1}},
                "additionalProperties": False,
            },
            "example": {"yaml": EXAMPLE_RULESET},
        },
    },
}
_TEXT = RuleSetTextSchema()


@blp.before_request
def _json_for_simulate() -> None:
    # The YAML routes read their own body; only simulate takes JSON.
    if request.endpoint and request.endpoint.endswith(".simulate"):
        reject_non_json_bodies()


def _yaml_body() -> str:
    """The rule set's YAML text from a YAML or JSON body; 415 for any other content type."""
    if request.is_json:
        try:
            return str(_TEXT.load(request.get_json())["yaml"])
        except ValidationError as exc:
            raise Invalid(
                'send the rule set as {"yaml": "..."}',
                errors=[{**e, "in": "json"} for e in flatten_messages(exc.messages)],
            ) from exc
    if request.mimetype not in YAML_TYPES:
        raise UnsupportedMediaType(
            'send the rule set as application/yaml (or JSON {"yaml": ...}), not '
            f"{request.mimetype or 'no content type'}"
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
@problems(blp, 400, 401, 403, 413, 415)
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
@problems(blp, 400, 401, 403, 409, 413, 415)
def create_version() -> tuple[dict[str, Any], int]:
    """Store a rule set as a new draft version of its slug (the same YAML again: that version)."""
    text = _yaml_body()
    with db.transaction() as session:
        view, created = service.create_version(session, current_principal(), text, utcnow())
    return view, 201 if created else 200


@blp.route("", methods=["GET"])
@require("clinician")
@blp.response(200, RuleSetListSchema)
@problems(blp, 401, 403)
def list_rulesets() -> dict[str, Any]:
    """List the clinic's rule sets."""
    with db.transaction() as session:
        return {"items": service.list_rulesets(session, current_principal())}


@blp.route("/<string:slug>/versions", methods=["GET"])
@require("clinician")
@blp.response(200, VersionListSchema)
@problems(blp, 401, 403, 404)
def list_versions(slug: str) -> dict[str, Any]:
    """List a rule set's versions, newest first."""
    with db.transaction() as session:
        return {"items": service.list_versions(session, current_principal(), slug)}


@blp.route("/<string:slug>/versions/<int:number>", methods=["GET"])
@require("clinician")
@blp.response(200, VersionSchema)
@problems(blp, 401, 403, 404)
def get_version(slug: str, number: int) -> dict[str, Any]:
    """Show one version with its YAML."""
    with db.transaction() as session:
        return service.get_version(session, current_principal(), slug, number)


@blp.route("/<string:slug>/versions/<int:number>/publish", methods=["POST"])
@require("clinician")
@blp.response(200, VersionSchema)
@problems(blp, 401, 403, 404)
def publish_version(slug: str, number: int) -> dict[str, Any]:
    """Publish a version: patients following this rule set use it from now on."""
    with db.transaction() as session:
        return service.publish_version(session, current_principal(), slug, number, utcnow())


@blp.route("/<string:slug>/simulate", methods=["POST"])
@require("clinician")
@blp.arguments(SimulateRequestSchema())
@blp.response(200, SimulationSchema)
@problems(blp, 400, 401, 403, 404, 413, 415, 422)
def simulate(body: dict[str, Any], slug: str) -> dict[str, Any]:
    """Replay a version day by day over a patient's history or a posted one."""
    with db.transaction() as session:
        return service.simulate(session, current_principal(), slug, body)
