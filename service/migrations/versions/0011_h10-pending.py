"""pending activity evaluations

Revision ID: 0011_h10_pending
Revises: 0010_h14_prom
Create Date: 2026-11-30

- pending_evaluations: patients whose new activity data waits for the scheduled `activity`
  evaluation (one row per patient; uploads bump `marks`, the job claims rows for a lease).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import service.db

revision = "0011_h10_pending"
down_revision = "0010_h14_prom"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "pending_evaluations",
        sa.Column(
            "patient_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("marked_at", service.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("marks", sa.Integer(), server_default="1", nullable=False),
        sa.Column("claimed_until", service.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["users.id"],
            name=op.f("fk_pending_evaluations_patient_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("patient_id", name=op.f("pk_pending_evaluations")),
    )
    op.create_index(
        "ix_pending_evaluations_marked_at", "pending_evaluations", ["marked_at"], unique=False
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_pending_evaluations_marked_at", table_name="pending_evaluations")
    op.drop_table("pending_evaluations")
