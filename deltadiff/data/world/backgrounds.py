"""Background families: parameter sampling and evaluation as functions of world coordinates.

A background is a pure function of world position (u, v) (world units, x right / y down), so a camera pan is the same
function evaluated at shifted coordinates, sub-pixel exact. Edges (stripes, checker, horizon, panel lines) are
anti-aliased analytically with the pixel size; the noise texture is a periodic value-noise lattice sampled bilinearly.
`render_background(params, u, v, ppu)` takes u, v broadcastable to [..., H, W] and returns float32 [..., H, W, 3].
"""

from __future__ import annotations

import math

import numpy as np

from deltadiff.data.world.colours import distance, sample_colour

BACKGROUND_FAMILIES = ("solid", "gradient", "stripes", "checker", "noise", "floor_wall")
_LATTICE = 16  # value-noise lattice is _LATTICE × _LATTICE cells, periodic


def _pair(rng, avoid, min_contrast=0.12, tries=50):
    """Two muted background colours, both far from the actor colour `avoid` and distinct from each other."""
    for _ in range(tries):
        c0, c1 = sample_colour(rng, vivid=False), sample_colour(rng, vivid=False)
        if distance(c0, c1) >= min_contrast and min(distance(c0, avoid), distance(c1, avoid)) >= 0.3:
            return c0, c1
    return c0, c1


def _r(x: float) -> float:
    return round(float(x), 4)


def sample_background(rng: np.random.Generator, family: str, avoid) -> dict:
    """JSON-able parameters of a background of `family` whose colours keep away from the RGB colour `avoid`."""
    c0, c1 = _pair(rng, avoid)
    p: dict = {"family": family, "colours": [list(c0), list(c1)]}
    if family == "solid":
        p["colours"] = [list(c0)]
    elif family == "gradient":
        p.update(angle=_r(rng.uniform(0, 2 * math.pi)), length=_r(rng.uniform(0.8, 1.6)))
    elif family == "stripes":
        p.update(angle=_r(rng.uniform(0, math.pi)), period=_r(rng.uniform(0.08, 0.25)))
    elif family == "checker":
        p.update(angle=_r(rng.uniform(0, math.pi / 2)), cell=_r(rng.uniform(0.07, 0.18)))
    elif family == "noise":
        p.update(cell=_r(rng.uniform(0.06, 0.16)), texture_seed=int(rng.integers(2**31)))
    elif family == "floor_wall":
        p.update(horizon=_r(rng.uniform(0.45, 0.75)), panel=_r(rng.uniform(0.12, 0.3)), tile=_r(rng.uniform(0.15, 0.35)))
    else:
        raise ValueError(f"unknown background family {family!r}; expected one of {BACKGROUND_FAMILIES}")
    return p


def _edge(d, ppu):
    """Anti-aliased step: 1 where the signed distance d (world units) is well below 0, 0 well above."""
    return np.clip(0.5 - d * ppu, 0.0, 1.0)


def _square_wave(x, period, ppu):
    """Anti-aliased square wave in [0, 1] along coordinate x (half period on, half off)."""
    d = (np.abs(np.mod(x / period, 1.0) - 0.5) - 0.25) * period  # signed distance to the nearest on/off edge
    return _edge(d, ppu)


def _lerp(c0, c1, t):
    c0, c1 = np.asarray(c0, np.float32), np.asarray(c1, np.float32)
    return c0 + (c1 - c0) * t[..., None]


def _lattice(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.random((_LATTICE, _LATTICE), dtype=np.float32)


def _value_noise(u, v, cell, seed):
    """Periodic value noise in [0, 1], bilinear between lattice points (two octaves)."""
    lat = _lattice(seed)
    out = 0.0
    for octave, weight in ((1.0, 0.65), (0.5, 0.35)):
        x, y = u / (cell / octave * 2.0), v / (cell / octave * 2.0)
        x0, y0 = np.floor(x), np.floor(y)
        fx, fy = x - x0, y - y0
        i0, j0 = x0.astype(np.int64) % _LATTICE, y0.astype(np.int64) % _LATTICE
        i1, j1 = (i0 + 1) % _LATTICE, (j0 + 1) % _LATTICE
        top = lat[j0, i0] * (1 - fx) + lat[j0, i1] * fx
        bottom = lat[j1, i0] * (1 - fx) + lat[j1, i1] * fx
        out = out + weight * (top * (1 - fy) + bottom * fy)
        lat = lat.T[::-1]  # a different (rotated) lattice for the second octave
    return out


def render_background(p: dict, u: np.ndarray, v: np.ndarray, ppu: float) -> np.ndarray:
    """Colours float32 [..., H, W, 3] of background `p` at world coordinates u, v (broadcast to [..., H, W])."""
    u, v = np.broadcast_arrays(np.asarray(u, np.float32), np.asarray(v, np.float32))
    fam, cols = p["family"], p["colours"]
    if fam == "solid":
        return np.broadcast_to(np.asarray(cols[0], np.float32), (*u.shape, 3)).copy()
    if fam == "gradient":
        ca, sa = math.cos(p["angle"]), math.sin(p["angle"])
        t = np.clip(0.5 + ((u - 0.5) * ca - (v - 0.5) * sa) / p["length"], 0.0, 1.0)
        return _lerp(cols[0], cols[1], t)
    if fam == "stripes":
        ca, sa = math.cos(p["angle"]), math.sin(p["angle"])
        return _lerp(cols[0], cols[1], _square_wave(u * ca - v * sa, p["period"], ppu))
    if fam == "checker":
        ca, sa = math.cos(p["angle"]), math.sin(p["angle"])
        a = _square_wave(u * ca - v * sa, 2 * p["cell"], ppu)
        b = _square_wave(u * sa + v * ca, 2 * p["cell"], ppu)
        return _lerp(cols[0], cols[1], a * b + (1 - a) * (1 - b))  # xor of two square waves
    if fam == "noise":
        return _lerp(cols[0], cols[1], _value_noise(u, v, p["cell"], p["texture_seed"]))
    if fam == "floor_wall":
        floor = _edge(p["horizon"] - v, ppu)  # 1 below the horizon
        y = np.maximum(v - p["horizon"], 1e-3)  # height below the horizon
        shade = 0.8 + 0.2 * np.clip(y / 0.5, 0.0, 1.0)  # floor gets lighter towards the viewer
        z = p["tile"] / y  # perspective depth: floor lines at integer z crowd towards the horizon
        spacing = y * y / p["tile"]  # distance in v between neighbouring lines here
        near = np.abs(z - np.round(z)) * spacing  # distance in v to the nearest line
        tiles = _edge(near - 0.004, ppu) * np.clip(spacing * ppu / 4 - 0.5, 0.0, 1.0)  # fade lines closer than ~3 px
        panels = _edge(np.abs(np.mod(u, p["panel"]) - p["panel"] / 2) - 0.005, ppu)  # vertical wall panel seams
        wall = _lerp(cols[0], np.asarray(cols[0]) * 0.8, panels)
        ground = _lerp(cols[1], np.asarray(cols[1]) * 0.85, tiles) * shade[..., None]
        base = _edge(np.abs(v - p["horizon"]) - 0.008, ppu)  # dark skirting line
        out = wall * (1 - floor[..., None]) + ground * floor[..., None]
        return out * (1 - 0.6 * base[..., None])
    raise ValueError(f"unknown background family {fam!r}; expected one of {BACKGROUND_FAMILIES}")
