"""decision records of randomised rules, intraday steps

Revision ID: 0009_h14_outcomes
Revises: 0008_h11_safety
Create Date: 2026-11-29

- decision_records: one row per randomised rule at each decision where its condition held
  (fired, randomised_out, ineligible) with P and the draw, and its proximal outcomes once
  computed.
- intraday_steps: step counts per interval from providers that report them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import service.db

revision = "0009_h14_outcomes"
down_revision = "0008_h11_safety"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "intraday_steps",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "patient_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("start", service.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("steps", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "minutes > 0 AND minutes <= 60", name=op.f("ck_intraday_steps_minutes_range")
        ),
        sa.CheckConstraint("steps >= 0", name=op.f("ck_intraday_steps_steps_non_negative")),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["users.id"],
            name=op.f("fk_intraday_steps_patient_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intraday_steps")),
        sa.UniqueConstraint(
            "patient_id", "source", "start", name=op.f("uq_intraday_steps_patient_id_source_start")
        ),
    )
    with op.batch_alter_table("intraday_steps", schema=None) as batch_op:
        batch_op.create_index(
            "ix_intraday_steps_patient_start", ["patient_id", "start"], unique=False
        )

    op.create_table(
        "decision_records",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "patient_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "evaluation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "ruleset_version_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column("ruleset", sa.String(length=64), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("tip_key", sa.String(length=64), nullable=True),
        sa.Column("variant", sa.Integer(), nullable=True),
        sa.Column("decided_at", service.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("probability", sa.Double(), nullable=False),
        sa.Column("draw", sa.Double(), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("steps_60m", sa.Integer(), nullable=True),
        sa.Column("steps_60m_source", sa.String(length=16), nullable=True),
        sa.Column("steps_day", sa.Integer(), nullable=True),
        sa.Column("steps_next_day", sa.Integer(), nullable=True),
        sa.Column("outcomes_at", service.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "outcome IN ('fired', 'randomised_out', 'ineligible')",
            name=op.f("ck_decision_records_outcome_known"),
        ),
        sa.CheckConstraint(
            "probability > 0 AND probability <= 1",
            name=op.f("ck_decision_records_probability_range"),
        ),
        sa.ForeignKeyConstraint(
            ["evaluation_id"],
            ["evaluations.id"],
            name=op.f("fk_decision_records_evaluation_id_evaluations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["users.id"],
            name=op.f("fk_decision_records_patient_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ruleset_version_id"],
            ["ruleset_versions.id"],
            name=op.f("fk_decision_records_ruleset_version_id_ruleset_versions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decision_records")),
    )
    with op.batch_alter_table("decision_records", schema=None) as batch_op:
        batch_op.create_index(
            "ix_decision_records_patient", ["patient_id", "decided_at"], unique=False
        )
        batch_op.create_index(
            "ix_decision_records_pending", ["outcomes_at", "decided_at"], unique=False
        )
        batch_op.create_index(
            "ix_decision_records_rule", ["ruleset", "rule_id", "decided_at"], unique=False
        )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("decision_records", schema=None) as batch_op:
        batch_op.drop_index("ix_decision_records_rule")
        batch_op.drop_index("ix_decision_records_pending")
        batch_op.drop_index("ix_decision_records_patient")

    op.drop_table("decision_records")
    with op.batch_alter_table("intraday_steps", schema=None) as batch_op:
        batch_op.drop_index("ix_intraday_steps_patient_start")

    op.drop_table("intraday_steps")
