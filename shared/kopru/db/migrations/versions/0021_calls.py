"""Calls through Bulutfon (kopru.calls): the tenant's call records (one row per Bulutfon
call uuid, written by the call webhooks and the CDR sync; numbers and the recording link
under the external party's subject key), click-to-call requests, and the CDR sync's
cursor per tenant.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06
"""
from alembic import op

from kopru.db.rls import tenant_table

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        create table call_records (
            id uuid primary key,
            tenant_id uuid not null references tenants(id),
            bulutfon_uuid text not null check (length(bulutfon_uuid) between 1 and 64),
            direction text check (direction in ('IN', 'OUT', 'LOCAL')),
            subject_id uuid references data_subjects(id),   -- the outside party (caller IN, callee OUT)
            caller_enc bytea,                               -- digits as Bulutfon gave them, under the subject key
            callee_enc bytea,
            recording_url_enc bytea,                        -- the recording's link, under the subject key
            call_time timestamptz,
            answer_time timestamptz,
            hangup_time timestamptz,
            missed boolean,
            talk_duration integer,
            hangup_cause text,
            hangup_state text,
            call_flow jsonb,                                -- the detail's steps: menus, groups, extensions (no numbers)
            started_announced_at timestamptz,               -- kopru.call.started.v1 emitted (once)
            ended_announced_at timestamptz,                 -- kopru.call.ended.v1
            missed_announced_at timestamptz,                -- kopru.call.missed.v1
            synced_at timestamptz,                          -- last seen in a CDR page
            detail_synced_at timestamptz,                   -- its call flow read
            created_at timestamptz not null default now(),
            updated_at timestamptz not null default now(),
            unique (tenant_id, bulutfon_uuid)
        )
        """
    )
    op.execute("create index call_records_listing on call_records (tenant_id, created_at, id)")
    op.execute("create index call_records_subject on call_records (tenant_id, subject_id)")
    op.execute("create index call_records_detail_due on call_records (tenant_id, hangup_time) "
               "where detail_synced_at is null")
    tenant_table(op, "call_records")
    op.execute(
        """
        create table call_bridges (
            id uuid primary key,
            tenant_id uuid not null references tenants(id),
            subject_id uuid references data_subjects(id),   -- the person called
            callee_enc bytea,                               -- E.164, under the subject key
            line text not null,                             -- the tenant's Bulutfon number calling
            destination text not null,                      -- menu, group or extension it is bridged to
            status text not null check (status in ('queued', 'placing', 'placed', 'failed', 'unknown')),
            error_code text,
            bulutfon_uuid text,                             -- the call's CDR uuid, when found
            attempts integer not null default 0,
            created_at timestamptz not null default now(),
            updated_at timestamptz not null default now()
        )
        """
    )
    op.execute("create index call_bridges_listing on call_bridges (tenant_id, created_at, id)")
    tenant_table(op, "call_bridges")
    op.execute(
        """
        create table call_sync_cursors (
            tenant_id uuid primary key references tenants(id),
            since date,                                     -- the first day the next pass lists
            next_page integer not null default 1,           -- where an interrupted pass resumes
            pass_started date,                              -- the day the current pass began
            last_run_at timestamptz,
            last_code text                                  -- why the last run stopped early (rate_limited...)
        )
        """
    )
    tenant_table(op, "call_sync_cursors")
    op.execute("grant select, insert, update, delete on call_records, call_bridges, call_sync_cursors to kopru_app")


def downgrade() -> None:
    for t in ("call_sync_cursors", "call_bridges", "call_records"):
        op.execute(f"drop table {t}")
