"""The audit entries about a data subject, found by index: an export lists them, and a
tenant's audit log grows without bound.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26
"""
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("create index audit_log_subject on audit_log (tenant_id, (details->>'subject_id'))")
    op.execute("create index audit_log_target on audit_log (tenant_id, target)")


def downgrade() -> None:
    op.execute("drop index audit_log_target")
    op.execute("drop index audit_log_subject")
