"""The audit log proves itself: entries keyed-MAC'd outside the database, `seq` bound to
its chain by the database, and one way in (kopru_audit_append + kopru_audit_seal).

- `mac` (HMAC-SHA256, 32 bytes) is computed by the application with a key derived from
  the master key (kopru.db.auditlog), which the database never sees. `hash` (migration
  0004's unkeyed SHA-256) stays on the entries written before this migration and is
  never set again: a chain the database can compute on its own no longer verifies past them.
- `prev_seq`: each entry names its predecessor; a CHECK makes it `seq - 1` (NULL for
  seq 1), a self-referencing foreign key makes the predecessor exist, `(tenant_id, seq)`
  is unique and `seq > 0`: the seqs of a chain are exactly 1..n, enforced by PostgreSQL.
- `kopru_audit_append(action, target, details)` (SECURITY DEFINER) is the only way in:
  it takes the tenant from `app.tenant_id`, the actor from `app.actor` (both set when the
  transaction begins), `at` from clock_timestamp(), the next seq and the previous link under
  the tenant's advisory lock, inserts with mac NULL and returns what the MAC covers.
  `kopru_audit_seal(id, mac)` sets a NULL mac once (the append-only trigger lets exactly
  that update through), and a deferred constraint trigger refuses to commit an entry
  left unsealed. The application role loses INSERT on audit_log (it never had UPDATE or
  DELETE) and the unkeyed hash functions.

Constraints that entries from before this migration might break (a `seq` tampered
with, a gap) are added NOT VALID and validated when the old rows allow it, so the
migration never stops on an old forgery: `kopru audit verify` reports it instead.

Revision ID: 0014_audit_proofs
Revises: 0013
Create Date: 2026-12-08
"""
from alembic import op

revision = "0014_audit_proofs"
down_revision = "0013"  # 0013_es256_keys.py
branch_labels = None
depends_on = None

APP = "kopru_app"


def _validate(constraint: str) -> None:
    op.execute(
        f"""
        do $$ begin
            alter table audit_log validate constraint {constraint};
        exception when others then
            raise warning 'audit_log: {constraint} not validated (older entries break it: run kopru audit verify)';
        end $$
        """
    )


def upgrade() -> None:
    op.execute("alter table audit_log add column prev_seq bigint, add column mac bytea")
    op.execute("alter table audit_log alter column at set default clock_timestamp()")
    # older entries name their predecessor too (the owner, past the append-only trigger and RLS)
    op.execute("alter table audit_log disable trigger audit_log_append_only")
    op.execute("alter table audit_log no force row level security")
    op.execute("update audit_log set prev_seq = seq - 1 where seq > 1")
    op.execute("alter table audit_log force row level security")
    op.execute("alter table audit_log enable trigger audit_log_append_only")

    op.execute("alter table audit_log add constraint audit_log_seq_in_chain check (seq is not null and seq > 0) not valid")
    op.execute("alter table audit_log add constraint audit_log_prev_seq "
               "check ((seq = 1 and prev_seq is null) or prev_seq = seq - 1) not valid")
    op.execute("alter table audit_log add constraint audit_log_mac_or_hash "
               "check (mac is null or (octet_length(mac) = 32 and hash is null)) not valid")
    op.execute("alter table audit_log add constraint audit_log_tenant_seq unique using index audit_log_tenant_seq")
    op.execute("alter table audit_log add constraint audit_log_prev_entry foreign key (tenant_id, prev_seq) "
               "references audit_log (tenant_id, seq) not valid")
    for c in ("audit_log_seq_in_chain", "audit_log_prev_seq", "audit_log_mac_or_hash", "audit_log_prev_entry"):
        _validate(c)

    # the chain is no longer made by a trigger with an unkeyed hash
    op.execute("drop trigger audit_log_chain on audit_log")
    op.execute("drop function audit_log_chain()")

    # append-only, but for the one update that seals a fresh entry
    op.execute(
        """
        create or replace function audit_log_append_only() returns trigger language plpgsql as
        $$ begin
            if tg_op = 'UPDATE' and old.mac is null and old.hash is null and new.mac is not null
               and (new.id, new.tenant_id, new.at, new.actor, new.action, new.target, new.details, new.seq,
                    new.prev_seq, new.prev_hash, new.hash)
                   is not distinct from
                   (old.id, old.tenant_id, old.at, old.actor, old.action, old.target, old.details, old.seq,
                    old.prev_seq, old.prev_hash, old.hash) then
                return new;
            end if;
            raise exception 'audit_log is append-only';
        end $$
        """
    )
    op.execute(
        """
        create function audit_log_sealed() returns trigger language plpgsql as
        $$ begin
            if not exists (select 1 from audit_log a where a.id = new.id and a.mac is not null) then
                raise exception 'audit entry % was not sealed before commit', new.seq using errcode = '23514';
            end if;
            return null;
        end $$
        """
    )
    op.execute(
        "create constraint trigger audit_log_sealed after insert on audit_log deferrable initially deferred "
        "for each row execute function audit_log_sealed()"
    )
    op.execute(
        """
        create function kopru_audit_append(p_action text, p_target text, p_details jsonb)
        returns table (entry_id bigint, entry_seq bigint, entry_at timestamptz, entry_actor text,
                       entry_prev bytea, entry_details text)
        language plpgsql volatile security definer set search_path = pg_catalog, public as
        $$
        declare
            t uuid := kopru_current_tenant();
            who text := nullif(current_setting('app.actor', true), '');
            last_seq bigint;
            last_link bytea;
        begin
            if t is null then
                raise exception 'kopru_audit_append: no tenant in this transaction' using errcode = '42501';
            end if;
            if who is null then
                raise exception 'kopru_audit_append: no actor in this transaction' using errcode = '42501';
            end if;
            if p_action is null or p_action = '' then
                raise exception 'kopru_audit_append: an action is required' using errcode = '22023';
            end if;
            -- one writer per chain until its transaction ends: the chain never forks
            perform pg_advisory_xact_lock(hashtextextended(t::text, 0));
            select a.seq, coalesce(a.mac, a.hash) into last_seq, last_link
              from audit_log a where a.tenant_id = t order by a.seq desc limit 1;
            if last_seq is not null and last_link is null then
                raise exception 'kopru_audit_append: entry % is not sealed', last_seq using errcode = '55000';
            end if;
            return query
                insert into audit_log as a (tenant_id, at, actor, action, target, details, seq, prev_seq, prev_hash)
                values (t, clock_timestamp(), who, p_action, p_target, coalesce(p_details, '{}'::jsonb),
                        coalesce(last_seq, 0) + 1, last_seq, last_link)
                returning a.id, a.seq, a.at, a.actor, a.prev_hash, a.details::text;
        end $$
        """
    )
    op.execute(
        """
        create function kopru_audit_seal(p_id bigint, p_mac bytea) returns void
        language plpgsql volatile security definer set search_path = pg_catalog, public as
        $$ begin
            if p_mac is null or octet_length(p_mac) <> 32 then
                raise exception 'kopru_audit_seal: a 32-byte MAC is required' using errcode = '22023';
            end if;
            update audit_log set mac = p_mac
             where id = p_id and tenant_id = kopru_current_tenant() and mac is null and hash is null;
            if not found then
                raise exception 'kopru_audit_seal: no unsealed entry %', p_id using errcode = '55000';
            end if;
        end $$
        """
    )
    for fn in ("kopru_audit_append(text, text, jsonb)", "kopru_audit_seal(bigint, bytea)"):
        op.execute(f"revoke all on function {fn} from public")
        op.execute(f"grant execute on function {fn} to {APP}")
    op.execute(f"revoke insert, update, delete, truncate on audit_log from {APP}")
    # the unkeyed hash (0004) is only the owner's now (functions are executable by PUBLIC unless revoked)
    for fn in ("kopru_audit_field(text)",
               "kopru_audit_hash(bytea, bigint, uuid, timestamptz, text, text, text, jsonb)"):
        op.execute(f"revoke execute on function {fn} from public, {APP}")


def downgrade() -> None:
    op.execute(f"grant insert on audit_log to {APP}")
    op.execute(f"grant execute on function kopru_audit_field(text) to {APP}")
    op.execute(
        f"grant execute on function kopru_audit_hash(bytea, bigint, uuid, timestamptz, text, text, text, jsonb) to {APP}")
    op.execute("drop function kopru_audit_seal(bigint, bytea)")
    op.execute("drop function kopru_audit_append(text, text, jsonb)")
    op.execute("drop trigger audit_log_sealed on audit_log")
    op.execute("drop function audit_log_sealed()")
    op.execute(
        """
        create or replace function audit_log_append_only() returns trigger language plpgsql as
        $$ begin raise exception 'audit_log is append-only'; end $$
        """
    )
    op.execute(
        """
        create function audit_log_chain() returns trigger language plpgsql as
        $$
        declare last_seq bigint; last_hash bytea;
        begin
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
    op.execute("alter table audit_log drop constraint audit_log_prev_entry")
    op.execute("alter table audit_log drop constraint audit_log_tenant_seq")
    op.execute("create unique index audit_log_tenant_seq on audit_log (tenant_id, seq)")
    for c in ("audit_log_mac_or_hash", "audit_log_prev_seq", "audit_log_seq_in_chain"):
        op.execute(f"alter table audit_log drop constraint {c}")
    op.execute("alter table audit_log alter column at set default now()")
    op.execute("alter table audit_log drop column mac, drop column prev_seq")
