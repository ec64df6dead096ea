"""The export worker: claims a queued export, streams the clinic's resources into NDJSON parts.

A kick-off starts a thread in the web process at once; the scheduler's `fhir_exports` job also
claims queued exports and running ones whose lease has passed (their process ended), so an export
survives the request and the process that took it. The claim is a conditional UPDATE: the thread,
and any number of scheduler processes, race for it and exactly one wins. Each part written
renews the lease; a worker that finds its claim gone (cancelled, or taken over) stops.

Memory stays flat: rows stream from a server-side cursor, and one part at a time
(at most 5,000 lines or 2 MB of text) is held before it is compressed and committed.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import zlib
from collections import defaultdict
from collections.abc import Callable

from flask import Flask
from sqlalchemy import ColumnElement, and_, delete, or_, select, update
from sqlalchemy.orm import Session

from service.db import utcnow
from service.extensions import db
from service.fhir.ids import NDJSON
from service.fhir.mapping import Scope, mappers_for
from service.fhir.models import FhirExport, FhirExportPart

log = logging.getLogger(__name__)

LEASE = dt.timedelta(minutes=2)
RETENTION = dt.timedelta(hours=24)
PART_LINES = 5000
PART_BYTES = 2 * 1024 * 1024
Clock = Callable[[], dt.datetime]


class ClaimLost(Exception):
    """The export was cancelled, or another worker took it over."""


def _claimable(now: dt.datetime) -> ColumnElement[bool]:
    return or_(
        FhirExport.status == "queued",
        and_(FhirExport.status == "running", FhirExport.lease_until < now),
    )


def claim(
    session: Session, now: dt.datetime, export_id: str | None = None
) -> tuple[str, int] | None:
    """Take one export to run (this one, or the oldest waiting): its id and attempt number."""
    if export_id is not None:
        candidates = [export_id]
    else:
        candidates = list(
            session.scalars(
                select(FhirExport.id)
                .where(_claimable(now))
                .order_by(FhirExport.requested_at)
                .limit(5)
            )
        )
    for candidate in candidates:
        # Whoever updates the row first owns the export; the others see no row change.
        claimed = session.execute(
            update(FhirExport)
            .where(FhirExport.id == candidate, _claimable(now))
            .values(
                status="running",
                started_at=now,
                lease_until=now + LEASE,
                attempts=FhirExport.attempts + 1,
                written=0,
                error=None,
            )
            .returning(FhirExport.attempts)
        ).scalar()
        if claimed is not None:
            return candidate, claimed
    return None


class PartWriter:
    """Buffers NDJSON lines per resource type and commits them as compressed parts."""

    def __init__(self, export_id: str, attempt: int, clock: Clock) -> None:
        self.export_id = export_id
        self.attempt = attempt
        self.clock = clock
        self.lines: dict[str, list[str]] = defaultdict(list)
        self.sizes: dict[str, int] = defaultdict(int)
        self.seq: dict[str, int] = defaultdict(int)

    def add(self, resource_type: str, line: str) -> None:
        """Add a line; write the type's part when it is full."""
        self.lines[resource_type].append(line)
        self.sizes[resource_type] += len(line) + 1
        if len(self.lines[resource_type]) >= PART_LINES or self.sizes[resource_type] >= PART_BYTES:
            self.flush(resource_type)

    def flush(self, resource_type: str) -> None:
        """Commit the type's buffered lines as one part and renew the lease."""
        lines = self.lines.pop(resource_type, [])
        self.sizes.pop(resource_type, None)
        if not lines:
            return
        data = zlib.compress(("\n".join(lines) + "\n").encode(), 6)
        now = self.clock()
        with Session(db.engine) as session, session.begin():
            renewed = session.execute(
                update(FhirExport)
                .where(
                    FhirExport.id == self.export_id,
                    FhirExport.status == "running",
                    FhirExport.attempts == self.attempt,
                )
                .values(lease_until=now + LEASE, written=FhirExport.written + len(lines))
            ).rowcount  # type: ignore[attr-defined]
            if renewed != 1:
                raise ClaimLost(self.export_id)
            session.add(
                FhirExportPart(
                    export_id=self.export_id,
                    resource_type=resource_type,
                    seq=self.seq[resource_type],
                    count=len(lines),
                    data=data,
                )
            )
        self.seq[resource_type] += 1


def _finish(export_id: str, attempt: int, now: dt.datetime, error: str | None) -> None:
    with db.transaction() as session:
        session.execute(
            update(FhirExport)
            .where(
                FhirExport.id == export_id,
                FhirExport.status == "running",
                FhirExport.attempts == attempt,
            )
            .values(
                status="failed" if error else "completed",
                error=error,
                finished_at=now,
                expires_at=now + RETENTION,
                lease_until=None,
            )
        )


def run_export(export_id: str, attempt: int, clock: Clock = utcnow) -> str:
    """Write a claimed export's NDJSON parts; returns how it ended."""
    with db.transaction() as session:
        export = session.get(FhirExport, export_id)
        if export is None:
            return "gone"
        clinic_id, types = export.clinic_id, list(export.types)
        # Parts of an earlier attempt that died half way.
        session.execute(delete(FhirExportPart).where(FhirExportPart.export_id == export_id))
    writer = PartWriter(export_id, attempt, clock)
    scope = Scope(clinic_id=clinic_id, now=clock())
    try:
        with db.transaction() as reader:
            if db.dialect == "postgresql":
                # One snapshot for every resource type, so references between files agree.
                reader.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            mappers = mappers_for(types)
            for index, mapper in enumerate(mappers):
                for resource in mapper.resources(reader, scope, NDJSON):
                    writer.add(mapper.resource_type, json.dumps(resource, separators=(",", ":")))
                # Mappers of one type are neighbours: a type's last part is written when the
                # next type starts, so only one part is ever being filled.
                following = mappers[index + 1].resource_type if index + 1 < len(mappers) else None
                if following != mapper.resource_type:
                    writer.flush(mapper.resource_type)
    except ClaimLost:
        log.info("export %s stopped: cancelled or taken over", export_id)
        return "stopped"
    except Exception as exc:
        log.exception("export %s failed", export_id)
        _finish(export_id, attempt, clock(), f"{type(exc).__name__}")
        return "failed"
    _finish(export_id, attempt, clock(), None)
    return "completed"


def run_due(clock: Clock = utcnow, limit: int = 3) -> int:
    """Run waiting exports (and ones whose worker died) one after another; how many ran."""
    ran = 0
    while ran < limit:
        with db.transaction() as session:
            claimed = claim(session, clock())
        if claimed is None:
            break
        run_export(*claimed, clock=clock)
        ran += 1
    return ran


def purge_expired(now: dt.datetime | None = None) -> int:
    """Delete exports (and their files) past their expiry, and cancelled ones."""
    now = now or utcnow()
    with db.transaction() as session:
        doomed = or_(FhirExport.expires_at <= now, FhirExport.status == "cancelled")
        ids = list(session.scalars(select(FhirExport.id).where(doomed)))
        if ids:
            session.execute(delete(FhirExportPart).where(FhirExportPart.export_id.in_(ids)))
            session.execute(delete(FhirExport).where(FhirExport.id.in_(ids)))
        return len(ids)


def _run_one(app: Flask, export_id: str) -> None:
    with app.app_context():
        try:
            with db.transaction() as session:
                claimed = claim(session, utcnow(), export_id)
            if claimed is not None:
                run_export(*claimed)
        except Exception:
            log.exception("export %s: worker thread failed", export_id)
        finally:
            db.remove()


def start(app: Flask, export_id: str) -> threading.Thread:
    """Run an export in a thread of this process, right away (the scheduler is the fallback)."""
    thread = threading.Thread(
        target=_run_one, args=(app, export_id), name=f"fhir-export-{export_id[:8]}", daemon=True
    )
    thread.start()
    return thread
