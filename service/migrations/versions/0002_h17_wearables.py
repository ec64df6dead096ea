"""provider subscriptions (webhook subscriptions held at Oura and Withings)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import service.db

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "provider_subscriptions",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("connection_id", ID, nullable=True),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("data_type", sa.String(length=64), nullable=False),
        sa.Column("endpoint", sa.String(length=500), nullable=False),
        sa.Column("expires_at", service.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("claimed_until", service.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("claim_token", sa.String(length=32), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", service.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["wearable_connections.id"],
            name=op.f("fk_provider_subscriptions_connection_id_wearable_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_subscriptions")),
        sa.UniqueConstraint(
            "provider",
            "external_id",
            name=op.f("uq_provider_subscriptions_provider_external_id"),
        ),
    )
    op.create_index(
        "ix_provider_subscriptions_expires_at",
        "provider_subscriptions",
        ["expires_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_provider_subscriptions_connection_id"),
        "provider_subscriptions",
        ["connection_id"],
        unique=False,
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index(
        op.f("ix_provider_subscriptions_connection_id"), table_name="provider_subscriptions"
    )
    op.drop_index("ix_provider_subscriptions_expires_at", table_name="provider_subscriptions")
    op.drop_table("provider_subscriptions")
