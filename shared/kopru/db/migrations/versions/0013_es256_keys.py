"""Signing keys may be ES256 (P-256), the default algorithm for new keys: the one every
mainstream JWT verifier accepts.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("alter table signing_keys drop constraint signing_keys_alg_check")
    op.execute("alter table signing_keys add constraint signing_keys_alg_check check (alg in ('ES256', 'EdDSA', 'RS256'))")


def downgrade() -> None:
    op.execute("alter table signing_keys drop constraint signing_keys_alg_check")
    op.execute("alter table signing_keys add constraint signing_keys_alg_check check (alg in ('EdDSA', 'RS256'))")
