"""Colours of the demonstration world: RGB floats in [0, 1], named hue bins, and the "nothing is white" cap.

The actor's marker is the only white thing in a frame (docs/world.md, "the actor rule"). Every other colour keeps its
darkest channel at or below WHITE_CAP, so min(R, G, B) separates the marker dot from everything else even after noise.
"""

from __future__ import annotations

import colorsys
import math

import numpy as np

COLOUR_BINS = ("red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink", "grey")
# hue ranges in degrees [lo, hi); red wraps around 0
HUE_RANGES = {
    "red": (345.0, 375.0), "orange": (15.0, 45.0), "yellow": (45.0, 70.0), "green": (70.0, 160.0),
    "cyan": (160.0, 200.0), "blue": (200.0, 255.0), "purple": (255.0, 290.0), "pink": (290.0, 345.0),
}  # fmt: skip
GREY_SATURATION = 0.25  # below this saturation a colour is "grey", whatever its hue
WHITE_CAP = 0.6  # max over non-marker colours of min(R, G, B)
MARKER_WHITE = (1.0, 1.0, 1.0)
MARKER_RING = (0.06, 0.06, 0.06)


def colour_bin(rgb) -> str:
    """Name of the hue bin of an RGB colour in [0, 1] (grey when unsaturated or very dark)."""
    h, s, v = colorsys.rgb_to_hsv(*(float(c) for c in rgb))
    if s < GREY_SATURATION or v < 0.15:
        return "grey"
    deg = h * 360.0
    for name, (lo, hi) in HUE_RANGES.items():
        if lo <= deg < hi or lo <= deg + 360.0 < hi:
            return name
    raise AssertionError(f"hue {deg} falls in no bin")  # the ranges tile the circle


def cap_white(rgb) -> tuple[float, float, float]:
    """Lower all channels equally until min(rgb) ≤ WHITE_CAP (keeps hue); round to 4 decimals."""
    rgb = [float(c) for c in rgb]
    lower = max(0.0, min(rgb) - WHITE_CAP)
    return tuple(round(min(max(c - lower, 0.0), 1.0), 4) for c in rgb)


def sample_colour(rng: np.random.Generator, bin_name: str | None = None, vivid: bool = True) -> tuple[float, float, float]:
    """A continuous colour in `bin_name` (uniform over COLOUR_BINS when None).

    vivid: saturated, mid-to-bright (actors, props, distractors); otherwise muted (backgrounds).
    """
    bin_name = str(rng.choice(COLOUR_BINS)) if bin_name is None else bin_name
    if bin_name == "grey":
        return cap_white((float(rng.uniform(0.3, 0.6)),) * 3) if vivid else cap_white((float(rng.uniform(0.15, 0.6)),) * 3)
    lo, hi = HUE_RANGES[bin_name]
    hue = (float(rng.uniform(lo + 2.0, hi - 2.0)) % 360.0) / 360.0  # clear of bin edges: the bin is unambiguous
    s_lo, s_hi, v_lo, v_hi = (0.55, 1.0, 0.55, 0.95) if vivid else (0.3, 0.7, 0.2, 0.75)
    sat, val = float(rng.uniform(s_lo, s_hi)), float(rng.uniform(v_lo, v_hi))
    return cap_white(colorsys.hsv_to_rgb(hue, sat, val))


def distance(c0, c1) -> float:
    return math.dist(c0, c1)
