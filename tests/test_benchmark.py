"""The benchmark harness: baselines with known behaviour, the summary and CI arithmetic, the report's honesty."""

from __future__ import annotations

import json

import numpy as np
import pytest

from deltadiff.data.flow import chained_maps
from deltadiff.eval.baselines import (
    BASELINES,
    copy_demo,
    flow_warp,
    static,
)
from deltadiff.eval.benchmark import (
    METRICS,
    not_won,
    report_markdown,
    run_benchmark,
    summarise,
    write_report,
)


def _square_clip(t=8, size=32, x0=8, step=2, colour=(255, 255, 255), bg=(0, 0, 0)):
    v = np.empty((t, size, size, 3), np.uint8)
    v[:] = bg
    for i in range(t):
        x = x0 + step * i
        v[i, 12:20, x : x + 8] = colour
    return v


def _centroid_x(frame, colour):
    mask = np.all(np.abs(frame.astype(int) - colour) < 60, -1)
    return np.nonzero(mask)[1].mean()


def test_static_and_copy_demo():
    demos = np.random.default_rng(0).integers(0, 256, (2, 5, 8, 8, 3), dtype=np.uint8)
    ctx = np.random.default_rng(1).integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)
    s = static(demos, ctx, [0, 1])
    assert s.shape == demos.shape and (s == ctx[:, None]).all()
    assert (copy_demo(demos, ctx, [0, 1]) == demos).all()
    assert not BASELINES["static"].uses_demo and BASELINES["flow_warp"].uses_demo


def test_flow_warp_moves_the_context_like_the_demo():
    demo = _square_clip()  # a white square moving right 2 px per frame on black
    ctx = np.full((32, 32, 3), (30, 90, 30), np.uint8)
    ctx[12:20, 8:16] = (220, 40, 40)  # a red square where the demo's square starts, on green
    maps = chained_maps(demo)
    assert maps.shape == (8, 32, 32, 2) and np.allclose(maps[0, 5, 7], (7, 5))  # frame 0: identity
    out = flow_warp(demo[None], ctx[None], [0])[0]
    assert (out[0] == ctx).all()
    for t in (2, 4, 7):  # the red square follows the white one (within a pixel)
        assert abs(_centroid_x(out[t], (220, 40, 40)) - (11.5 + 2 * t)) < 1.0, t


def test_summarise_means_cis_and_non_finite_values():
    rows = {"a": [{"psnr": 10.0}, {"psnr": 20.0}, {"psnr": float("inf")}]}
    s = summarise(rows, ["x", "y", "x"])
    assert s["methods"]["a"]["psnr"]["mean"] == 15.0
    assert s["methods"]["a"]["psnr"]["ci95"] == pytest.approx(1.96 * np.std([10, 20], ddof=1) / np.sqrt(2))
    assert s["dropped"] == {"a": {"psnr": 1}}
    assert s["methods"]["a"]["psnr"]["median"] == 15.0


def test_summary_medians_and_per_class_delta_psnr_reach_the_transfer_report():
    from deltadiff.eval.transfer import report_markdown as transfer_markdown
    from deltadiff.eval.transfer import transfer_view

    # one `still` triple with a huge ΔPSNR pulls the mean far above the typical triple; the median and the classes say so
    rows = {"deltadiff": [{"delta_psnr": d, "trajectory_error": e, "direction_accuracy": 1.0}
                          for d, e in ((40.0, 0.1), (1.0, 3.0), (0.5, 4.0), (-1.0, 5.0))]}
    view = transfer_view(summarise(rows, ["still", "translate", "translate", "orbit"]), 4)
    assert view["methods"]["deltadiff"]["delta_psnr"] == pytest.approx(10.125)
    assert view["median"]["deltadiff"]["delta_psnr"] == pytest.approx(0.75)
    assert view["per_class"]["deltadiff"]["still"]["delta_psnr"] == 40.0
    assert view["per_class"]["deltadiff"]["translate"] == {"trajectory_error": 3.5, "direction_accuracy": 1.0, "delta_psnr": 0.75}
    md = transfer_markdown({**view, "methods": {"deltadiff": {k: 0.0 for k in (
        "trajectory_error", "direction_accuracy", "leakage", "delta_psnr", "delta_psnr_t4", "psnr", "actor_found")}},
        "ci95": {"deltadiff": {k: 0.0 for k in ("trajectory_error", "direction_accuracy", "leakage", "delta_psnr",
                                                "delta_psnr_t4", "psnr", "actor_found")}}})
    assert "| deltadiff (median) |" in md and "delta_psnr per action class:" in md and "| 40.00 |" in md


def _result(values: dict) -> dict:
    return {"n_triples": 3, "methods": {m: {k: {"mean": v, "ci95": 0.0} for k, v in kv.items()} for m, kv in values.items()},
            "per_class": {m: {} for m in values}, "classes": {}, "seconds": {"total": 1, "methods_and_scoring": 1, "set_metrics": 0}}


def test_the_report_says_where_deltadiff_does_not_win():
    r = _result({"deltadiff": {"psnr": 20.0, "trajectory_error": 3.0, "leakage": 0.01},
                 "static": {"psnr": 25.0, "trajectory_error": 5.0, "leakage": 0.01}})
    lines = not_won(r)
    assert len(lines) == 2  # psnr lost, leakage tied; trajectory error won
    assert "**leakage**" in lines[0] and "ties with `static`" in lines[0]
    assert "**psnr**" in lines[1] and "best is `static`" in lines[1]
    md = report_markdown(r)
    assert "## Where deltadiff does not win" in md and "**3.00 ± 0.00**" in md


@pytest.mark.slow
def test_run_benchmark_on_world_triples_and_write_the_report(tmp_path):
    from deltadiff.data.world import World

    methods = {k: BASELINES[k] for k in ("copy_demo", "flow_warp", "static")}
    result, shown = run_benchmark(methods, World(), 3, batch_size=2, fvd=False, fid=False, samples=1, progress=False)
    m = result["methods"]
    assert set(m) == set(methods) and all(k in m["static"] for k in ("trajectory_error", "psnr", "ssim", "leakage"))
    assert m["static"]["delta_psnr"]["mean"] == 0.0  # the same video whatever the demo
    assert m["static"]["leakage"]["mean"] < m["copy_demo"]["leakage"]["mean"]  # the demo's look is all leakage
    assert m["copy_demo"]["actor_found"]["mean"] > 0.9  # rendered frames: the marker is always found
    assert sum(result["classes"].values()) == 3 and list(shown[0])[:2] == ["demo", "context"]
    files = write_report(result, shown, tmp_path / "rep")
    names = {p.relative_to(tmp_path / "rep").as_posix() for p in files}
    assert {"report.json", "report.md", "plots/metrics.png", "plots/per_class.png", "samples/triple_000.png",
            "samples/triple_000.mp4"} <= names
    saved = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert saved["methods"]["static"]["psnr"]["mean"] == pytest.approx(m["static"]["psnr"]["mean"])
    assert set(saved["methods"]["static"]) <= set(METRICS)
