"""Hardening: subjects wide enough for every identifier, and a quarantine of index failures.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reg_declarations") as batch:
        batch.alter_column("subject", type_=sa.String(255), existing_nullable=False)
    with op.batch_alter_table("reg_findings") as batch:
        batch.alter_column("subject", type_=sa.String(255), existing_nullable=False)
    op.create_table(
        "reg_quarantine",
        sa.Column("leaf_index", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("at", sa.String(32), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("reg_quarantine")
    with op.batch_alter_table("reg_findings") as batch:
        batch.alter_column("subject", type_=sa.String(200), existing_nullable=False)
    with op.batch_alter_table("reg_declarations") as batch:
        batch.alter_column("subject", type_=sa.String(128), existing_nullable=False)
