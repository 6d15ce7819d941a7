"""SMS: the fingerprint of the request an Idempotency-Key was first used with.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("alter table sms_messages add column request_sha256 bytea")


def downgrade() -> None:
    op.execute("alter table sms_messages drop column request_sha256")
