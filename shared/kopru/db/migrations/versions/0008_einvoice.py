"""e-Invoices: issued invoices, their status history, gap-free number series, and
GİB's registered e-Fatura user list.

- `einvoices`: one row per issued invoice (the signed UBL-TR document in `xml`). Kept
  for the legal retention period (VUK md. 253, TTK md. 82: 10 years from the end of the
  year of issue): an erasure keeps them; the retention purge removes them afterwards
  (which is why the application role may delete, see kopru.kvkk.register).
- `einvoice_series_counters`: the next sequence per tenant, series and year, taken with a
  row lock in the transaction that inserts the invoice: a rolled-back request burns no
  number and a number is never handed out twice.
- `efatura_users`: GİB's list of registered e-Fatura users (public data, platform-wide,
  no RLS). Imported by operators (`kopru einvoice users import`, owner role); the
  application role only reads it.
- `tenant_integrations` takes a `nilvera` provider.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""
from alembic import op

from kopru.db.rls import tenant_table

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("alter table tenant_integrations drop constraint tenant_integrations_provider_check")
    op.execute("alter table tenant_integrations add constraint tenant_integrations_provider_check "
               "check (provider in ('netgsm', 'nilvera'))")
    op.execute(
        """
        create table einvoice_series_counters (
            tenant_id uuid not null references tenants(id),
            series text not null check (series ~ '^[A-Z0-9]{3}$'),
            year int not null check (year between 2000 and 2099),
            next_value bigint not null default 1 check (next_value between 1 and 1000000000),
            primary key (tenant_id, series, year)
        )
        """
    )
    tenant_table(op, "einvoice_series_counters")
    op.execute(
        """
        create table einvoices (
            id uuid primary key,
            tenant_id uuid not null references tenants(id),
            ettn uuid not null unique,
            number text not null check (number ~ '^[A-Z0-9]{3}20[0-9]{11}$'),
            series text not null,
            year int not null,
            profile text not null check (profile in ('TEMELFATURA', 'TICARIFATURA', 'EARSIVFATURA', 'IHRACAT')),
            type text not null,
            kind text not null check (kind in ('efatura', 'earsiv')),
            status text not null check (status in ('queued', 'submitting', 'submitted', 'accepted', 'rejected', 'failed')),
            error_code text,
            gib_code text,                  -- the last GİB/Nilvera status code seen
            answer text check (answer in ('KABUL', 'RED')),
            receiver_alias text,            -- the buyer's PK alias (e-Fatura)
            subject_id uuid references data_subjects(id),  -- a person buyer (TCKN): the data subject
            customer_scheme text not null check (customer_scheme in ('VKN', 'TCKN')),
            customer_tax_number text not null,
            customer_name text not null,
            currency text not null,
            payable_amount numeric(23, 2) not null,
            xml bytea not null,             -- the signed UBL-TR document
            idempotency_key text,
            request_sha256 bytea,
            issue_date date not null,
            attempts int not null default 0,
            submitted_at timestamptz,
            delivered_at timestamptz,       -- GİB 1300 / e-Arşiv created
            answer_due_at timestamptz,      -- TICARIFATURA: 8 days after delivery
            created_at timestamptz not null default now(),
            updated_at timestamptz not null default now(),
            unique (tenant_id, number),
            unique (tenant_id, idempotency_key)
        )
        """
    )
    op.execute("create index einvoices_open on einvoices (tenant_id, status) "
               "where status in ('queued', 'submitting', 'submitted')")
    op.execute("create index einvoices_subject on einvoices (tenant_id, subject_id) where subject_id is not null")
    tenant_table(op, "einvoices")
    op.execute(
        """
        create table einvoice_status_history (
            id bigint generated always as identity primary key,
            tenant_id uuid not null,
            einvoice_id uuid not null references einvoices(id) on delete cascade,
            status text not null,
            code text,
            at timestamptz not null default now()
        )
        """
    )
    op.execute("create index einvoice_status_history_invoice on einvoice_status_history (einvoice_id)")
    tenant_table(op, "einvoice_status_history")
    op.execute(
        """
        create table efatura_users (
            identifier text primary key check (identifier ~ '^[0-9]{10,11}$'),  -- VKN or TCKN
            title text not null,
            aliases text[] not null,        -- PK (posta kutusu) aliases, the default first
            user_type text,                 -- GİB's type (OZEL, KAMU…)
            first_created timestamptz,
            imported_at timestamptz not null default now()
        )
        """
    )
    op.execute("grant select, insert, update on einvoices, einvoice_series_counters to kopru_app")
    op.execute("grant select, insert on einvoice_status_history to kopru_app")
    # the retention purge removes invoices 10 years after the end of their year (history cascades)
    op.execute("grant delete on einvoices, einvoice_status_history to kopru_app")
    op.execute("grant select on efatura_users to kopru_app")


def downgrade() -> None:
    for t in ("efatura_users", "einvoice_status_history", "einvoices", "einvoice_series_counters"):
        op.execute(f"drop table {t}")
    op.execute("delete from tenant_integrations where provider = 'nilvera'")
    op.execute("alter table tenant_integrations drop constraint tenant_integrations_provider_check")
    op.execute("alter table tenant_integrations add constraint tenant_integrations_provider_check "
               "check (provider in ('netgsm'))")
