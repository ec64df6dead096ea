"""FHIR bulk export jobs and their NDJSON parts (issue 15)

Revision ID: 0007_h15_fhir
Revises: 0006
Create Date: 2026-11-29 20:22:16.568358
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import service.db

revision = "0007_h15_fhir"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "fhir_exports",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column(
            "clinic_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "requested_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("types", sa.JSON(), nullable=False),
        sa.Column("request_url", sa.String(length=2000), nullable=False),
        sa.Column("requested_at", service.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", service.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", service.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("expires_at", service.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("lease_until", service.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("written", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'completed', 'failed', 'cancelled')",
            name=op.f("ck_fhir_exports_status"),
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id"],
            ["clinics.id"],
            name=op.f("fk_fhir_exports_clinic_id_clinics"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"],
            ["users.id"],
            name=op.f("fk_fhir_exports_requested_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fhir_exports")),
    )
    with op.batch_alter_table("fhir_exports", schema=None) as batch_op:
        batch_op.create_index(
            "ix_fhir_exports_clinic_requested", ["clinic_id", "requested_at"], unique=False
        )
        batch_op.create_index(
            "ix_fhir_exports_status_lease", ["status", "lease_until"], unique=False
        )

    op.create_table(
        "fhir_export_parts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("export_id", sa.String(length=36), nullable=False),
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["export_id"],
            ["fhir_exports.id"],
            name=op.f("fk_fhir_export_parts_export_id_fhir_exports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fhir_export_parts")),
        sa.UniqueConstraint(
            "export_id",
            "resource_type",
            "seq",
            name=op.f("uq_fhir_export_parts_export_id_resource_type_seq"),
        ),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("fhir_export_parts")
    with op.batch_alter_table("fhir_exports", schema=None) as batch_op:
        batch_op.drop_index("ix_fhir_exports_status_lease")
        batch_op.drop_index("ix_fhir_exports_clinic_requested")

    op.drop_table("fhir_exports")
