"""An index for the effects parked `unknown`, which the sweep counts per tenant and provider
on every tick (kopru.work.sweep.measure: the parked/owed gauges): without it the count reads
every effect the tenant ever had at the provider. Owed effects (pending, in_flight) already
have `outward_calls_open`.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06
"""
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("create index outward_calls_parked on outward_calls (tenant_id, provider) where state = 'unknown'")


def downgrade() -> None:
    op.execute("drop index outward_calls_parked")
