"""WhatsApp Business (Cloud API): messages sent and their status history, the customer's
inbound messages (ids and types only), and the 24-hour customer-service window per
(tenant, customer), opened only by a verified inbound webhook.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-20
"""
from alembic import op

from kopru.db.rls import tenant_table

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        create table whatsapp_messages (
            id uuid primary key,
            tenant_id uuid not null references tenants(id),
            subject_id uuid not null references data_subjects(id),   -- the recipient; the number is not here
            kind text not null check (kind in ('text', 'template')),
            category text not null check (category in ('transactional', 'commercial')),
            template_name text check (template_name is null or length(template_name) <= 512),
            template_language text check (template_language is null or length(template_language) <= 16),
            content_enc bytea,                    -- the text or the template's parameters, under the subject key
            status text not null check (status in ('queued', 'sending', 'sent', 'delivered', 'read', 'failed',
                                                   'unknown')),
            error_code text,
            attempts integer not null default 0,
            wamid text,                           -- Meta's message id
            created_at timestamptz not null default now(),
            updated_at timestamptz not null default now(),
            unique (tenant_id, wamid)
        )
        """
    )
    op.execute("create index whatsapp_messages_created on whatsapp_messages (tenant_id, created_at)")
    op.execute("create index whatsapp_messages_subject on whatsapp_messages (tenant_id, subject_id)")
    tenant_table(op, "whatsapp_messages")
    op.execute(
        """
        create table whatsapp_status_history (
            id bigint generated always as identity primary key,
            tenant_id uuid not null,
            message_id uuid not null references whatsapp_messages(id) on delete cascade,
            status text not null,
            code text,
            at timestamptz not null default now()
        )
        """
    )
    op.execute("create index whatsapp_status_history_message on whatsapp_status_history (message_id)")
    tenant_table(op, "whatsapp_status_history")
    op.execute(
        """
        create table whatsapp_inbound (
            id uuid primary key,
            tenant_id uuid not null references tenants(id),
            subject_id uuid not null references data_subjects(id),   -- the sender; the number is not here
            wamid text not null,
            type text,                            -- text, image, button...: the content itself is not kept
            sent_at timestamptz,                  -- Meta's timestamp of the customer's message (an erasure clears both)
            created_at timestamptz not null default now(),
            unique (tenant_id, wamid)
        )
        """
    )
    op.execute("create index whatsapp_inbound_subject on whatsapp_inbound (tenant_id, subject_id)")
    op.execute("create index whatsapp_inbound_created on whatsapp_inbound (tenant_id, created_at)")
    tenant_table(op, "whatsapp_inbound")
    op.execute(
        """
        create table whatsapp_windows (
            tenant_id uuid not null references tenants(id),
            subject_id uuid not null references data_subjects(id) on delete cascade,
            last_inbound_at timestamptz,          -- the customer's last message: free-form text for 24 hours
                                                  -- (null after an erasure: the window is closed)
            primary key (tenant_id, subject_id)
        )
        """
    )
    tenant_table(op, "whatsapp_windows")
    op.execute("grant select, insert, update, delete on whatsapp_messages, whatsapp_inbound, whatsapp_windows "
               "to kopru_app")
    op.execute("grant select, insert, delete on whatsapp_status_history to kopru_app")


def downgrade() -> None:
    for t in ("whatsapp_windows", "whatsapp_inbound", "whatsapp_status_history", "whatsapp_messages"):
        op.execute(f"drop table {t}")
