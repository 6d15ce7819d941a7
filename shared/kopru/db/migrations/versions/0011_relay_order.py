"""The relay's order is each tenant's commit order: an identity column is taken at
insert, so two concurrent transactions of one tenant can commit in the other order
than their outbox ids, and a relay that saw both published them by id.

At commit (a deferred constraint trigger, the last thing a transaction does) each
outbox row takes `commit_seq` from a sequence while its transaction holds a
per-tenant advisory lock, which is released only once the commit is visible: one
tenant's transactions take their numbers in the order they become visible, and the
relay publishes by (commit_seq, id). Rows written before this revision have none and
go first, by id.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("alter table outbox add column commit_seq bigint")
    op.execute("create sequence outbox_commit_seq as bigint")
    op.execute("grant usage on sequence outbox_commit_seq to kopru_app")
    op.execute(
        """
        create function outbox_commit_order() returns trigger language plpgsql as
        $$ begin
            perform pg_advisory_xact_lock(hashtext('kopru.outbox'), hashtext(new.tenant_id::text));
            update outbox set commit_seq = nextval('outbox_commit_seq') where id = new.id;
            return null;
        end $$
        """
    )
    op.execute(
        "create constraint trigger outbox_commit_order after insert on outbox "
        "deferrable initially deferred for each row execute function outbox_commit_order()"
    )
    op.execute("drop index outbox_pending")
    op.execute("create index outbox_pending on outbox (commit_seq nulls first, id) where published_at is null")


def downgrade() -> None:
    op.execute("drop index outbox_pending")
    op.execute("create index outbox_pending on outbox (id) where published_at is null")
    op.execute("drop trigger outbox_commit_order on outbox")
    op.execute("drop function outbox_commit_order()")
    op.execute("drop sequence outbox_commit_seq")
    op.execute("alter table outbox drop column commit_seq")
