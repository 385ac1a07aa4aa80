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


def _page(weights, meta):
    cfg = {"videos": {"v": "v.mp4"}, "chunk_size": 4}
    return summary_html(video="v", cfg=cfg, meta=meta, weights=weights, benchmarks=[])


def test_loud_note_only_for_random_weights_and_scene_cuts_from_meta():
    random = {"VGG-19 (style s)": {"source": "random", "detail": "seed=0"}}
    page = _page(random, {"frame_count": 10})
    assert 'id="random-weights"' in page and "VGG-19 (style s) ran with seeded random weights" in page
    assert "scene cuts: not detected by this version" in page
    assert "chunk_size: 4" in page  # the configuration
    real = {"VGG-19 (style s)": {"source": "imagenet", "detail": "/cache/vgg19.pth"}}
    page = _page(real, {"frame_count": 10, "scene_cuts": [12, 40]})
    assert "random-weights" not in page and "imagenet" in page
    assert "scene cuts (2), a new shot starts at frame: 12, 40" in page
