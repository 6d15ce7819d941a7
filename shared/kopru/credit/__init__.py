"""Credit reports (Findeks) on a counterparty, only with that person's explicit consent.

- `service`: request a report from the tenant's KKB-member partner (consent checked in the
  transaction that records the request and again before the call; the paid call through
  kopru.work with a look-up by our reference as reconcile), keep an uploaded Findeks PDF
  the same way, read them; the content under the subject key.
- `pdf`: the upload's checks (size, `%PDF-`, structure read by pypdf, no encryption).
- `models`: request bodies; `settings`: the partner's per-tenant settings (kopru.providers).

Export, erasure and the retention purge know the table from kopru.kvkk.register.
"""
