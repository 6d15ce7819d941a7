"""Tenants: onboarding and reading, always through an RLS-scoped transaction."""

from kopru.tenancy.service import get_tenant, onboard_tenant

__all__ = ["get_tenant", "onboard_tenant"]
