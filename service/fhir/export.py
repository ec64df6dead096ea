"""Bulk export use cases (FHIR Bulk Data style): kick-off, status, manifest, files, cancel.

The export itself runs in `service.fhir.worker`; this module owns who may start and read which
export, and streams the stored NDJSON back. Every kick-off, synchronous export, cancel and file
download is audited.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
import zlib
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from service.accounts.auth import Principal
from service.accounts.models import Clinic
from service.audit.service import record
from service.errors import Forbidden, NotFound, TooManyRequests, field_error
from service.fhir.ids import NDJSON
from service.fhir.mapping import RESOURCE_TYPES, Scope, mappers_for
from service.fhir.mapping.base import instant
from service.fhir.models import FhirExport, FhirExportPart

ACTIVE = ("queued", "running")
RETRY_AFTER_S = 5


def export_clinic(session: Session, principal: Principal, clinic: int | None) -> int:
    """The clinic to export: the clinician's own; admins name one."""
    if principal.role == "admin":
        if clinic is None:
            raise field_error("clinic", "required for an account without a clinic")
        if session.get(Clinic, clinic) is None:
            raise NotFound("no such clinic")
        return clinic
    if clinic is not None and clinic != principal.clinic_id:
        raise Forbidden("clinicians export their own clinic only")
    if principal.clinic_id is None:
        raise field_error("clinic", "required for an account without a clinic")
    return principal.clinic_id


def resource_types(raw: str | None) -> list[str]:
    """The `_type` list, checked against what this server exports (all of them when absent)."""
    if raw is None:
        return list(RESOURCE_TYPES)
    asked = {name.strip() for name in raw.split(",") if name.strip()}
    unknown = sorted(asked - set(RESOURCE_TYPES))
    if unknown or not asked:
        raise field_error(
            "_type",
            f"unsupported resource type {', '.join(unknown) or '(none)'}; "
            f"this server exports {', '.join(RESOURCE_TYPES)}",
        )
    return [name for name in RESOURCE_TYPES if name in asked]


def kick_off(
    session: Session,
    principal: Principal,
    *,
    clinic: int | None,
    types: str | None,
    request_url: str,
    now: dt.datetime,
) -> FhirExport:
    """Queue an export of the clinic (one at a time per clinic) and audit it."""
    clinic_id = export_clinic(session, principal, clinic)
    wanted = resource_types(types)
    # A throttle, not a lock: two kick-offs racing here may both queue, which is harmless.
    busy = session.scalar(
        select(FhirExport.id)
        .where(FhirExport.clinic_id == clinic_id, FhirExport.status.in_(ACTIVE))
        .limit(1)
    )
    if busy is not None:
        raise TooManyRequests(
            "an export of this clinic is already in progress",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
    export = FhirExport(
        id=str(uuid.uuid4()),
        clinic_id=clinic_id,
        requested_by=principal.user_id,
        status="queued",
        types=wanted,
        request_url=request_url[:2000],
        requested_at=now,
        attempts=0,
        written=0,
    )
    session.add(export)
    session.flush()
    record(
        session, principal, "fhir.export.start", "fhir_export", export.id,
        {"clinic_id": clinic_id, "types": wanted},
    )  # fmt: skip
    return export


def visible_export(
    session: Session, principal: Principal, export_id: str, now: dt.datetime
) -> FhirExport:
    """An export of the caller's clinic (admins: any) that is neither cancelled nor expired."""
    export = session.get(FhirExport, export_id)
    if (
        export is None
        or export.status == "cancelled"
        or (principal.role != "admin" and export.clinic_id != principal.clinic_id)
    ):
        raise NotFound("no such export")
    if export.expires_at is not None and export.expires_at <= now:
        raise NotFound("this export has expired; start a new one")
    return export


def manifest(
    session: Session, export: FhirExport, file_url: Callable[[str], str]
) -> dict[str, Any]:
    """The Bulk Data completion manifest: one output file per resource type with data."""
    counts = dict(
        session.execute(
            select(FhirExportPart.resource_type, func.sum(FhirExportPart.count))
            .where(FhirExportPart.export_id == export.id)
            .group_by(FhirExportPart.resource_type)
        ).all()
    )
    return {
        "transactionTime": instant(export.started_at or export.requested_at),
        "request": export.request_url,
        "requiresAccessToken": True,
        "output": [
            {"type": name, "url": file_url(name), "count": int(counts[name])}
            for name in export.types
            if counts.get(name)
        ],
        "error": [],
    }


def cancel(session: Session, principal: Principal, export_id: str, now: dt.datetime) -> None:
    """Stop an export and delete its files (a running worker stops at its next part)."""
    export = visible_export(session, principal, export_id, now)
    session.execute(delete(FhirExportPart).where(FhirExportPart.export_id == export.id))
    export.status = "cancelled"
    export.finished_at = now
    export.lease_until = None
    record(session, principal, "fhir.export.cancel", "fhir_export", export.id)


def open_file(
    session: Session, principal: Principal, export_id: str, resource_type: str, now: dt.datetime
) -> str:
    """Check a file of a finished export may be downloaded, audit it, return the export id."""
    export = visible_export(session, principal, export_id, now)
    if export.status != "completed" or resource_type not in export.types:
        raise NotFound("no such file")
    record(
        session, principal, "fhir.export.download", "fhir_export", export.id,
        {"type": resource_type},
    )  # fmt: skip
    return export.id


def file_chunks(session: Session, export_id: str, resource_type: str) -> Iterator[bytes]:
    """A stored NDJSON file, one decompressed part at a time."""
    query = (
        select(FhirExportPart.data)
        .where(FhirExportPart.export_id == export_id, FhirExportPart.resource_type == resource_type)
        .order_by(FhirExportPart.seq)
        .execution_options(yield_per=1)
    )
    for (data,) in session.execute(query):
        yield zlib.decompress(data)


def sync_scope(
    session: Session,
    principal: Principal,
    *,
    clinic: int | None,
    types: str | None,
    now: dt.datetime,
) -> tuple[Scope, list[str]]:
    """Check and audit a synchronous export; the scope and types to stream."""
    clinic_id = export_clinic(session, principal, clinic)
    wanted = resource_types(types)
    record(session, principal, "fhir.export.sync", "clinic", clinic_id, {"types": wanted})
    return Scope(clinic_id=clinic_id, now=now), wanted


def ndjson_lines(session: Session, scope: Scope, types: list[str]) -> Iterator[str]:
    """Every resource of the scope as NDJSON lines, type after type."""
    for mapper in mappers_for(types):
        for resource in mapper.resources(session, scope, NDJSON):
            yield json.dumps(resource, separators=(",", ":")) + "\n"
