"""when the patient's phone last uploaded

Revision ID: 0014_h10_last_upload
Revises: 0013_h12_baseline
Create Date: 2026-11-30

- patient_profiles.last_upload_at: the phone's last upload of days or walks. Uploads no longer
  rewrite the rows they re-send unchanged, so the newest `daily_activity.updated_at` says when
  data last changed, not when the phone last reached us; the worklist's "last sync" reads this.
  Filled from the newest phone-sourced day each patient has.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import service.db

revision = "0014_h10_last_upload"
down_revision = "0013_h12_baseline"
branch_labels = None
depends_on = None

# The phone's sources when this revision was written (service.patients.models.UPLOAD_SOURCES).
_PHONE_SOURCES = ("healthkit", "health_connect", "manual")


def upgrade() -> None:
    """Apply this revision."""
    op.add_column(
        "patient_profiles",
        sa.Column("last_upload_at", service.db.UTCDateTime(timezone=True), nullable=True),
    )
    profiles = sa.table("patient_profiles", sa.column("user_id"), sa.column("last_upload_at"))
    days = sa.table(
        "daily_activity", sa.column("patient_id"), sa.column("source"), sa.column("updated_at")
    )
    newest = (
        sa.select(sa.func.max(days.c.updated_at))
        .where(days.c.patient_id == profiles.c.user_id, days.c.source.in_(_PHONE_SOURCES))
        .scalar_subquery()
    )
    op.execute(profiles.update().values(last_upload_at=newest))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("patient_profiles") as batch:
        batch.drop_column("last_upload_at")
