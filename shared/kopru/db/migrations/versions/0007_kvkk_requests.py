"""KVKK: data subjects' applications (export, erasure), destruction records of the
retention purge, and the breach register.

- `subject_requests`: one row per application (KVKK md. 11/13), with its 30-day due
  date; the erasure report is kept here (ids, counts, holds: no personal data).
- `destruction_records`: one row per purge batch (what, how many, which rule, when),
  kept at least 3 years (Silme, Yok Etme veya Anonim Hale Getirme Yönetmeliği md. 7, 11).
- `breaches`: the controller's breach register (Kurul kararı 2019/10); written by
  operators through `kopru kvkk breach` (owner role), not by handlers.
- The purge deletes SMS rows past their retention: their status history goes with
  them, and the body column may be cleared on erasure.
- Consents: the application role may delete a consent only once its proof hold has
  ended (3 years after it ended); a trigger enforces it whoever asks.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""
from alembic import op

from kopru.db.rls import tenant_table

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        create table subject_requests (
            id uuid primary key,
            tenant_id uuid not null references tenants(id),
            kind text not null check (kind in ('export', 'erasure')),
            subject_id uuid not null references data_subjects(id),
            status text not null check (status in ('pending', 'ready', 'completed', 'expired', 'failed')),
            requested_by text not null,
            requested_at timestamptz not null default now(),
            due_at timestamptz not null,
            completed_at timestamptz,
            object_key text,                 -- export: where the document is stored
            link_expires_at timestamptz,     -- export: the link's end; the purge removes the object after it
            report jsonb                     -- erasure: what was done and kept (no personal data)
        )
        """
    )
    op.execute("create index subject_requests_subject on subject_requests (tenant_id, subject_id)")
    op.execute("create index subject_requests_expiry on subject_requests (tenant_id, link_expires_at) "
               "where object_key is not null")
    tenant_table(op, "subject_requests")
    op.execute(
        """
        create table destruction_records (
            id bigint generated always as identity primary key,
            tenant_id uuid not null references tenants(id),
            run_id uuid not null,
            rule text not null,
            table_name text not null,
            action text not null,
            rows int not null,
            cutoff timestamptz,
            started_at timestamptz not null,
            finished_at timestamptz not null default now(),
            keep_until timestamptz not null default now() + interval '3 years'
        )
        """
    )
    op.execute("create index destruction_records_run on destruction_records (tenant_id, run_id)")
    tenant_table(op, "destruction_records")
    op.execute(
        """
        create table breaches (
            id uuid primary key,
            controller_tenant_id uuid references tenants(id),  -- the controller; null: Köprü's own breach
            -- (a platform register: no RLS, no grant to the application role; operators only)
            occurred_at timestamptz,
            discovered_at timestamptz not null,
            ended_at timestamptz,
            deadline_at timestamptz not null,       -- discovered_at + 72 hours
            reported_at timestamptz,
            details jsonb not null,                 -- the form's content: categories, counts, measures…
            created_at timestamptz not null default now()
        )
        """
    )
    # the purge and erasure on SMS rows
    op.execute("alter table sms_messages alter column body_enc drop not null")
    op.execute("alter table sms_status_history drop constraint sms_status_history_sms_id_fkey")
    op.execute("alter table sms_status_history add constraint sms_status_history_sms_id_fkey "
               "foreign key (sms_id) references sms_messages(id) on delete cascade")
    op.execute("create index sms_messages_created on sms_messages (tenant_id, created_at)")
    op.execute("create index sms_status_history_sms on sms_status_history (sms_id)")
    op.execute("create index sms_messages_subject on sms_messages (tenant_id, subject_id)")
    op.execute("create index consents_ended on consents (tenant_id, (coalesce(withdrawn_at, expires_at)))")
    op.execute(
        """
        create function kopru_consent_delete_guard() returns trigger language plpgsql as $$
        begin
            if coalesce(old.withdrawn_at, old.expires_at) + interval '3 years' > now() then
                raise exception 'a consent is proof until 3 years after it ended'
                    using errcode = 'check_violation';
            end if;
            return old;
        end $$
        """
    )
    op.execute("create trigger consents_delete_guard before delete on consents "
               "for each row execute function kopru_consent_delete_guard()")
    # the ledger stays final once withdrawn, except that the request's IP and user agent
    # (encrypted, personal) may be cleared at any time: by an erasure or the purge
    op.execute(
        """
        create or replace function consents_ledger_only() returns trigger language plpgsql as
        $$ begin
            if old.withdrawn_at is not null
               and not (new.withdrawn_at is not distinct from old.withdrawn_at
                        and new.withdrawal_channel is not distinct from old.withdrawal_channel
                        and (new.ip_enc is null or new.ip_enc = old.ip_enc)
                        and (new.user_agent_enc is null or new.user_agent_enc = old.user_agent_enc)) then
                raise exception 'a withdrawn consent is final';
            end if;
            if new.ip_enc is not null and new.ip_enc is distinct from old.ip_enc
               or new.user_agent_enc is not null and new.user_agent_enc is distinct from old.user_agent_enc then
                raise exception 'a consent''s request fields can only be cleared';
            end if;
            return new;
        end $$
        """
    )
    op.execute("grant update (ip_enc, user_agent_enc) on consents to kopru_app")
    op.execute("grant select, insert, update on subject_requests to kopru_app")
    op.execute("grant select, insert on destruction_records to kopru_app")
    op.execute("grant delete on sms_messages, sms_status_history, consents to kopru_app")


def downgrade() -> None:
    op.execute("revoke update (ip_enc, user_agent_enc) on consents from kopru_app")
    op.execute(
        """
        create or replace function consents_ledger_only() returns trigger language plpgsql as
        $$ begin
            if old.withdrawn_at is not null then
                raise exception 'a withdrawn consent is final';
            end if;
            return new;
        end $$
        """
    )
    op.execute("drop trigger consents_delete_guard on consents")
    op.execute("drop function kopru_consent_delete_guard()")
    op.execute("revoke delete on sms_messages, sms_status_history, consents from kopru_app")
    for idx in ("consents_ended", "sms_messages_subject", "sms_status_history_sms", "sms_messages_created"):
        op.execute(f"drop index {idx}")
    op.execute("alter table sms_status_history drop constraint sms_status_history_sms_id_fkey")
    op.execute("alter table sms_status_history add constraint sms_status_history_sms_id_fkey "
               "foreign key (sms_id) references sms_messages(id)")
    op.execute("alter table sms_messages alter column body_enc set not null")
    for t in ("breaches", "destruction_records", "subject_requests"):
        op.execute(f"drop table {t}")
