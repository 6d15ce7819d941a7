"""Outbound webhooks: a tenant's endpoints, and every catalog event they subscribe to
delivered to them signed as the Standard Webhooks specification says, at least once.

- `endpoints`: register, read, change, disable, delete, rotate the secret (`whsec_…`,
  answered once; the old one signs beside the new one for `ROTATION_WINDOW`);
- `delivery`: one delivery row per (endpoint, event) made once by the consumer (inbox),
  each attempt through `kopru.work.perform` (provider "webhook", operation
  "webhook.deliver"), retried on the specification's schedule by the `webhooks-retry`
  function's tick, replayed on request;
- `guard`: where a request may go (no loopback, private, link-local, CGNAT or metadata
  address unless KOPRU_WEBHOOKS_ALLOW_PRIVATE), the host resolved and the connection pinned
  to the checked address per request, redirects never followed.

A workflow step `webhook.call` reuses `delivery.sign` and `guard.post`.
"""
