"""The integration core: outward calls (claim -> call -> record, ambiguous outcomes),
idempotent requests, any provider's integration settings, and `unknown` as a state an
SMS or an invoice can be parked in when the provider's answer was lost.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""
from alembic import op

from kopru.db.rls import tenant_table

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        create table outward_calls (
            id uuid primary key,
            tenant_id uuid not null references tenants(id),
            provider text not null check (provider ~ '^[a-z][a-z0-9-]{1,30}$'),
            operation text not null check (operation ~ '^[a-z][a-z0-9_.-]{1,60}$'),
            ref text not null check (length(ref) between 1 and 200),  -- our reference (the message id, the ETTN)
            state text not null check (state in ('pending', 'in_flight', 'succeeded', 'failed', 'unknown')),
            ambiguous boolean not null default false,  -- a call may have reached the provider: reconcile first
            ambiguous_since timestamptz,      -- when the first attempt that may have reached it began
            attempts int not null default 0,
            lease_token uuid,
            lease_until timestamptz,
            external_ref text,                -- the provider's id for it (Netgsm jobid, ...)
            code text,                        -- the outcome's code (never personal data)
            created_at timestamptz not null default now(),
            updated_at timestamptz not null default now(),
            unique (tenant_id, provider, operation, ref)
        )
        """
    )
    op.execute("create index outward_calls_open on outward_calls (tenant_id, lease_until) "
               "where state in ('pending', 'in_flight')")
    tenant_table(op, "outward_calls")
    op.execute(
        """
        create table idempotent_requests (
            tenant_id uuid not null references tenants(id),
            operation text not null,          -- the route, e.g. "POST /sms"
            key text not null check (length(key) between 1 and 100),
            fingerprint bytea not null,       -- keyed HMAC of the request: what the key stands for
            status int not null,
            response jsonb not null,          -- ids and codes only
            created_at timestamptz not null default now(),
            expires_at timestamptz not null,
            primary key (tenant_id, operation, key)
        )
        """
    )
    op.execute("create index idempotent_requests_expiry on idempotent_requests (tenant_id, expires_at)")
    tenant_table(op, "idempotent_requests")
    op.execute("grant select, insert, update on outward_calls to kopru_app")
    op.execute("grant select, insert, update, delete on idempotent_requests to kopru_app")
    op.execute("grant delete on outward_calls to kopru_app")
    # any registered provider; the registry in kopru.work.integrations says which exist
    op.execute("alter table tenant_integrations drop constraint tenant_integrations_provider_check")
    op.execute("alter table tenant_integrations add constraint tenant_integrations_provider_check "
               "check (provider ~ '^[a-z][a-z0-9-]{1,30}$')")
    op.execute("alter table sms_messages drop constraint sms_messages_status_check")
    op.execute("alter table sms_messages add constraint sms_messages_status_check "
               "check (status in ('queued', 'sending', 'sent', 'delivered', 'failed', 'unknown'))")
    # Idempotency-Keys live in idempotent_requests now (keyed HMAC, 24 hours): the per-table
    # copies go, with their plain SHA-256 of number + text
    for t in ("sms_messages", "einvoices"):
        op.execute(f"alter table {t} drop column idempotency_key, drop column request_sha256")
    op.execute("alter table einvoices drop constraint einvoices_status_check")
    op.execute("alter table einvoices add constraint einvoices_status_check "
               "check (status in ('queued', 'submitting', 'submitted', 'accepted', 'rejected', 'failed', 'unknown'))")


def downgrade() -> None:
    for t in ("sms_messages", "einvoices"):
        op.execute(f"alter table {t} add column idempotency_key text, add column request_sha256 bytea")
        op.execute(f"alter table {t} add unique (tenant_id, idempotency_key)")
    op.execute("alter table einvoices drop constraint einvoices_status_check")
    op.execute("alter table einvoices add constraint einvoices_status_check "
               "check (status in ('queued', 'submitting', 'submitted', 'accepted', 'rejected', 'failed'))")
    op.execute("alter table sms_messages drop constraint sms_messages_status_check")
    op.execute("alter table sms_messages add constraint sms_messages_status_check "
               "check (status in ('queued', 'sending', 'sent', 'delivered', 'failed'))")
    op.execute("alter table tenant_integrations drop constraint tenant_integrations_provider_check")
    op.execute("alter table tenant_integrations add constraint tenant_integrations_provider_check "
               "check (provider in ('netgsm', 'nilvera'))")
    op.execute("drop table idempotent_requests")
    op.execute("drop table outward_calls")
