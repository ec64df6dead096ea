"""push deliveries' status is one of a closed set

Revision ID: 0012_h10_delivery_status
Revises: 0011_h10_pending
Create Date: 2026-11-30

- push_deliveries.status: a CHECK constraint over `DeliveryStatus` (pending, sent, dead,
  failed, expired), the values the worker already wrote.
"""

from __future__ import annotations

from alembic import op

revision = "0012_h10_delivery_status"
down_revision = "0011_h10_pending"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("push_deliveries", schema=None) as batch_op:
        batch_op.create_check_constraint(
            op.f("ck_push_deliveries_status"),
            "status IN ('pending', 'sent', 'dead', 'failed', 'expired')",
        )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("push_deliveries", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_push_deliveries_status"), type_="check")
