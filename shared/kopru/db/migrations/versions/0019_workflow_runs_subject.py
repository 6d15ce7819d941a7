"""Erasure can clear what the register says it clears, and workflow runs are under the personal-data register: the run names the data subject its event
named (`subject_id`, so an erasure finds it and the export shows it), its event snapshot can
be cleared by that erasure (nullable), and finished runs are deleted 90 days after they end
(kopru.kvkk.register, rule workflow_runs_90_days). A webhook delivery's body is cleared by
the subject's erasure (it was `not null`, so that erasure failed).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06
"""
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("alter table workflow_runs add column subject_id uuid")
    op.execute("update workflow_runs set subject_id = (event->'data'->>'subject_id')::uuid "
               "where event->'data'->>'subject_id' ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'")
    op.execute("alter table workflow_runs alter column event drop not null")
    op.execute("create index workflow_runs_subject on workflow_runs (tenant_id, subject_id) where subject_id is not null")
    op.execute("alter table webhook_deliveries alter column body drop not null")
    op.execute("create index workflow_runs_finished on workflow_runs (finished_at) where finished_at is not null")


def downgrade() -> None:
    op.execute("drop index workflow_runs_finished")
    op.execute("drop index workflow_runs_subject")
    op.execute("delete from webhook_deliveries where body is null")
    op.execute("alter table webhook_deliveries alter column body set not null")
    op.execute("update workflow_runs set event = '{}'::jsonb where event is null")
    op.execute("alter table workflow_runs alter column event set not null")
    op.execute("alter table workflow_runs drop column subject_id")
