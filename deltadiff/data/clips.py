"""Clips of T frames at a target fps from any folder or manifest of videos: `ClipSpec` records and `ClipDataset`.

Sample convention (shared by every dataset in deltadiff.data):
    {"video": float32 [T, 3, H, W] in [-1, 1], "key": str, "start": float (seconds),
     "label": str (where the source has labels), "label_index": int (where it has classes), ...}

Sources: a folder (every video file, and every folder of ≥2 numbered images, found recursively, sorted by relative
path), a manifest (CSV or JSONL: `path`, optional `label`, `start_frame`, `end_frame`; paths are relative to the
manifest's folder, the dataset root), a single video, or a list of `ClipSpec` from `deltadiff.data.readers`.
Every path must stay inside the dataset root after resolving `..` and symlinks (`PathOutsideRootError`).
"""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from deltadiff.errors import InputNotFoundError, ManifestError, NotEnoughFramesError, PathOutsideRootError
from deltadiff.io import probe, read_video
from deltadiff.io.tensor import frames_to_tensor
from deltadiff.io.video import FOLDER_FPS, IMAGE_EXTENSIONS

VIDEO_EXTENSIONS = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".gif", ".mpg", ".mpeg", ".ogv", ".wmv", ".flv"}
MANIFEST_EXTENSIONS = {".csv", ".jsonl", ".ndjson"}
_EPS = 1e-3  # seconds kept free at a window's end so the last sampled time falls strictly inside it


@dataclass(frozen=True)
class ClipSpec:
    """One clip a reader found: where it is, what it shows, and which part of the file it may use.

    The window [start, end) is in seconds from the first frame (unit="s"), or in source frames, 0-based with `end`
    exclusive (unit="frame"; converted with `fps`, or the file's own rate from its header). end=None: to the end.
    """

    path: Path  # absolute; a video file or a folder of numbered frames
    key: str  # stable id: relative path, SSv2 id, EPIC narration_id, episode name
    label: str | None = None  # text: class template, narration, language instruction
    start: float = 0.0
    end: float | None = None
    unit: str = "s"  # "s" | "frame"
    fps: float | None = None  # source frame rate of a frame folder (None: FOLDER_FPS); frame→seconds for unit="frame"
    label_index: int | None = None  # class index where the source defines classes
    meta: dict = field(default_factory=dict, compare=False)  # extra scalar fields (EPIC verb_class, ...)


def resolve_inside(root: Path, raw: str | os.PathLike, where: str) -> Path:
    """`root / raw`, resolved (symlinks, `..`); PathOutsideRootError if the result leaves the root."""
    root_real = Path(root).resolve()
    candidate = Path(raw) if Path(raw).is_absolute() else Path(root) / raw
    real = candidate.resolve()
    if real != root_real and root_real not in real.parents:
        raise PathOutsideRootError(
            f"{where}: '{raw}' points outside the dataset root {root_real} (to {real}); "
            "keep every video under the root (no '..', absolute paths or symlinks leading elsewhere)"
        )
    return real


def _hidden(name: str) -> bool:
    return name.startswith(".")


def scan_folder(root: str | os.PathLike) -> list[ClipSpec]:
    """Every video file, and every folder holding ≥2 images and no videos, under `root`; sorted by relative path."""
    root = Path(root)
    if not root.is_dir():
        raise InputNotFoundError(f"{root}: no such folder; pass a folder of videos or a manifest (.csv/.jsonl)")
    specs: list[ClipSpec] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not _hidden(d))  # deterministic walk; symlinked dirs not entered
        here = Path(dirpath)
        files = sorted(f for f in filenames if not _hidden(f))
        videos = [f for f in files if Path(f).suffix.lower() in VIDEO_EXTENSIONS]
        for f in videos:
            rel = (here / f).relative_to(root)
            specs.append(ClipSpec(resolve_inside(root, rel, str(root)), rel.as_posix()))
        images = [f for f in files if Path(f).suffix.lower() in IMAGE_EXTENSIONS]
        if not videos and len(images) >= 2:
            rel = here.relative_to(root)
            specs.append(ClipSpec(resolve_inside(root, rel, str(root)), rel.as_posix()))
    if not specs:
        raise ManifestError(f"{root}: no videos ({', '.join(sorted(VIDEO_EXTENSIONS))}) or frame folders found; check the path")
    return sorted(specs, key=lambda s: s.key)


def _int_field(value, name: str, where: str) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(value)
        if number != int(number) or number < 0:
            raise ValueError
        return int(number)
    except (TypeError, ValueError):
        raise ManifestError(f"{where}: {name} must be a whole number ≥ 0, got {value!r}") from None


def _manifest_rows(path: Path):
    """Yield (line number, row dict) from a CSV (with header) or JSONL manifest; malformed lines raise with their number."""
    if path.suffix.lower() == ".csv":
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            header = reader.fieldnames or []
            if "path" not in header:
                raise ManifestError(
                    f"{path}: missing column 'path' (found: {', '.join(header) or 'nothing'}); "
                    "the first line must name the columns: path[,label,start_frame,end_frame]"
                )
            for row in reader:
                if None in row or any(v is None for v in row.values()):
                    raise ManifestError(
                        f"{path}:{reader.line_num}: this row has a different number of fields than the header "
                        f"({len(header)}); quote fields that contain commas"
                    )
                yield reader.line_num, row
        return
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ManifestError(f"{path}:{number}: not valid JSON ({e.msg}); write one JSON object per line") from None
            if not isinstance(row, dict):
                raise ManifestError(f"{path}:{number}: expected a JSON object like {{\"path\": \"a.mp4\"}}, got {type(row).__name__}")
            if "path" not in row:
                raise ManifestError(f"{path}:{number}: missing field 'path'; every line needs {{\"path\": ...}}")
            yield number, row


def read_manifest(path: str | os.PathLike) -> list[ClipSpec]:
    """Validate a CSV/JSONL manifest eagerly (no decoding) and return its clips in file order.

    Columns: path (relative to the manifest's folder), optional label, start_frame, end_frame (0-based source frames,
    end exclusive). Raises ManifestError (missing columns, malformed rows, missing files: how many and the first)
    and PathOutsideRootError.
    """
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"{path}: no such manifest; pass a .csv/.jsonl file or a folder of videos")
    if path.suffix.lower() not in MANIFEST_EXTENSIONS:
        raise ManifestError(f"{path}: unknown manifest type {path.suffix or '(none)'}; use .csv or .jsonl")
    root = path.parent
    specs, missing = [], []
    for number, row in _manifest_rows(path):
        where = f"{path}:{number}"
        raw = row["path"]
        if not isinstance(raw, str) or not raw.strip():
            raise ManifestError(f"{where}: 'path' is empty or not text; give the video's path relative to {root}")
        full = resolve_inside(root, raw, where)
        start = _int_field(row.get("start_frame"), "start_frame", where)
        end = _int_field(row.get("end_frame"), "end_frame", where)
        if start is not None and end is not None and end <= start:
            raise ManifestError(f"{where}: end_frame ({end}) must be greater than start_frame ({start})")
        if not full.exists():
            missing.append((number, raw))
        label = row.get("label")
        rel = full.relative_to(root.resolve()).as_posix()
        key = rel if start is None and end is None else f"{rel}:{start or 0}-{'' if end is None else end}"
        label = None if label is None else str(label)
        specs.append(ClipSpec(full, key, label, float(start or 0), None if end is None else float(end), unit="frame"))
    if missing:
        number, raw = missing[0]
        raise ManifestError(
            f"{path}: {len(missing)} of {len(specs)} files are missing, the first at line {number}: '{raw}' "
            f"(relative to {root}); fix the paths or remove those rows"
        )
    if not specs:
        raise ManifestError(f"{path}: the manifest has no rows; add one line per video")
    return specs


def load_specs(source: str | os.PathLike) -> list[ClipSpec]:
    """A folder → scan_folder; a .csv/.jsonl → read_manifest; a single video or frame folder → one clip."""
    source = Path(source)
    if source.suffix.lower() in MANIFEST_EXTENSIONS:
        return read_manifest(source)
    if source.is_dir():
        return scan_folder(source)
    if not source.exists():
        raise InputNotFoundError(f"{source}: no such file or folder; pass a folder of videos, a manifest or a video")
    return [ClipSpec(source.resolve(), source.name)]


@lru_cache(maxsize=4096)
def _probe(path: Path, folder_fps: float):
    return probe(path, folder_fps=folder_fps)  # header only (image folders: a listing); cached per worker process


class ClipDataset(torch.utils.data.Dataset):
    """T frames at `fps` per clip, resized (short side) and centre-cropped to `size`.

    train=True: a random start inside the clip's window, drawn from (seed, epoch, index) — call `set_epoch` each
    epoch. train=False: a fixed start, the window's beginning (anchor="start") or middle (anchor="center").
    A clip whose window is too short raises NotEnoughFramesError when loaded; skip_short=True instead probes every
    file's header up front (no decoding) and leaves those clips out, listed in `.skipped` as (key, reason).
    """

    def __init__(
        self,
        source: str | os.PathLike | Sequence[ClipSpec],
        num_frames: int = 16,
        fps: float = 8.0,
        size: int | tuple[int, int] | None = 64,
        *,
        train: bool = True,
        seed: int = 0,
        anchor: str = "start",
        skip_short: bool = False,
        folder_fps: float = FOLDER_FPS,
    ):
        if num_frames < 1 or fps <= 0:
            raise ValueError(f"need num_frames ≥ 1 and fps > 0, got {num_frames} and {fps}")
        if anchor not in ("start", "center"):
            raise ValueError(f"anchor must be 'start' or 'center', got {anchor!r}")
        specs = list(source) if isinstance(source, (list, tuple)) else load_specs(source)
        self.num_frames, self.fps, self.size = num_frames, float(fps), size
        self.train, self.seed, self.anchor, self.folder_fps = train, seed, anchor, folder_fps
        self.epoch = 0
        self.skipped: list[tuple[str, str]] = []
        if skip_short:
            kept = []
            for spec in specs:
                reason = self._too_short(spec, *self.window(spec))
                if reason:
                    self.skipped.append((spec.key, reason))
                else:
                    kept.append(spec)
            specs = kept
        self.specs = specs
        self._labels = any(s.label is not None for s in specs)
        self._classes = any(s.label_index is not None for s in specs)

    def __len__(self) -> int:
        return len(self.specs)

    def set_epoch(self, epoch: int) -> None:
        """Training starts depend on the epoch; call this before each epoch (workers copy the dataset per epoch)."""
        self.epoch = int(epoch)

    def window(self, spec: ClipSpec) -> tuple[float, float]:
        """The clip's usable [lo, hi) in seconds; reads only the file header when the spec leaves a bound open."""
        folder_fps = spec.fps or self.folder_fps
        lo, hi = spec.start, spec.end
        if spec.unit == "frame":
            rate = spec.fps or _probe(spec.path, folder_fps).fps
            lo, hi = lo / rate, (None if hi is None else hi / rate)
        if hi is None:
            hi = _probe(spec.path, folder_fps).duration
        return lo, hi

    def _needed(self) -> float:
        return (self.num_frames - 1) / self.fps  # time from the first sampled frame to the last

    def _too_short(self, spec: ClipSpec, lo: float, hi: float) -> str | None:
        if hi - lo - _EPS >= self._needed():
            return None
        what = "its window" if spec.end is not None else "the video"
        return (
            f"{spec.path}: the clip needs {self.num_frames} frames at {self.fps:g} fps ({self._needed() + 1 / self.fps:.2f} s) "
            f"but {what} is {max(hi - lo, 0):.2f} s long; ask for fewer frames or a lower fps, or skip short clips "
            "(skip_short=True, --skip-short)"
        )

    def start_time(self, index: int) -> float:
        """Seconds from the file's first frame at which clip `index` starts (this epoch)."""
        return self._start(index, *self.window(self.specs[index]))

    def _start(self, index: int, lo: float, hi: float) -> float:
        spec = self.specs[index]
        reason = self._too_short(spec, lo, hi)
        if reason:
            raise NotEnoughFramesError(reason)
        latest = hi - self._needed() - _EPS
        if self.train:
            u = np.random.default_rng([self.seed, self.epoch, index]).random()
        else:
            u = 0.0 if self.anchor == "start" else 0.5
        return lo + u * (latest - lo)

    def clip(self, index: int) -> tuple[np.ndarray, dict]:
        """(`uint8 [T, H, W, 3]`, metadata) of clip `index`: what __getitem__ returns before tensor conversion."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"clip {index} out of range for {len(self)} clips")
        index %= len(self)
        spec = self.specs[index]
        lo, hi = self.window(spec)
        start = self._start(index, lo, hi)
        read = lambda s: read_video(  # noqa: E731
            spec.path, self.num_frames, fps=self.fps, start=s, end=None if spec.end is None else hi,
            size=self.size, folder_fps=spec.fps or self.folder_fps,
        )
        try:
            frames = read(start)  # [T, H, W, 3]
        except NotEnoughFramesError:
            if math.isclose(start, lo):
                raise
            start = lo  # the header overstated the duration: fall back to the window's start (deterministic)
            frames = read(start)
        meta = {"key": spec.key, "start": float(start)}
        if self._labels:
            meta["label"] = spec.label or ""
        if self._classes:
            meta["label_index"] = -1 if spec.label_index is None else spec.label_index
        meta.update({k: v for k, v in spec.meta.items() if isinstance(v, (str, int, float, bool))})
        return frames, meta

    def __getitem__(self, index: int) -> dict:
        frames, meta = self.clip(index)
        return {"video": frames_to_tensor(frames), **meta}  # video: float32 [T, 3, H, W] in [-1, 1]

    def __repr__(self) -> str:
        mode = "train" if self.train else f"eval/{self.anchor}"
        return f"ClipDataset({len(self)} clips, {self.num_frames} frames at {self.fps:g} fps, size={self.size}, {mode})"
