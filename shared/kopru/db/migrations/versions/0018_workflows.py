"""Tenant workflows (kopru.workflows): a workflow is a trigger (catalog event type, filter,
JMESPath condition) and its steps (actions with input mappings); a run is one per
(workflow, event), with a snapshot of the steps and of the event, the step it reached, its
status and code.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-12
"""
from alembic import op

from kopru.db.rls import tenant_table

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        create table workflows (
            id uuid primary key,
            tenant_id uuid not null references tenants(id),
            name text not null check (length(name) between 1 and 200),
            trigger_type text not null,
            filter jsonb,                          -- CloudEvents Subscriptions API filters (kopru.events.filters)
            condition text check (condition is null or length(condition) <= 500),  -- JMESPath, must give true
            steps jsonb not null,                  -- [{"action", "input": {field: expression | {"const": v}}}]
            enabled boolean not null default true,
            created_by text not null,
            created_at timestamptz not null default now(),
            updated_at timestamptz not null default now()
        )
        """
    )
    op.execute("create index workflows_listing on workflows (tenant_id, created_at, id)")
    op.execute("create index workflows_trigger on workflows (tenant_id, trigger_type) where enabled")
    tenant_table(op, "workflows")
    op.execute(
        """
        create table workflow_runs (
            id uuid primary key,
            tenant_id uuid not null references tenants(id),
            workflow_id uuid not null references workflows(id) on delete cascade,
            event_source text not null,
            event_id text not null,
            event_type text not null,
            event jsonb not null,                  -- {type, source, id, subject, time, data}: the catalog's ids and codes
            steps jsonb not null,                  -- the workflow's steps when the run was made
            steps_count integer not null check (steps_count between 1 and 10),
            status text not null check (status in ('running', 'succeeded', 'failed')),
            step integer not null default 0 check (step between 0 and steps_count),  -- steps done
            code text,                             -- the failed step's code, or the last transient one
            attempts integer not null default 0,   -- transient failures of the current step
            results jsonb not null default '[]',   -- per step done: the ids it made (sms_id, delivery_id, refund_id)
            created_at timestamptz not null default now(),
            updated_at timestamptz not null default now(),
            finished_at timestamptz,
            unique (tenant_id, workflow_id, event_source, event_id)
        )
        """
    )
    op.execute("create index workflow_runs_log on workflow_runs (tenant_id, workflow_id, created_at, id)")
    op.execute("create index workflow_runs_event on workflow_runs (tenant_id, event_source, event_id)")
    op.execute("create index workflow_runs_running on workflow_runs (tenant_id, updated_at) where status = 'running'")
    tenant_table(op, "workflow_runs")
    op.execute("grant select, insert, update, delete on workflows, workflow_runs to kopru_app")


def downgrade() -> None:
    for t in ("workflow_runs", "workflows"):
        op.execute(f"drop table {t}")
