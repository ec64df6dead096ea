"""safety episodes, their reviews, clearances

Revision ID: 0008_h11_safety
Revises: 0007_h15_fhir
Create Date: 2026-11-29

- safety_episodes: a patient's programme paused by an emergency or urgent red flag until a
  clinician closes it; at most one open per patient (a partial unique index).
- safety_episode_reviews: every clinician decision on an episode (resume, resume_lower,
  keep_paused) with its note.
- clearances: conditions a clinician has cleared a patient for.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import service.db

revision = "0008_h11_safety"
down_revision = "0007_h15_fhir"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "clearances",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "patient_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("condition", sa.String(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("cleared_at", service.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "cleared_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.CheckConstraint(
            "condition IN ('recent_surgery', 'osteoporosis', 'pregnancy', 'spinal_stenosis', 'acute_disc_herniation')",
            name=op.f("ck_clearances_condition"),
        ),
        sa.ForeignKeyConstraint(
            ["cleared_by"],
            ["users.id"],
            name=op.f("fk_clearances_cleared_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["users.id"],
            name=op.f("fk_clearances_patient_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clearances")),
        sa.UniqueConstraint(
            "patient_id", "condition", name=op.f("uq_clearances_patient_id_condition")
        ),
    )
    op.create_table(
        "safety_episodes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "patient_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.Column("opened_at", service.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "evaluation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("escalated_at", service.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reports", sa.Integer(), nullable=False),
        sa.Column("last_report_at", service.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", service.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("resolution", sa.String(length=16), nullable=True),
        sa.CheckConstraint(
            "resolution IN ('resume', 'resume_lower')", name=op.f("ck_safety_episodes_resolution")
        ),
        sa.CheckConstraint("tier IN ('emergency', 'urgent')", name=op.f("ck_safety_episodes_tier")),
        sa.ForeignKeyConstraint(
            ["closed_by"],
            ["users.id"],
            name=op.f("fk_safety_episodes_closed_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["evaluation_id"],
            ["evaluations.id"],
            name=op.f("fk_safety_episodes_evaluation_id_evaluations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["users.id"],
            name=op.f("fk_safety_episodes_patient_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_safety_episodes")),
    )
    with op.batch_alter_table("safety_episodes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_safety_episodes_patient_opened", ["patient_id", "opened_at"], unique=False
        )
        batch_op.create_index(
            "uq_safety_episodes_open_patient",
            ["patient_id"],
            unique=True,
            sqlite_where=sa.text("closed_at IS NULL"),
            postgresql_where=sa.text("closed_at IS NULL"),
        )

    op.create_table(
        "safety_episode_reviews",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "episode_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("daily_target", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("decided_at", service.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "decided_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.CheckConstraint(
            "decision IN ('resume', 'resume_lower', 'keep_paused')",
            name=op.f("ck_safety_episode_reviews_decision"),
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"],
            ["users.id"],
            name=op.f("fk_safety_episode_reviews_decided_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["episode_id"],
            ["safety_episodes.id"],
            name=op.f("fk_safety_episode_reviews_episode_id_safety_episodes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_safety_episode_reviews")),
    )
    with op.batch_alter_table("safety_episode_reviews", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_safety_episode_reviews_episode_id"), ["episode_id"], unique=False
        )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("safety_episode_reviews", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_safety_episode_reviews_episode_id"))

    op.drop_table("safety_episode_reviews")
    with op.batch_alter_table("safety_episodes", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_safety_episodes_open_patient",
            sqlite_where=sa.text("closed_at IS NULL"),
            postgresql_where=sa.text("closed_at IS NULL"),
        )
        batch_op.drop_index("ix_safety_episodes_patient_opened")

    op.drop_table("safety_episodes")
    op.drop_table("clearances")
