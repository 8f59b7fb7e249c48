"""The actor rule as code: find the actor's marker in a frame.

Rule (docs/world.md): the actor is the only object carrying a white dot inside a near-black ring. Every other colour
in the world keeps min(R, G, B) ≤ WHITE_CAP (0.6, plus at most 0.03 noise), so the marker dot is where the darkest
channel is bright: min(R, G, B) ≥ MARKER_THRESHOLD. `find_marker` is the reference detector the tests hold the
renderer to; it needs no ground truth.
"""

from __future__ import annotations

import numpy as np

MARKER_THRESHOLD = 176  # uint8: everything else stays ≤ (0.6 + 0.03) · 255 ≈ 161; the dot peaks ≥ ~195


def find_marker(frame: np.ndarray) -> tuple[float, float] | None:
    """Marker dot centre (x, y) in pixels (pixel centres at j + 0.5) in a uint8 [H, W, 3] frame, or None.

    Weighted centroid of the pixels above threshold, within 3 px of the brightest one (robust to a stray pixel).
    """
    score = np.asarray(frame).min(axis=-1).astype(np.float32)  # [H, W] darkest channel
    peak = np.unravel_index(np.argmax(score), score.shape)
    if score[peak] < MARKER_THRESHOLD:
        return None
    rows, cols = np.nonzero(score >= MARKER_THRESHOLD)
    near = (np.abs(rows - peak[0]) <= 3) & (np.abs(cols - peak[1]) <= 3)
    w = score[rows[near], cols[near]] - MARKER_THRESHOLD + 1.0
    return float(np.sum((cols[near] + 0.5) * w) / w.sum()), float(np.sum((rows[near] + 0.5) * w) / w.sum())
