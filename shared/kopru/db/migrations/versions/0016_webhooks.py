"""Outbound webhooks: a tenant's endpoints (URL, event types, optional filter, the signing
secret sealed by the master key) and one delivery row per (endpoint, event) with its
webhook-id, status, attempts, last answer and next attempt.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-10
"""
from alembic import op

from kopru.db.rls import tenant_table

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        create table webhook_endpoints (
            id uuid primary key,
            tenant_id uuid not null references tenants(id),
            url text not null check (length(url) between 8 and 2048),
            description text not null default '' check (length(description) <= 500),
            event_types text[] not null check (cardinality(event_types) between 1 and 100),
            filter jsonb,                         -- CloudEvents Subscriptions API filters (kopru.events.filters)
            personal_data boolean not null default false,
            purpose text check (purpose is null or length(purpose) between 3 and 500),
            enabled boolean not null default true,
            disabled_reason text check (disabled_reason in ('manual', 'gone', 'failing')),
            secret_enc bytea not null,            -- {"current", "previous"}: whsec_ secrets sealed by the master key
            previous_secret_until timestamptz,    -- after a rotation, the old secret also signs until then
            failing_since timestamptz,            -- first failed attempt since the last success
            created_at timestamptz not null default now(),
            updated_at timestamptz not null default now(),
            check (not personal_data or purpose is not null)
        )
        """
    )
    op.execute("create index webhook_endpoints_listing on webhook_endpoints (tenant_id, created_at, id)")
    tenant_table(op, "webhook_endpoints")
    op.execute(
        """
        create table webhook_deliveries (
            id uuid primary key,
            tenant_id uuid not null references tenants(id),
            endpoint_id uuid references webhook_endpoints(id) on delete set null,  -- the log outlives its endpoint
            event_source text not null,
            event_id text not null,
            event_type text not null,
            webhook_id text not null,             -- the webhook-id header: the same on every attempt and replay
            body text not null,                   -- the exact bytes signed and sent (ids and codes)
            subject_id uuid,                      -- the data subject the event is about, when it names one
            personal_data boolean not null default false,
            purpose text,
            host text not null,                   -- where it went (the endpoint's host when it was made)
            status text not null check (status in ('pending', 'succeeded', 'failed')),
            call_ref uuid not null unique,        -- kopru.work's reference: a new one per replay
            attempts integer not null default 0,
            replays integer not null default 0,
            last_status integer,                  -- the receiver's HTTP status
            last_code text,                       -- our code for the last failed attempt
            last_duration_ms integer,
            next_attempt_at timestamptz,
            first_attempt_at timestamptz,
            last_attempt_at timestamptz,
            delivered_at timestamptz,
            created_at timestamptz not null default now(),
            updated_at timestamptz not null default now(),
            unique (tenant_id, endpoint_id, event_source, event_id)
        )
        """
    )
    op.execute("create index webhook_deliveries_due on webhook_deliveries (tenant_id, next_attempt_at) "
               "where status = 'pending'")
    op.execute("create index webhook_deliveries_log on webhook_deliveries (tenant_id, endpoint_id, created_at, id)")
    op.execute("create index webhook_deliveries_subject on webhook_deliveries (tenant_id, subject_id) "
               "where subject_id is not null")
    tenant_table(op, "webhook_deliveries")
    op.execute("grant select, insert, update, delete on webhook_endpoints, webhook_deliveries to kopru_app")


def downgrade() -> None:
    for t in ("webhook_deliveries", "webhook_endpoints"):
        op.execute(f"drop table {t}")
