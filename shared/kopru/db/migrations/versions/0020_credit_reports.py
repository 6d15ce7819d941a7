"""Credit reports (kopru.credit): one row per report on a counterparty, fetched from a
KKB-member partner or uploaded as the Findeks PDF the counterparty shared. The report,
the PDF and the identity number asked about are under the subject key; what a legal hold
keeps (that a report was obtained, when, from where, on which consent) is plain.

The consent ledger learns the purpose `credit_report` (kopru.kvkk.vocabulary): the
purpose CHECK of 0004 is replaced by one naming it too.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06
"""
from alembic import op

from kopru.db.rls import tenant_table

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

PURPOSES = ("marketing", "transactional", "service_delivery", "analytics", "profiling",
            "third_party_transfer", "cross_border_transfer")
NEW_PURPOSES = PURPOSES + ("credit_report",)


def _in(values) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade() -> None:
    op.execute("alter table consents drop constraint consents_purpose_check")
    op.execute(f"alter table consents add constraint consents_purpose_check check (purpose in {_in(NEW_PURPOSES)})")
    op.execute(
        """
        create table credit_reports (
            id uuid primary key,                  -- also our client_reference at the partner
            tenant_id uuid not null references tenants(id),
            subject_id uuid not null references data_subjects(id),
            -- the credit_report consent it rests on, copied so the row proves it alone: the ledger's row
            -- is purged 3 years after the consent ends, this fact is kept longer (kopru.kvkk.register)
            consent_id uuid not null,
            consent_granted_at timestamptz not null,
            consent_text_sha256 text not null check (consent_text_sha256 ~ '^[0-9a-f]{64}$'),
            source text not null check (source in ('partner', 'upload')),
            provider text not null check (length(provider) between 1 and 64),
            scheme text not null check (scheme in ('TCKN', 'VKN')),
            status text not null check (status in ('requested', 'obtained', 'failed', 'unknown')),
            identity_enc bytea,                   -- the TCKN/VKN asked about, under the subject key
            report_enc bytea,                     -- the partner's report (JSON), under the subject key
            document_enc bytea,                   -- the uploaded Findeks PDF (base64), under the subject key
            partner_report_id text check (partner_report_id is null or length(partner_report_id) <= 200),
            error_code text,
            requested_by text not null,
            requested_at timestamptz not null default now(),
            obtained_at timestamptz,
            updated_at timestamptz not null default now()
        )
        """
    )
    op.execute("create index credit_reports_listing on credit_reports (tenant_id, requested_at, id)")
    op.execute("create index credit_reports_subject on credit_reports (tenant_id, subject_id)")
    op.execute("create index credit_reports_consent on credit_reports (tenant_id, consent_id)")
    tenant_table(op, "credit_reports")
    op.execute("grant select, insert, update, delete on credit_reports to kopru_app")


def downgrade() -> None:
    op.execute("drop table credit_reports")
    op.execute("delete from consents where purpose = 'credit_report'")
    op.execute("alter table consents drop constraint consents_purpose_check")
    op.execute(f"alter table consents add constraint consents_purpose_check check (purpose in {_in(PURPOSES)})")
