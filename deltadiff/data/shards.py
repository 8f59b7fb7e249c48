"""WebDataset shards of clips: `write_shards` (encoded mp4 + JSON metadata per clip) and `ShardDataset`, a streaming
reader that splits shards across processes (ranks) and dataloader workers, shuffled per epoch from a seed.

Layout of a shard folder:
    shard-000000.tar, shard-000001.tar, ...   each member pair: <n>.mp4 (h264 clip) and <n>.json (key, label, ...)
    index.json                                {"shards": [{"name", "count"}], "count", "fps", ...}; written last
A shard is written under a temporary name and renamed when complete; index.json exists only after a full success,
and a failed run removes the shards it wrote. Samples follow the dataset convention
{"video": float32 [T, 3, H, W] in [-1, 1], "key": str, ...}; mp4 bytes are decoded with `read_video(bytes)`.
"""

from __future__ import annotations

import itertools
import json
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import torch
import webdataset as wds

from deltadiff.errors import ConfigError, InputNotFoundError, ManifestError, OutputError
from deltadiff.io import atomic_path, read_video, write_video
from deltadiff.io.tensor import frames_to_tensor

INDEX = "index.json"


def _frames_of(sample: dict) -> np.ndarray:
    """`uint8 [T, H, W, 3]` from sample["frames"] (uint8) or sample["video"] (uint8 array or [-1, 1] float tensor)."""
    x = sample["frames"] if "frames" in sample else sample.get("video")
    if isinstance(x, torch.Tensor):
        if x.dtype == torch.uint8:
            x = x.numpy()
        else:
            from deltadiff.io.tensor import tensor_to_frames

            x = tensor_to_frames(x)  # float [T, 3, H, W] in [-1, 1] → uint8 [T, H, W, 3]
    x = np.asarray(x)
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"sample {sample.get('key')!r}: expected frames uint8 [T, H, W, 3], got {x.dtype} {x.shape}")
    return x


def _metadata(sample: dict) -> dict:
    meta = {k: v for k, v in sample.items() if k not in ("frames", "video")}
    meta = {k: (v.item() if isinstance(v, (np.generic, torch.Tensor)) else v) for k, v in meta.items()}
    if "key" not in meta:
        raise ValueError("every sample needs a 'key'")
    return meta


class _AtomicShards:
    """ShardWriter opener/post pair: each shard is written as .<name>.part and renamed once closed."""

    def __init__(self):
        self.current: tuple[str, str, object] | None = None
        self.done: list[tuple[str, int]] = []  # (final path, samples) of completed shards
        self.pending = 0  # samples written to the shard in progress

    def open(self, fname: str):
        head, tail = os.path.split(fname)
        tmp = os.path.join(head, f".{tail}.part")
        self.current = (fname, tmp, open(tmp, "wb"))
        return self.current[2]

    def post(self, fname: str) -> None:
        final, tmp, f = self.current
        f.close()
        os.replace(tmp, final)
        self.done.append((final, self.pending))
        self.current, self.pending = None, 0

    def abort(self) -> None:
        """Close and delete the shard in progress and every shard this run completed."""
        if self.current is not None:
            _, tmp, f = self.current
            f.close()
            Path(tmp).unlink(missing_ok=True)
        for name, _ in self.done:
            Path(name).unlink(missing_ok=True)


def write_shards(
    samples: Iterable[dict],
    out_dir: str | os.PathLike,
    *,
    fps: float,
    max_count: int = 1000,
    max_size: float = 1e9,
    prefix: str = "shard",
    quality: int = 23,
    overwrite: bool = False,
    progress: Callable[[], None] | None = None,
) -> dict:
    """Encode each sample's frames as mp4 (at `fps`, x264 CRF `quality`) plus a JSON of its other fields, into
    tar shards of at most `max_count` samples / about `max_size` bytes. Returns the index (also saved as index.json).

    samples: dicts with "frames" (`uint8 [T, H, W, 3]`) or "video" (that, or float [T, 3, H, W] in [-1, 1]), a
    "key", and any JSON-serialisable metadata. Odd frame sizes are padded by one row/column (yuv420p).
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: exists and is not a folder; choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    old = sorted(out.glob(f"{prefix}-*.tar")) + ([out / INDEX] if (out / INDEX).exists() else [])
    if old and not overwrite:
        raise OutputError(f"{out}: already holds shards ({old[0].name}, ...); pass --overwrite or choose an empty folder")
    for p in old:
        p.unlink()
    files = _AtomicShards()
    writer = wds.ShardWriter(str(out / f"{prefix}-%06d.tar"), maxcount=max_count, maxsize=max_size,
                             post=files.post, opener=files.open, verbose=0, mtime=0.0)
    try:
        with tempfile.TemporaryDirectory(prefix="deltadiff-shards-") as tmp:
            clip = Path(tmp) / "clip.mp4"
            for n, sample in enumerate(samples):
                write_video(clip, _frames_of(sample), fps, quality=quality)
                meta = _metadata(sample)
                # __key__ is a plain counter: webdataset splits member names at the first dot, so keys stay in the JSON
                writer.write({"__key__": f"{n:09d}", "mp4": clip.read_bytes(),
                              "json": json.dumps(meta, ensure_ascii=False).encode("utf-8")})
                files.pending += 1  # after write(): a shard change inside write() has already posted the old shard
                if progress is not None:
                    progress()
        if not files.pending:
            raise OutputError(f"{out}: nothing to write, the source yielded no clips")
        writer.close()
    except BaseException:
        if getattr(writer, "tarstream", None) is not None:
            writer.tarstream.close()  # end the tar cleanly so nothing flushes into the closed file later
        files.abort()
        raise
    index = {"format": "deltadiff-shards/1", "count": sum(c for _, c in files.done), "fps": fps,
             "shards": [{"name": Path(name).name, "count": c} for name, c in files.done]}
    with atomic_path(out / INDEX) as tmp:
        tmp.write_text(json.dumps(index, indent=1, ensure_ascii=False), encoding="utf-8")
    return index


def _shard_list(source: str | os.PathLike | Sequence[str | os.PathLike]) -> tuple[list[str], int | None]:
    """(shard paths, sample count if known) from a shard folder (its index.json), a list, or a brace pattern."""
    if isinstance(source, (list, tuple)):
        urls = [str(s) for s in source]
        count = None
    elif Path(source).is_dir():
        index_path = Path(source) / INDEX
        if not index_path.is_file():
            raise ManifestError(f"{source}: no {INDEX}; the shards were not finished — rerun `deltadiff data shards`")
        try:
            index = json.loads(index_path.read_text(encoding="utf-8"))
            urls = [str(Path(source) / s["name"]) for s in index["shards"]]
            count = int(index["count"])
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise ManifestError(f"{index_path}: unreadable shard index ({type(e).__name__}); rewrite the shards") from None
    else:
        urls, count = wds.shardlists.expand_urls(str(source)), None
    if not urls:
        raise ManifestError(f"{source}: lists no shards")
    absent = [u for u in urls if not Path(u).is_file()]
    if absent:
        raise InputNotFoundError(f"{len(absent)} of {len(urls)} shards are missing, the first: {absent[0]}; check the path")
    return urls, count


def _rank_split(rank: int, world_size: int):
    def split(src):
        yield from itertools.islice(src, rank, None, world_size)  # the same shard order on every rank (same seed)

    return split


class ShardDataset(torch.utils.data.IterableDataset):
    """Stream clips from shards. Each epoch the shard list is shuffled from (seed, epoch) — identically on every
    rank — then rank r takes shards r, r+W, ...; dataloader workers split a rank's shards the same way; samples
    are shuffled in a buffer seeded by (seed, epoch, rank, worker). Together each sample is seen once per epoch.

    rank/world_size: explicit, else from torch.distributed if it is initialised when the dataset is built (build it
    after init_process_group), else 0/1. Call `set_epoch` before each epoch (with persistent_workers=False, the
    default, workers take the new epoch with their fresh copy).
    num_frames: frames to decode per clip (None: all stored); size: resize + centre crop (None: as stored).
    """

    def __init__(
        self,
        source: str | os.PathLike | Sequence[str | os.PathLike],
        *,
        num_frames: int | None = None,
        size: int | tuple[int, int] | None = None,
        shuffle: bool = True,
        seed: int = 0,
        buffer: int = 64,
        rank: int | None = None,
        world_size: int | None = None,
    ):
        super().__init__()
        self.urls, self.num_samples = _shard_list(source)
        self.num_frames, self.size = num_frames, size
        self.shuffle, self.seed, self.buffer = shuffle, seed, buffer
        self.rank, self.world_size = self._ranks(rank, world_size)  # resolved now: spawned workers see no process group
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _ranks(self, rank: int | None, world: int | None) -> tuple[int, int]:
        if rank is None or world is None:
            dist = torch.distributed.is_available() and torch.distributed.is_initialized()
            rank = rank if rank is not None else (torch.distributed.get_rank() if dist else 0)
            world = world if world is not None else (torch.distributed.get_world_size() if dist else 1)
        if not 0 <= rank < world:
            raise ConfigError(f"rank {rank} is outside world_size {world}")
        if len(self.urls) < world:
            raise ConfigError(f"{len(self.urls)} shards cannot feed {world} processes; write at least one shard per process (smaller --max-count)")
        return rank, world

    def _decode(self, sample: dict) -> dict:
        meta = json.loads(sample["json"])
        frames = read_video(sample["mp4"], self.num_frames, size=self.size)  # [T, H, W, 3] uint8
        return {"video": frames_to_tensor(frames), **meta}  # video: float32 [T, 3, H, W] in [-1, 1]

    def __iter__(self):
        rank, world = self.rank, self.world_size
        info = torch.utils.data.get_worker_info()
        worker = info.id if info is not None else 0
        pipeline = wds.DataPipeline(
            wds.SimpleShardList(self.urls, seed=f"{self.seed}:{self.epoch}" if self.shuffle else None),
            _rank_split(rank, world),
            wds.split_by_worker,
            wds.tarfile_to_samples(),
            wds.shuffle(self.buffer, initial=self.buffer, seed=f"{self.seed}:{self.epoch}:{rank}:{worker}") if self.shuffle else None,
            wds.map(self._decode),
        )
        return iter(pipeline)

    def __repr__(self) -> str:
        n = "?" if self.num_samples is None else self.num_samples
        return f"ShardDataset({len(self.urls)} shards, {n} clips, shuffle={self.shuffle}, seed={self.seed})"
