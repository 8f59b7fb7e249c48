"""Metrics that need the demonstration world's ground truth (generator issue §7; evaluation issue §1).

Convention: videos are uint8 `[T, H, W, 3]` numpy arrays, frame 0 is the context; positions are pixels (x, y) with
pixel centres at j + 0.5, as in the world's truth.

- **Actor localisation** uses the world's actor rule (docs/world.md): the actor is the only object carrying a white
  marker dot, so the dot is where the darkest channel min(R, G, B) peaks. Generated frames are softer than rendered
  ones, so the detector here takes the peak of min(R, G, B) above a lower threshold than the renderer's reference
  detector (`find_marker`); a frame without a peak above it counts as "actor lost" and keeps the last position found.
- **Trajectory error**: mean distance between the generated and the target marker over frames 1…T−1, in pixels.
- **Direction accuracy**: does the marker move the way the target's does. The marker sits off the actor's centre along
  its heading, so translations, rotations (it circles one way or the other), scaling (it moves out or in), jumps and
  camera pans all show in its displacement from frame 0. A clip is "right" when the cosine between the generated and
  the target displacement sequences (flattened over time) is ≥ 0.5; for a target that stays within 2 px, when the
  generated marker also stays within 2 px.
- **Leakage**: the share of output pixels whose colour belongs to the demo scene's palette and not to the context
  scene's (colours quantised to 16 levels per channel; the context palette is every colour of the target clip, widened
  by one level per channel so blending at edges is not counted).
"""

from __future__ import annotations

import math

import numpy as np

LOCATE_THRESHOLD = 150  # uint8 min(R, G, B); the renderer's detector uses 176, non-marker colours stay ≤ 153 (+ noise)
STILL_PX = 2.0  # a target whose marker stays within this many pixels of frame 0 counts as not moving
DIRECTION_COS = 0.5
LEVELS = 16  # colour quantisation for leakage


def locate_actor(video: np.ndarray, threshold: float = LOCATE_THRESHOLD) -> tuple[np.ndarray, np.ndarray]:
    """Marker centre per frame, `[T, 2]` pixels, and a bool `[T]` of frames where it was found.

    Lost frames keep the last found position (the first found one for a lost start; the image centre if never found).
    """
    score = np.asarray(video).min(axis=-1).astype(np.float32)  # [T, H, W]
    t, h, w = score.shape
    pos = np.full((t, 2), np.nan)
    for i in range(t):
        peak = np.unravel_index(np.argmax(score[i]), (h, w))
        if score[i][peak] < threshold:
            continue
        y0, y1, x0, x1 = max(0, peak[0] - 2), peak[0] + 3, max(0, peak[1] - 2), peak[1] + 3
        win = score[i, y0:y1, x0:x1]
        wgt = np.clip(win - threshold + 1.0, 0.0, None)
        ys, xs = np.mgrid[y0:y0 + win.shape[0], x0:x0 + win.shape[1]]
        pos[i] = (np.sum((xs + 0.5) * wgt) / wgt.sum(), np.sum((ys + 0.5) * wgt) / wgt.sum())
    found = ~np.isnan(pos[:, 0])
    if not found.any():
        return np.tile([w / 2, h / 2], (t, 1)), found
    last = pos[np.argmax(found)]
    for i in range(t):
        if found[i]:
            last = pos[i]
        else:
            pos[i] = last
    return pos, found


def trajectory_error(generated: np.ndarray, target_marker: np.ndarray) -> tuple[float, float]:
    """(mean pixel distance over frames 1…, share of those frames where the actor was found)."""
    return path_error(*locate_actor(generated), target_marker)


def path_error(pos: np.ndarray, found: np.ndarray, target_marker: np.ndarray) -> tuple[float, float]:
    """`trajectory_error` on positions from `locate_actor`."""
    n = min(len(pos), len(target_marker))
    d = np.linalg.norm(pos[1:n] - np.asarray(target_marker)[1:n], axis=1)
    return float(d.mean()), float(found[1:n].mean())


def direction_correct(generated: np.ndarray, target_marker: np.ndarray) -> bool:
    """True when the generated marker's displacement from frame 0 follows the target's (module docstring)."""
    return path_direction_correct(locate_actor(generated)[0], target_marker)


def path_direction_correct(pos: np.ndarray, target_marker: np.ndarray) -> bool:
    """`direction_correct` on positions from `locate_actor`."""
    n = min(len(pos), len(target_marker))
    g = pos[1:n] - pos[0]
    d = np.asarray(target_marker)[1:n] - np.asarray(target_marker)[0]
    if np.linalg.norm(d, axis=1).max() < STILL_PX:
        return bool(np.linalg.norm(g, axis=1).max() < STILL_PX)
    gn, dn = np.linalg.norm(g), np.linalg.norm(d)
    return bool(gn > 0 and float((g * d).sum()) / (gn * dn) >= DIRECTION_COS)


def _palette(video: np.ndarray, widen: int = 0) -> np.ndarray:
    """Bool [L, L, L] of quantised colours present in `video`, optionally widened by `widen` levels per channel."""
    q = (np.asarray(video).reshape(-1, 3).astype(np.int32) * LEVELS) // 256
    pal = np.zeros((LEVELS,) * 3, dtype=bool)
    pal[q[:, 0], q[:, 1], q[:, 2]] = True
    for axis in range(3):
        for _ in range(widen):
            pal = pal | np.roll(pal, 1, axis) | np.roll(pal, -1, axis)
    return pal


def leakage(generated: np.ndarray, demo: np.ndarray, target: np.ndarray) -> float:
    """Share of generated pixels (frames 1…) whose colour is in the demo's palette and not in the target's."""
    demo_only = _palette(demo) & ~_palette(target, widen=1)
    q = (np.asarray(generated[1:]).reshape(-1, 3).astype(np.int32) * LEVELS) // 256
    return float(demo_only[q[:, 0], q[:, 1], q[:, 2]].mean())


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB between uint8 videos over frames 1… (frame 0 is the given context); ∞ when identical."""
    mse = float(np.mean((np.asarray(a[1:], np.float64) - np.asarray(b[1:], np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)

