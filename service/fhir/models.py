"""Bulk export jobs and their NDJSON output, kept in the database so any process can serve them."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, BigId, IdPk, utcnow

EXPORT_STATUSES = ("queued", "running", "completed", "failed", "cancelled")


class FhirExport(Base):
    """One `$export` request: what was asked, its state, and the lease of the worker running it."""

    __tablename__ = "fhir_exports"
    __table_args__ = (
        CheckConstraint(
            "status IN ('queued', 'running', 'completed', 'failed', 'cancelled')", name="status"
        ),
        Index("ix_fhir_exports_status_lease", "status", "lease_until"),
        Index("ix_fhir_exports_clinic_requested", "clinic_id", "requested_at"),
    )

    # Opaque and unguessable: it is the last part of the status and file URLs.
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    clinic_id: Mapped[int] = mapped_column(BigId, ForeignKey("clinics.id", ondelete="CASCADE"))
    requested_by: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    status: Mapped[str] = mapped_column(String(16), default="queued")
    types: Mapped[list[str]] = mapped_column(JSON, default=list)
    request_url: Mapped[str] = mapped_column(String(2000))
    requested_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    # Output is deleted after this (the manifest's files are no longer served).
    expires_at: Mapped[dt.datetime | None]
    # A running export whose lease has passed lost its worker (process ended): it is run again.
    lease_until: Mapped[dt.datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    written: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)


class FhirExportPart(Base):
    """Some NDJSON lines of one resource type, zlib-compressed; a file is its parts in order."""

    __tablename__ = "fhir_export_parts"
    __table_args__ = (UniqueConstraint("export_id", "resource_type", "seq"),)

    id: Mapped[IdPk]
    export_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("fhir_exports.id", ondelete="CASCADE")
    )
    resource_type: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int]
    count: Mapped[int]
    data: Mapped[bytes] = mapped_column(LargeBinary)
