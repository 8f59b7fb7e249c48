"""Shapes of the demonstration world as signed distance functions (SDFs), plus the actor's marker geometry.

Convention: a shape lives in *unit local coordinates* (a, b): circumradius 1, heading along +a, +b a quarter turn
counter-clockwise from the heading as seen on screen. `sdf(shape, a, b)` returns the signed distance in those units
(negative inside), for arrays of any shape (the renderer passes [T, h, w]). Convex polygons are the max over edge
half-planes; the star is exact by angular folding; the cross is a union (min) of two boxes.

The marker (see docs/world.md, "the actor rule"): a white dot of radius MARKER_DOT inside a near-black ring of radius
MARKER_RING, centred MARKER_OFFSET[shape] along the heading — halfway between the centre and the edge, moved inward
where needed so that the whole ring lies inside the shape.
"""

from __future__ import annotations

import math

import numpy as np

SHAPES = ("circle", "ellipse", "triangle", "square", "diamond", "hexagon", "star", "cross")

ELLIPSE_MINOR = 0.6  # semi-minor axis (semi-major 1, along the heading)
DIAMOND_WIDTH = 0.6  # half-width of the rhombus across the heading
STAR_POINTS, STAR_INNER = 5, 0.5  # a fat star so the marker ring fits
_CROSS_L = 1.0 / math.sqrt(1.0 + 0.4**2)  # arm half-length, chosen so the circumradius (arm corner) is 1
CROSS_ARM = (_CROSS_L, 0.4 * _CROSS_L)  # (half-length, half-width) of each bar

MARKER_DOT = 0.19  # white dot radius, in circumradii
MARKER_RING = 0.32  # outer radius of the dark ring, in circumradii


def _regular(n: int, phase: float = 0.0) -> np.ndarray:
    """Vertices [n, 2] of a regular n-gon with circumradius 1, first vertex at angle `phase`, counter-clockwise."""
    ang = phase + 2 * np.pi * np.arange(n) / n
    return np.stack([np.cos(ang), np.sin(ang)], axis=1)


POLYGONS: dict[str, np.ndarray] = {
    "triangle": _regular(3),  # a vertex points along the heading: an arrow
    "square": _regular(4, np.pi / 4),  # sides parallel/perpendicular to the heading
    "diamond": np.array([[1.0, 0.0], [0.0, DIAMOND_WIDTH], [-1.0, 0.0], [0.0, -DIAMOND_WIDTH]]),
    "hexagon": _regular(6),
}


def _half_planes(vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Outward unit normals [n, 2] and offsets [n] of a counter-clockwise convex polygon's edges."""
    edges = np.roll(vertices, -1, axis=0) - vertices
    normals = np.stack([edges[:, 1], -edges[:, 0]], axis=1)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    return normals.astype(np.float32), np.einsum("ij,ij->i", normals, vertices).astype(np.float32)


_PLANES = {name: _half_planes(v) for name, v in POLYGONS.items()}


def _box(a: np.ndarray, b: np.ndarray, ha: float, hb: float) -> np.ndarray:
    qa, qb = np.abs(a) - ha, np.abs(b) - hb
    outside = np.sqrt(np.maximum(qa, 0) ** 2 + np.maximum(qb, 0) ** 2)
    return outside + np.minimum(np.maximum(qa, qb), 0)


def _star(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact SDF of a regular star: fold the angle into one half-sector, then distance to one tip→inner edge."""
    an = np.float32(np.pi / STAR_POINTS)
    r = np.sqrt(a * a + b * b)
    phi = np.mod(np.arctan2(b, a) + an, 2 * an) - an  # [-an, an], tip at 0
    qa, qb = r * np.cos(phi), r * np.abs(np.sin(phi))
    ea, eb = STAR_INNER * math.cos(an) - 1.0, STAR_INNER * math.sin(an)  # edge tip(1,0) → inner vertex
    wa, wb = qa - 1.0, qb
    h = np.clip((wa * ea + wb * eb) / (ea * ea + eb * eb), 0, 1)
    d = np.sqrt((wa - ea * h) ** 2 + (wb - eb * h) ** 2)
    return np.where(ea * wb - eb * wa > 0, -d, d)  # origin side of the edge is inside


def sdf(shape: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Signed distance (unit-circumradius units, < 0 inside) of `shape` at local coordinates (a, b)."""
    if shape == "circle":
        return np.sqrt(a * a + b * b) - 1.0
    if shape == "ellipse":  # Quilez's first-order approximation: exact on the boundary, good near it
        k0 = np.sqrt(a * a + (b / ELLIPSE_MINOR) ** 2)
        k1 = np.sqrt(a * a + (b / ELLIPSE_MINOR**2) ** 2)
        return k0 * (k0 - 1.0) / np.maximum(k1, 1e-6)
    if shape in _PLANES:
        normals, offsets = _PLANES[shape]
        out = a * normals[0, 0] + b * normals[0, 1] - offsets[0]
        for (na, nb), off in zip(normals[1:], offsets[1:]):
            out = np.maximum(out, a * na + b * nb - off)
        return out
    if shape == "star":
        return _star(a, b)
    if shape == "cross":
        length, half = CROSS_ARM
        return np.minimum(_box(a, b, length, half), _box(a, b, half, length))
    raise ValueError(f"unknown shape {shape!r}; expected one of {SHAPES}")


def _polyline(vertices: np.ndarray, n: int) -> np.ndarray:
    """`n` points spaced evenly along a closed polygon's boundary."""
    closed = np.concatenate([vertices, vertices[:1]])
    seg = np.linalg.norm(np.diff(closed, axis=0), axis=1)
    at = np.linspace(0, seg.sum(), n, endpoint=False)
    idx = np.searchsorted(np.cumsum(seg), at, side="right")
    frac = (at - np.concatenate([[0], np.cumsum(seg)])[idx]) / seg[idx]
    return closed[idx] + (closed[idx + 1] - closed[idx]) * frac[:, None]


def outline(shape: str, n: int = 256) -> np.ndarray:
    """Boundary points [n, 2] (a, b) in unit local coordinates; used for contact geometry, not for drawing."""
    t = 2 * np.pi * np.arange(n) / n
    if shape == "circle":
        return np.stack([np.cos(t), np.sin(t)], axis=1)
    if shape == "ellipse":
        return np.stack([np.cos(t), ELLIPSE_MINOR * np.sin(t)], axis=1)
    if shape in POLYGONS:
        return _polyline(POLYGONS[shape], n)
    if shape == "star":
        k = np.arange(2 * STAR_POINTS)
        rad = np.where(k % 2 == 0, 1.0, STAR_INNER)
        ang = np.pi * k / STAR_POINTS
        return _polyline(np.stack([rad * np.cos(ang), rad * np.sin(ang)], axis=1), n)
    if shape == "cross":
        L, w = CROSS_ARM
        v = [(L, -w), (L, w), (w, w), (w, L), (-w, L), (-w, w), (-L, w), (-L, -w), (-w, -w), (-w, -L), (w, -L), (w, -w)]
        return _polyline(np.array(v, dtype=np.float64), n)
    raise ValueError(f"unknown shape {shape!r}; expected one of {SHAPES}")


def rotate(points: np.ndarray, theta: float) -> np.ndarray:
    """Local (a, b) points → screen-aligned offsets (x right, y down) for heading angle theta (ccw on screen)."""
    c, s = math.cos(theta), math.sin(theta)
    a, b = points[..., 0], points[..., 1]
    return np.stack([a * c - b * s, -(a * s + b * c)], axis=-1)


def _marker_offset(shape: str) -> float:
    """Halfway from the centre to the edge along +a, pulled inward until the ring lies inside the shape."""
    ts = np.linspace(0, 1.2, 2401, dtype=np.float32)
    d = sdf(shape, ts, np.zeros_like(ts))
    edge = float(ts[np.argmax(d > 0)])
    fits = ts[(ts <= edge / 2) & (d <= -MARKER_RING - 0.01)]
    return round(float(fits.max()), 4)


MARKER_OFFSET: dict[str, float] = {name: _marker_offset(name) for name in SHAPES}
