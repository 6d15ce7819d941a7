"""Payments through iyzico: the payment (buyer under the subject key, amounts and ids
under the commercial-books hold), its history, its refunds, and the iyzico notifications
already taken (a replayed one is refused).

Revision ID: 0015
Revises: 0014_audit_proofs
Create Date: 2026-12-06
"""
from alembic import op

from kopru.db.rls import tenant_table

revision = "0015"
down_revision = "0014_audit_proofs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        create table payments (
            id uuid primary key,                  -- also iyzico's conversationId and basketId
            tenant_id uuid not null references tenants(id),
            flow text not null default 'checkout' check (flow in ('checkout', 'threeds')),
            subject_id uuid,                      -- the buyer (data_subjects); null once purged
            status text not null check (status in ('initializing', 'pending', 'succeeded', 'failed',
                                                   'cancelled', 'refunded', 'partially_refunded', 'unknown')),
            currency text not null check (currency in ('TRY', 'USD', 'EUR', 'GBP')),
            amount numeric(14, 2) not null check (amount > 0),
            paid_amount numeric(14, 2) not null check (paid_amount >= amount),
            refunded_amount numeric(14, 2) not null default 0 check (refunded_amount >= 0),
            basket jsonb not null,                -- item ids, names, categories, prices: what was sold
            buyer_enc bytea,                      -- name, TCKN, e-mail, phone, address, IP: under the subject key
            return_url text not null,
            locale text not null check (locale in ('tr', 'en')),
            installments jsonb,
            iyzico_token text,
            page_url text,
            token_expires_at timestamptz,
            iyzico_payment_id text,
            item_transactions jsonb,              -- iyzico's paymentTransactionId per item (refunds need them)
            error_code text,
            invoice_id uuid,                      -- the chain's invoice for this payment
            paid_at timestamptz,
            created_at timestamptz not null default now(),
            updated_at timestamptz not null default now()
        )
        """
    )
    op.execute("create index payments_open on payments (tenant_id, updated_at) "
               "where status in ('initializing', 'pending')")
    op.execute("create unique index payments_iyzico_token on payments (tenant_id, iyzico_token) "
               "where iyzico_token is not null")
    tenant_table(op, "payments")
    op.execute(
        """
        create table payment_history (
            id bigint generated always as identity primary key,
            tenant_id uuid not null references tenants(id),
            payment_id uuid not null references payments(id) on delete cascade,
            status text not null,
            code text,
            at timestamptz not null default now()
        )
        """
    )
    tenant_table(op, "payment_history")
    op.execute(
        """
        create table payment_refunds (
            id uuid primary key,                  -- also the refund's conversationId at iyzico
            tenant_id uuid not null references tenants(id),
            payment_id uuid not null references payments(id) on delete cascade,
            amount numeric(14, 2) not null check (amount > 0),
            reason text,
            status text not null check (status in ('requested', 'succeeded', 'failed', 'unknown')),
            error_code text,
            origin_ip text not null,              -- the API caller's (the tenant's server) address, iyzico needs it
            created_at timestamptz not null default now(),
            updated_at timestamptz not null default now()
        )
        """
    )
    tenant_table(op, "payment_refunds")
    op.execute(
        """
        create table payment_notifications (
            tenant_id uuid not null references tenants(id),
            reference text not null check (length(reference) between 1 and 200),
            payment_id uuid,
            received_at timestamptz not null default now(),
            primary key (tenant_id, reference)
        )
        """
    )
    tenant_table(op, "payment_notifications")
    op.execute("grant select, insert, update, delete on payments, payment_refunds to kopru_app")
    op.execute("grant select, insert, delete on payment_history, payment_notifications to kopru_app")


def downgrade() -> None:
    for t in ("payment_notifications", "payment_refunds", "payment_history", "payments"):
        op.execute(f"drop table {t}")
