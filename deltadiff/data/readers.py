"""Readers for published video datasets: each turns a dataset's own layout into `ClipSpec`s for `ClipDataset`.

Layouts (exactly as published; sources cited in docs/datasets.md):
  Something-Something v2  root/20bn-something-something-v2/<id>.webm, root/labels/{train,validation,test}.json,
                          root/labels/labels.json (template without brackets → class index as a string)
  EPIC-KITCHENS-100       EPIC_100_{train,validation}.csv; root/<participant>/videos/<video_id>.MP4, or
                          root/<participant>/rgb_frames/<video_id>/frame_0000000001.jpg (frames numbered from 1)
  Fractal (RT-1)          LeRobot export (meta/info.json + meta/episodes.jsonl (v2) or meta/episodes/*.parquet (v3)
                          + mp4s at info.json's video_path), or frame folders root/<episode>/<frames>.png|jpg with
                          optional instruction.txt or episode.json {"instruction": ..., "fps": ...}
Every reader validates eagerly without decoding: missing files (count and first), paths leaving the root, bad rows.
"""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path

from deltadiff.data.clips import ClipSpec, load_specs, resolve_inside
from deltadiff.errors import ConfigError, InputNotFoundError, ManifestError
from deltadiff.io.video import IMAGE_EXTENSIONS

FRACTAL_FPS = 3.0  # RT-1 records at 3 Hz (its control rate); frame folders without episode.json use this
FRACTAL_CAMERA = "observation.images.image"  # the camera key of the LeRobot export of fractal20220817_data


def _natural(name: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def _first_existing(candidates: list[Path], what: str) -> Path:
    for c in candidates:
        if c.is_file():
            return c
    raise InputNotFoundError(f"no {what} found (looked for {', '.join(str(c) for c in candidates)}); check --root")


def _raise_missing(missing: list[tuple[str, Path]], total: int, what: str) -> None:
    if missing:
        where, path = missing[0]
        raise ManifestError(f"{len(missing)} of {total} {what} are missing, the first ({where}): {path}; download them or fix --root")


def _load_json(path: Path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ManifestError(f"{path}:{e.lineno}: not valid JSON ({e.msg}); re-download the file") from None


# --- Something-Something v2 ------------------------------------------------------------------------------------

_SSV2_SPLITS = {"train": "train", "validation": "validation", "val": "validation", "test": "test"}


def something_something_v2(root: str | os.PathLike, split: str = "train", *, videos: str | os.PathLike | None = None) -> list[ClipSpec]:
    """SSv2 clips of a split. label = the template with its brackets ("Putting [something] on [something]"),
    label_index = its class in labels.json (templates are looked up without brackets, as the official loaders do);
    the test split has ids only (no labels). meta["caption"] = the filled-in label where the split has one."""
    root = Path(root)
    if split not in _SSV2_SPLITS:
        raise ConfigError(f"unknown Something-Something v2 split {split!r}; use one of train, validation, test")
    split = _SSV2_SPLITS[split]
    labels_dir = root / "labels"
    entries_file = _first_existing([labels_dir / f"{split}.json", labels_dir / f"something-something-v2-{split}.json"], f"SSv2 {split} list")
    classes = _load_json(_first_existing([labels_dir / "labels.json", labels_dir / "something-something-v2-labels.json"], "SSv2 labels.json"))
    entries = _load_json(entries_file)
    if not isinstance(entries, list) or not isinstance(classes, dict):
        raise ManifestError(f"{entries_file}: expected a list of {{\"id\": ...}} entries and labels.json a {{template: index}} object")
    video_dir = Path(videos) if videos is not None else root / "20bn-something-something-v2"
    specs, missing = [], []
    for i, entry in enumerate(entries):
        where = f"{entries_file} entry {i}"
        if not isinstance(entry, dict) or "id" not in entry:
            raise ManifestError(f"{where}: expected an object with an 'id', got {str(entry)[:60]}")
        vid = str(entry["id"])
        path = resolve_inside(video_dir, f"{vid}.webm", where)
        label = label_index = None
        if split != "test":
            label = entry.get("template")
            if not isinstance(label, str):
                raise ManifestError(f"{where} (id {vid}): no 'template'; the {split} list must carry one per video")
            name = label.replace("[", "").replace("]", "")
            if name not in classes:
                raise ManifestError(f"{where} (id {vid}): template {name!r} is not in labels.json; use the labels.json of the same release")
            try:
                label_index = int(classes[name])
            except (TypeError, ValueError):
                raise ManifestError(f"labels.json: class of {name!r} is {classes[name]!r}, not a whole number") from None
        meta = {"caption": str(entry["label"])} if "label" in entry and split != "test" else {}
        specs.append(ClipSpec(path, vid, label, label_index=label_index, meta=meta))
        if not path.is_file():
            missing.append((f"id {vid}", path))
    _raise_missing(missing, len(specs), "SSv2 videos")
    return specs


# --- EPIC-KITCHENS-100 -----------------------------------------------------------------------------------------

_EPIC_FILES = {"train": "EPIC_100_train.csv", "validation": "EPIC_100_validation.csv", "val": "EPIC_100_validation.csv",
               "test": "EPIC_100_test_timestamps.csv"}
_EPIC_COLUMNS = ("narration_id", "participant_id", "video_id", "start_timestamp", "stop_timestamp", "start_frame", "stop_frame")


def _seconds(text: str, where: str) -> float:
    try:
        h, m, s = text.strip().split(":")
        return int(h) * 3600 + int(m) * 60 + float(s)
    except ValueError:
        raise ManifestError(f"{where}: timestamp {text!r} is not HH:MM:SS.ff") from None


def epic_fps(video_id: str) -> float:
    """Native frame rate: EPIC-KITCHENS-55 videos (P01_01) are 60 fps, the EPIC-100 extension (P01_101) 50 fps."""
    return 50.0 if len(video_id.split("_")[-1]) == 3 else 60.0


def epic_kitchens_100(
    root: str | os.PathLike, split: str = "train", *, annotations: str | os.PathLike | None = None,
    layout: str = "auto", fps: float | None = None,
) -> list[ClipSpec]:
    """EPIC-100 action segments. Videos (layout="videos"): the window is [start_timestamp, stop_timestamp).
    Frame folders (layout="frames"): frames start_frame..stop_frame (1-based, inclusive) at `fps` (default
    `epic_fps`). layout="auto" takes the video where present, else the frame folder. label = narration;
    meta: verb/verb_class/noun/noun_class where the CSV has them."""
    root = Path(root)
    if split not in _EPIC_FILES or layout not in ("auto", "videos", "frames"):
        raise ConfigError(f"EPIC-KITCHENS-100: split must be train/validation/test and layout auto/videos/frames, got {split!r}, {layout!r}")
    name = _EPIC_FILES[split]
    candidates = [Path(annotations)] if annotations else [root / name, root / "annotations" / name,
                                                          root / "epic-kitchens-100-annotations" / name]
    csv_path = _first_existing(candidates, name)
    specs, missing, found = [], [], {}
    with open(csv_path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        absent = [c for c in _EPIC_COLUMNS if c not in (reader.fieldnames or [])]
        if absent:
            raise ManifestError(f"{csv_path}: missing columns {', '.join(absent)}; pass the EPIC_100_*.csv annotation file")
        extra = [c for c in ("verb", "verb_class", "noun", "noun_class") if c in reader.fieldnames]
        for row in reader:
            where = f"{csv_path}:{reader.line_num}"
            if None in row or any(v is None for v in row.values()):
                raise ManifestError(f"{where}: the row has a different number of fields than the header")
            pid, vid = row["participant_id"], row["video_id"]
            if vid not in found:
                video = next((p for p in (Path(pid, "videos", f"{vid}.MP4"), Path(pid, "videos", f"{vid}.mp4"))
                              if (root / p).is_file()), Path(pid, "videos", f"{vid}.MP4"))
                frames = Path(pid, "rgb_frames", vid)
                use_video = layout == "videos" or (layout == "auto" and ((root / video).is_file() or not (root / frames).is_dir()))
                found[vid] = (resolve_inside(root, video if use_video else frames, where), use_video)
            path, use_video = found[vid]
            try:
                first, last = int(row["start_frame"]), int(row["stop_frame"])
                meta = {c: (int(row[c]) if row[c].strip() else -1) if c.endswith("_class") else row[c] for c in extra}
            except ValueError:
                raise ManifestError(f"{where}: start_frame, stop_frame and *_class must be whole numbers") from None
            t0, t1 = _seconds(row["start_timestamp"], where), _seconds(row["stop_timestamp"], where)
            if first < 1 or last < first or t1 <= t0:
                raise ManifestError(f"{where}: the segment is empty or reversed (frames {first}-{last}, {t0:.2f}-{t1:.2f} s)")
            label = row.get("narration")
            if use_video:
                spec = ClipSpec(path, row["narration_id"], label, t0, t1, meta=meta)
            else:  # frame_%010d.jpg numbered from 1: file n is at (n - 1) / fps; stop_frame is inclusive
                spec = ClipSpec(path, row["narration_id"], label, first - 1, last, "frame", fps or epic_fps(vid), meta=meta)
            specs.append(spec)
            if not (path.is_file() if use_video else path.is_dir()):
                missing.append((f"line {reader.line_num}", path))
    _raise_missing(missing, len(specs), "EPIC segments' videos/frame folders")
    if not specs:
        raise ManifestError(f"{csv_path}: no segments; pass a non-empty annotation file")
    return specs


# --- Fractal / RT-1 --------------------------------------------------------------------------------------------

def fractal(root: str | os.PathLike, *, camera: str = FRACTAL_CAMERA, fps: float | None = None) -> list[ClipSpec]:
    """Fractal (RT-1) episodes, one clip per episode, label = the language instruction.

    A LeRobot export (root/meta/info.json) is read from its metadata; otherwise every sub-folder of root holding
    images is an episode (frames in natural order at `fps`, episode.json's "fps", or FRACTAL_FPS)."""
    root = Path(root)
    if not root.is_dir():
        raise InputNotFoundError(f"{root}: no such folder; pass the root of the Fractal export")
    if (root / "meta" / "info.json").is_file():
        return _lerobot(root, camera)
    specs = []
    for d in sorted((d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")), key=lambda d: _natural(d.name)):
        if not any(f.suffix.lower() in IMAGE_EXTENSIONS for f in d.iterdir()):
            continue
        info = {}
        if (d / "episode.json").is_file():
            info = _load_json(d / "episode.json")
            if not isinstance(info, dict):
                raise ManifestError(f"{d / 'episode.json'}: expected an object like {{\"instruction\": \"pick coke can\"}}")
        text = info.get("instruction", info.get("language_instruction"))
        if text is None and (d / "instruction.txt").is_file():
            text = (d / "instruction.txt").read_text(encoding="utf-8").strip()
        try:
            rate = float(fps or info.get("fps") or FRACTAL_FPS)
        except (TypeError, ValueError):
            raise ManifestError(f"{d / 'episode.json'}: 'fps' must be a number, got {info.get('fps')!r}") from None
        specs.append(ClipSpec(resolve_inside(root, d.name, str(root)), d.name, None if text is None else str(text), fps=rate))
    if not specs:
        raise ManifestError(f"{root}: no meta/info.json (LeRobot export) and no episode folders of images; check the path")
    return specs


def _lerobot(root: Path, camera: str) -> list[ClipSpec]:
    info_path = root / "meta" / "info.json"
    info = _load_json(info_path)
    template = info.get("video_path") if isinstance(info, dict) else None
    if not template:  # the mp4s carry their own timestamps, so info.json's fps is not needed
        raise ManifestError(f"{info_path}: no 'video_path'; this export stores no videos — export with videos or use frame folders")
    cams = [k for k, v in info.get("features", {}).items() if isinstance(v, dict) and v.get("dtype") == "video"]
    if camera not in cams:
        if camera != FRACTAL_CAMERA or len(cams) != 1:
            raise ConfigError(f"{info_path}: no video feature {camera!r}; choose one of {', '.join(cams) or '(none)'}")
        camera = cams[0]
    chunks = int(info.get("chunks_size", 1000))
    specs, missing = [], []
    for where, row in _lerobot_episodes(root):
        try:
            idx = int(row["episode_index"])
            tasks = row.get("tasks") or []
            if "chunk_index" in template:  # v3: many episodes per file, each a [from, to) time range
                rel = template.format(video_key=camera, chunk_index=int(row[f"videos/{camera}/chunk_index"]),
                                      file_index=int(row[f"videos/{camera}/file_index"]))
                t0, t1 = float(row[f"videos/{camera}/from_timestamp"]), float(row[f"videos/{camera}/to_timestamp"])
            else:  # v2: one file per episode
                rel = template.format(episode_chunk=idx // chunks, video_key=camera, episode_index=idx)
                t0, t1 = 0.0, None
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise ManifestError(f"{where}: malformed episode record ({type(e).__name__}: {e}); re-export the dataset") from None
        path = resolve_inside(root, rel, where)
        label = "; ".join(map(str, tasks)) if isinstance(tasks, list) else str(tasks)
        specs.append(ClipSpec(path, f"episode_{idx:06d}", label, t0, t1, meta={"episode_index": idx}))
        if not path.is_file():
            missing.append((where, path))
    _raise_missing(missing, len(specs), f"episode videos ({camera})")
    if not specs:
        raise ManifestError(f"{root / 'meta'}: no episodes listed; check the export")
    return specs


def _lerobot_episodes(root: Path):
    """Yield (where, episode record): meta/episodes.jsonl (LeRobot v2.x) or meta/episodes/**/*.parquet (v3.0)."""
    jsonl = root / "meta" / "episodes.jsonl"
    if jsonl.is_file():
        with open(jsonl, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if line.strip():
                    try:
                        yield f"{jsonl}:{number}", json.loads(line)
                    except json.JSONDecodeError as e:
                        raise ManifestError(f"{jsonl}:{number}: not valid JSON ({e.msg})") from None
        return
    files = sorted((root / "meta" / "episodes").glob("**/*.parquet"))
    if not files:
        raise ManifestError(f"{root / 'meta'}: neither episodes.jsonl (LeRobot v2) nor episodes/*.parquet (v3) found")
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ManifestError(f"{root}: a LeRobot v3 export keeps episodes in parquet; pip install pyarrow to read it") from None
    for file in files:
        for i, row in enumerate(pq.read_table(file).to_pylist()):
            yield f"{file} row {i}", row


# --- dispatch --------------------------------------------------------------------------------------------------

FORMATS = {"ssv2": something_something_v2, "epic": epic_kitchens_100, "fractal": fractal}


def open_source(src: str | os.PathLike, format: str | None = None, split: str = "train") -> list[ClipSpec]:
    """Clips of `src`: a folder/manifest/video when format is None, else the root of a published dataset."""
    if format is None:
        return load_specs(src)
    if format not in FORMATS:
        raise ConfigError(f"unknown dataset format {format!r}; use one of {', '.join(FORMATS)}")
    if format == "fractal":
        return fractal(src)
    return FORMATS[format](src, split)
