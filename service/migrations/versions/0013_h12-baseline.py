"""a clinician's step baseline

Revision ID: 0013_h12_baseline
Revises: 0012_h10_delivery_status
Create Date: 2026-11-30

- plans.baseline_steps: the patient's starting level as a clinician set it (null: the median of
  the first days with data, SPEC §11.3 steps.baseline).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_h12_baseline"
down_revision = "0012_h10_delivery_status"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.add_column("plans", sa.Column("baseline_steps", sa.Integer(), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("plans") as batch:
        batch.drop_column("baseline_steps")
