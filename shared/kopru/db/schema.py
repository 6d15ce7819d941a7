"""SQLAlchemy Core tables for building queries (the migrations own the DDL)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger, Boolean, Column, Date, DateTime, Float, Integer, LargeBinary, MetaData, Numeric, Table, Text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

metadata = MetaData()

tenants = Table(
    "tenants", metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("name", Text, nullable=False),
    Column("tax_number", Text, nullable=False),
    Column("tax_number_kind", Text, nullable=False),
    Column("tax_office", Text, nullable=False),
    Column("subdomain", Text, nullable=False),
    Column("plan", Text, nullable=False),
    Column("language", Text, nullable=False),
    Column("timezone", Text, nullable=False),
    Column("currency", Text, nullable=False),
    Column("verbis_no", Text),
    Column("created_at", DateTime(timezone=True)),
)

tenant_directory = Table(
    "tenant_directory", metadata,
    Column("subdomain", Text, primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("created_at", DateTime(timezone=True)),
)

client_directory = Table(
    "client_directory", metadata,
    Column("client_id", Text, primary_key=True),
    Column("tenant_id", UUID(as_uuid=True)),
    Column("created_at", DateTime(timezone=True)),
)

users = Table(
    "users", metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("email", Text, nullable=False),
    Column("email_fold", Text, nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("created_at", DateTime(timezone=True)),
)

api_clients = Table(
    "api_clients", metadata,
    Column("client_id", Text, primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("name", Text, nullable=False),
    Column("secret_hash", LargeBinary, nullable=False),
    Column("scopes", ARRAY(Text), nullable=False),
    Column("created_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
)

platform_clients = Table(
    "platform_clients", metadata,
    Column("client_id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("secret_hash", LargeBinary, nullable=False),
    Column("scopes", ARRAY(Text), nullable=False),
    Column("created_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
)

signing_keys = Table(
    "signing_keys", metadata,
    Column("kid", Text, primary_key=True),
    Column("alg", Text, nullable=False),
    Column("public_jwk", JSONB, nullable=False),
    Column("private_key_enc", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True)),
    Column("signs_from", DateTime(timezone=True), nullable=False),
    Column("retired_at", DateTime(timezone=True)),
    Column("expires_at", DateTime(timezone=True)),
)

audit_log = Table(
    "audit_log", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("at", DateTime(timezone=True)),
    Column("actor", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("target", Text),
    Column("details", JSONB, nullable=False),
    # the per-tenant chain (migrations 0004 and 0014; written only by kopru_audit_append and
    # kopru_audit_seal through kopru.db.auditlog, verified by kopru.kvkk.audit)
    Column("seq", BigInteger, nullable=False),
    Column("prev_seq", BigInteger),
    Column("prev_hash", LargeBinary),  # the previous entry's link: its mac (or, before 0014, its hash)
    Column("hash", LargeBinary),  # entries from before 0014 only: the unkeyed SHA-256 of 0004
    Column("mac", LargeBinary),  # HMAC-SHA256 with a key outside the database (kopru.db.auditlog)
)

outbox = Table(
    "outbox", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("event_id", UUID(as_uuid=True), nullable=False),
    Column("type", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("subject", Text),
    Column("data", JSONB, nullable=False),
    Column("extensions", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True)),
    Column("published_at", DateTime(timezone=True)),
)

refresh_tokens = Table(
    "refresh_tokens", metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("family_id", UUID(as_uuid=True), nullable=False),
    Column("parent_id", UUID(as_uuid=True)),
    Column("generation", Integer, nullable=False),
    Column("token_hash", LargeBinary, nullable=False),
    Column("client_id", Text, nullable=False),
    Column("user_id", UUID(as_uuid=True), nullable=False),
    Column("scopes", ARRAY(Text), nullable=False),
    Column("created_at", DateTime(timezone=True)),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
    Column("successor_enc", LargeBinary),
)

inbox = Table(
    "inbox", metadata,
    Column("consumer", Text, primary_key=True),
    Column("source", Text, primary_key=True),
    Column("event_id", Text, primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("type", Text, nullable=False),
    Column("processed_at", DateTime(timezone=True)),
)

# -- KVKK (migration 0004; kopru.kvkk) -------------------------------------------

tenant_keys = Table(
    "tenant_keys", metadata,
    Column("tenant_id", UUID(as_uuid=True), primary_key=True),
    Column("wrapped_key", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True)),
)

data_subjects = Table(
    "data_subjects", metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("phone_bidx", LargeBinary),
    Column("email_bidx", LargeBinary),
    Column("tckn_bidx", LargeBinary),
    Column("wrapped_key", LargeBinary),
    Column("phone_enc", LargeBinary),
    Column("email_enc", LargeBinary),
    Column("tckn_enc", LargeBinary),
    Column("key_destroyed_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True)),
    Column("key_epoch", Text),  # the key epoch sealing wrapped_key (kopru.kvkk.epochs); null: pre-epoch form
    Column("pre_epoch_wrap", Boolean),  # the key was ever stored in the pre-epoch form (made before 0017)
)

consent_texts = Table(
    "consent_texts", metadata,
    Column("tenant_id", UUID(as_uuid=True), primary_key=True),
    Column("sha256", LargeBinary, primary_key=True),
    Column("text", Text, nullable=False),
    Column("created_at", DateTime(timezone=True)),
)

consents = Table(
    "consents", metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("subject_id", UUID(as_uuid=True), nullable=False),
    Column("purpose", Text, nullable=False),
    Column("legal_basis", Text, nullable=False),
    Column("data_categories", ARRAY(Text), nullable=False),
    Column("channel", Text, nullable=False),
    Column("iys_type", Text),
    Column("iys_recipient_type", Text),
    Column("iys_source", Text),
    Column("text_sha256", LargeBinary, nullable=False),
    Column("ip_enc", LargeBinary),
    Column("user_agent_enc", LargeBinary),
    Column("granted_at", DateTime(timezone=True)),
    Column("retention_days", Integer, nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("withdrawn_at", DateTime(timezone=True)),
    Column("withdrawal_channel", Text),
)

tenant_integrations = Table(
    "tenant_integrations", metadata,
    Column("tenant_id", UUID(as_uuid=True), primary_key=True),
    Column("provider", Text, primary_key=True),
    Column("settings", JSONB, nullable=False),
    Column("secret_enc", LargeBinary, nullable=False),
    Column("updated_at", DateTime(timezone=True)),
)

outward_calls = Table(
    "outward_calls", metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("provider", Text, nullable=False),
    Column("operation", Text, nullable=False),
    Column("ref", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("ambiguous", Boolean, nullable=False),
    Column("ambiguous_since", DateTime(timezone=True)),
    Column("attempts", Integer, nullable=False),
    Column("lease_token", UUID(as_uuid=True)),
    Column("lease_until", DateTime(timezone=True)),
    Column("external_ref", Text),
    Column("code", Text),
    Column("created_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True)),
)

idempotent_requests = Table(
    "idempotent_requests", metadata,
    Column("tenant_id", UUID(as_uuid=True), primary_key=True),
    Column("operation", Text, primary_key=True),
    Column("key", Text, primary_key=True),
    Column("fingerprint", LargeBinary, nullable=False),
    Column("status", Integer, nullable=False),
    Column("response", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True)),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

sms_messages = Table(
    "sms_messages", metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("subject_id", UUID(as_uuid=True), nullable=False),
    Column("body_enc", LargeBinary, nullable=False),
    Column("kind", Text, nullable=False),
    Column("recipient_type", Text),
    Column("encoding", Text, nullable=False),
    Column("segments", Integer, nullable=False),
    Column("characters", Integer, nullable=False),
    Column("status", Text, nullable=False),
    Column("error_code", Text),
    Column("attempts", Integer, nullable=False),
    Column("netgsm_jobid", Text),
    Column("scheduled_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True)),
)

sms_status_history = Table(
    "sms_status_history", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("sms_id", UUID(as_uuid=True), nullable=False),
    Column("status", Text, nullable=False),
    Column("code", Text),
    Column("at", DateTime(timezone=True)),
)

# -- WhatsApp Business (migration 0019) ------------------------------------------------

whatsapp_messages = Table(
    "whatsapp_messages", metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("subject_id", UUID(as_uuid=True), nullable=False),
    Column("kind", Text, nullable=False),
    Column("category", Text, nullable=False),
    Column("template_name", Text),
    Column("template_language", Text),
    Column("content_enc", LargeBinary),
    Column("status", Text, nullable=False),
    Column("error_code", Text),
    Column("attempts", Integer, nullable=False),
    Column("wamid", Text),
    Column("created_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True)),
)

whatsapp_status_history = Table(
    "whatsapp_status_history", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("message_id", UUID(as_uuid=True), nullable=False),
    Column("status", Text, nullable=False),
    Column("code", Text),
    Column("at", DateTime(timezone=True)),
)

whatsapp_inbound = Table(
    "whatsapp_inbound", metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("subject_id", UUID(as_uuid=True), nullable=False),
    Column("wamid", Text, nullable=False),
    Column("type", Text),
    Column("sent_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True)),
)

whatsapp_windows = Table(
    "whatsapp_windows", metadata,
    Column("tenant_id", UUID(as_uuid=True), primary_key=True),
    Column("subject_id", UUID(as_uuid=True), primary_key=True),
    Column("last_inbound_at", DateTime(timezone=True)),
)

# -- KVKK applications, destruction records, breaches (migration 0007) ----------------

subject_requests = Table(
    "subject_requests", metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("kind", Text, nullable=False),
    Column("subject_id", UUID(as_uuid=True), nullable=False),
    Column("status", Text, nullable=False),
    Column("requested_by", Text, nullable=False),
    Column("requested_at", DateTime(timezone=True)),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("completed_at", DateTime(timezone=True)),
    Column("object_key", Text),
    Column("link_expires_at", DateTime(timezone=True)),
    Column("report", JSONB),
)

destruction_records = Table(
    "destruction_records", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("run_id", UUID(as_uuid=True), nullable=False),
    Column("rule", Text, nullable=False),
    Column("table_name", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("rows", Integer, nullable=False),
    Column("cutoff", DateTime(timezone=True)),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("keep_until", DateTime(timezone=True)),
)

breaches = Table(
    "breaches", metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("controller_tenant_id", UUID(as_uuid=True)),
    Column("occurred_at", DateTime(timezone=True)),
    Column("discovered_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
    Column("deadline_at", DateTime(timezone=True), nullable=False),
    Column("reported_at", DateTime(timezone=True)),
    Column("details", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True)),
)

# -- e-invoices (migration 0008; kopru.einvoice.service) ------------------------------

einvoice_series_counters = Table(
    "einvoice_series_counters", metadata,
    Column("tenant_id", UUID(as_uuid=True), primary_key=True),
    Column("series", Text, primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("next_value", BigInteger, nullable=False),
)

einvoices = Table(
    "einvoices", metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("ettn", UUID(as_uuid=True), nullable=False),
    Column("number", Text, nullable=False),
    Column("series", Text, nullable=False),
    Column("year", Integer, nullable=False),
    Column("profile", Text, nullable=False),
    Column("type", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("error_code", Text),
    Column("gib_code", Text),
    Column("answer", Text),
    Column("receiver_alias", Text),
    Column("subject_id", UUID(as_uuid=True)),
    Column("customer_scheme", Text, nullable=False),
    Column("customer_tax_number", Text, nullable=False),
    Column("customer_name", Text, nullable=False),
    Column("currency", Text, nullable=False),
    Column("payable_amount", Numeric(23, 2), nullable=False),
    Column("xml", LargeBinary, nullable=False),
    Column("issue_date", Date, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("submitted_at", DateTime(timezone=True)),
    Column("delivered_at", DateTime(timezone=True)),
    Column("answer_due_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True)),
)

einvoice_status_history = Table(
    "einvoice_status_history", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("einvoice_id", UUID(as_uuid=True), nullable=False),
    Column("status", Text, nullable=False),
    Column("code", Text),
    Column("at", DateTime(timezone=True)),
)

# GİB's registered e-Fatura users: a platform table (public data, no tenant)
efatura_users = Table(
    "efatura_users", metadata,
    Column("identifier", Text, primary_key=True),
    Column("title", Text, nullable=False),
    Column("aliases", ARRAY(Text), nullable=False),
    Column("user_type", Text),
    Column("first_created", DateTime(timezone=True)),
    Column("imported_at", DateTime(timezone=True)),
)

# -- payments (migration 0015; kopru.payments.service) -------------------------------

payments = Table(
    "payments", metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("flow", Text, nullable=False),
    Column("subject_id", UUID(as_uuid=True)),
    Column("status", Text, nullable=False),
    Column("currency", Text, nullable=False),
    Column("amount", Numeric(14, 2), nullable=False),
    Column("paid_amount", Numeric(14, 2), nullable=False),
    Column("refunded_amount", Numeric(14, 2), nullable=False),
    Column("basket", JSONB, nullable=False),
    Column("buyer_enc", LargeBinary),
    Column("return_url", Text, nullable=False),
    Column("locale", Text, nullable=False),
    Column("installments", JSONB),
    Column("iyzico_token", Text),
    Column("page_url", Text),
    Column("token_expires_at", DateTime(timezone=True)),
    Column("iyzico_payment_id", Text),
    Column("item_transactions", JSONB),
    Column("error_code", Text),
    Column("invoice_id", UUID(as_uuid=True)),
    Column("paid_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True)),
)

payment_history = Table(
    "payment_history", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("payment_id", UUID(as_uuid=True), nullable=False),
    Column("status", Text, nullable=False),
    Column("code", Text),
    Column("at", DateTime(timezone=True)),
)

payment_refunds = Table(
    "payment_refunds", metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("payment_id", UUID(as_uuid=True), nullable=False),
    Column("amount", Numeric(14, 2), nullable=False),
    Column("reason", Text),
    Column("status", Text, nullable=False),
    Column("error_code", Text),
    Column("origin_ip", Text, nullable=False),
    Column("created_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True)),
)

payment_notifications = Table(
    "payment_notifications", metadata,
    Column("tenant_id", UUID(as_uuid=True), primary_key=True),
    Column("reference", Text, primary_key=True),
    Column("payment_id", UUID(as_uuid=True)),
    Column("received_at", DateTime(timezone=True)),
)

# tables whose rows belong to one tenant (and carry an RLS policy)
webhook_endpoints = Table(
    "webhook_endpoints", metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("url", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("event_types", ARRAY(Text), nullable=False),
    Column("filter", JSONB),
    Column("personal_data", Boolean, nullable=False),
    Column("purpose", Text),
    Column("enabled", Boolean, nullable=False),
    Column("disabled_reason", Text),
    Column("secret_enc", LargeBinary, nullable=False),
    Column("previous_secret_until", DateTime(timezone=True)),
    Column("failing_since", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True)),
)

webhook_deliveries = Table(
    "webhook_deliveries", metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("endpoint_id", UUID(as_uuid=True)),
    Column("event_source", Text, nullable=False),
    Column("event_id", Text, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("webhook_id", Text, nullable=False),
    Column("body", Text),  # cleared by the subject's erasure
    Column("subject_id", UUID(as_uuid=True)),
    Column("personal_data", Boolean, nullable=False),
    Column("purpose", Text),
    Column("host", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("call_ref", UUID(as_uuid=True), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("replays", Integer, nullable=False),
    Column("last_status", Integer),
    Column("last_code", Text),
    Column("last_duration_ms", Integer),
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("first_attempt_at", DateTime(timezone=True)),
    Column("last_attempt_at", DateTime(timezone=True)),
    Column("delivered_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True)),
)

workflows = Table(
    "workflows", metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("name", Text, nullable=False),
    Column("trigger_type", Text, nullable=False),
    Column("filter", JSONB),
    Column("condition", Text),
    Column("steps", JSONB, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("created_by", Text, nullable=False),
    Column("created_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True)),
)

workflow_runs = Table(
    "workflow_runs", metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("workflow_id", UUID(as_uuid=True), nullable=False),
    Column("event_source", Text, nullable=False),
    Column("event_id", Text, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("event", JSONB(none_as_null=True)),  # cleared by the subject's erasure
    Column("steps", JSONB, nullable=False),
    Column("steps_count", Integer, nullable=False),
    Column("status", Text, nullable=False),
    Column("step", Integer, nullable=False),
    Column("code", Text),
    Column("attempts", Integer, nullable=False),
    Column("results", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Column("subject_id", UUID(as_uuid=True)),  # the data subject the event named (kopru.kvkk.register)
)

# -- credit reports (migration 0022) --
credit_reports = Table(
    "credit_reports", metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("subject_id", UUID(as_uuid=True), nullable=False),
    Column("consent_id", UUID(as_uuid=True), nullable=False),
    Column("consent_granted_at", DateTime(timezone=True), nullable=False),
    Column("consent_text_sha256", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("provider", Text, nullable=False),
    Column("scheme", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("identity_enc", LargeBinary),
    Column("report_enc", LargeBinary),
    Column("document_enc", LargeBinary),
    Column("partner_report_id", Text),
    Column("error_code", Text),
    Column("requested_by", Text, nullable=False),
    Column("requested_at", DateTime(timezone=True)),
    Column("obtained_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True)),
)

# -- calls (Bulutfon; migration 0020) -----------------------------------------------------

call_records = Table(
    "call_records", metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("bulutfon_uuid", Text, nullable=False),
    Column("direction", Text),
    Column("subject_id", UUID(as_uuid=True)),
    Column("caller_enc", LargeBinary),
    Column("callee_enc", LargeBinary),
    Column("recording_url_enc", LargeBinary),
    Column("call_time", DateTime(timezone=True)),
    Column("answer_time", DateTime(timezone=True)),
    Column("hangup_time", DateTime(timezone=True)),
    Column("missed", Boolean),
    Column("talk_duration", Integer),
    Column("hangup_cause", Text),
    Column("hangup_state", Text),
    Column("call_flow", JSONB),
    Column("started_announced_at", DateTime(timezone=True)),
    Column("ended_announced_at", DateTime(timezone=True)),
    Column("missed_announced_at", DateTime(timezone=True)),
    Column("synced_at", DateTime(timezone=True)),
    Column("detail_synced_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True)),
)

call_bridges = Table(
    "call_bridges", metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("subject_id", UUID(as_uuid=True)),
    Column("callee_enc", LargeBinary),
    Column("line", Text, nullable=False),
    Column("destination", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("error_code", Text),
    Column("bulutfon_uuid", Text),
    Column("attempts", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True)),
)

call_sync_cursors = Table(
    "call_sync_cursors", metadata,
    Column("tenant_id", UUID(as_uuid=True), primary_key=True),
    Column("since", Date),
    Column("next_page", Integer, nullable=False),
    Column("pass_started", Date),
    Column("last_run_at", DateTime(timezone=True)),
    Column("last_code", Text),
)

# -- vehicles (migration 0021; kopru.vehicles) ------------------------------------------

# per Arvento account: no request may start before next_at (a platform table, no tenant)
arvento_rate = Table(
    "arvento_rate", metadata,
    Column("account_key", Text, primary_key=True),
    Column("next_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True)),
)

arvento_sessions = Table(
    "arvento_sessions", metadata,
    Column("tenant_id", UUID(as_uuid=True), primary_key=True),
    Column("session_enc", LargeBinary),
    Column("vehicles_synced_at", DateTime(timezone=True)),
    Column("auth_failed_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True)),
)

vehicles = Table(
    "vehicles", metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("node", Text, nullable=False),
    Column("plate", Text),
    Column("vehicle_class", Text),
    Column("driver_subject_id", UUID(as_uuid=True)),
    Column("latitude", Float),
    Column("longitude", Float),
    Column("speed_kmh", Float),
    Column("course", Float),
    Column("state", Text),
    Column("position_at", DateTime(timezone=True)),
    Column("seen_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True)),
)

vehicle_positions = Table(
    "vehicle_positions", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("vehicle_id", UUID(as_uuid=True), nullable=False),
    Column("subject_id", UUID(as_uuid=True)),
    Column("latitude", Float),
    Column("longitude", Float),
    Column("speed_kmh", Float),
    Column("state", Text),
    Column("position_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True)),
)

geofences = Table(
    "geofences", metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("name", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("center_lat", Float),
    Column("center_lon", Float),
    Column("radius_m", Float),
    Column("polygon", JSONB),
    Column("created_at", DateTime(timezone=True)),
)

TENANT_TABLES = ("tenants", "users", "api_clients", "audit_log", "outbox", "refresh_tokens", "inbox",
                 "tenant_keys", "data_subjects", "consent_texts", "consents", "tenant_integrations", "sms_messages", "sms_status_history",
                 "subject_requests", "destruction_records",
                 "einvoice_series_counters", "einvoices", "einvoice_status_history",
                 "outward_calls", "idempotent_requests",
                 "payments", "payment_history", "payment_refunds", "payment_notifications",
                 "webhook_endpoints", "webhook_deliveries", "workflows", "workflow_runs",
                 # credit reports (0020)
                 "credit_reports",
                 # calls (Bulutfon, 0021)
                 "call_records", "call_bridges", "call_sync_cursors",
                 # vehicles (Arvento, 0022)
                 "arvento_sessions", "vehicles", "vehicle_positions", "geofences",
                 # WhatsApp (0023)
                 "whatsapp_messages", "whatsapp_status_history", "whatsapp_inbound", "whatsapp_windows")
