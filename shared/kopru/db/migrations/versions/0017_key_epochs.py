"""Key epochs for subject keys (kopru.kvkk.epochs): data_subjects.key_epoch names the
key-encryption-key epoch (a key outside PostgreSQL) its wrapped_key is sealed under, NULL
for the pre-epoch form; pre_epoch_wrap remembers that a row's key was once stored in the
pre-epoch form (copies of that time open it with the tenant and master keys alone), true for
every row made before this migration and for rows code older than it still writes (the
default), false for rows sealed under an epoch from the start. kopru_key_epochs_in_use()
counts live subject keys per epoch across every tenant (ids and counts only) for the
rotation, which must never destroy an epoch a live row still uses.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-08
"""
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

APP = "kopru_app"


def upgrade() -> None:
    op.execute("alter table data_subjects add column key_epoch text, "
               "add column pre_epoch_wrap boolean not null default true")
    op.execute("alter table data_subjects add constraint data_subjects_key_epoch_form "
               "check (key_epoch is null or (octet_length(key_epoch) between 1 and 64 "
               "and key_epoch ~ '^[A-Za-z0-9_-]+$'))")
    op.execute("create index data_subjects_live_epoch on data_subjects (tenant_id, key_epoch, id) "
               "where wrapped_key is not null")
    op.execute(f"grant update (key_epoch) on data_subjects to {APP}")
    # RLS is FORCEd for the owner too: the count below runs as the owner (security definer) and
    # reads across tenants through this policy, which only the owner role has (it owns the
    # table and could turn RLS off anyway; the application role gains nothing)
    op.execute("do $$ begin execute format('create policy key_epochs_count on data_subjects for select to %I "
               "using (true)', current_user); end $$")
    op.execute(
        """
        create function kopru_key_epochs_in_use() returns table (key_epoch text, rows bigint)
        language sql stable security definer set search_path = pg_catalog, public as
        $$ select d.key_epoch, count(*) from data_subjects d where d.wrapped_key is not null group by d.key_epoch $$
        """
    )
    op.execute("revoke all on function kopru_key_epochs_in_use() from public")
    op.execute(f"grant execute on function kopru_key_epochs_in_use() to {APP}")


def downgrade() -> None:
    # rows sealed under an epoch cannot go back to the pre-epoch form without their epoch keys:
    # refuse rather than leave keys no code can open
    op.execute(
        """
        do $$ begin
            if exists (select 1 from data_subjects where key_epoch is not null and wrapped_key is not null) then
                raise exception 'subject keys are sealed under key epochs: reseal them before downgrading';
            end if;
        end $$
        """
    )
    op.execute("drop function kopru_key_epochs_in_use()")
    op.execute("drop policy key_epochs_count on data_subjects")
    op.execute(f"revoke update (key_epoch) on data_subjects from {APP}")
    op.execute("drop index data_subjects_live_epoch")
    op.execute("alter table data_subjects drop constraint data_subjects_key_epoch_form")
    op.execute("alter table data_subjects drop column pre_epoch_wrap, drop column key_epoch")
