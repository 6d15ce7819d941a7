"""SMS: per-tenant integration settings, messages and their status history.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""
from alembic import op

from kopru.db.rls import tenant_table

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        create table tenant_integrations (
            tenant_id uuid not null references tenants(id),
            provider text not null check (provider in ('netgsm')),
            settings jsonb not null,          -- no secrets here
            secret_enc bytea not null,        -- sealed by the master key, aad = tenant:provider
            updated_at timestamptz not null default now(),
            primary key (tenant_id, provider)
        )
        """
    )
    tenant_table(op, "tenant_integrations")
    op.execute(
        """
        create table sms_messages (
            id uuid primary key,
            tenant_id uuid not null references tenants(id),
            subject_id uuid not null references data_subjects(id),
            body_enc bytea not null,          -- under the subject key: shredded with it
            kind text not null check (kind in ('otp', 'transactional', 'commercial')),
            recipient_type text check (recipient_type in ('BIREYSEL', 'TACIR')),
            encoding text not null,
            segments int not null,
            characters int not null,
            status text not null check (status in ('queued', 'sending', 'sent', 'delivered', 'failed')),
            error_code text,
            idempotency_key text,
            attempts int not null default 0,
            netgsm_jobid text,
            scheduled_at timestamptz,
            created_at timestamptz not null default now(),
            updated_at timestamptz not null default now(),
            unique (tenant_id, idempotency_key)
        )
        """
    )
    tenant_table(op, "sms_messages")
    op.execute(
        """
        create table sms_status_history (
            id bigint generated always as identity primary key,
            tenant_id uuid not null,
            sms_id uuid not null references sms_messages(id),
            status text not null,
            code text,
            at timestamptz not null default now()
        )
        """
    )
    tenant_table(op, "sms_status_history")
    op.execute("grant select, insert, update on tenant_integrations, sms_messages to kopru_app")
    op.execute("grant select, insert on sms_status_history to kopru_app")


def downgrade() -> None:
    for t in ("sms_status_history", "sms_messages", "tenant_integrations"):
        op.execute(f"drop table {t}")
