"""Refresh tokens: opaque, single use, rotated, grouped in families.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""
from alembic import op

from kopru.db.rls import tenant_table

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        create table refresh_tokens (
            id uuid primary key,
            tenant_id uuid not null references tenants(id),
            family_id uuid not null,
            parent_id uuid references refresh_tokens(id),
            generation int not null,
            token_hash bytea not null unique,
            client_id text not null,
            user_id uuid not null references users(id),
            scopes text[] not null,
            created_at timestamptz not null default now(),
            expires_at timestamptz not null,
            used_at timestamptz,
            revoked_at timestamptz
        )
        """
    )
    op.execute("create index refresh_tokens_family on refresh_tokens (tenant_id, family_id)")
    tenant_table(op, "refresh_tokens")
    op.execute("grant select, insert, update on refresh_tokens to kopru_app")


def downgrade() -> None:
    op.execute("drop table refresh_tokens")
