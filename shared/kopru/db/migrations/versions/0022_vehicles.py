"""Vehicle tracking (kopru.vehicles, Arvento):

- `arvento_rate`: a platform table (no tenant, no personal data): per Arvento account (a
  hash of base URL and user name) the time before which no request may start. Claimed
  atomically by every instance (kopru.vehicles.ratelimit), so the account stays under
  Arvento's limit however many instances poll.
- `arvento_sessions`: per tenant, the REST session id (sealed under the master key: one
  session per account at Arvento, shared by every instance) and when the vehicle list was read.
- `vehicles`: each tracked vehicle (Arvento's node, plate), its last position and state,
  and the driver linked to it (a data subject: the positions are then personal data).
- `vehicle_positions`: each change of position or state that was announced
  (kopru.vehicle.position.v1), with the driver at the time; kept 90 days (kopru.kvkk.register).
- `geofences`: the tenant's areas (a circle or a polygon) whose crossings are announced
  (kopru.vehicle.geofence.v1).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06
"""
from alembic import op

from kopru.db.rls import tenant_table

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        create table arvento_rate (
            account_key text primary key,          -- sha256(base URL, user name): not the name itself
            next_at timestamptz not null,          -- no request to the account may start before this
            updated_at timestamptz not null default now()
        )
        """
    )
    op.execute("grant select, insert, update on arvento_rate to kopru_app")
    op.execute(
        """
        create table arvento_sessions (
            tenant_id uuid primary key references tenants(id),
            session_enc bytea,                     -- sealed under the master key; null: log in first
            vehicles_synced_at timestamptz,
            auth_failed_at timestamptz,            -- Arvento refused the stored credentials: no more logins
            updated_at timestamptz not null default now()
        )
        """
    )
    tenant_table(op, "arvento_sessions")
    op.execute(
        """
        create table vehicles (
            id uuid primary key,
            tenant_id uuid not null references tenants(id),
            node text not null check (length(node) between 1 and 64),
            plate text check (plate is null or length(plate) <= 32),
            vehicle_class text check (vehicle_class is null or length(vehicle_class) <= 64),
            driver_subject_id uuid references data_subjects(id),
            latitude double precision check (latitude is null or latitude between -90 and 90),
            longitude double precision check (longitude is null or longitude between -180 and 180),
            speed_kmh double precision,
            course double precision,
            state text check (state is null or state in ('moving', 'stopped')),
            position_at timestamptz,               -- when the device measured the last position
            seen_at timestamptz,                   -- when Köprü last read it
            created_at timestamptz not null default now(),
            updated_at timestamptz not null default now(),
            check ((latitude is null) = (longitude is null)),
            unique (tenant_id, node)
        )
        """
    )
    op.execute("create index vehicles_listing on vehicles (tenant_id, created_at, id)")
    op.execute("create index vehicles_driver on vehicles (tenant_id, driver_subject_id) where driver_subject_id is not null")
    tenant_table(op, "vehicles")
    op.execute(
        """
        create table vehicle_positions (
            id bigint generated always as identity primary key,
            tenant_id uuid not null references tenants(id),
            vehicle_id uuid not null references vehicles(id) on delete cascade,
            subject_id uuid references data_subjects(id),   -- the driver linked when it was recorded
            latitude double precision,
            longitude double precision,
            speed_kmh double precision,
            state text,
            position_at timestamptz,
            created_at timestamptz not null default now()
        )
        """
    )
    op.execute("create index vehicle_positions_vehicle on vehicle_positions (tenant_id, vehicle_id, id)")
    op.execute("create index vehicle_positions_subject on vehicle_positions (tenant_id, subject_id) where subject_id is not null")
    op.execute("create index vehicle_positions_age on vehicle_positions (tenant_id, created_at)")
    tenant_table(op, "vehicle_positions")
    op.execute(
        """
        create table geofences (
            id uuid primary key,
            tenant_id uuid not null references tenants(id),
            name text not null check (length(name) between 1 and 200),
            kind text not null check (kind in ('circle', 'polygon')),
            center_lat double precision,
            center_lon double precision,
            radius_m double precision check (radius_m is null or radius_m > 0),
            polygon jsonb,                         -- [[lat, lon], ...], at least 3 corners
            created_at timestamptz not null default now(),
            check ((kind = 'circle') = (center_lat is not null and center_lon is not null and radius_m is not null)),
            check ((kind = 'polygon') = (polygon is not null))
        )
        """
    )
    op.execute("create index geofences_listing on geofences (tenant_id, created_at, id)")
    tenant_table(op, "geofences")
    op.execute("grant select, insert, update, delete on arvento_sessions, vehicles, vehicle_positions, geofences "
               "to kopru_app")


def downgrade() -> None:
    for t in ("geofences", "vehicle_positions", "vehicles", "arvento_sessions", "arvento_rate"):
        op.execute(f"drop table {t}")
