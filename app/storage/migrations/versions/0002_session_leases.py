"""Session leases (app/lease.py): which instance runs each open session's alarm system, with its
epoch (the fence) and expiry. Kept after a session ends (released, expired) so epochs only grow.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
CREATE TABLE session_leases (
    session_id bigint PRIMARY KEY, holder text NOT NULL, epoch bigint NOT NULL,
    expires double precision NOT NULL, taken double precision NOT NULL);
""")


def downgrade() -> None:
    op.execute("DROP TABLE session_leases")
