"""`WorldConfig`: the one configuration of the demonstration world (a frozen dataclass; no YAML).

Scene geometry lives in *world units*: 1 unit = the shorter side of the frame, x right, y down, so a square frame is
[0, 1]². Sizes below are in those units, so the same seed renders the same scene at any resolution.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from deltadiff.data.world.actions import ACTION_CLASSES
from deltadiff.errors import ConfigError


@dataclass(frozen=True)
class WorldConfig:
    height: int = 64
    width: int = 64
    frames: int = 16  # an action always spans the whole clip; more frames = finer time sampling
    fps: float = 8.0  # only used when writing videos
    actions: tuple[str, ...] = ACTION_CLASSES  # classes that `World.clip` samples from (uniformly)
    actor_size: tuple[float, float] = (0.09, 0.14)  # circumradius at frame 0, world units
    prop_size: tuple[float, float] = (0.07, 0.11)  # the object a `push` moves
    distractor_size: tuple[float, float] = (0.05, 0.11)
    distractors: tuple[int, int] = (0, 3)  # inclusive range of the number of distractor objects
    margin: float = 0.02  # every object keeps this far from the frame edge for the whole clip
    noise_prob: float = 0.3  # probability that a clip gets per-frame sensor noise
    noise_amplitude: tuple[float, float] = (0.01, 0.03)  # uniform noise half-width, fraction of full scale
    blur_prob: float = 0.3  # probability that a clip is blurred (Gaussian)
    blur_sigma: tuple[float, float] = (0.003, 0.006)  # world units (0.2–0.4 px at 64×64)

    def __post_init__(self) -> None:
        if min(self.height, self.width) < 16 or max(self.height, self.width) > 1024:
            raise ConfigError(f"world frames must be 16–1024 pixels a side, got {self.height}×{self.width}")
        if max(self.height, self.width) > 2 * min(self.height, self.width):
            raise ConfigError(f"world aspect ratio must be at most 2:1, got {self.height}×{self.width}")
        if self.frames < 2:
            raise ConfigError(f"a world clip needs at least 2 frames, got {self.frames}")
        if self.fps <= 0:
            raise ConfigError(f"fps must be positive, got {self.fps}")
        if not self.actions or any(a not in ACTION_CLASSES for a in self.actions):
            raise ConfigError(f"actions must be a non-empty subset of: {', '.join(ACTION_CLASSES)}; got {self.actions}")
        for name in ("actor_size", "prop_size", "distractor_size"):
            lo, hi = getattr(self, name)
            if not 0.02 <= lo <= hi <= 0.15:
                raise ConfigError(f"{name} must satisfy 0.02 ≤ low ≤ high ≤ 0.15 (world units), got {(lo, hi)}")
        lo, hi = self.distractors
        if not 0 <= lo <= hi <= 6:
            raise ConfigError(f"distractors must be a range within 0..6, got {self.distractors}")
        if not (0 <= self.noise_prob <= 1 and 0 <= self.blur_prob <= 1):
            raise ConfigError("noise_prob and blur_prob must lie in [0, 1]")
        if not 0 <= self.margin <= 0.05:
            raise ConfigError(f"margin must lie in [0, 0.05] world units, got {self.margin}")

    @property
    def pixels_per_unit(self) -> int:
        return min(self.height, self.width)

    @property
    def extent(self) -> tuple[float, float]:
        """(width, height) of the frame in world units."""
        s = self.pixels_per_unit
        return self.width / s, self.height / s

    def to_json(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
