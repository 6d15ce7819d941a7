"""Foundation: tenants, users, API clients, directories, signing keys, audit log, outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""
from alembic import op

from kopru.db.rls import tenant_table

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

APP = "kopru_app"


def upgrade() -> None:
    op.execute(
        """
        create function kopru_current_tenant() returns uuid
        language sql stable parallel safe as
        $$ select nullif(current_setting('app.tenant_id', true), '')::uuid $$
        """
    )
    op.execute(
        """
        create table tenants (
            id uuid primary key,
            name text not null,
            tax_number text not null,
            tax_number_kind text not null check (tax_number_kind in ('VKN', 'TCKN')),
            tax_office text not null,
            subdomain text not null unique,
            plan text not null,
            language text not null,
            timezone text not null,
            currency text not null,
            verbis_no text,
            created_at timestamptz not null default now()
        )
        """
    )
    tenant_table(op, "tenants", "id")

    # platform directories: no personal data, no tenant rows; they answer
    # "which tenant owns this subdomain / client id" before a tenant is known
    op.execute(
        """
        create table tenant_directory (
            subdomain text primary key,
            tenant_id uuid not null unique,
            created_at timestamptz not null default now()
        )
        """
    )
    op.execute(
        """
        create table client_directory (
            client_id text primary key,
            tenant_id uuid,  -- null: a platform operator client
            created_at timestamptz not null default now()
        )
        """
    )
    op.execute(
        """
        create table users (
            id uuid primary key,
            tenant_id uuid not null references tenants(id),
            email text not null,
            email_fold text not null,
            password_hash text not null,
            role text not null check (role in ('admin', 'member')),
            created_at timestamptz not null default now(),
            unique (tenant_id, email_fold)
        )
        """
    )
    tenant_table(op, "users")
    op.execute(
        """
        create table api_clients (
            client_id text primary key,
            tenant_id uuid not null references tenants(id),
            name text not null,
            secret_hash bytea not null,
            scopes text[] not null,
            created_at timestamptz not null default now(),
            revoked_at timestamptz
        )
        """
    )
    tenant_table(op, "api_clients")
    op.execute(
        """
        create table platform_clients (
            client_id text primary key,
            name text not null,
            secret_hash bytea not null,
            scopes text[] not null,
            created_at timestamptz not null default now(),
            revoked_at timestamptz
        )
        """
    )
    op.execute(
        """
        create table signing_keys (
            kid text primary key,
            alg text not null check (alg in ('EdDSA', 'RS256')),
            public_jwk jsonb not null,
            private_key_enc bytea not null,
            created_at timestamptz not null default now(),
            signs_from timestamptz not null,
            retired_at timestamptz,
            expires_at timestamptz
        )
        """
    )
    op.execute(
        """
        create table audit_log (
            id bigint generated always as identity primary key,
            tenant_id uuid not null,
            at timestamptz not null default now(),
            actor text not null,
            action text not null,
            target text,
            details jsonb not null default '{}'
        )
        """
    )
    tenant_table(op, "audit_log")
    op.execute("create index audit_log_tenant_at on audit_log (tenant_id, at)")
    op.execute(
        """
        create function audit_log_append_only() returns trigger language plpgsql as
        $$ begin raise exception 'audit_log is append-only'; end $$
        """
    )
    op.execute(
        "create trigger audit_log_append_only before update or delete on audit_log "
        "for each row execute function audit_log_append_only()"
    )
    op.execute(
        """
        create table outbox (
            id bigint generated always as identity primary key,
            tenant_id uuid not null,
            event_id uuid not null unique,
            type text not null,
            source text not null,
            subject text,
            data jsonb not null,
            extensions jsonb not null default '{}',
            created_at timestamptz not null default now(),
            published_at timestamptz
        )
        """
    )
    tenant_table(op, "outbox")
    op.execute("create index outbox_pending on outbox (id) where published_at is null")

    # the application role owns nothing and gets only what it needs
    op.execute(f"grant select, insert, update on tenants, users, api_clients, outbox to {APP}")
    op.execute(f"grant select, insert on audit_log to {APP}")
    op.execute(f"grant select, insert on tenant_directory, client_directory to {APP}")
    op.execute(f"grant select on platform_clients, signing_keys to {APP}")
    op.execute(f"grant execute on function kopru_current_tenant() to {APP}")


def downgrade() -> None:
    for t in ("outbox", "audit_log", "signing_keys", "platform_clients", "api_clients", "users",
              "client_directory", "tenant_directory", "tenants"):
        op.execute(f"drop table if exists {t} cascade")
    op.execute("drop function if exists audit_log_append_only()")
    op.execute("drop function if exists kopru_current_tenant()")
