"""Action programs: scene-independent descriptions of what the actor does, as per-frame *relative* motion.

A program is a class name plus continuous parameters. It is a function of normalised clip time τ ∈ [0, 1]
(frame t of T is sampled at τ = t / (T − 1)), so the clip length only changes temporal resolution, never the action.
`program.motion(T)` returns a `Motion`: offsets relative to frame 0 in *world units* (1 unit = the shorter frame side;
x right, y down), which any scene can replay from its own start pose.

Angles are radians, counter-clockwise on screen is positive (heading = (cos θ, −sin θ) in x-right/y-down coordinates):
`rotate_ccw` increases θ, `rotate_cw` decreases it. Directions 0..7 are multiples of 45°: 0 right, 1 up-right, 2 up,
3 up-left, 4 left, 5 down-left, 6 down, 7 down-right. Every magnitude is per clip (e.g. translate's `speed` is the
distance covered over the whole clip, in frame widths).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from deltadiff.errors import ConfigError

ACTION_CLASSES = (
    "translate", "rotate_cw", "rotate_ccw", "grow", "shrink", "jump", "fall_bounce",
    "push", "camera_pan", "oscillate", "orbit", "still", "compound",
)  # fmt: skip
# push needs an object placed for it, so it is not a compound part (its object would sit in the other part's path).
COMPOUND_PARTS = tuple(c for c in ACTION_CLASSES if c not in ("compound", "push"))


def direction(k: int) -> tuple[float, float]:
    """Unit vector (x right, y down) of direction index k ∈ 0..7 (0 right, counter-clockwise in 45° steps)."""
    return math.cos(k * math.pi / 4), -math.sin(k * math.pi / 4)


@dataclass(frozen=True)
class Motion:
    """Per-frame relative motion of one program. Every array is float64 [T]; lengths in world units."""

    dx: np.ndarray  # actor displacement since frame 0 (in the world, i.e. before the camera)
    dy: np.ndarray
    dtheta: np.ndarray  # angle change since frame 0 (rad, ccw positive)
    scale: np.ndarray  # size factor relative to frame 0 (scale[0] == 1)
    cam_x: np.ndarray  # camera offset: everything on screen appears shifted by −cam
    cam_y: np.ndarray
    push_x: np.ndarray  # pushed object's displacement since frame 0 (zeros unless push)
    push_y: np.ndarray
    push: tuple[float, float, float] | None = None  # (ux, uy, gap): push direction and edge gap at frame 0

    @property
    def frames(self) -> int:
        return len(self.dx)

    @property
    def uses_camera(self) -> bool:
        return bool(np.any(self.cam_x != 0) or np.any(self.cam_y != 0))


def _motion(tau, dx=None, dy=None, dtheta=None, scale=None, cam_x=None, cam_y=None, push_x=None, push_y=None, push=None):
    z = np.zeros_like(tau)
    return Motion(
        *(z if v is None else np.asarray(v, dtype=np.float64) for v in (dx, dy, dtheta)),
        np.ones_like(tau) if scale is None else np.asarray(scale, dtype=np.float64),
        *(z if v is None else np.asarray(v, dtype=np.float64) for v in (cam_x, cam_y, push_x, push_y)),
        push=push,
    )


# ---- motion of each class: f(params, tau [T]) -> Motion -------------------------------------------------------------


def _translate(p, tau):
    ux, uy = direction(p["direction"])
    return _motion(tau, dx=ux * p["speed"] * tau, dy=uy * p["speed"] * tau)


def _rotate(sign):
    return lambda p, tau: _motion(tau, dtheta=sign * p["angle"] * tau)


def _scale(p, tau):
    return _motion(tau, scale=p["factor"] ** tau)  # exponential: constant relative growth rate


def _jump(p, tau):  # parabola up (−y) and back, optional horizontal velocity
    return _motion(tau, dx=p["vx"] * tau, dy=-4.0 * p["height"] * tau * (1.0 - tau))


def _fall_bounce(p, tau):
    """Free fall from rest through `height` reaching the ground at τ = `impact`, then bounces with `restitution`."""
    h, t1, e = p["height"], p["impact"], p["restitution"]
    g = 2.0 * h / t1**2  # so that ½ g t1² = h
    y = 0.5 * g * tau**2
    start, speed = t1, g * t1 * e  # first bounce: leaves the ground at t1 with speed e·v1
    while start < 1.0 and speed > 1e-6:
        s = tau - start
        y = np.where(s >= 0, h - (speed * s - 0.5 * g * s**2), y)
        start, speed = start + 2.0 * speed / g, speed * e
    y = np.where(tau >= start, h, y) if speed <= 1e-6 else y  # at rest on the ground
    return _motion(tau, dx=p["vx"] * tau, dy=np.minimum(y, h))


def _push(p, tau):
    """Actor moves at constant speed; at τ = contact it hits the object: 1-D collision, equal masses, restitution e."""
    ux, uy = direction(p["direction"])
    v, tc, e = p["speed"], p["contact"], p["restitution"]
    after = np.maximum(tau - tc, 0.0)
    actor = v * np.minimum(tau, tc) + v * (1.0 - e) / 2.0 * after  # momentum and restitution, m_actor = m_object
    obj = v * (1.0 + e) / 2.0 * after
    return _motion(tau, dx=ux * actor, dy=uy * actor, push_x=ux * obj, push_y=uy * obj, push=(ux, uy, v * tc))


def _camera_pan(p, tau):  # the camera moves; every pixel of the scene (background included) moves the other way
    ux, uy = direction(p["direction"])
    return _motion(tau, cam_x=ux * p["distance"] * tau, cam_y=uy * p["distance"] * tau)


def _oscillate(p, tau):  # shake: sinusoid along an axis, starting at the rest position
    s = p["amplitude"] * np.sin(2.0 * np.pi * p["cycles"] * tau)
    return _motion(tau, dx=s * math.cos(p["axis"]), dy=-s * math.sin(p["axis"]))


def _orbit(p, tau):  # circle of `radius` through the start position; turns > 0 counter-clockwise on screen
    phi0 = p["phase"]
    phi = phi0 + 2.0 * np.pi * p["turns"] * tau
    r = p["radius"]
    return _motion(tau, dx=r * (np.cos(phi) - math.cos(phi0)), dy=-r * (np.sin(phi) - math.sin(phi0)))


_MOTIONS = {
    "translate": _translate, "rotate_cw": _rotate(-1.0), "rotate_ccw": _rotate(1.0), "grow": _scale,
    "shrink": _scale, "jump": _jump, "fall_bounce": _fall_bounce, "push": _push, "camera_pan": _camera_pan,
    "oscillate": _oscillate, "orbit": _orbit, "still": lambda p, tau: _motion(tau),
}  # fmt: skip


# ---- parameter sampling: f(rng) -> params (rounded to 4 decimals, so the JSON describes the program exactly) --------


def _u(rng, lo, hi):
    return round(float(rng.uniform(lo, hi)), 4)


def _sign(rng):
    return 1.0 if rng.random() < 0.5 else -1.0


_SAMPLERS = {
    "translate": lambda r: {"direction": int(r.integers(8)), "speed": _u(r, 0.2, 0.5)},
    "rotate_cw": lambda r: {"angle": _u(r, 0.5 * math.pi, 2.0 * math.pi)},
    "rotate_ccw": lambda r: {"angle": _u(r, 0.5 * math.pi, 2.0 * math.pi)},
    "grow": lambda r: {"factor": _u(r, 1.4, 1.9)},
    "shrink": lambda r: {"factor": _u(r, 0.45, 0.7)},
    "jump": lambda r: {"height": _u(r, 0.15, 0.35), "vx": 0.0 if r.random() < 0.3 else _u(r, 0.1, 0.3) * _sign(r)},
    "fall_bounce": lambda r: {
        "height": _u(r, 0.25, 0.5), "impact": _u(r, 0.3, 0.5), "restitution": _u(r, 0.35, 0.75), "vx": _u(r, -0.1, 0.1),
    },
    "push": lambda r: {
        "direction": int(r.integers(8)), "speed": _u(r, 0.25, 0.4), "contact": _u(r, 0.25, 0.45),
        "restitution": _u(r, 0.2, 0.8),
    },
    "camera_pan": lambda r: {"direction": int(r.integers(8)), "distance": _u(r, 0.15, 0.4)},
    "oscillate": lambda r: {"axis": _u(r, 0.0, math.pi), "amplitude": _u(r, 0.04, 0.12), "cycles": _u(r, 1.0, 3.0)},
    "orbit": lambda r: {
        "radius": _u(r, 0.1, 0.22), "turns": _u(r, 0.5, 1.0) * _sign(r), "phase": _u(r, 0.0, 2 * math.pi),
    },
    "still": lambda r: {},
}  # fmt: skip


@dataclass(frozen=True)
class ActionProgram:
    """An action class + its parameters; `compound` has two `parts` (first half, then second half of the clip)."""

    action: str
    params: dict = field(default_factory=dict)
    parts: tuple[ActionProgram, ...] = ()

    def at(self, tau: np.ndarray) -> Motion:
        """Motion sampled at normalised times tau [T] (tau[0] must be 0 for offsets to be relative to frame 0)."""
        tau = np.asarray(tau, dtype=np.float64)
        if self.action != "compound":
            return _MOTIONS[self.action](self.params, tau)
        first, second = (p.at(np.clip(x, 0.0, 1.0)) for p, x in zip(self.parts, (2 * tau, 2 * tau - 1)))
        # the second part starts where the first ended: offsets add, scales multiply
        return _motion(
            tau, dx=first.dx + second.dx, dy=first.dy + second.dy, dtheta=first.dtheta + second.dtheta,
            scale=first.scale * second.scale, cam_x=first.cam_x + second.cam_x, cam_y=first.cam_y + second.cam_y,
        )  # fmt: skip

    def motion(self, frames: int) -> Motion:
        return self.at(np.linspace(0.0, 1.0, frames))

    @property
    def classes(self) -> tuple[str, ...]:
        """This class, then its parts' classes (for compound)."""
        return (self.action, *(c for p in self.parts for c in p.classes))

    def describe(self) -> str:
        """Short human label, e.g. 'translate direction=3 speed=0.31' or 'compound: grow … then jump …'."""
        if self.action == "compound":
            return "compound: " + " then ".join(p.describe() for p in self.parts)
        args = " ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in self.params.items())
        return f"{self.action} {args}".strip()

    def to_json(self) -> dict:
        return {"class": self.action, "params": dict(self.params), "parts": [p.to_json() for p in self.parts]}

    @classmethod
    def from_json(cls, d: dict) -> ActionProgram:
        return make_program(d["class"], d.get("params", {}), [cls.from_json(p) for p in d.get("parts", [])])


def check_action(action: str) -> str:
    if action not in ACTION_CLASSES:
        raise ConfigError(f"unknown action class {action!r}; choose one of: {', '.join(ACTION_CLASSES)}")
    return action


def make_program(action: str, params: dict | None = None, parts: list[ActionProgram] | tuple = ()) -> ActionProgram:
    """Build a program from explicit parameters (validated: class known, every parameter present)."""
    check_action(action)
    params = dict(params or {})
    if action == "compound":
        if len(parts) != 2 or parts[0].action == parts[1].action or any(p.action not in COMPOUND_PARTS for p in parts):
            raise ConfigError(f"compound needs two different parts from {', '.join(COMPOUND_PARTS)}")
    else:
        needed = set(_SAMPLERS[action](np.random.default_rng(0)))
        if set(params) != needed:
            raise ConfigError(f"{action} takes parameters {sorted(needed)}, got {sorted(params)}")
    return ActionProgram(action, params, tuple(parts))


def sample_program(rng: np.random.Generator, action: str | None = None, classes=ACTION_CLASSES) -> ActionProgram:
    """Sample a program of class `action` (uniform over `classes` when None) with random parameters."""
    action = check_action(action) if action is not None else str(rng.choice(classes))
    if action == "compound":
        a, b = rng.choice(len(COMPOUND_PARTS), size=2, replace=False)
        return ActionProgram(action, {}, (sample_program(rng, COMPOUND_PARTS[a]), sample_program(rng, COMPOUND_PARTS[b])))
    return ActionProgram(action, _SAMPLERS[action](rng))
