"""The run summary page of `snakemake --report` (iovst.report): benchmark files, weights, scene
cuts. The report built on a real run and rendered in a browser: tests/test_workflow.py."""

from __future__ import annotations

from iovst.report import metrics_cost, read_benchmarks, stage_totals, summary_html

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def _bench(path, seconds, rss="812.5"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + f"{seconds}\t0:00:01\t{rss}\t1\t1\t1\t0\t0\t50\t1\n")


def test_benchmarks_per_job_and_stage_and_the_metrics_cost(tmp_path):
    _bench(tmp_path / "extract.benchmark.tsv", 1.5, rss="NA")
    _bench(tmp_path / "s" / "r0" / "chunk_0000.benchmark.tsv", 40)
    _bench(tmp_path / "s" / "r0" / "chunk_0001.benchmark.tsv", 20, rss="900")
    _bench(tmp_path / "s" / "r1" / "chunk_0000.benchmark.tsv", 40)
    _bench(tmp_path / "s" / "metrics.benchmark.tsv", 5)
    (tmp_path / "s" / "broken.benchmark.tsv").write_text("s\n")  # no row: skipped
    rows = read_benchmarks(tmp_path)
    assert [r["job"] for r in rows] == ["extract", "s/metrics", "s/r0/chunk_0000", "s/r0/chunk_0001", "s/r1/chunk_0000"]
    assert rows[0]["max_rss_mb"] is None and rows[3]["max_rss_mb"] == 900
    totals = stage_totals(rows)
    assert totals["s/r0"] == {"jobs": 2, "seconds": 60.0, "max_rss_mb": 900.0}
    assert metrics_cost(rows) == (5.0, 100.0)


def _page(weights, cuts):
    cfg = {"videos": {"v": "v.mp4"}, "chunk_size": 4}
    return summary_html(video="v", cfg=cfg, cuts=cuts, weights=weights, benchmarks=[])


def test_loud_note_only_for_random_weights_and_the_scene_cuts():
    random = {"VGG-19 (style s)": {"source": "random", "detail": "seed=0"}}
    page = _page(random, None)
    assert 'id="random-weights"' in page and "VGG-19 (style s) ran with seeded random weights" in page
    assert "scene cuts: not computed (this run uses no optical flow)" in page
    assert "chunk_size: 4" in page  # the configuration
    real = {"VGG-19 (style s)": {"source": "imagenet", "detail": "/cache/vgg19.pth"}}
    page = _page(real, [12, 40])
    assert "random-weights" not in page and "imagenet" in page
    assert "scene cuts (2), a new shot starts at frame: 12, 40" in page


def test_report_summary_command_reads_weights_cuts_and_benchmarks(tmp_path):
    import json

    import numpy as np

    from iovst.cli import main
    from iovst.storage import h5io

    chunk = tmp_path / "r0.h5"
    weights = {"model": "vgg19", "source": "imagenet", "detail": "/c/vgg19.pth", "warning": ""}
    h5io.write_frames(chunk, np.zeros((1, 4, 4, 3)), first_frame=0, attrs={"weights": json.dumps(weights)})
    (tmp_path / "cuts.json").write_text(json.dumps({"cuts": [7]}))
    _bench(tmp_path / "logs" / "s" / "r0" / "chunk_0000.benchmark.tsv", 12.5)
    out = tmp_path / "summary.html"
    args = ["report-summary", "--video", "v", "--run-config", '{"chunk_size": 4}', "--style-chunk", "s", str(chunk)]
    args += ["--cuts", str(tmp_path / "cuts.json"), "--logs-dir", str(tmp_path / "logs"), "--out", str(out)]
    assert main(args) == 0
    page = out.read_text()
    assert "random-weights" not in page and "/c/vgg19.pth" in page
    assert "scene cuts (1), a new shot starts at frame: 7" in page
    assert "<td>s/r0/chunk_0000</td><td>12.50</td><td>812</td>" in page
