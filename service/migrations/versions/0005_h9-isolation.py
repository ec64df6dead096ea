"""failed evaluations, deduplicated system alerts, idempotency keys

Revision ID: 0005
Revises: 0004_h9_input
Create Date: 2026-11-29

- evaluations.status ('ok' | 'failed') and evaluations.error: a rule set that raises for one
  patient is recorded as a failed evaluation instead of stopping the batch.
- clinician_alerts.dedupe_key (unique): a system alert raised once across processes and ticks
  (one per failing rule-set version and kind of failure).
- idempotency_keys: first answers of report requests sent with an Idempotency-Key.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import service.db

revision = "0005"
down_revision = "0004_h9_input"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("evaluations", schema=None) as batch_op:
        # A constant default: PostgreSQL adds the column without rewriting the table.
        batch_op.add_column(
            sa.Column("status", sa.String(length=16), server_default="ok", nullable=False)
        )
        batch_op.add_column(sa.Column("error", sa.JSON(), nullable=True))
        batch_op.create_check_constraint(
            op.f("ck_evaluations_status"), "status IN ('ok', 'failed')"
        )

    with op.batch_alter_table("clinician_alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dedupe_key", sa.String(length=200), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_clinician_alerts_dedupe_key"), ["dedupe_key"]
        )

    op.create_table(
        "idempotency_keys",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "patient_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("response", sa.JSON(), nullable=True),
        sa.Column("created_at", service.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["users.id"],
            name=op.f("fk_idempotency_keys_patient_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_keys")),
        sa.UniqueConstraint("patient_id", "key", name=op.f("uq_idempotency_keys_patient_id_key")),
    )
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_idempotency_keys_created_at"), ["created_at"], unique=False
        )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idempotency_keys_created_at"))
    op.drop_table("idempotency_keys")

    with op.batch_alter_table("clinician_alerts", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_clinician_alerts_dedupe_key"), type_="unique")
        batch_op.drop_column("dedupe_key")

    with op.batch_alter_table("evaluations", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_evaluations_status"), type_="check")
        batch_op.drop_column("error")
        batch_op.drop_column("status")
