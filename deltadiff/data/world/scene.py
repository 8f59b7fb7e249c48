"""Scene sampling: what things look like (`Appearance`) and where they start (`Placement`) for a given program.

Everything is in world units (1 = the shorter frame side; x right, y down). A scene is sampled *for* a program's
`Motion`: the actor's start is drawn uniformly from the positions that keep it (and a pushed object) fully inside the
frame, `margin` from the edges, for every frame — using circumradii, so this holds for any rotation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from deltadiff.data.world.actions import ActionProgram, Motion, sample_program
from deltadiff.data.world.backgrounds import BACKGROUND_FAMILIES, sample_background
from deltadiff.data.world.colours import COLOUR_BINS, colour_bin, distance, sample_colour
from deltadiff.data.world.config import WorldConfig
from deltadiff.data.world.shapes import SHAPES, outline, rotate
from deltadiff.errors import ConfigError


@dataclass(frozen=True)
class Look:
    """One object's appearance: shape, RGB colour in [0, 1], circumradius in world units (at scale 1)."""

    shape: str
    colour: tuple[float, float, float]
    size: float

    @property
    def colour_bin(self) -> str:
        return colour_bin(self.colour)


@dataclass(frozen=True)
class Appearance:
    background: dict  # {"family": ..., "colours": [...], family parameters}; see backgrounds.py
    actor: Look
    prop: Look  # the object a `push` moves (drawn only for push programs)
    distractors: tuple[Look, ...]
    noise: float  # uniform per-frame noise half-width, fraction of full scale (0 = none)
    blur: float  # Gaussian blur sigma in world units (0 = none)
    render_seed: int  # seeds the per-frame noise


@dataclass(frozen=True)
class Placement:
    """Start poses (x, y, angle) in world coordinates at frame 0; a distractor is None when there was no room."""

    actor: tuple[float, float, float]
    prop: tuple[float, float, float] | None  # push only
    distractors: tuple[tuple[float, float, float] | None, ...]


@dataclass(frozen=True)
class Scene:
    appearance: Appearance
    placement: Placement


def _u(rng, lo, hi) -> float:
    return round(float(rng.uniform(lo, hi)), 4)


def _other(rng, options, exclude):
    return str(rng.choice([o for o in options if o != exclude]))


def sample_appearance(
    rng: np.random.Generator, cfg: WorldConfig, *, exclude: Appearance | None = None, min_distractors: int = 0
) -> Appearance:
    """Sample an appearance; with `exclude`, background family, actor colour bin and actor shape all differ from it."""
    family = _other(rng, BACKGROUND_FAMILIES, exclude and exclude.background["family"])
    shape = _other(rng, SHAPES, exclude and exclude.actor.shape)
    actor = Look(shape, sample_colour(rng, _other(rng, COLOUR_BINS, exclude and exclude.actor.colour_bin)), _u(rng, *cfg.actor_size))
    background = sample_background(rng, family, avoid=actor.colour)

    def look(size_range, avoid):
        for _ in range(30):  # vivid colour that stands out from the background (and the actor, for the prop)
            c = sample_colour(rng)
            if min(distance(c, a) for a in avoid) >= 0.25:
                break
        return Look(str(rng.choice(SHAPES)), c, _u(rng, *size_range))

    lo, hi = cfg.distractors
    n = int(rng.integers(max(lo, min_distractors), max(hi, min_distractors) + 1))
    prop = look(cfg.prop_size, [*background["colours"], actor.colour])
    distractors = tuple(look(cfg.distractor_size, background["colours"]) for _ in range(n))
    noise = _u(rng, *cfg.noise_amplitude) if rng.random() < cfg.noise_prob else 0.0
    blur = _u(rng, *cfg.blur_sigma) if rng.random() < cfg.blur_prob else 0.0
    return Appearance(background, actor, prop, distractors, noise, blur, int(rng.integers(2**31)))


def _interval(offset: np.ndarray, half: np.ndarray, extent: float, margin: float) -> tuple[float, float]:
    """Start coordinates s with margin + half[t] ≤ s + offset[t] ≤ extent − margin − half[t] for all t."""
    return float(np.max(margin + half - offset)), float(np.min(extent - margin - half - offset))


def contact_distance(a: Look, theta_a: float, b: Look, theta_b: float, u: tuple[float, float]) -> float:
    """Centre distance along unit direction u at which b, moving towards a along −u, first touches a."""
    pa = rotate(outline(a.shape), theta_a) * a.size  # [n, 2] screen offsets
    pb = rotate(outline(b.shape), theta_b) * b.size
    perp = np.array([-u[1], u[0]])
    bins = np.linspace(-1.0, 1.0, 161) * (a.size + b.size)
    ia, ib = np.digitize(pa @ perp, bins), np.digitize(pb @ perp, bins)
    front = np.full(len(bins) + 1, -np.inf)
    back = np.full(len(bins) + 1, np.inf)
    np.maximum.at(front, ia, pa @ np.asarray(u))  # actor's furthest point along u, per perpendicular slice
    np.minimum.at(back, ib, pb @ np.asarray(u))  # object's nearest point along u, per slice
    both = np.isfinite(front) & np.isfinite(back)
    return float(np.max(front[both] - back[both])) + 0.003 if both.any() else a.size + b.size


def _tracks(motion: Motion):
    """Actor image offsets (world units) relative to its start: [T] x, [T] y."""
    return motion.dx - motion.cam_x, motion.dy - motion.cam_y


def _start_box(motion: Motion, cfg: WorldConfig, actor_size: float, prop_size: float, reach: float | None):
    """(x_lo, x_hi, y_lo, y_hi): actor starts that keep the actor — and the prop, `reach` ahead along the push — inside
    the frame, `margin` from the edges, in every frame (empty when lo > hi)."""
    (ew, eh), m = cfg.extent, cfg.margin
    ox, oy = _tracks(motion)
    half = actor_size * motion.scale
    (x_lo, x_hi), (y_lo, y_hi) = _interval(ox, half, ew, m), _interval(oy, half, eh, m)
    if motion.push is not None:
        ux, uy, _ = motion.push
        ro = np.full_like(ox, prop_size)
        px = _interval(reach * ux + motion.push_x - motion.cam_x, ro, ew, m)
        py = _interval(reach * uy + motion.push_y - motion.cam_y, ro, eh, m)
        x_lo, x_hi, y_lo, y_hi = max(x_lo, px[0]), min(x_hi, px[1]), max(y_lo, py[0]), min(y_hi, py[1])
    return x_lo, x_hi, y_lo, y_hi


def program_fits(motion: Motion, cfg: WorldConfig) -> bool:
    """Whether an actor and prop of the largest configured sizes can carry out `motion` inside the frame.

    Circumradii bound the true contact distance, so a fit here is a fit for every smaller actor, prop and rotation.
    """
    a, p = cfg.actor_size[1], cfg.prop_size[1]
    x_lo, x_hi, y_lo, y_hi = _start_box(motion, cfg, a, p, a + p + (motion.push[2] if motion.push else 0.0))
    return x_lo <= x_hi and y_lo <= y_hi


def sample_fitting_program(rng: np.random.Generator, cfg: WorldConfig, action: str | None = None, tries: int = 200) -> ActionProgram:
    """Sample a program (of class `action`, or one of cfg.actions) that fits the frame for any configured actor size."""
    for _ in range(tries):
        program = sample_program(rng, action, cfg.actions)
        if program_fits(program.motion(cfg.frames), cfg):
            return program
    raise ConfigError(f"no {action or 'action'} program fits a {cfg.height}×{cfg.width} frame with actor_size {cfg.actor_size}")


def sample_placement(rng: np.random.Generator, cfg: WorldConfig, look: Appearance, motion: Motion) -> Placement:
    """Start poses for `look` carrying out `motion`: everyone stays in frame; distractors keep off the actor's path."""
    (ew, eh), m = cfg.extent, cfg.margin
    ox, _ = _tracks(motion)
    half = look.actor.size * motion.scale
    theta = _u(rng, 0.0, 2 * math.pi)
    prop_pose, reach = None, None
    if motion.push is not None:
        ux, uy, gap = motion.push
        theta_p = _u(rng, 0.0, 2 * math.pi)
        reach = contact_distance(look.actor, theta, look.prop, theta_p, (ux, uy)) + gap  # centre distance at frame 0
    x_lo, x_hi, y_lo, y_hi = _start_box(motion, cfg, look.actor.size, look.prop.size, reach)
    if x_lo > x_hi or y_lo > y_hi:  # cannot happen for programs from sample_fitting_program with cfg's sizes
        raise ConfigError("the action does not fit the frame for this actor; sample the program with the same config")
    x0, y0 = _u(rng, x_lo, x_hi), _u(rng, y_lo, y_hi)
    # world-space paths [T, 3] (x, y, radius) that distractors must keep clear of
    paths = [np.stack([x0 + motion.dx, y0 + motion.dy, half], axis=1)]
    if motion.push is not None:
        prop_pose = (round(x0 + reach * ux, 4), round(y0 + reach * uy, 4), theta_p)
        ro = np.full_like(ox, look.prop.size)
        paths.append(np.stack([prop_pose[0] + motion.push_x, prop_pose[1] + motion.push_y, ro], axis=1))
    placed = []
    for i, d in enumerate(look.distractors):
        r = np.full_like(ox, d.size)
        (dx_lo, dx_hi), (dy_lo, dy_hi) = _interval(-motion.cam_x, r, ew, m), _interval(-motion.cam_y, r, eh, m)
        pose = None
        for attempt in range(40):
            x, y = _u(rng, dx_lo, dx_hi), _u(rng, dy_lo, dy_hi)
            clear = all(np.all(np.hypot(p[:, 0] - x, p[:, 1] - y) >= p[:, 2] + d.size + 0.03) for p in paths)
            # a camera program needs one visible distractor so a pan differs from a translate: keep the last try
            if clear or (attempt == 39 and i == 0 and motion.uses_camera):
                pose = (x, y, _u(rng, 0.0, 2 * math.pi))
                paths.append(np.array([[x, y, d.size]]))
                break
        placed.append(pose)
    return Placement((x0, y0, theta), prop_pose, tuple(placed))


def sample_scene(
    rng: np.random.Generator, cfg: WorldConfig, motion: Motion, *, exclude: Appearance | None = None
) -> Scene:
    """Appearance (≥ 1 distractor when the camera moves) + a placement for `motion`."""
    look = sample_appearance(rng, cfg, exclude=exclude, min_distractors=1 if motion.uses_camera else 0)
    if exclude is not None and not look.distractors and not exclude.distractors:
        look = sample_appearance(rng, cfg, exclude=exclude, min_distractors=1)  # the two scenes' distractors differ
    return Scene(look, sample_placement(rng, cfg, look, motion))
