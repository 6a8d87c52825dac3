"""Sites (app/sites.py): the site of each device and of each session (the site of the device that
started it), and the sites each user is granted. '' is the default site, as on SQLite.

Revision ID: 0003
Revises: 0002
Create Date: 2027-01-20
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
ALTER TABLE devices ADD COLUMN site text NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN site text NOT NULL DEFAULT '';
CREATE TABLE user_sites (name text NOT NULL, site text NOT NULL, PRIMARY KEY (name, site));
""")


def downgrade() -> None:
    op.execute("""
DROP TABLE user_sites;
ALTER TABLE sessions DROP COLUMN site;
ALTER TABLE devices DROP COLUMN site;
""")
