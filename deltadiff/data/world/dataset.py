"""`WorldClips`: a map-style torch Dataset over the world's seeded clips (index → seed of the chosen split).

Item: {"video": float32 [T, 3, H, W] in [-1, 1], "key": str}; with `with_truth=True` also "truth": the clip's
ground truth as a JSON dict (for evaluation and diagnostics only — nothing is trained on labels). Deterministic:
item i of a split is always the same clip, whatever the worker or the order.
"""

from __future__ import annotations

from torch.utils.data import Dataset, default_collate

from deltadiff.data.world.config import WorldConfig
from deltadiff.data.world.triples import SPLIT_SIZE, World, seed_for
from deltadiff.errors import ConfigError
from deltadiff.io.tensor import frames_to_tensor


class WorldClips(Dataset):
    def __init__(self, split: str = "train", n: int = 10_000, config: WorldConfig | None = None,
                 with_truth: bool = False, start: int = 0):  # fmt: skip
        seed_for(split, start)  # validates the split name and start
        if n < 1 or start + n > SPLIT_SIZE:
            raise ConfigError(f"n must be ≥ 1 and start + n ≤ {SPLIT_SIZE}, got n={n}, start={start}")
        self.split, self.n, self.start, self.with_truth = split, n, start, with_truth
        self.world = World(config)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        if not -self.n <= i < self.n:
            raise IndexError(f"index {i} out of range for {self.n} clips")
        clip = self.world.clip(seed_for(self.split, self.start + i % self.n))
        item = {"video": frames_to_tensor(clip.frames), "key": clip.key}  # video: [T, 3, H, W]
        if self.with_truth:
            item["truth"] = clip.truth.to_json()
        return item

    @staticmethod
    def collate(items: list[dict]) -> dict:
        """Stack videos to [B, T, 3, H, W]; keys and truths stay lists (truths differ in shape between clips)."""
        out = default_collate([{"video": it["video"], "key": it["key"]} for it in items])
        if "truth" in items[0]:
            out["truth"] = [it["truth"] for it in items]
        return out

