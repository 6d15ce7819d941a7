"""Migration helpers: the one way a tenant table gets its row-level security."""

from __future__ import annotations


def tenant_table(op, name: str, column: str = "tenant_id") -> None:
    """RLS enabled and FORCEd, one policy on the tenant the transaction set, for reads
    and for writes."""
    op.execute(f"alter table {name} enable row level security")
    op.execute(f"alter table {name} force row level security")
    op.execute(
        f"create policy tenant_isolation on {name} "
        f"using ({column} = kopru_current_tenant()) with check ({column} = kopru_current_tenant())"
    )
