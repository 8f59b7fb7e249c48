"""Frame geometry shared by every reader: size checks, resize of the short side and centre crop.

Convention: frames are `uint8 [T, H, W, 3]` (RGB) at this boundary; a single image is `uint8 [H, W, 3]`.

Resize policy (documented in docs/io.md): scale so the short side covers the target, then centre-crop to H×W.
So a 16:9 demo or a portrait photo loses its edges, never its aspect ratio.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from deltadiff.errors import FrameSizeError

# 4096×4096 = 16.8 MP: 4K video fits, a 10000×10000 scan does not (it would take 300 MB per frame as RGB).
DEFAULT_MAX_PIXELS = 4096 * 4096
# Below 8 pixels on a side there is no picture left to resize from.
DEFAULT_MIN_SIDE = 8


@dataclass(frozen=True)
class Geometry:
    """Where decoded frames go: optional output size (H, W) and the caps that guard the decoder."""

    size: tuple[int, int] | None = None  # (H, W) after short-side resize + centre crop; None keeps the source size
    max_pixels: int = DEFAULT_MAX_PIXELS
    min_side: int = DEFAULT_MIN_SIDE

    def check_source(self, width: int, height: int, name: str) -> None:
        """Refuse frames that are too small to use or above the pixel cap, before decoding them."""
        if min(width, height) < self.min_side:
            raise FrameSizeError(
                f"{name}: frames are {width}×{height}, smaller than the {self.min_side}-pixel minimum; "
                "use a larger video or image"
            )
        if width * height > self.max_pixels:
            raise FrameSizeError(
                f"{name}: frames are {width}×{height} ({width * height / 1e6:.1f} MP), over the "
                f"{self.max_pixels / 1e6:.1f} MP cap; downscale the file or raise --max-pixels"
            )

    def scaled_size(self, width: int, height: int) -> tuple[int, int]:
        """(w, h) to resize a width×height frame to, so that a centre crop of `size` follows."""
        if self.size is None:
            return width, height
        out_h, out_w = self.size
        s = max(out_h / height, out_w / width)
        return max(out_w, round(width * s)), max(out_h, round(height * s))

    def crop(self, frame: np.ndarray) -> np.ndarray:
        """Centre-crop an already scaled frame `[..., h, w, 3]` to `size`."""
        if self.size is None:
            return frame
        out_h, out_w = self.size
        h, w = frame.shape[-3:-1]
        top, left = (h - out_h) // 2, (w - out_w) // 2
        return frame[..., top : top + out_h, left : left + out_w, :]


def parse_size(size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    """Accept 64, (64, 64) or None; return (H, W) or None."""
    if size is None:
        return None
    if isinstance(size, int):
        size = (size, size)
    h, w = (int(v) for v in size)
    if h < 1 or w < 1:
        raise FrameSizeError(f"output size {h}×{w} is not positive; pass e.g. --size 64")
    return h, w


def pil_to_rgb(img: Image.Image) -> np.ndarray:
    """Any Pillow image (grayscale, palette, RGBA, 16-bit, CMYK) → `uint8 [H, W, 3]`.

    16-bit channels are scaled to 8 bits (not clipped); transparency is composited over white.
    """
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        a = np.asarray(img).astype(np.float64)
        hi = 65535.0 if img.mode.startswith("I;16") or a.max() > 255 else 255.0
        g = np.clip(np.round(a * (255.0 / hi)), 0, 255).astype(np.uint8)
        return np.repeat(g[..., None], 3, axis=-1)
    if img.mode == "F":
        a = np.asarray(img)
        g = np.clip(np.round(a * (255.0 if a.max() <= 1.0 else 1.0)), 0, 255).astype(np.uint8)
        return np.repeat(g[..., None], 3, axis=-1)
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


def resize_frames(frames: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Short-side resize + centre crop of `uint8 [T, H, W, 3]` (or `[H, W, 3]`) to `size`, with antialiasing."""
    geo = Geometry(size=parse_size(size))
    single = frames.ndim == 3
    batch = frames[None] if single else frames
    h, w = batch.shape[1:3]
    sw, sh = geo.scaled_size(w, h)
    if (sw, sh) != (w, h):
        batch = np.stack([np.asarray(Image.fromarray(f).resize((sw, sh), Image.BICUBIC if sw > w else Image.BOX)) for f in batch])
    out = np.ascontiguousarray(geo.crop(batch))
    return out[0] if single else out
