"""Inspections: an inspection per declaration and verifier, and its content-addressed evidence.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reg_inspections",
        sa.Column("inspection_id", sa.String(32), primary_key=True),
        sa.Column("declaration", sa.BigInteger, nullable=False),
        sa.Column("party", sa.String(64), nullable=False),
        sa.Column("verifier", sa.String(32), nullable=False),
        sa.Column("reference", sa.BigInteger, nullable=True),
        sa.Column("beacon_size", sa.BigInteger, nullable=False),
        sa.Column("beacon_root", sa.String(64), nullable=False),
        sa.Column("opened_at", sa.String(32), nullable=False),
        sa.Column("state", sa.String(24), nullable=False),
        sa.Column("stage", sa.String(64), nullable=False, server_default=""),
        sa.Column("progress", sa.Float, nullable=False, server_default="0"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("heartbeat", sa.Float, nullable=False, server_default="0"),
        sa.Column("enqueued", sa.Float, nullable=False, server_default="0"),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("result", sa.Text, nullable=True),
        sa.Column("finding_leaf", sa.BigInteger, nullable=True),
        sa.Column("updated_at", sa.String(32), nullable=False),
    )
    op.create_index("ix_reg_inspections_declaration", "reg_inspections", ["declaration"])
    op.create_index("ix_reg_inspections_state", "reg_inspections", ["state"])
    op.create_table(
        "reg_evidence",
        sa.Column("inspection_id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("uploaded_by", sa.String(64), nullable=False),
        sa.Column("uploaded_at", sa.String(32), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("reg_evidence")
    op.drop_index("ix_reg_inspections_state", "reg_inspections")
    op.drop_index("ix_reg_inspections_declaration", "reg_inspections")
    op.drop_table("reg_inspections")
