"""Classical optical flow of a clip's own frames (OpenCV's Farnebäck): the self-supervised motion signal that several
stages read — the foundation model's flow target, the motion head's teacher, the flow-warp baseline. No labels.

Convention: clips are uint8 `[T, H, W, 3]`; flows are float32 pixels (x, y).
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np

from deltadiff.errors import ConfigError

OPENCV_EXTRA = "pip install opencv-python-headless  (a dependency of deltadiff; reinstall it if it is missing)"
# dense flow at 64×64: small windows and few pyramid levels (the objects are 5–20 px across)
FARNEBACK = {"pyr_scale": 0.5, "levels": 3, "winsize": 9, "iterations": 3, "poly_n": 5, "poly_sigma": 1.1, "flags": 0}


def cv2():
    try:
        import cv2 as module
    except ImportError as e:
        raise ConfigError(f"optical flow needs OpenCV: {OPENCV_EXTRA}") from e
    return module


def _grey(frames: np.ndarray) -> list[np.ndarray]:
    cv = cv2()
    return [cv.cvtColor(np.ascontiguousarray(f), cv.COLOR_RGB2GRAY) for f in np.asarray(frames)]


def pair_flows(frames: np.ndarray, backward: bool = True) -> np.ndarray:
    """Flow between consecutive frames, both ways: float32 [2, T−1, H, W, 2] — [0, t] where each pixel of frame t goes
    in frame t+1, [1, t] where each pixel of frame t+1 was in frame t (both relative to the pixel). With
    `backward=False` only the first: [1, T−1, H, W, 2]."""
    cv, grey = cv2(), _grey(frames)
    fwd = [cv.calcOpticalFlowFarneback(a, b, None, **FARNEBACK) for a, b in pairwise(grey)]
    if not backward:
        return np.stack(fwd)[None]
    bwd = [cv.calcOpticalFlowFarneback(b, a, None, **FARNEBACK) for a, b in pairwise(grey)]
    return np.stack([np.stack(fwd), np.stack(bwd)])


def chained_maps(frames: np.ndarray) -> np.ndarray:
    """For every frame t, where each of its pixels was in frame 0: float32 [T, H, W, 2] absolute (x, y), chained through
    consecutive backward flows: M_t(p) = M_{t−1}(p + F_{t→t−1}(p)), M_0 = identity."""
    cv, grey = cv2(), _grey(frames)
    t, h, w = np.asarray(frames).shape[:3]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    maps = np.empty((t, h, w, 2), np.float32)
    maps[0] = np.stack([xs, ys], -1)
    for i in range(1, t):
        flow = cv.calcOpticalFlowFarneback(grey[i], grey[i - 1], None, **FARNEBACK)  # where pixel (x, y) of i was in i−1
        maps[i] = cv.remap(maps[i - 1], xs + flow[..., 0], ys + flow[..., 1], cv.INTER_LINEAR, borderMode=cv.BORDER_REPLICATE)
    return maps
