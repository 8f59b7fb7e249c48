"""WebDataset shards: the writer (mp4 + JSON per clip, atomic shards, index last) and the streaming reader (split
across ranks and dataloader workers, seeded per-epoch shuffling, each sample exactly once per epoch)."""

from __future__ import annotations

import json
import tarfile
from collections import Counter

import numpy as np
import pytest
import torch
from conftest import frame_ids, level_frames
from typer.testing import CliRunner

from deltadiff.data.shards import ShardDataset, write_shards
from deltadiff.errors import ConfigError, InputNotFoundError, ManifestError, OutputError
from deltadiff.io import write_video
from deltadiff.io.tensor import tensor_to_frames


def _samples(n: int, frames: int = 4):
    """Sample i: frames with levels i, i+1, ... (identifiable after lossy coding), a unicode label."""
    for i in range(n):
        video = np.roll(level_frames(32, 16, 16), -i, axis=0)[:frames]  # [T, H, W, 3] uint8
        yield {"frames": video, "key": f"clip-{i:02d}", "label": f"geste n°{i}", "label_index": i % 3}


@pytest.fixture(scope="module")
def shard_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("shards") / "out dir é"
    write_shards(_samples(12), out, fps=4, max_count=2)
    return out


def test_writer_layout_and_index(shard_dir):
    index = json.loads((shard_dir / "index.json").read_text(encoding="utf-8"))
    assert index["count"] == 12 and index["fps"] == 4
    assert [(s["name"], s["count"]) for s in index["shards"]] == [(f"shard-{k:06d}.tar", 2) for k in range(6)]
    assert sorted(p.name for p in shard_dir.iterdir()) == ["index.json"] + [f"shard-{k:06d}.tar" for k in range(6)]
    with tarfile.open(shard_dir / "shard-000001.tar") as tar:
        names = tar.getnames()
        meta = json.loads(tar.extractfile("000000003.json").read())
    assert names == ["000000002.json", "000000002.mp4", "000000003.json", "000000003.mp4"]
    assert meta == {"key": "clip-03", "label": "geste n°3", "label_index": 0}


def test_reader_round_trip_in_order(shard_dir):
    samples = list(ShardDataset(shard_dir, shuffle=False))
    assert [s["key"] for s in samples] == [f"clip-{i:02d}" for i in range(12)]
    s = samples[5]
    assert s["video"].shape == (4, 3, 16, 16) and s["video"].dtype == torch.float32
    assert -1.0 <= float(s["video"].min()) and float(s["video"].max()) <= 1.0
    assert frame_ids(tensor_to_frames(s["video"])) == [5, 6, 7, 8] and s["label"] == "geste n°5"
    assert len(list(ShardDataset(sorted(str(p) for p in shard_dir.glob("*.tar")), num_frames=2))) == 12


def _epoch(shard_dir, rank, epoch, seed=7, workers=2):
    ds = ShardDataset(shard_dir, seed=seed, rank=rank, world_size=2, num_frames=1, size=8)
    ds.set_epoch(epoch)
    loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=workers)
    return [s["key"] for s in loader]


def test_two_ranks_two_workers_see_every_sample_once_per_epoch(shard_dir):
    everything = Counter(f"clip-{i:02d}" for i in range(12))
    orders = {}
    for epoch in (0, 1):
        per_rank = [_epoch(shard_dir, rank, epoch) for rank in (0, 1)]
        assert Counter(per_rank[0] + per_rank[1]) == everything  # exactly once across 2 ranks × 2 workers
        assert not set(per_rank[0]) & set(per_rank[1])
        orders[epoch] = per_rank
    assert orders[0] != orders[1]  # a new epoch reshuffles shards and samples
    assert _epoch(shard_dir, 0, 0) == orders[0][0]  # same seed and epoch: same order
    assert _epoch(shard_dir, 0, 0, seed=8) != orders[0][0]


def test_rank_from_torch_distributed(shard_dir, monkeypatch):
    explicit = [s["key"] for s in ShardDataset(shard_dir, seed=1, rank=1, world_size=2, num_frames=1)]
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.distributed, "get_rank", lambda group=None: 1)
    monkeypatch.setattr(torch.distributed, "get_world_size", lambda group=None: 2)
    assert [s["key"] for s in ShardDataset(shard_dir, seed=1, num_frames=1)] == explicit and len(explicit) == 6


def test_reader_errors(shard_dir, tmp_path):
    with pytest.raises(ConfigError, match="6 shards cannot feed 8 processes"):
        ShardDataset(shard_dir, rank=0, world_size=8)
    with pytest.raises(ConfigError, match="rank 2 is outside world_size 2"):
        ShardDataset(shard_dir, rank=2, world_size=2)
    (tmp_path / "unfinished").mkdir()
    with pytest.raises(ManifestError, match="no index.json; the shards were not finished"):
        ShardDataset(tmp_path / "unfinished")
    with pytest.raises(InputNotFoundError, match="1 of 2 shards are missing"):
        ShardDataset([str(shard_dir / "shard-000000.tar"), str(tmp_path / "shard-000009.tar")])


def test_max_size_starts_new_shards(tmp_path):
    index = write_shards(_samples(3), tmp_path / "s", fps=4, max_count=100, max_size=1)
    assert [s["count"] for s in index["shards"]] == [1, 1, 1]


def test_failed_write_leaves_no_shards(tmp_path):
    def failing():
        yield from _samples(3)
        raise RuntimeError("decoder crashed")

    out = tmp_path / "s"
    with pytest.raises(RuntimeError, match="decoder crashed"):
        write_shards(failing(), out, fps=4, max_count=2)
    assert list(out.iterdir()) == []  # neither the finished first shard, the half second one, nor an index
    with pytest.raises(OutputError, match="nothing to write"):
        write_shards(iter([]), out, fps=4)
    assert list(out.iterdir()) == []


def test_existing_shards_need_overwrite(tmp_path):
    out = tmp_path / "s"
    write_shards(_samples(2), out, fps=4)
    with pytest.raises(OutputError, match="already holds shards .*pass --overwrite"):
        write_shards(_samples(2), out, fps=4)
    index = write_shards(_samples(5), out, fps=4, max_count=4, overwrite=True)
    assert index["count"] == 5 and sorted(p.name for p in out.glob("*.tar")) == ["shard-000000.tar", "shard-000001.tar"]


def test_float_tensors_are_accepted(tmp_path):
    video = torch.from_numpy(level_frames(3, 16, 16)).permute(0, 3, 1, 2).float() / 127.5 - 1  # [T, 3, H, W]
    write_shards([{"video": video, "key": "t", "start": torch.tensor(0.5)}], tmp_path / "s", fps=4)
    (sample,) = ShardDataset(tmp_path / "s", shuffle=False)
    assert sample["start"] == 0.5 and sample["video"].shape == (3, 3, 16, 16)


def test_shards_command_writes_clips_from_a_folder(tmp_path):
    from deltadiff.cli.data import data_app

    src = tmp_path / "videos"
    src.mkdir()
    for i in range(3):
        write_video(src / f"v{i}.mp4", np.roll(level_frames(32, 32, 32), -4 * i, axis=0), fps=8)
    write_video(src / "short.mp4", level_frames(3, 32, 32), fps=8)
    out = tmp_path / "shards"
    args = ["shards", str(src), "--out", str(out), "--frames", "4", "--fps", "4", "--size", "16", "--max-count", "2"]
    result = CliRunner().invoke(data_app, args)
    assert result.exception is not None and "short.mp4: the clip needs 4 frames" in str(result.exception)
    assert not out.exists() or list(out.iterdir()) == []
    result = CliRunner().invoke(data_app, [*args, "--skip-short"])
    assert result.exit_code == 0, result.output
    assert "wrote 3 clips in 2 shards" in result.stdout and "left out 1 short clips" in result.stdout
    samples = list(ShardDataset(out, shuffle=False))
    assert [s["key"] for s in samples] == ["v0.mp4", "v1.mp4", "v2.mp4"]
    ids = [frame_ids(tensor_to_frames(s["video"])) for s in samples]
    assert ids == [[0, 2, 4, 6], [4, 6, 8, 10], [8, 10, 12, 14]]  # eval clips from t=0 at 4 fps of 8 fps sources
