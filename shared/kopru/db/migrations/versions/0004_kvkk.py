"""KVKK: tenant keys, data subjects (encrypted, blind-indexed), the consent ledger, and
the audit log's per-tenant hash chain.

The value lists in the CHECK constraints mirror kopru.kvkk.vocabulary at the time of
this migration (a migration is frozen history and does not import live code).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""
from alembic import op

from kopru.db.rls import tenant_table

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

APP = "kopru_app"

PURPOSES = ("marketing", "transactional", "service_delivery", "analytics", "profiling",
            "third_party_transfer", "cross_border_transfer")
LEGAL_BASES = ("explicit_consent", "required_by_law", "vital_interest", "contract", "legal_obligation",
               "made_public", "legal_claims", "legitimate_interest", "special_explicit_consent",
               "special_required_by_law", "special_vital_interest", "special_made_public", "special_legal_claims",
               "special_health_services", "special_employment", "special_nonprofit_members")
CATEGORIES = ("identity", "contact", "location", "personnel", "legal_transaction", "customer_transaction",
              "physical_security", "transaction_security", "risk_management", "financial",
              "professional_experience", "marketing", "audio_visual", "race_ethnicity", "political_opinion",
              "religion_belief", "appearance", "association_membership", "foundation_membership",
              "union_membership", "health", "sexual_life", "criminal_conviction", "biometric", "genetic")
CHANNELS = ("web", "mobile", "call_center", "in_person", "email", "sms")
IYS_TYPES = ("MESAJ", "ARAMA", "EPOSTA")
IYS_RECIPIENT_TYPES = ("BIREYSEL", "TACIR")
IYS_SOURCES = ("HS_FIZIKSEL_ORTAM", "HS_ISLAK_IMZA", "HS_WEB", "HS_CAGRI_MERKEZI", "HS_SOSYAL_MEDYA", "HS_EPOSTA",
               "HS_MESAJ", "HS_MOBIL", "HS_EORTAM", "HS_ETKINLIK", "HS_2015", "HS_ATM", "HS_KARAR")


def _in(values) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade() -> None:
    # -- keys and subjects ----------------------------------------------------------
    op.execute(
        """
        create table tenant_keys (
            tenant_id uuid primary key references tenants(id),
            wrapped_key bytea not null,  -- 32 random bytes sealed by the master key, aad = tenant id
            created_at timestamptz not null default now()
        )
        """
    )
    tenant_table(op, "tenant_keys")
    op.execute(
        """
        create table data_subjects (
            id uuid primary key,
            tenant_id uuid not null references tenants(id),
            phone_bidx bytea,
            email_bidx bytea,
            tckn_bidx bytea,
            wrapped_key bytea,  -- the subject key sealed by the tenant key, aad = subject id
            phone_enc bytea,
            email_enc bytea,
            tckn_enc bytea,
            key_destroyed_at timestamptz,
            created_at timestamptz not null default now(),
            unique (tenant_id, phone_bidx),
            unique (tenant_id, email_bidx),
            unique (tenant_id, tckn_bidx),
            check ((wrapped_key is null) = (key_destroyed_at is not null))
        )
        """
    )
    tenant_table(op, "data_subjects")
    op.execute(
        """
        create function data_subjects_shredding_is_final() returns trigger language plpgsql as
        $$ begin
            if old.key_destroyed_at is not null and (new.wrapped_key is not null or new.key_destroyed_at is null) then
                raise exception 'a destroyed subject key cannot come back';
            end if;
            return new;
        end $$
        """
    )
    op.execute(
        "create trigger data_subjects_shredding_is_final before update on data_subjects "
        "for each row execute function data_subjects_shredding_is_final()"
    )

    # -- the consent ledger ---------------------------------------------------------
    op.execute(
        """
        create table consent_texts (
            tenant_id uuid not null references tenants(id),
            sha256 bytea not null check (octet_length(sha256) = 32),
            text text not null,
            created_at timestamptz not null default now(),
            primary key (tenant_id, sha256)
        )
        """
    )
    tenant_table(op, "consent_texts")
    op.execute(
        f"""
        create table consents (
            id uuid primary key,
            tenant_id uuid not null references tenants(id),
            subject_id uuid not null references data_subjects(id),
            purpose text not null check (purpose in {_in(PURPOSES)}),
            legal_basis text not null check (legal_basis in {_in(LEGAL_BASES)}),
            data_categories text[] not null
                check (cardinality(data_categories) >= 1 and data_categories <@ array{list(CATEGORIES)}::text[]),
            channel text not null check (channel in {_in(CHANNELS)}),
            iys_type text check (iys_type in {_in(IYS_TYPES)}),
            iys_recipient_type text check (iys_recipient_type in {_in(IYS_RECIPIENT_TYPES)}),
            iys_source text check (iys_source in {_in(IYS_SOURCES)}),
            text_sha256 bytea not null,
            ip_enc bytea,
            user_agent_enc bytea,
            granted_at timestamptz not null default now(),
            retention_days integer not null check (retention_days between 1 and 3650),
            expires_at timestamptz not null,
            withdrawn_at timestamptz,
            withdrawal_channel text check (withdrawal_channel in {_in(CHANNELS)}),
            foreign key (tenant_id, text_sha256) references consent_texts (tenant_id, sha256),
            check ((iys_type is null) = (iys_recipient_type is null) and (iys_type is null) = (iys_source is null)),
            check (withdrawn_at is null or withdrawn_at >= granted_at),
            check (withdrawal_channel is null or withdrawn_at is not null)
        )
        """
    )
    tenant_table(op, "consents")
    op.execute("create index consents_subject on consents (tenant_id, subject_id, purpose)")
    op.execute(
        """
        create function consents_ledger_only() returns trigger language plpgsql as
        $$ begin
            if old.withdrawn_at is not null then
                raise exception 'a withdrawn consent is final';
            end if;
            return new;
        end $$
        """
    )
    op.execute(
        "create trigger consents_ledger_only before update on consents "
        "for each row execute function consents_ledger_only()"
    )

    op.execute(f"grant select, insert on tenant_keys, consent_texts to {APP}")
    op.execute(f"grant select, insert on data_subjects, consents to {APP}")
    op.execute(
        f"grant update (phone_bidx, email_bidx, tckn_bidx, wrapped_key, phone_enc, email_enc, tckn_enc, "
        f"key_destroyed_at) on data_subjects to {APP}"
    )
    # the ledger: a withdrawal is the only change; never a delete
    op.execute(f"grant update (withdrawn_at, withdrawal_channel) on consents to {APP}")

    # -- the audit log's hash chain -------------------------------------------------
    op.execute("alter table audit_log add column seq bigint, add column prev_hash bytea, add column hash bytea")
    op.execute(
        """
        create function kopru_audit_field(v text) returns text language sql immutable parallel safe as
        $$ select case when v is null then '-' else octet_length(v)::text || ':' || v end $$
        """
    )
    op.execute(
        """
        create function kopru_audit_hash(prev bytea, seq bigint, tenant_id uuid, at timestamptz, actor text,
                                         action text, target text, details jsonb)
        returns bytea language sql stable parallel safe as
        $$ select sha256(coalesce(prev, ''::bytea) || convert_to(
               kopru_audit_field(seq::text) || kopru_audit_field(tenant_id::text)
               || kopru_audit_field(to_char(at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
               || kopru_audit_field(actor) || kopru_audit_field(action) || kopru_audit_field(target)
               || kopru_audit_field(details::text), 'UTF8')) $$
        """
    )
    # existing entries join the chain in id order, tenant by tenant
    op.execute("alter table audit_log disable trigger audit_log_append_only")
    op.execute("alter table audit_log no force row level security")
    op.execute(
        """
        do $$
        declare r record; cur uuid; n bigint; prev bytea;
        begin
            for r in select * from audit_log order by tenant_id, id loop
                if cur is distinct from r.tenant_id then cur := r.tenant_id; n := 0; prev := null; end if;
                n := n + 1;
                update audit_log set seq = n, prev_hash = prev,
                       hash = kopru_audit_hash(prev, n, r.tenant_id, r.at, r.actor, r.action, r.target, r.details)
                 where id = r.id
                returning hash into prev;
            end loop;
        end $$
        """
    )
    op.execute("alter table audit_log force row level security")
    op.execute("alter table audit_log enable trigger audit_log_append_only")
    op.execute("create unique index audit_log_tenant_seq on audit_log (tenant_id, seq)")
    op.execute(
        """
        create function audit_log_chain() returns trigger language plpgsql as
        $$
        declare last_seq bigint; last_hash bytea;
        begin
            -- one writer per tenant at a time, until its transaction ends: the chain never forks
            perform pg_advisory_xact_lock(hashtextextended(new.tenant_id::text, 0));
            select a.seq, a.hash into last_seq, last_hash
              from audit_log a where a.tenant_id = new.tenant_id and a.seq is not null order by a.seq desc limit 1;
            new.seq := coalesce(last_seq, 0) + 1;
            new.prev_hash := last_hash;
            new.hash := kopru_audit_hash(new.prev_hash, new.seq, new.tenant_id, new.at, new.actor, new.action,
                                         new.target, new.details);
            return new;
        end $$
        """
    )
    op.execute(
        "create trigger audit_log_chain before insert on audit_log for each row execute function audit_log_chain()"
    )
    op.execute(f"grant execute on function kopru_audit_field(text) to {APP}")
    op.execute(
        f"grant execute on function kopru_audit_hash(bytea, bigint, uuid, timestamptz, text, text, text, jsonb) to {APP}"
    )


def downgrade() -> None:
    op.execute("drop trigger audit_log_chain on audit_log")
    op.execute("drop function audit_log_chain()")
    op.execute("drop index audit_log_tenant_seq")
    op.execute("alter table audit_log drop column seq, drop column prev_hash, drop column hash")
    op.execute("drop function kopru_audit_hash(bytea, bigint, uuid, timestamptz, text, text, text, jsonb)")
    op.execute("drop function kopru_audit_field(text)")
    op.execute("drop table consents")
    op.execute("drop function consents_ledger_only()")
    op.execute("drop table consent_texts")
    op.execute("drop table data_subjects")
    op.execute("drop function data_subjects_shredding_is_final()")
    op.execute("drop table tenant_keys")
