"""Events: the relay's access to the outbox, a wake-up notification, and the inbox.

The relay role (kopru_relay) reads every tenant's pending outbox rows and marks them
published, and nothing else; it is created with the others by whoever provisions
the database (`kopru dev` and the tests do it for the embedded server).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""
from alembic import op

from kopru.db.rls import tenant_table

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("create policy relay_read on outbox for select to kopru_relay using (true)")
    op.execute("create policy relay_mark on outbox for update to kopru_relay using (true) with check (true)")
    op.execute("grant select, update (published_at) on outbox to kopru_relay")
    op.execute(
        """
        create function outbox_notify() returns trigger language plpgsql as
        $$ begin perform pg_notify('kopru_outbox', ''); return null; end $$
        """
    )
    op.execute(
        "create trigger outbox_notify after insert on outbox for each statement execute function outbox_notify()"
    )
    op.execute(
        """
        create table inbox (
            consumer text not null,
            source text not null,
            event_id text not null,
            tenant_id uuid not null,
            type text not null,
            processed_at timestamptz not null default now(),
            primary key (consumer, source, event_id)
        )
        """
    )
    tenant_table(op, "inbox")
    op.execute("grant select, insert on inbox to kopru_app")


def downgrade() -> None:
    op.execute("drop table inbox")
    op.execute("drop trigger outbox_notify on outbox")
    op.execute("drop function outbox_notify()")
    op.execute("drop policy relay_mark on outbox")
    op.execute("drop policy relay_read on outbox")
