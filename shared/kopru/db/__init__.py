"""PostgreSQL access: the only way to reach tenant tables is a transaction scoped
to one tenant by RLS (`tenant_transaction`).

The tenant is set per transaction with `set_config('app.tenant_id', :tid, true)`
as a bound parameter, so a pooled connection never carries a tenant into the next
request. Platform tables (directories, signing keys, platform clients) hold no
tenant data and are reached with `platform_transaction`.
"""

from kopru.db.engine import (
    database_urls,
    dispose,
    enter_tenant,
    migrate,
    platform_transaction,
    tenant_transaction,
    TenantTx,
)

__all__ = [
    "database_urls",
    "dispose",
    "enter_tenant",
    "migrate",
    "platform_transaction",
    "tenant_transaction",
    "TenantTx",
]
