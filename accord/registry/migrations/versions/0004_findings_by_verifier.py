"""Findings looked up by verifier: the balances read the flags that inspections raise on
facilities (``registry.accountancy.location``) on every request, which without an index
scans every finding.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_reg_findings_verifier", "reg_findings", ["verifier"])


def downgrade() -> None:
    op.drop_index("ix_reg_findings_verifier", table_name="reg_findings")
