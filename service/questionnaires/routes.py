"""Questionnaires: /v1/me/questionnaires for patients, instruments and scores for clinicians."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request
from flask_smorest import Blueprint

from service.accounts.auth import current_principal, require
from service.apidoc import problems, reject_non_json_bodies
from service.db import utcnow
from service.extensions import db
from service.idempotency import service as idempotency
from service.idempotency.schemas import IdempotencyHeaderSchema
from service.patients.access import patient_in_scope
from service.questionnaires import instruments, service
from service.questionnaires.schemas import (
    InstrumentListSchema,
    InstrumentSchema,
    InstrumentUploadSchema,
    QuestionnaireListSchema,
    ResponseCreateSchema,
    ResponseSchema,
    ScoreListSchema,
)

blp = Blueprint(
    "questionnaires",
    __name__,
    url_prefix="/v1",
    description="Questionnaires (the PEG and clinics' own): sent by rules, answered by patients.",
)
blp.before_request(reject_non_json_bodies)
STAFF = ("clinician", "admin")
REPLAYED = {
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored answer to an earlier request with the "
        "same Idempotency-Key",
        "schema": {"type": "string", "enum": ["true"]},
    }
}
_response = ResponseSchema()


@blp.route("/me/questionnaires", methods=["GET"])
@require("patient")
@blp.response(200, QuestionnaireListSchema)
@problems(blp, 401, 403)
def my_questionnaires() -> dict[str, Any]:
    """The questionnaires waiting for the patient's answers, with their items and scales."""
    with db.reading() as session:
        return {"items": service.pending(session, current_principal().user_id)}


@blp.route("/me/questionnaires/<int:questionnaire_id>/responses", methods=["POST"])
@require("patient")
@blp.arguments(IdempotencyHeaderSchema(), location="headers")
@blp.arguments(ResponseCreateSchema())
@blp.response(201, ResponseSchema, headers=REPLAYED)
@problems(blp, 400, 401, 403, 404, 409, 413, 415, 422)
def answer(headers: dict[str, Any], body: dict[str, Any], questionnaire_id: int) -> Any:
    """Answer a questionnaire: every item, a whole number in its range; scored at once."""
    patient_id = current_principal().user_id
    key = headers.get("key")
    if key is None:
        with db.transaction() as session:
            return service.answer(session, patient_id, questionnaire_id, body["answers"], utcnow())
    answered = idempotency.run_once(
        db.transaction,
        patient_id,
        key,
        idempotency.fingerprint(f"questionnaire:{questionnaire_id}", request.get_json(silent=True)),
        now=utcnow(),
        use_case=lambda session: idempotency.Answer(
            201,
            _response.dump(
                service.answer(session, patient_id, questionnaire_id, body["answers"], utcnow())
            ),
        ),
    )
    response: Response = jsonify(answered.body)
    response.status_code = answered.status
    if answered.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@blp.route("/clinician/instruments", methods=["GET"])
@require(*STAFF)
@blp.response(200, InstrumentListSchema)
@problems(blp, 401, 403)
def list_instruments() -> dict[str, Any]:
    """The instruments the clinic's rules can ask: the built-in PEG and the clinic's own."""
    with db.transaction() as session:
        found = instruments.clinic_instruments(session, current_principal().clinic_id)
        return {"items": [instruments.view(i) for i in found]}


@blp.route("/clinician/instruments", methods=["POST"])
@require("clinician")
@blp.arguments(InstrumentUploadSchema())
@blp.response(201, InstrumentSchema)
@problems(blp, 400, 401, 403, 409, 413, 415, 422)
def add_instrument(body: dict[str, Any]) -> dict[str, Any]:
    """Add a clinic instrument from YAML; errors name the line, column and path."""
    with db.transaction() as session:
        found = instruments.add(session, current_principal(), body["yaml"], utcnow())
        return instruments.view(found)


@blp.route("/clinician/patients/<int:patient_id>/questionnaires", methods=["GET"])
@require(*STAFF)
@blp.response(200, ScoreListSchema)
@problems(blp, 401, 403, 404)
def patient_scores(patient_id: int) -> dict[str, Any]:
    """A patient's questionnaire scores over time, oldest first."""
    with db.transaction() as session:
        patient_in_scope(session, current_principal(), patient_id)
        return {"items": service.scores(session, patient_id)}
