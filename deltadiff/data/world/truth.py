"""Ground truth of a clip: the program, per-frame actor track, actor mask and scene descriptors; JSON + RLE masks.

Positions are *image* positions (where the actor appears, after the camera), in pixels at the render resolution —
continuous, pixel (row i, col j) covers [j, j+1) × [i, i+1), so its centre is (j + 0.5, i + 0.5) — and normalised
to [0, 1] by (W, H). x right, y down. Angles in radians, counter-clockwise on screen positive, unwrapped.
Masks: bool [T, H, W]; in JSON as per-frame run-length encoding (see `encode_mask`). Labels are for evaluation and
diagnostics only: nothing trains on them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deltadiff.data.world.actions import ActionProgram, Motion
from deltadiff.data.world.config import WorldConfig
from deltadiff.data.world.render import actor_pose, prop_pose
from deltadiff.data.world.scene import Look, Scene


def encode_mask(mask: np.ndarray) -> dict:
    """bool [T, H, W] → {"shape": [T, H, W], "counts": [[run, run, ...] per frame]}.

    Each frame is flattened row-major; runs alternate False, True, False, ... starting with False (so the first run
    may be 0). Runs sum to H·W.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 3:
        raise ValueError(f"expected a mask [T, H, W], got shape {mask.shape}")
    counts = []
    for frame in mask.reshape(mask.shape[0], -1):
        change = np.flatnonzero(frame[1:] != frame[:-1]) + 1  # indices where a new run starts
        bounds = np.concatenate([[0], change, [frame.size]])
        runs = np.diff(bounds).tolist()
        counts.append(([0] + runs) if frame[0] else runs)
    return {"shape": list(mask.shape), "counts": counts}


def decode_mask(rle: dict) -> np.ndarray:
    """Inverse of `encode_mask`: → bool [T, H, W]."""
    t, h, w = rle["shape"]
    out = np.zeros((t, h * w), dtype=bool)
    for i, runs in enumerate(rle["counts"]):
        if sum(runs) != h * w:
            raise ValueError(f"frame {i}: runs sum to {sum(runs)}, expected {h * w}")
        values = np.arange(len(runs)) % 2 == 1  # False, True, False, ...
        out[i] = np.repeat(values, runs)
    return out.reshape(t, h, w)


def _rgb255(c) -> list[int]:
    return [int(round(x * 255)) for x in c]


def look_json(look: Look, ppu: int, pose=None) -> dict:
    d = {"shape": look.shape, "colour_rgb": _rgb255(look.colour), "colour_bin": look.colour_bin, "size": look.size,
         "size_px": round(look.size * ppu, 3)}  # fmt: skip
    if pose is not None:  # world position at frame 0 (before the camera), normalised like the track
        d["position_px"] = [round(pose[0] * ppu, 3), round(pose[1] * ppu, 3)]
        d["angle"] = pose[2]
    return d


@dataclass
class ClipTruth:
    """Everything known about one rendered clip. Arrays: [T, 2] (x, y) or [T]; mask bool [T, H, W]."""

    key: str
    seed: int
    split: str
    height: int
    width: int
    fps: float
    program: ActionProgram
    scene: dict  # JSON descriptors: background, actor, distractors, pushed (prop), noise, blur
    position_px: np.ndarray  # [T, 2] actor centre in the image
    angle: np.ndarray  # [T]
    scale: np.ndarray  # [T] size relative to frame 0
    camera_px: np.ndarray  # [T, 2] camera offset (image content is shifted by −camera)
    marker_px: np.ndarray  # [T, 2] centre of the marker dot
    pushed_px: np.ndarray | None  # [T, 2] centre of the pushed object (push only)
    mask: np.ndarray  # [T, H, W] bool, actor coverage ≥ 0.5

    @property
    def frames(self) -> int:
        return len(self.angle)

    @property
    def action(self) -> str:
        return self.program.action

    def normalised(self, px: np.ndarray) -> np.ndarray:
        return np.asarray(px) / np.array([self.width, self.height], dtype=np.float64)

    @property
    def position(self) -> np.ndarray:
        return self.normalised(self.position_px)

    def to_json(self) -> dict:
        """JSON-serialisable dict (docs/world.md lists every field)."""
        r = lambda a: np.round(np.asarray(a, dtype=np.float64), 4).tolist()  # noqa: E731
        return {
            "key": self.key, "seed": self.seed, "split": self.split,
            "height": self.height, "width": self.width, "frames": self.frames, "fps": self.fps,
            "action": self.program.to_json(),
            "classes": list(self.program.classes),
            "position_px": r(self.position_px), "position": r(self.position),
            "angle": r(self.angle), "scale": r(self.scale),
            "camera_px": r(self.camera_px), "camera": r(self.normalised(self.camera_px)),
            "marker_px": r(self.marker_px),
            "pushed_px": None if self.pushed_px is None else r(self.pushed_px),
            "pushed": None if self.pushed_px is None else r(self.normalised(self.pushed_px)),
            "mask": encode_mask(self.mask),
            **self.scene,
        }  # fmt: skip

    @classmethod
    def from_json(cls, d: dict) -> ClipTruth:
        arr = lambda k: None if d.get(k) is None else np.asarray(d[k], dtype=np.float64)  # noqa: E731
        scene = {k: d[k] for k in ("background", "actor", "prop", "distractors", "noise", "blur")}
        return cls(
            d["key"], d["seed"], d["split"], d["height"], d["width"], d["fps"], ActionProgram.from_json(d["action"]),
            scene, arr("position_px"), arr("angle"), arr("scale"), arr("camera_px"), arr("marker_px"),
            arr("pushed_px"), decode_mask(d["mask"]),
        )  # fmt: skip


def build_truth(key: str, seed: int, split: str, program: ActionProgram, scene: Scene, motion: Motion,
                mask: np.ndarray, cfg: WorldConfig) -> ClipTruth:  # fmt: skip
    """Ground truth of `scene` carrying out `program` (whose sampled motion is `motion`)."""
    ppu, look, place = cfg.pixels_per_unit, scene.appearance, scene.placement
    pose = actor_pose(scene, motion)
    prop = prop_pose(scene, motion)
    xy = lambda x, y: np.stack([x, y], axis=1) * ppu  # noqa: E731  world units [T] → pixels [T, 2]
    descriptors = {
        "background": look.background,
        "actor": look_json(look.actor, ppu, place.actor),
        "prop": look_json(look.prop, ppu, place.prop) if place.prop is not None else None,
        "distractors": [look_json(d, ppu, p) for d, p in zip(look.distractors, place.distractors) if p is not None],
        "noise": look.noise,
        "blur": look.blur,
    }
    return ClipTruth(
        key, seed, split, cfg.height, cfg.width, cfg.fps, program, descriptors,
        position_px=xy(pose.x, pose.y), angle=np.asarray(pose.theta, np.float64), scale=motion.scale.copy(),
        camera_px=xy(motion.cam_x, motion.cam_y), marker_px=xy(*pose.marker(look.actor.shape)),
        pushed_px=None if prop is None else xy(prop.x, prop.y), mask=mask,
    )  # fmt: skip
