"""Readers for published layouts, each on a tiny fixture built in that exact layout: Something-Something v2,
EPIC-KITCHENS-100 (videos and rgb_frames), Fractal/RT-1 (LeRobot v2 export, v3 when pyarrow exists, frame folders)."""

from __future__ import annotations

import csv
import json

import av
import pytest
from conftest import frame_ids, level_frames
from PIL import Image

from deltadiff.data.clips import ClipDataset
from deltadiff.data.readers import epic_fps, epic_kitchens_100, fractal, open_source, something_something_v2
from deltadiff.errors import ConfigError, InputNotFoundError, ManifestError, PathOutsideRootError
from deltadiff.io import write_video

# --- Something-Something v2 -----------------------------------------------------------------------------------

SSV2_LABELS = {"Putting something on a surface": "0", "Pushing something from left to right": "1",
               "Holding something next to something": "2"}


def _ssv2(root, train=None):
    videos = root / "20bn-something-something-v2"
    videos.mkdir(parents=True)
    for vid in ("101", "102", "103", "201"):
        write_video(videos / f"{vid}.webm", level_frames(6, 32, 32), fps=12)
    labels = root / "labels"
    labels.mkdir()
    train = train if train is not None else [
        {"id": "101", "label": "putting a pen on a surface", "template": "Putting [something] on a surface", "placeholders": ["a pen"]},
        {"id": "102", "label": "holding potato next to vicks vaporub bottle", "template": "Holding [something] next to [something]",
         "placeholders": ["potato", "vicks vaporub bottle"]},
        {"id": "103", "label": "pushing cup from left to right", "template": "Pushing [something] from left to right", "placeholders": ["cup"]},
    ]
    (labels / "train.json").write_text(json.dumps(train))
    (labels / "validation.json").write_text(json.dumps([{"id": "201", "label": "pushing a box from left to right",
                                                          "template": "Pushing [something] from left to right", "placeholders": ["a box"]}]))
    (labels / "test.json").write_text(json.dumps([{"id": "201"}]))
    (labels / "labels.json").write_text(json.dumps(SSV2_LABELS))
    return root


def test_ssv2_train_labels_are_templates_with_class_indices(tmp_path):
    specs = something_something_v2(_ssv2(tmp_path / "ssv2"), "train")
    assert [s.key for s in specs] == ["101", "102", "103"]
    assert [s.label for s in specs] == ["Putting [something] on a surface", "Holding [something] next to [something]",
                                        "Pushing [something] from left to right"]
    assert [s.label_index for s in specs] == [0, 2, 1]
    assert specs[1].meta["caption"] == "holding potato next to vicks vaporub bottle"
    assert specs[0].path == (tmp_path / "ssv2" / "20bn-something-something-v2" / "101.webm").resolve()
    sample = ClipDataset(specs, num_frames=4, fps=12, size=16, train=False)[2]
    assert sample["video"].shape == (4, 3, 16, 16) and sample["label_index"] == 1 and sample["key"] == "103"


def test_ssv2_validation_and_test_splits(tmp_path):
    root = _ssv2(tmp_path / "ssv2")
    val = something_something_v2(root, "val")
    assert [(s.key, s.label_index) for s in val] == [("201", 1)]
    test = something_something_v2(root, "test")
    assert [(s.key, s.label, s.label_index) for s in test] == [("201", None, None)]
    assert "label" not in ClipDataset(test, num_frames=2, fps=4, size=8, train=False)[0]


def test_ssv2_accepts_the_original_20bn_file_names(tmp_path):
    root = _ssv2(tmp_path / "ssv2")
    for split in ("train", "labels"):
        (root / "labels" / f"{split}.json").rename(root / "labels" / f"something-something-v2-{split}.json")
    assert len(something_something_v2(root, "train")) == 3


@pytest.mark.parametrize("train, error, message", [
    ([{"id": "101", "template": "Spinning [something]"}], ManifestError, "(id 101): template 'Spinning something' is not in labels.json"),
    ([{"id": "101"}], ManifestError, "(id 101): no 'template'"),
    ([{"label": "x"}], ManifestError, "entry 0: expected an object with an 'id'"),
    ([{"id": "101", "template": "Putting [something] on a surface"}, {"id": "998", "template": "Putting [something] on a surface"},
      {"id": "999", "template": "Putting [something] on a surface"}], ManifestError, "2 of 3 SSv2 videos are missing, the first (id 998)"),
    ([{"id": "../../../etc/passwd", "template": "Putting [something] on a surface"}], PathOutsideRootError, "points outside"),
])
def test_ssv2_errors(tmp_path, train, error, message):
    with pytest.raises(error) as e:
        something_something_v2(_ssv2(tmp_path / "ssv2", train), "train")
    assert message in str(e.value)


def test_ssv2_missing_annotations(tmp_path):
    with pytest.raises(InputNotFoundError, match="no SSv2 train list found"):
        something_something_v2(tmp_path, "train")


# --- EPIC-KITCHENS-100 ----------------------------------------------------------------------------------------

EPIC_HEADER = ["narration_id", "participant_id", "video_id", "narration_timestamp", "start_timestamp", "stop_timestamp",
               "start_frame", "stop_frame", "narration", "verb", "verb_class", "noun", "noun_class", "all_nouns", "all_noun_classes"]


def _epic(root, rows=None):
    (root / "P01" / "videos").mkdir(parents=True)
    write_video(root / "P01" / "videos" / "P01_01.MP4", level_frames(60, 32, 32), fps=30)  # frame i at i/30 s
    frames = root / "P02" / "rgb_frames" / "P02_101"
    frames.mkdir(parents=True)
    for n in range(1, 21):  # frame_0000000001.jpg ... : file n shows level 8*n
        Image.fromarray(level_frames(n + 1, 32, 32)[n]).save(frames / f"frame_{n:010d}.jpg", quality=95)
    rows = rows if rows is not None else [
        ["P01_01_0", "P01", "P01_01", "00:00:00.400", "00:00:00.50", "00:00:01.50", "30", "90", "open door", "open", "3",
         "door", "3", "['door']", "[3]"],
        ["P02_101_0", "P02", "P02_101", "00:00:00.100", "00:00:00.08", "00:00:00.24", "5", "12", "take plate", "take", "0",
         "plate", "2", "['plate']", "[2]"],
    ]
    with open(root / "EPIC_100_train.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(EPIC_HEADER)
        w.writerows(rows)
    return root


def test_epic_video_and_frame_layouts(tmp_path):
    specs = epic_kitchens_100(_epic(tmp_path / "EPIC-KITCHENS"), "train")
    assert [(s.key, s.label, s.unit) for s in specs] == [("P01_01_0", "open door", "s"), ("P02_101_0", "take plate", "frame")]
    assert (specs[0].start, specs[0].end) == (0.5, 1.5)
    assert (specs[1].start, specs[1].end, specs[1].fps) == (4, 12, 50.0)  # 1-based inclusive → 0-based exclusive; EPIC-100 at 50 fps
    ds = ClipDataset(specs, num_frames=4, fps=10, size=None, train=False)
    frames, meta = ds.clip(0)  # 0.5, 0.6, 0.7, 0.8 s of a 30 fps video
    assert frame_ids(frames) == [15, 18, 21, 24] and meta["verb_class"] == 3 and meta["noun"] == "door"
    native = ClipDataset(specs, num_frames=4, fps=50, size=None, train=False)
    assert frame_ids(native.clip(1)[0]) == [5, 6, 7, 8]  # frame_0000000005.jpg is the segment's first frame
    assert frame_ids(ClipDataset(specs, num_frames=4, fps=50, size=None, train=False, anchor="center").clip(1)[0]) == [7, 8, 9, 10]


def test_epic_fps_by_video_generation():
    assert (epic_fps("P01_01"), epic_fps("P01_101"), epic_fps("P37_103")) == (60.0, 50.0, 50.0)


def test_epic_auto_prefers_videos_and_forced_layout_reports_missing(tmp_path):
    root = _epic(tmp_path / "epic")
    with pytest.raises(ManifestError, match=r"1 of 2 EPIC segments' videos/frame folders are missing, the first \(line 2\)"):
        epic_kitchens_100(root, "train", layout="frames")  # P01_01 has only a video
    with pytest.raises(ManifestError, match=r"the first \(line 3\).*P02_101.MP4"):
        epic_kitchens_100(root, "train", layout="videos")


@pytest.mark.parametrize("mutate, message", [
    (lambda r: r.__setitem__(4, "0:00"), "EPIC_100_train.csv:2: timestamp '0:00' is not HH:MM:SS.ff"),
    (lambda r: r.__setitem__(6, "x"), "EPIC_100_train.csv:2: start_frame, stop_frame and *_class must be whole numbers"),
    (lambda r: r.__setitem__(10, "three"), "EPIC_100_train.csv:2: start_frame, stop_frame and *_class must be whole numbers"),
    (lambda r: r.__setitem__(7, "10"), "EPIC_100_train.csv:2: the segment is empty or reversed"),
    (lambda r: r.__setitem__(1, "../../.."), "points outside the dataset root"),
])
def test_epic_malformed_rows(tmp_path, mutate, message):
    row = ["P01_01_0", "P01", "P01_01", "00:00:00.400", "00:00:00.50", "00:00:01.50", "30", "90", "open door", "open", "3",
           "door", "3", "['door']", "[3]"]
    mutate(row)
    with pytest.raises(ManifestError) as e:
        epic_kitchens_100(_epic(tmp_path / "epic", [row]), "train")
    assert message in str(e.value)


def test_epic_missing_columns(tmp_path):
    root = tmp_path / "epic"
    root.mkdir()
    (root / "EPIC_100_train.csv").write_text("narration_id,video_id\nP01_01_0,P01_01\n")
    with pytest.raises(ManifestError, match="missing columns participant_id, start_timestamp, stop_timestamp, start_frame, stop_frame"):
        epic_kitchens_100(root, "train")


# --- Fractal / RT-1 --------------------------------------------------------------------------------------------

def _write_av1(path, frames, fps):
    """LeRobot encodes its videos with libsvtav1; do the same where this FFmpeg build has it (else h264)."""
    if "libsvtav1" not in av.codecs_available:
        return write_video(path, frames, fps)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libsvtav1", rate=fps)
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def _lerobot_v2(root, template="videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4"):
    (root / "meta").mkdir(parents=True)
    info = {"codebase_version": "v2.0", "robot_type": "google_robot", "fps": 3, "chunks_size": 1000, "total_episodes": 2,
            "data_path": "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet", "video_path": template,
            "features": {"observation.images.image": {"dtype": "video", "shape": [256, 320, 3],
                                                      "info": {"video.fps": 3.0, "video.codec": "av1"}},
                         "observation.state": {"dtype": "float32", "shape": [8]}, "action": {"dtype": "float32", "shape": [7]}}}
    (root / "meta" / "info.json").write_text(json.dumps(info))
    episodes = [{"episode_index": 0, "tasks": ["pick coke can"], "length": 10},
                {"episode_index": 1, "tasks": ["move blue chip bag near apple"], "length": 8}]
    (root / "meta" / "episodes.jsonl").write_text("".join(json.dumps(e) + "\n" for e in episodes))
    (root / "meta" / "tasks.jsonl").write_text('{"task_index": 0, "task": "pick coke can"}\n')
    for e in episodes:
        path = root / "videos" / "chunk-000" / "observation.images.image" / f"episode_{e['episode_index']:06d}.mp4"
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_av1(path, level_frames(e["length"], 64, 64), fps=3)
    return root


def test_fractal_lerobot_v2_export(tmp_path):
    specs = fractal(_lerobot_v2(tmp_path / "fractal20220817_data_lerobot"))
    assert [(s.key, s.label) for s in specs] == [("episode_000000", "pick coke can"), ("episode_000001", "move blue chip bag near apple")]
    assert specs[1].path.name == "episode_000001.mp4" and specs[1].path.parent.name == "observation.images.image"
    ds = ClipDataset(specs, num_frames=4, fps=3, size=16, train=False)
    assert frame_ids(ds.clip(0)[0]) == [0, 1, 2, 3] and ds[1]["label"] == "move blue chip bag near apple"


def test_fractal_lerobot_errors(tmp_path):
    root = _lerobot_v2(tmp_path / "a")
    with pytest.raises(ConfigError, match="no video feature 'wrist'; choose one of observation.images.image"):
        fractal(root, camera="wrist")
    (root / "videos" / "chunk-000" / "observation.images.image" / "episode_000001.mp4").unlink()
    with pytest.raises(ManifestError, match=r"1 of 2 episode videos \(observation.images.image\) are missing, the first \(.*episodes.jsonl:2\)"):
        fractal(root)
    with pytest.raises(PathOutsideRootError, match="points outside"):
        fractal(_lerobot_v2(tmp_path / "b", template="../{video_key}/{episode_index}.mp4"))
    with pytest.raises(ManifestError, match="no 'video_path'; this export stores no videos"):
        fractal(_lerobot_v2(tmp_path / "c", template=None))


def test_fractal_lerobot_v3_needs_pyarrow_or_reads_parquet(tmp_path):
    root = tmp_path / "v3"
    (root / "meta" / "episodes" / "chunk-000").mkdir(parents=True)
    cam = "observation.images.image"
    info = {"codebase_version": "v3.0", "fps": 3, "video_path": "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4",
            "features": {cam: {"dtype": "video"}}}
    (root / "meta" / "info.json").write_text(json.dumps(info))
    video = root / "videos" / cam / "chunk-000" / "file-000.mp4"
    video.parent.mkdir(parents=True)
    write_video(video, level_frames(18, 32, 32), fps=3)  # two episodes packed in one file: [0, 3) s and [3, 6) s
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        (root / "meta" / "episodes" / "chunk-000" / "file-000.parquet").write_bytes(b"PAR1")
        with pytest.raises(ManifestError, match="pip install pyarrow"):
            fractal(root)
        return
    rows = {"episode_index": [0, 1], "tasks": [["open drawer"], ["close drawer"]], "length": [9, 9],
            f"videos/{cam}/chunk_index": [0, 0], f"videos/{cam}/file_index": [0, 0],
            f"videos/{cam}/from_timestamp": [0.0, 3.0], f"videos/{cam}/to_timestamp": [3.0, 6.0]}
    pq.write_table(pa.table(rows), root / "meta" / "episodes" / "chunk-000" / "file-000.parquet")
    specs = fractal(root)
    assert [(s.key, s.label, s.start, s.end) for s in specs] == [("episode_000000", "open drawer", 0.0, 3.0),
                                                                  ("episode_000001", "close drawer", 3.0, 6.0)]
    assert frame_ids(ClipDataset(specs, num_frames=3, fps=3, size=None, train=False).clip(1)[0]) == [9, 10, 11]


def test_fractal_frame_folders(tmp_path):
    root = tmp_path / "rt1"
    for name, n in (("episode_10", 6), ("episode_2", 5)):
        (root / name).mkdir(parents=True)
        for i, f in enumerate(level_frames(n, 32, 32)):
            Image.fromarray(f).save(root / name / f"{i:04d}.png")
    (root / "episode_2" / "instruction.txt").write_text("  pick rxbar chocolate from bottom drawer\n")
    (root / "episode_10" / "episode.json").write_text(json.dumps({"instruction": "place 7up can upright", "fps": 5}))
    (root / "notes").mkdir()
    (root / "notes" / "readme.txt").write_text("not an episode")
    specs = fractal(root)
    assert [(s.key, s.label, s.fps) for s in specs] == [("episode_2", "pick rxbar chocolate from bottom drawer", 3.0),
                                                        ("episode_10", "place 7up can upright", 5.0)]
    assert frame_ids(ClipDataset(specs, num_frames=5, fps=5, size=None, train=False).clip(1)[0]) == [0, 1, 2, 3, 4]
    with pytest.raises(ManifestError, match="no meta/info.json .* and no episode folders"):
        fractal(root / "notes")


def test_open_source_dispatch(tmp_path):
    root = _lerobot_v2(tmp_path / "f")
    assert [s.key for s in open_source(root, "fractal")] == ["episode_000000", "episode_000001"]
    assert [s.key for s in open_source(root / "videos")] == ["chunk-000/observation.images.image/episode_000000.mp4",
                                                            "chunk-000/observation.images.image/episode_000001.mp4"]
    with pytest.raises(ConfigError, match="unknown dataset format 'kinetics'"):
        open_source(root, "kinetics")
