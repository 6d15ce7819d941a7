"""Tenants: onboarding and reading, always through an RLS-scoped transaction."""

from kopru.tenancy.service import get_tenant, list_tenants, onboard_tenant

__all__ = ["get_tenant", "list_tenants", "onboard_tenant"]
