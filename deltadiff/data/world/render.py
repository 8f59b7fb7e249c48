"""Vectorised rasteriser: a `Scene` + a `Motion` → frames uint8 [T, H, W, 3] and the actor mask bool [T, H, W].

All T frames are drawn at once in float32. Each object is an SDF evaluated in its local frame over the pixels of its
swept bounding box only ([T, h, w]); coverage is alpha = clip(0.5 − sdf_in_pixels, 0, 1). The actor mask is
alpha ≥ 0.5 (the pixel centre lies inside the actor). Draw order: background, distractors, pushed object, actor,
marker (dark ring, then white dot); then optional blur and per-frame noise; then rounding to uint8.
When the camera does not move, the background and distractors are drawn once and shared by every frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from deltadiff.data.world.actions import Motion
from deltadiff.data.world.backgrounds import render_background
from deltadiff.data.world.colours import MARKER_RING, MARKER_WHITE
from deltadiff.data.world.config import WorldConfig
from deltadiff.data.world.scene import Scene
from deltadiff.data.world.shapes import MARKER_DOT, MARKER_OFFSET, sdf
from deltadiff.data.world.shapes import MARKER_RING as MARKER_RING_RADIUS


@dataclass(frozen=True)
class Pose:
    """Per-frame image-space pose of one object, world units: arrays [T] (or [1] for a static object)."""

    x: np.ndarray
    y: np.ndarray
    theta: np.ndarray
    radius: np.ndarray  # circumradius × scale

    def marker(self, shape: str) -> tuple[np.ndarray, np.ndarray]:
        """Centre of the marker: MARKER_OFFSET along the heading (cos θ, −sin θ)."""
        off = MARKER_OFFSET[shape] * self.radius
        return self.x + off * np.cos(self.theta), self.y - off * np.sin(self.theta)


def actor_pose(scene: Scene, motion: Motion) -> Pose:
    x0, y0, th0 = scene.placement.actor
    size = scene.appearance.actor.size
    return Pose(x0 + motion.dx - motion.cam_x, y0 + motion.dy - motion.cam_y, th0 + motion.dtheta, size * motion.scale)


def prop_pose(scene: Scene, motion: Motion) -> Pose | None:
    if scene.placement.prop is None:
        return None
    x0, y0, th0 = scene.placement.prop
    t = motion.frames
    return Pose(x0 + motion.push_x - motion.cam_x, y0 + motion.push_y - motion.cam_y, np.full(t, th0), np.full(t, scene.appearance.prop.size))


class _Canvas:
    """float32 colours [T', H, W, 3] and the pixel-centre world coordinates of the frame."""

    def __init__(self, image: np.ndarray, u: np.ndarray, v: np.ndarray, ppu: int):
        self.image, self.u, self.v, self.ppu = image, u, v, ppu  # u [W], v [H]: world x, y of pixel centres

    def _box(self, x, y, reach):
        """Pixel window [r0:r1, c0:c1] covering every frame's disc of radius reach around (x, y), or None if off-frame."""
        h, w = self.image.shape[1:3]
        c0 = max(int(math.floor((np.min(x - reach)) * self.ppu)) - 1, 0)
        c1 = min(int(math.ceil((np.max(x + reach)) * self.ppu)) + 2, w)
        r0 = max(int(math.floor((np.min(y - reach)) * self.ppu)) - 1, 0)
        r1 = min(int(math.ceil((np.max(y + reach)) * self.ppu)) + 2, h)
        return (r0, r1, c0, c1) if c0 < c1 and r0 < r1 else None

    def draw(self, shape: str, colour, pose: Pose, box=None):
        """Composite `shape` over the canvas; return (alpha [T', h, w], box) or (None, None) if nothing shows."""
        box = box or self._box(pose.x, pose.y, pose.radius)
        if box is None:
            return None, None
        r0, r1, c0, c1 = box
        f32 = lambda a: np.asarray(a, np.float32)[:, None, None]  # noqa: E731  [T'] -> [T', 1, 1]
        du = self.u[None, None, c0:c1] - f32(pose.x)  # [T', 1, w]
        dv = self.v[None, r0:r1, None] - f32(pose.y)  # [T', h, 1]
        cos, sin, rad = f32(np.cos(pose.theta)), f32(np.sin(pose.theta)), f32(pose.radius)
        a = (du * cos - dv * sin) / rad  # along the heading, [T', h, w]
        b = (-du * sin - dv * cos) / rad  # a quarter turn ccw from it
        alpha = np.clip(0.5 - sdf(shape, a, b) * (rad * self.ppu), 0.0, 1.0)  # [T', h, w]
        self._blend(alpha, colour, box)
        return alpha, box

    def disc(self, x, y, radius, colour, box):
        r0, r1, c0, c1 = box
        f32 = lambda a: np.asarray(a, np.float32)[:, None, None]  # noqa: E731
        d = np.sqrt((self.u[None, None, c0:c1] - f32(x)) ** 2 + (self.v[None, r0:r1, None] - f32(y)) ** 2)
        self._blend(np.clip(0.5 - (d - f32(radius)) * self.ppu, 0.0, 1.0), colour, box)

    def _blend(self, alpha, colour, box):
        r0, r1, c0, c1 = box
        region = self.image[:, r0:r1, c0:c1]  # [T', h, w, 3] view
        delta = np.subtract(np.asarray(colour, np.float32), region)
        delta *= alpha[..., None]
        region += delta


def _gaussian_blur(img: np.ndarray, sigma_px: float) -> np.ndarray:
    """Separable Gaussian blur over H and W of [T, H, W, 3] (edges clamped)."""
    radius = max(1, int(math.ceil(2.5 * sigma_px)))
    k = np.exp(-0.5 * (np.arange(radius + 1) / sigma_px) ** 2)
    k = (k / (k[0] + 2 * k[1:].sum())).astype(np.float32)  # k[d]: weight of the neighbours at ±d
    for axis in (1, 2):
        at = lambda a, b: (slice(None),) * axis + (slice(a, b),)  # noqa: E731  slice along `axis`
        out = img * k[0]
        n = img.shape[axis]
        for d in range(1, radius + 1):
            out[at(d, None)] += k[d] * img[at(None, n - d)]  # neighbour at −d
            out[at(None, d)] += k[d] * img[at(0, 1)]  # ... clamped at the first row/column
            out[at(None, n - d)] += k[d] * img[at(d, None)]  # neighbour at +d
            out[at(n - d, None)] += k[d] * img[at(n - 1, n)]  # ... clamped at the last
        img = out
    return img


def render(scene: Scene, motion: Motion, cfg: WorldConfig) -> tuple[np.ndarray, np.ndarray]:
    """Draw the clip. Returns frames uint8 [T, H, W, 3] and the actor mask bool [T, H, W]."""
    look, place = scene.appearance, scene.placement
    t, h, w, ppu = motion.frames, cfg.height, cfg.width, cfg.pixels_per_unit
    moving = motion.uses_camera
    cam_x = motion.cam_x if moving else np.zeros(1)  # [T] or [1]
    cam_y = motion.cam_y if moving else np.zeros(1)
    u = (np.arange(w, dtype=np.float32) + 0.5) / ppu  # [W] world x of pixel centres
    v = (np.arange(h, dtype=np.float32) + 0.5) / ppu  # [H]
    bg = render_background(  # background evaluated at world coordinates pixel + camera: [T' , H, W, 3]
        look.background,
        u[None, None, :] + cam_x.astype(np.float32)[:, None, None],
        v[None, :, None] + cam_y.astype(np.float32)[:, None, None],
        ppu,
    )
    canvas = _Canvas(np.ascontiguousarray(bg, dtype=np.float32), u, v, ppu)
    for d, pose in zip(look.distractors, place.distractors):
        if pose is not None:  # static in the world: image position = world position − camera
            x, y, th = pose
            canvas.draw(d.shape, d.colour, Pose(x - cam_x, y - cam_y, np.full_like(cam_x, th), np.full_like(cam_x, d.size)))
    if canvas.image.shape[0] != t:  # static layer → one copy per frame
        canvas.image = np.repeat(canvas.image, t, axis=0)
    prop = prop_pose(scene, motion)
    if prop is not None:
        canvas.draw(look.prop.shape, look.prop.colour, prop)
    pose = actor_pose(scene, motion)
    alpha, box = canvas.draw(look.actor.shape, look.actor.colour, pose)
    mask = np.zeros((t, h, w), dtype=bool)
    r0, r1, c0, c1 = box
    mask[:, r0:r1, c0:c1] = alpha >= 0.5  # [T, h, w] → [T, H, W]
    mx, my = pose.marker(look.actor.shape)
    canvas.disc(mx, my, MARKER_RING_RADIUS * pose.radius, MARKER_RING, box)
    canvas.disc(mx, my, MARKER_DOT * pose.radius, MARKER_WHITE, box)
    img = canvas.image
    if look.blur > 0:
        img = _gaussian_blur(img, look.blur * ppu)
    if look.noise > 0:
        rng = np.random.default_rng(look.render_seed)
        noise = rng.random(img.shape, dtype=np.float32)
        noise -= 0.5
        noise *= np.float32(2 * look.noise)
        img += noise  # uniform in [-noise, noise]
    img *= 255.0
    img += 0.5
    frames = np.clip(img, 0.0, 255.0, out=img).astype(np.uint8)  # [T, H, W, 3], rounded
    return frames, mask
