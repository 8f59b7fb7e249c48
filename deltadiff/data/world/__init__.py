"""The demonstration world: procedural clips of an actor carrying out an action program, with full ground truth.

Frames are uint8 [T, H, W, 3] RGB; `WorldClips` yields float32 [T, 3, H, W] in [-1, 1]. World units: 1 = the shorter
frame side, x right, y down. The actor is the only object carrying a white marker dot in a dark ring (docs/world.md).

    world = World(WorldConfig(height=64, width=64, frames=16))
    clip = world.clip(seed_for("train", 0))            # .frames, .truth (ClipTruth; .to_json())
    t = world.triple(seed_for("test", 0))              # .demo (scene A + P), .context (B, frame 0), .target (B + P)
    m = world.mismatched(seed_for("test", 0))          # .triple + .mismatched (scene A + Q, class(Q) ≠ class(P))
"""

from deltadiff.data.world.actions import ACTION_CLASSES, COMPOUND_PARTS, ActionProgram, Motion, make_program, sample_program
from deltadiff.data.world.backgrounds import BACKGROUND_FAMILIES
from deltadiff.data.world.colours import COLOUR_BINS, colour_bin
from deltadiff.data.world.config import WorldConfig
from deltadiff.data.world.marker import find_marker
from deltadiff.data.world.scene import Appearance, Look, Placement, Scene
from deltadiff.data.world.shapes import SHAPES
from deltadiff.data.world.triples import SPLITS, Clip, MismatchedPair, Triple, World, key_for, seed_for, split_of
from deltadiff.data.world.truth import ClipTruth, decode_mask, encode_mask

__all__ = [
    "ACTION_CLASSES", "BACKGROUND_FAMILIES", "COLOUR_BINS", "COMPOUND_PARTS", "SHAPES", "SPLITS",
    "ActionProgram", "Appearance", "Clip", "ClipTruth", "Look", "MismatchedPair", "Motion", "Placement", "Scene",
    "Triple", "World", "WorldClips", "WorldConfig",
    "colour_bin", "decode_mask", "encode_mask", "find_marker", "key_for", "make_program", "sample_program",
    "seed_for", "split_of",
]  # fmt: skip


def __getattr__(name: str):
    if name == "WorldClips":  # imports torch: loaded on first use so the CLI starts fast
        from deltadiff.data.world.dataset import WorldClips

        return WorldClips
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
