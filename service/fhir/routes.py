"""FHIR R4 for the clinic's record: a patient's Bundle, and Bulk Data style clinic export.

Responses are `application/fhir+json` (NDJSON files `application/fhir+ndjson`); every error on
these routes is an OperationOutcome. Same callers as the clinician API: a clinic's own staff
(admins: any clinic, naming it on export).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Response, current_app, request, url_for
from flask_smorest import Blueprint

from service.accounts.auth import current_principal, require
from service.db import utcnow
from service.extensions import db
from service.fhir import bundle, export, worker
from service.fhir.http import (
    FHIR_JSON,
    FHIR_NDJSON,
    JSON,
    JSON_TYPES,
    NDJSON_TYPES,
    negotiate,
    outcome,
    register_outcomes,
    streamed,
)
from service.fhir.schemas import (
    BundleQueryArgsSchema,
    ExportManifestSchema,
    ExportQueryArgsSchema,
    FhirResourceSchema,
    OperationOutcomeSchema,
)

F = TypeVar("F", bound=Callable[..., Any])
blp = Blueprint(
    "fhir",
    __name__,
    url_prefix="/v1/clinician",
    description="FHIR R4: a patient's programme as a Bundle; bulk NDJSON export of a clinic.",
)
register_outcomes(blp)
STAFF = ("clinician", "admin")
PREFER = {
    "in": "header",
    "name": "Prefer",
    "required": False,
    "schema": {"type": "string", "enum": ["respond-async"]},
    "description": "`respond-async` starts a Bulk Data export; without it the NDJSON streams now.",
}


def outcomes(*statuses: int) -> Callable[[F], F]:
    """Document error responses of a view as OperationOutcome."""

    def decorator(view: F) -> F:
        for status in statuses:
            view = blp.alt_response(status, schema=OperationOutcomeSchema, content_type=FHIR_JSON)(
                view
            )
        return view

    return decorator


def _information(status: int, text: str, headers: dict[str, str]) -> Response:
    body = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "information", "code": "informational", "details": {"text": text}}],
    }
    response = Response(json.dumps(body), status=status, mimetype=FHIR_JSON)
    response.headers.update(headers)
    return response


@blp.route("/patients/<int:patient_id>/fhir", methods=["GET"])
@require(*STAFF)
@blp.arguments(BundleQueryArgsSchema(), location="query")
@blp.response(200, FhirResourceSchema, content_type=FHIR_JSON, description="A Bundle")
@outcomes(401, 403, 404, 406, 409, 422)
def patient_bundle(args: dict[str, Any], patient_id: int) -> Response:
    """Export one patient's programme as a FHIR R4 Bundle (type collection)."""
    negotiate(JSON_TYPES, args.get("format_"))
    with db.transaction() as session:
        scope = bundle.patient_scope(
            session,
            current_principal(),
            patient_id,
            first=args.get("from_"),
            last=args.get("to"),
            now=utcnow(),
        )
    return streamed(lambda session: bundle.bundle_chunks(session, scope), FHIR_JSON)


@blp.route("/fhir/$export", methods=["GET"], parameters=[PREFER])
@require(*STAFF)
@blp.arguments(ExportQueryArgsSchema(), location="query")
@blp.response(200, content_type=FHIR_NDJSON, description="The clinic's resources as NDJSON")
@blp.alt_response(
    202,
    schema=OperationOutcomeSchema,
    content_type=FHIR_JSON,
    description="Export started: poll the status URL in Content-Location",
    headers={"Content-Location": {"schema": {"type": "string"}}},
    success=True,
)
@outcomes(401, 403, 404, 406, 422, 429)
def export_clinic(args: dict[str, Any]) -> Response:
    """Export the clinic as NDJSON: Bulk Data kick-off with `Prefer: respond-async`, else now."""
    now = utcnow()
    if "respond-async" in request.headers.get("Prefer", ""):
        negotiate(NDJSON_TYPES, args.get("output_format") or FHIR_NDJSON)
        with db.transaction() as session:
            job = export.kick_off(
                session,
                current_principal(),
                clinic=args.get("clinic"),
                types=args.get("type_"),
                request_url=request.url,
                now=now,
            )
        worker.start(current_app._get_current_object(), job.id)  # type: ignore[attr-defined]
        status_url = url_for("fhir.export_status", export_id=job.id, _external=True)
        return _information(202, "Export started.", {"Content-Location": status_url})
    negotiate(NDJSON_TYPES, args.get("output_format"))
    with db.transaction() as session:
        scope, types = export.sync_scope(
            session,
            current_principal(),
            clinic=args.get("clinic"),
            types=args.get("type_"),
            now=now,
        )
    return streamed(lambda session: export.ndjson_lines(session, scope, types), FHIR_NDJSON)


@blp.route("/fhir/exports/<export_id>", methods=["GET"])
@require(*STAFF)
@blp.response(200, ExportManifestSchema, content_type=JSON, description="The export finished")
@blp.alt_response(
    202,
    schema=OperationOutcomeSchema,
    content_type=FHIR_JSON,
    description="Still running: poll again after Retry-After",
    success=True,
)
@outcomes(401, 403, 404, 500)
def export_status(export_id: str) -> Response:
    """Poll an export: 202 while it runs, then its manifest (or the failure)."""
    with db.transaction() as session:
        job = export.visible_export(session, current_principal(), export_id, utcnow())
        if job.status in export.ACTIVE:
            progress = f"{job.status}: {job.written} resources written"
            headers = {"X-Progress": progress, "Retry-After": str(export.RETRY_AFTER_S)}
            return _information(202, progress, headers)
        if job.status == "failed":
            return outcome(500, "The export failed; start a new one.")
        body = export.manifest(
            session,
            job,
            lambda name: url_for(
                "fhir.export_file", export_id=job.id, resource_type=name, _external=True
            ),
        )
    return Response(json.dumps(body), mimetype=JSON)


@blp.route("/fhir/exports/<export_id>", methods=["DELETE"])
@require(*STAFF)
@blp.response(202, OperationOutcomeSchema, content_type=FHIR_JSON, description="Cancelled")
@outcomes(401, 403, 404)
def cancel_export(export_id: str) -> Response:
    """Cancel an export and delete its files."""
    with db.transaction() as session:
        export.cancel(session, current_principal(), export_id, utcnow())
    return _information(202, "Export cancelled; its files are deleted.", {})


@blp.route("/fhir/exports/<export_id>/files/<resource_type>.ndjson", methods=["GET"])
@require(*STAFF)
@blp.response(200, content_type=FHIR_NDJSON, description="One resource per line")
@outcomes(401, 403, 404, 406)
def export_file(export_id: str, resource_type: str) -> Response:
    """Download one resource type of a finished export as NDJSON."""
    negotiate(NDJSON_TYPES)
    with db.transaction() as session:
        export.open_file(session, current_principal(), export_id, resource_type, utcnow())
    return streamed(
        lambda session: export.file_chunks(session, export_id, resource_type), FHIR_NDJSON
    )
