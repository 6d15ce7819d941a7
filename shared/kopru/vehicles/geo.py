"""Distances and areas on the WGS84 sphere, good to a metre or so at city scale: enough to
tell a moved vehicle from GPS jitter and inside from outside of a tenant's area."""

from __future__ import annotations

import math
from typing import Sequence

EARTH_RADIUS_M = 6_371_008.8


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def in_polygon(lat: float, lon: float, corners: Sequence[Sequence[float]]) -> bool:
    """Ray casting over (lat, lon) corners (the polygon closes itself); a point on an edge
    counts as inside. Areas crossing the antimeridian are not supported (refused on save)."""
    inside = False
    n = len(corners)
    for i in range(n):
        y1, x1 = corners[i][0], corners[i][1]
        y2, x2 = corners[(i + 1) % n][0], corners[(i + 1) % n][1]
        if _on_segment(lat, lon, y1, x1, y2, x2):
            return True
        if (y1 > lat) != (y2 > lat):
            x = x1 + (lat - y1) * (x2 - x1) / (y2 - y1)
            if lon < x:
                inside = not inside
    return inside


def _on_segment(py: float, px: float, y1: float, x1: float, y2: float, x2: float) -> bool:
    cross = (px - x1) * (y2 - y1) - (py - y1) * (x2 - x1)
    if abs(cross) > 1e-12:
        return False
    return min(x1, x2) - 1e-12 <= px <= max(x1, x2) + 1e-12 and min(y1, y2) - 1e-12 <= py <= max(y1, y2) + 1e-12


def _orient(a, b, c) -> float:
    return (b[1] - a[1]) * (c[0] - a[0]) - (b[0] - a[0]) * (c[1] - a[1])


def _cross(p1, p2, q1, q2) -> bool:
    d1, d2 = _orient(q1, q2, p1), _orient(q1, q2, p2)
    d3, d4 = _orient(p1, p2, q1), _orient(p1, p2, q2)
    return ((d1 > 0) != (d2 > 0)) and ((d3 > 0) != (d4 > 0)) and 0 not in (d1, d2, d3, d4)


def polygon_problem(corners: Sequence[Sequence[float]]) -> str | None:
    """Why these corners are no usable area (None when they are): fewer than 3 distinct
    corners, no area, crossing edges, or spanning the antimeridian."""
    pts = [(float(c[0]), float(c[1])) for c in corners]
    if len(pts) > 1 and pts[0] == pts[-1]:
        pts = pts[:-1]  # a closed ring given with its first corner repeated
    if len(set(pts)) < 3 or len(set(pts)) != len(pts):
        return "corners"
    if max(p[1] for p in pts) - min(p[1] for p in pts) > 180:
        return "antimeridian"
    area = sum(pts[i][1] * pts[(i + 1) % len(pts)][0] - pts[(i + 1) % len(pts)][1] * pts[i][0]
               for i in range(len(pts)))
    if abs(area) < 1e-12:
        return "area"
    n = len(pts)
    for i in range(n):
        a1, a2 = pts[i], pts[(i + 1) % n]
        for j in range(i + 1, n):
            if j in (i, (i + 1) % n) or (j + 1) % n == i:
                continue  # neighbouring edges share a corner
            if _cross(a1, a2, pts[j], pts[(j + 1) % n]):
                return "self_intersecting"
    return None


def inside(fence, lat: float, lon: float) -> bool:
    """Whether (lat, lon) is in a geofence row (kind circle: center_lat/center_lon/radius_m;
    polygon: corners)."""
    if fence.kind == "circle":
        return distance_m(fence.center_lat, fence.center_lon, lat, lon) <= fence.radius_m
    return in_polygon(lat, lon, fence.polygon)
