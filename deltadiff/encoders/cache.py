"""Disk cache of frozen-encoder features, so a heavy encoder runs once per clip (STYLE.md §5, edm2 encoders).

Layout of a cache folder:
    meta.json                 {"encoder": name, "source": id of the encoder weights, "precision": fp32 | bf16 (what
                               the encoder ran in), "count": N, "shard_size": S, "spatial": [T', N, C], "keys": [...]}
    shard_00000.safetensors   "spatial" and "z", float16 [S, T', N, C] (the last shard may be shorter), plus one
                              tensor per `extras` entry (e.g. the generator's autoencoder latents)

A cache is written shard by shard under temporary names and `meta.json` last, so a cache with `meta.json` is complete;
an interrupted fill leaves no usable-looking half cache. Item i of `CachedFeatures` is {"spatial", "z", *extras}:
float32 ([T', N, C] for the features).

`derive_cache` writes a second cache of the same layout beside a first, holding a fixed function of its items (the
generator's δ = z − P(h) under a frozen P): its meta.json lists the tensors as "fields".
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from deltadiff.encoders.base import FoundationEncoder
from deltadiff.errors import ConfigError, InputNotFoundError
from deltadiff.progress import Progress


def fill_cache(encoder: FoundationEncoder, dataset, directory: str | Path, count: int | None = None,
               shard_size: int = 256, batch_size: int = 16, source: str = "", extras: dict | None = None) -> Path:
    """Encode the first `count` items of `dataset` ({"video": [T, 3, H, W], "key"}) into a cache folder.

    `extras` maps a name to a function of the video batch [B, T, 3, H, W] (e.g. a frozen autoencoder's encode) whose
    output is cached beside the features; `source` identifies the weights, so a cache of other weights is rebuilt.
    """
    extras = extras or {}
    directory = Path(directory)
    count = len(dataset) if count is None else count
    keys: list[str] = []
    shape = None
    precision = encoder.resolved_precision
    if (directory / "meta.json").exists():
        meta = json.loads((directory / "meta.json").read_text())
        if (meta["encoder"] == encoder.name and meta["source"] == source and meta.get("precision", "fp32") == precision
                and set(meta.get("extras", [])) == set(extras) and meta["shard_size"] == shard_size):
            if meta["count"] >= count:
                return directory  # already there
            # a larger cache of the same clips: keep the full shards, encode only the rest
            keys, shape = meta["keys"][: meta["count"] // shard_size * shard_size], meta["spatial"]
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "meta.json").unlink(missing_ok=True)
    with Progress(f"caching {encoder.name} features", total=count) as bar:
        bar.update(len(keys))
        for s0 in range(len(keys), count, shard_size):
            spatial, z, more = [], [], {k: [] for k in extras}
            for b0 in range(s0, min(count, s0 + shard_size), batch_size):
                items = [dataset[i] for i in range(b0, min(count, s0 + shard_size, b0 + batch_size))]
                video = torch.stack([it["video"] for it in items])
                f = encoder.encode(video)
                spatial.append(f.spatial.half().cpu())
                z.append(f.z.half().cpu())
                for k, fn in extras.items():
                    with torch.no_grad():
                        more[k].append(fn(video).half().cpu())
                keys += [str(it.get("key", i)) for i, it in zip(range(b0, b0 + len(items)), items)]
                bar.update(len(items))
            spatial, z = torch.cat(spatial), torch.cat(z)  # [S, T', N, C]
            shape = list(z.shape[1:])
            tmp = directory / f".shard_{s0 // shard_size:05d}.tmp"
            tensors = {"spatial": spatial.contiguous(), "z": z.contiguous(), **{k: torch.cat(v).contiguous() for k, v in more.items()}}
            save_file(tensors, str(tmp))
            os.replace(tmp, directory / f"shard_{s0 // shard_size:05d}.safetensors")
    meta = {"encoder": encoder.name, "source": source, "precision": precision, "count": count, "shard_size": shard_size, "spatial": shape,
            "extras": sorted(extras), "keys": keys}
    (directory / "meta.json.tmp").write_text(json.dumps(meta))
    os.replace(directory / "meta.json.tmp", directory / "meta.json")
    return directory


def derive_cache(features: CachedFeatures, directory: str | Path, fn, source: str, batch_size: int = 64,
                 label: str = "deriving") -> Path:
    """Write fn(batch) for every item of `features` to a cache folder (same shards); reuse it if `source` matches.

    fn maps a dict of stacked float32 items {name: [B, ...]} to a dict of tensors [B, ...] (stored as float16)."""
    directory = Path(directory)
    meta_file = directory / "meta.json"
    count, size = len(features), features.meta["shard_size"]
    if meta_file.exists():
        meta = json.loads(meta_file.read_text())
        if meta.get("source") == source and meta.get("count") == count:
            return directory
    directory.mkdir(parents=True, exist_ok=True)
    meta_file.unlink(missing_ok=True)
    fields: list[str] = []
    with Progress(label, total=count) as bar:
        for s0 in range(0, count, size):
            parts: dict[str, list[torch.Tensor]] = {}
            for b0 in range(s0, min(count, s0 + size), batch_size):
                items = [features[i] for i in range(b0, min(count, s0 + size, b0 + batch_size))]
                with torch.no_grad():
                    out = fn({k: torch.stack([it[k] for it in items]) for k in items[0]})
                for k, v in out.items():
                    parts.setdefault(k, []).append(v.half().cpu())
                bar.update(len(items))
            fields = sorted(parts)
            tmp = directory / f".shard_{s0 // size:05d}.tmp"
            save_file({k: torch.cat(v).contiguous() for k, v in parts.items()}, str(tmp))
            os.replace(tmp, directory / f"shard_{s0 // size:05d}.safetensors")
    (directory / "meta.json.tmp").write_text(json.dumps({"source": source, "count": count, "shard_size": size,
                                                         "fields": fields}))
    os.replace(directory / "meta.json.tmp", meta_file)
    return directory


class CachedFeatures(torch.utils.data.Dataset):
    """Map-style dataset over a cache folder; shards are memory-mapped, read item by item. `fields` restricts which
    tensors an item holds (default: all of them)."""

    def __init__(self, directory: str | Path, fields: list[str] | tuple[str, ...] | None = None):
        self.directory = Path(directory)
        meta_file = self.directory / "meta.json"
        if not meta_file.exists():
            raise InputNotFoundError(f"{self.directory}: no complete feature cache here (meta.json missing); fill it first")
        self.meta = json.loads(meta_file.read_text())
        if self.meta["count"] < 1:
            raise ConfigError(f"{self.directory}: the feature cache is empty")
        self._open: dict[int, object] = {}
        stored = self.meta.get("fields") or ["spatial", "z", *self.meta.get("extras", [])]
        missing = set(fields or ()) - set(stored)
        if missing:
            raise ConfigError(f"{self.directory}: the cache holds {', '.join(stored)}, not {', '.join(sorted(missing))}")
        self.fields = tuple(fields or stored)

    def __len__(self) -> int:
        return self.meta["count"]

    def __getitem__(self, i: int) -> dict:
        if not 0 <= i < len(self):
            raise IndexError(i)
        s, j = divmod(i, self.meta["shard_size"])
        if s not in self._open:
            self._open[s] = safe_open(str(self.directory / f"shard_{s:05d}.safetensors"), framework="pt")
        f = self._open[s]
        return {k: f.get_slice(k)[j : j + 1][0].float() for k in self.fields}
