"""A refresh token spent within its grace answers the same successor, not a new sibling:
the successor is kept, sealed by the master key, on the spent row until it is used itself.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("alter table refresh_tokens add column successor_enc bytea")


def downgrade() -> None:
    op.execute("alter table refresh_tokens drop column successor_enc")
