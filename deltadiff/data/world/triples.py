"""`World`: seeded clips, transfer triples, mismatched pairs, and the train/val/test split of seeds.

Frames are uint8 [T, H, W, 3] (RGB). Everything is a pure function of (config, seed): each seed drives independent
numpy streams (program, scene A, scene B, ...), so the same seed gives byte-identical frames and truth, and the same
seed at another resolution gives the same scene, sharper.

Splits: seeds come from disjoint ranges — train [0, 1e9), val [1e9, 2e9), test [2e9, 3e9) — via `seed_for`, so a
training clip can never be an evaluation clip.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deltadiff.data.world.actions import ACTION_CLASSES, ActionProgram
from deltadiff.data.world.config import WorldConfig
from deltadiff.data.world.render import render
from deltadiff.data.world.scene import (
    Scene, program_fits, sample_appearance, sample_fitting_program, sample_placement, sample_scene,
)  # fmt: skip
from deltadiff.data.world.truth import ClipTruth, build_truth
from deltadiff.errors import ConfigError

SPLITS = ("train", "val", "test")
SPLIT_SIZE = 1_000_000_000
_STREAMS = {"program": 1, "scene_a": 2, "scene_b": 3, "other_program": 4, "other_scene": 5}


def seed_for(split: str, index: int) -> int:
    """The seed of the index-th clip of `split`; ranges of different splits never overlap."""
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    if not 0 <= index < SPLIT_SIZE:
        raise ConfigError(f"clip index must lie in [0, {SPLIT_SIZE}), got {index}")
    return SPLITS.index(split) * SPLIT_SIZE + index


def split_of(seed: int) -> tuple[str, int]:
    """Inverse of `seed_for`: (split, index); seeds past the test range are ("other", seed)."""
    k = seed // SPLIT_SIZE
    return (SPLITS[k], seed % SPLIT_SIZE) if 0 <= k < len(SPLITS) else ("other", seed)


def key_for(seed: int, suffix: str = "") -> str:
    split, i = split_of(seed)
    return f"{split}-{i:07d}" + (f"-{suffix}" if suffix else "")


@dataclass
class Clip:
    key: str
    seed: int
    frames: np.ndarray  # uint8 [T, H, W, 3]
    truth: ClipTruth
    scene: Scene
    program: ActionProgram


@dataclass
class Triple:
    """demo = scene A + program P; context = frame 0 of target; target = scene B + P. A and B differ in background
    family, actor colour bin and actor shape (and their distractors)."""

    key: str
    seed: int
    demo: Clip
    context: np.ndarray  # uint8 [H, W, 3]
    target: Clip


@dataclass
class MismatchedPair:
    """The triple of this seed plus `mismatched`: scene A's appearance carrying out a program Q whose class differs
    from P's. ΔPSNR controllability = PSNR(create(demo, context), target) − PSNR(create(mismatched, context), target)."""

    triple: Triple
    mismatched: Clip

    @property
    def key(self) -> str:
        return self.triple.key

    @property
    def context(self) -> np.ndarray:
        return self.triple.context

    @property
    def target(self) -> Clip:
        return self.triple.target


class World:
    """The demonstration world at one configuration (resolution, length, appearance ranges)."""

    def __init__(self, config: WorldConfig | None = None):
        self.config = config or WorldConfig()

    def _rng(self, seed: int, stream: str) -> np.random.Generator:
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ConfigError(f"seeds are non-negative integers, got {seed!r}")
        return np.random.default_rng([int(seed), _STREAMS[stream]])

    def render(self, scene: Scene, program: ActionProgram, key: str = "clip", seed: int = -1) -> Clip:
        """Replay `program` in `scene` (the scene must have been placed for this program's motion)."""
        motion = program.motion(self.config.frames)
        frames, mask = render(scene, motion, self.config)
        split = split_of(seed)[0] if seed >= 0 else "other"
        return Clip(key, seed, frames, build_truth(key, seed, split, program, scene, motion, mask, self.config), scene, program)

    def clip(self, seed: int, action: str | None = None, program: ActionProgram | None = None) -> Clip:
        """One clip: a program (class `action`, or uniform over config.actions) in a fresh scene.

        With `program`, replay that program (e.g. `make_program("translate", {"direction": 2, "speed": 0.3})`)
        in the seed's scene instead of sampling one.
        """
        suffix = action or (program.action if program is not None else "")
        if program is None:
            program = sample_fitting_program(self._rng(seed, "program"), self.config, action)
        elif not program_fits(program.motion(self.config.frames), self.config):
            raise ConfigError(f"{program.describe()} does not fit a {self.config.height}×{self.config.width} frame")
        scene = sample_scene(self._rng(seed, "scene_a"), self.config, program.motion(self.config.frames))
        return self.render(scene, program, key_for(seed, suffix), seed)

    def _programs(self, seed: int, action: str | None) -> tuple[ActionProgram, ActionProgram]:
        """P (class `action`, or uniform over config.actions) and Q (uniform over the other ACTION_CLASSES)."""
        p = sample_fitting_program(self._rng(seed, "program"), self.config, action)
        rng_q = self._rng(seed, "other_program")
        q = sample_fitting_program(rng_q, self.config, str(rng_q.choice([c for c in ACTION_CLASSES if c != p.action])))
        return p, q

    def triple(self, seed: int, action: str | None = None) -> Triple:
        """Transfer triple of program P (class `action`, or uniform over config.actions)."""
        return self._triple(seed, action)[0]

    def mismatched(self, seed: int, action: str | None = None) -> MismatchedPair:
        """`triple(seed, action)` plus a demo of another class in scene A's appearance."""
        triple, q = self._triple(seed, action)
        cfg = self.config
        look = triple.demo.scene.appearance
        motion = q.motion(cfg.frames)
        rng = self._rng(seed, "other_scene")
        if motion.uses_camera and not look.distractors:  # a pan needs a visible distractor: borrow one
            extra = sample_appearance(rng, cfg, min_distractors=1).distractors[:1]
            look = type(look)(**{**look.__dict__, "distractors": extra})
        scene = Scene(look, sample_placement(rng, cfg, look, motion))
        return MismatchedPair(triple, self.render(scene, q, key_for(seed, "mismatched"), seed))

    def _triple(self, seed: int, action: str | None) -> tuple[Triple, ActionProgram]:
        cfg = self.config
        p, q = self._programs(seed, action)
        motion = p.motion(cfg.frames)
        scene_a = sample_scene(self._rng(seed, "scene_a"), cfg, motion)
        scene_b = sample_scene(self._rng(seed, "scene_b"), cfg, motion, exclude=scene_a.appearance)
        demo = self.render(scene_a, p, key_for(seed, "demo"), seed)
        target = self.render(scene_b, p, key_for(seed, "target"), seed)
        return Triple(key_for(seed), seed, demo, target.frames[0].copy(), target), q
