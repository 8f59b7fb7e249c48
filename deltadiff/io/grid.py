"""Labelled side-by-side grids of videos ("demo | context | generated") and PNG contact sheets.

Inputs are `uint8 [T, H, W, 3]` videos or `uint8 [H, W, 3]` images (an image is held for the whole clip; a shorter
video holds its last frame). Small clips are upscaled by an integer factor (nearest neighbour: pixels stay honest).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from deltadiff.io.frames import resize_frames

_BG = (24, 24, 24)
_FG = (235, 235, 235)
_GAP = 4


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the bitmap font
        return ImageFont.load_default()


def _as_video(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype != np.uint8 or x.ndim not in (3, 4) or x.shape[-1] != 3:
        raise ValueError(f"expected uint8 [T, H, W, 3] or [H, W, 3], got {x.dtype} {x.shape}")
    return x[None] if x.ndim == 3 else x


def _common(videos: list[np.ndarray], scale: int | None, min_height: int = 128) -> tuple[list[np.ndarray], int]:
    """Bring videos to one height (the largest), then upscale by an integer factor; return them and T."""
    if not videos:
        raise ValueError("need at least one video for a grid")
    vids = [_as_video(v) for v in videos]
    h = max(v.shape[1] for v in vids)
    vids = [v if v.shape[1] == h else resize_frames(v, (h, round(v.shape[2] * h / v.shape[1]))) for v in vids]
    scale = scale or max(1, -(-min_height // h))
    if scale > 1:
        vids = [v.repeat(scale, axis=1).repeat(scale, axis=2) for v in vids]
    return vids, max(v.shape[0] for v in vids)


def _frame(v: np.ndarray, t: int) -> np.ndarray:
    return v[min(t, v.shape[0] - 1)]


def _text(canvas: Image.Image, xy: tuple[int, int], text: str, width: int, size: int) -> None:
    """Draw `text` centred in a box of `width` starting at xy, shortened with an ellipsis if it does not fit."""
    draw, font = ImageDraw.Draw(canvas), _font(size)
    while text and draw.textlength(text, font=font) > width - 4 and len(text) > 1:
        text = text[:-2] + "…"
    x = xy[0] + max(0, (width - draw.textlength(text, font=font)) / 2)
    draw.text((x, xy[1]), text, fill=_FG, font=font)


def video_grid(videos: list[np.ndarray], labels: list[str] | None = None, scale: int | None = None) -> np.ndarray:
    """Videos side by side with a label above each: `uint8 [T, H', W', 3]`, T = the longest input."""
    labels = labels or [""] * len(videos)
    if len(labels) != len(videos):
        raise ValueError(f"{len(videos)} videos but {len(labels)} labels")
    vids, t = _common(videos, scale)
    h = vids[0].shape[1]
    size = max(10, min(16, h // 8))
    bar = size + 8 if any(labels) else 0
    widths = [v.shape[2] for v in vids]
    width = sum(widths) + _GAP * (len(vids) + 1)
    header = Image.new("RGB", (width, bar + _GAP), _BG)
    x = _GAP
    for w, label in zip(widths, labels):
        if label:
            _text(header, (x, 4), label, w, size)
        x += w + _GAP
    head = np.asarray(header)
    out = np.empty((t, bar + _GAP + h + _GAP, width, 3), np.uint8)
    out[:] = _BG
    out[:, : head.shape[0]] = head
    x = _GAP
    for v, w in zip(vids, widths):
        for i in range(t):
            out[i, bar + _GAP : bar + _GAP + h, x : x + w] = _frame(v, i)
        x += w + _GAP
    return out


def contact_sheet(videos: list[np.ndarray], labels: list[str] | None = None, max_frames: int = 16, scale: int | None = None) -> np.ndarray:
    """One row per video, one column per frame (≤ max_frames, evenly spaced), labels on the left: `uint8 [H', W', 3]`."""
    labels = labels or [""] * len(videos)
    if len(labels) != len(videos):
        raise ValueError(f"{len(videos)} videos but {len(labels)} labels")
    vids, t = _common(videos, scale, min_height=64)
    h = vids[0].shape[1]
    cols = np.unique(np.linspace(0, t - 1, min(t, max_frames)).round().astype(int))
    size = max(10, min(14, h // 5))
    label_w = (max((_font(size).getlength(s) for s in labels), default=0) + 12) if any(labels) else 0
    label_w = int(min(label_w, 200))
    col_w = max(v.shape[2] for v in vids)
    width = label_w + len(cols) * (col_w + _GAP) + _GAP
    height = len(vids) * (h + _GAP) + _GAP
    sheet = Image.new("RGB", (width, height), _BG)
    for r, (v, label) in enumerate(zip(vids, labels)):
        y = _GAP + r * (h + _GAP)
        if label:
            _text(sheet, (0, y + (h - size) // 2), label, label_w, size)
        for c, i in enumerate(cols):
            sheet.paste(Image.fromarray(_frame(v, int(i))), (label_w + _GAP + c * (col_w + _GAP), y))
    return np.asarray(sheet)
