"""The Snakemake workflow end to end (tiny CPU config), lint, dry-run scale, parameter caching."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

TINY = {
    "device": "cpu",
    "chunk_size": 4,
    "model": {"weights": "random"},
    "extract": {"size": 48},
    "flow": {"method": "dis", "offsets": [1, 2], "preview": True},
    "stylize": {"iterations": 4, "optimizer": "lbfgs"},
    "multipass": {"passes": 2, "iterations": 3},
    "encode": {"preset": "ultrafast", "side_by_side": True},
    "metrics": False,  # on in finished_run only
}


def snakemake(
    workdir: Path, *args: str, check: bool = True, env: dict | None = None, **kw
) -> subprocess.CompletedProcess:
    """Run ``python -m snakemake`` on the repo's Snakefile in ``workdir``."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir), *args]
    e = dict(os.environ, IOVST_OFFLINE="1", PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    e.update(env or {})
    r = subprocess.run(cmd, capture_output=True, text=True, env=e, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"snakemake failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}")
    return r


def write_config(workdir: Path, video: Path, style: Path, **over) -> Path:
    from iovst.config import deep_merge

    cfg = deep_merge(TINY, {"videos": {"clip": str(video)}, "styles": {"paint": {"images": [str(style)]}}})
    cfg = deep_merge(cfg, over)
    p = workdir / "config.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def job_counts(dry_run_stdout: str) -> dict[str, int]:
    """``{rule: count}`` from the job-stats table of a dry run."""
    counts = {}
    for line in dry_run_stdout.splitlines():
        m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if m:
            counts[m.group(1)] = int(m.group(2))
    return counts


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    from iovst.demo import make_demo_clip

    d = tmp_path_factory.mktemp("clip")
    p = d / "clip.mp4"
    make_demo_clip(p, n_frames=10, size=(48, 64), fps=Fraction(25, 1), audio=True)
    return p


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, clip) -> Path:
    work = tmp_path_factory.mktemp("run")
    # with the metrics stage, the run summary and the round previews (the report's entries)
    cfg = write_config(work, clip, ROOT / "data" / "style.png", metrics=True, encode={"previews": True})
    snakemake(work, "--cores", "2", "--configfile", str(cfg))
    return work


def test_end_to_end_video_keeps_timing_and_audio(finished_run, clip):
    from iovst.video.probe import probe

    out = finished_run / "results" / "clip" / "paint" / "clip_paint.mp4"
    src, res = probe(clip), probe(out)
    assert res.fps == src.fps == Fraction(25, 1)
    assert res.frame_count == 10
    assert res.has_audio and src.has_audio
    assert abs(res.duration - src.duration) <= 1 / 25 + 1e-6
    assert (finished_run / "results" / "clip" / "flow_preview.mp4").stat().st_size > 0
    assert (finished_run / "results" / "clip" / "paint" / "clip_paint_side_by_side.mp4").stat().st_size > 0
    meta = json.loads((finished_run / "results" / "clip" / "meta.json").read_text())
    assert (meta["width"], meta["height"]) == (64, 48)


def test_every_round_and_chunk_written(finished_run):
    from iovst.storage import h5io

    base = finished_run / "results" / "clip" / "paint"
    seen = {}
    for p in range(3):
        files = sorted((base / f"r{p}").glob("chunk_*.h5"))
        assert [f.name for f in files] == ["chunk_0000.h5", "chunk_0001.h5", "chunk_0002.h5"]
        seen[p] = h5io.chunk_frames_files(files)
        assert sorted(seen[p]) == list(range(10))
    # multipass refines: round 2 differs from round 0 (it is not a copy, nor the content photo)
    assert max(np.abs(seen[2][i] - seen[0][i]).max() for i in range(10)) > 1e-3


def test_nothing_to_do_after_finish_and_style_change_keeps_flow(finished_run):
    cfg = finished_run / "config.yaml"
    r = snakemake(finished_run, "-n", "--configfile", str(cfg))
    assert "Nothing to be done" in r.stdout + r.stderr
    # a new style knob reruns stylization but neither flow nor masks
    c = yaml.safe_load(cfg.read_text())
    c["stylize"]["style_weight"] = 123.0
    cfg2 = finished_run / "config2.yaml"
    cfg2.write_text(yaml.safe_dump(c))
    counts = job_counts(snakemake(finished_run, "-n", "--configfile", str(cfg2)).stdout)
    assert counts.get("stylize") == 3 and counts.get("multipass") == 6
    assert "flow" not in counts and "masks" not in counts and "extract" not in counts
    # a flow knob reruns flow and everything downstream, not extract
    c = yaml.safe_load(cfg.read_text())
    c["flow"]["dis_preset"] = "fast"
    cfg3 = finished_run / "config3.yaml"
    cfg3.write_text(yaml.safe_dump(c))
    counts = job_counts(snakemake(finished_run, "-n", "--configfile", str(cfg3)).stdout)
    assert counts.get("flow") == 3 and "extract" not in counts
    # a scene-cut threshold reruns the cuts and what is built from them, never the flow or the masks
    c = yaml.safe_load(cfg.read_text())
    c["flow"]["cuts"] = {"reliable_below": 0.1}
    cfg4 = finished_run / "config4.yaml"
    cfg4.write_text(yaml.safe_dump(c))
    counts = job_counts(snakemake(finished_run, "-n", "--configfile", str(cfg4)).stdout)
    assert counts.get("cuts") == 1 and "flow" not in counts and "masks" not in counts


def test_lint_is_clean(tmp_path, clip):
    cfg = write_config(tmp_path, clip, ROOT / "data" / "style.png")
    r = snakemake(tmp_path, "--lint", "--configfile", str(cfg), check=False)
    assert "Lints for" not in r.stdout + r.stderr, r.stdout + r.stderr


def test_dry_run_of_10000_frames_is_chunked_and_fast(tmp_path):
    (tmp_path / "v.mp4").write_bytes(b"")  # never read in a dry run: the checkpoint output exists
    res = tmp_path / "results" / "big"
    (res / "frames").mkdir(parents=True)
    (res / "meta.json").write_text(
        json.dumps({"fps_num": 30000, "fps_den": 1001, "frame_count": 10000, "width": 512, "height": 288})
    )
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        yaml.safe_dump({"videos": {"big": "v.mp4"}, "styles": {"s": {"images": [str(ROOT / "data" / "style.png")]}}})
    )
    t0 = time.perf_counter()
    r = snakemake(tmp_path, "-n", "--quiet", "rules", "--configfile", str(cfg))
    elapsed = time.perf_counter() - t0
    counts = job_counts(r.stdout)
    n_chunks = -(-10000 // 64)
    assert counts["flow"] == counts["masks"] == counts["stylize"] == n_chunks
    assert counts["multipass"] == 8 * n_chunks
    print(f"dry run of 10000 frames: {elapsed:.1f} s for {counts['total']} jobs")
    assert elapsed < 60  # generous regression guard; the figure is reported by benchmarks/


def test_dry_run_keeps_a_corrupt_meta_json(tmp_path):
    """-n only says that a real run deletes the corrupt meta.json and re-extracts (the real run:
    test_recovery.py); it deletes nothing."""
    (tmp_path / "v.mp4").write_bytes(b"")
    res = tmp_path / "results" / "v"
    (res / "frames").mkdir(parents=True)
    (res / "meta.json").write_text('{"fps_num": 30')
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        yaml.safe_dump({"videos": {"v": "v.mp4"}, "styles": {"s": {"images": [str(ROOT / "data" / "style.png")]}}})
    )
    r = snakemake(tmp_path, "-n", "--configfile", str(cfg))
    assert "corrupt meta.json (JSONDecodeError); a real run deletes it and re-extracts 'v'" in r.stderr, r.stderr
    assert (res / "meta.json").read_text() == '{"fps_num": 30'


def test_parallel_schedule_renders_with_previous_round_neighbours(finished_run, tmp_path):
    import shutil

    from iovst.storage import h5io

    work = tmp_path / "par"
    shutil.copytree(finished_run, work, ignore=shutil.ignore_patterns("config[23].yaml"))
    c = yaml.safe_load((work / "config.yaml").read_text())
    c["multipass"]["schedule"] = "parallel"
    (work / "config.yaml").write_text(yaml.safe_dump(c))
    r = snakemake(work, "-n", "-p", "--configfile", str(work / "config.yaml"))
    counts = job_counts(r.stdout)
    assert counts.get("multipass") == 6 and "stylize" not in counts and "flow" not in counts
    # round 1 chunk 1 starts from round 0's frame 3 (sequential: round 1's), round 2 chunk 0 from round 1's frame 4
    cmds = [line for line in r.stdout.splitlines() if "iovst multipass" in line]
    nb = {}
    for x in cmds:
        key = tuple(int(re.search(rf"--{w}=(\d+)", x)[1]) for w in ("round", "chunk"))
        nb[key] = x.split("--neighbors")[1].split("--flow")[0]
    assert "r0/chunk_0000.h5" in nb[1, 1] and "r1/chunk_0001.h5" in nb[2, 0]
    assert all(f"r{p - 1}/" in v or not v.strip() for (p, _), v in nb.items())
    snakemake(work, "--cores", "2", "--configfile", str(work / "config.yaml"))
    base = lambda w: w / "results" / "clip" / "paint"  # noqa: E731
    par = h5io.chunk_frames_files(sorted((base(work) / "r2").glob("chunk_*.h5")))
    seq = h5io.chunk_frames_files(sorted((base(finished_run) / "r2").glob("chunk_*.h5")))
    assert sorted(par) == list(range(10)) and (base(work) / "clip_paint.mp4").stat().st_size > 0
    assert max(np.abs(par[i] - seq[i]).max() for i in range(10)) > 1e-3  # the schedule is not ignored


def test_metrics_command_on_a_finished_run(finished_run):
    out = finished_run / "metrics.json"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "iovst",
            "metrics",
            "--run",
            str(finished_run / "results" / "clip" / "paint"),
            "--style",
            str(ROOT / "data" / "style.png"),
            "--weights",
            "random",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ, IOVST_OFFLINE="1"),
    )
    assert r.returncode == 0, r.stderr
    report = json.loads(out.read_text())
    assert set(report) == {"round 0 (independent)", "round 2"}
    for m in report.values():
        assert m["frames"] == 10 and m["pairs"] >= 1 and m["warping_error"] >= 0
        assert m["style_loss"] > 0 and m["content_loss"] >= 0
    assert "warping_error" in r.stdout and "style_loss" in r.stdout


def test_configfile_replaces_config_yaml_and_config_applies_on_top(tmp_path, clip):
    """`--configfile` renders exactly its videos x styles (config.yaml's are not added); without
    one, config.yaml is used; `--config` (nested YAML and top-level keys) applies on top of either;
    each config's job logs go under its own `results:`."""
    style = str(ROOT / "data" / "style.png")
    (tmp_path / "config.yaml").write_text(
        yaml.safe_dump({"videos": {"demo": str(clip)}, "styles": {"demo": {"images": [style]}}})
    )
    mine = tmp_path / "my.yaml"
    mine.write_text(
        yaml.safe_dump({"videos": {"myclip": str(clip)}, "styles": {"starry": {"images": [style]}}, "results": "out"})
    )
    over = ["--config", "extract={size: 64, count: 5}", "chunk_size=8"]
    for args, ours, other in [(["--configfile", str(mine)], "out/myclip", "demo"), ([], "results/demo", "myclip")]:
        r = snakemake(tmp_path, "-n", "-p", *args, *over)
        assert job_counts(r.stdout)["encode"] == 1 and other not in r.stdout, r.stdout
        assert f"--meta={ours}/meta.json" in r.stdout and '"count":5' in r.stdout and '"size":64' in r.stdout
        log = ours.replace("/", "/logs/", 1)
        assert f"--log={log}/extract.log" in r.stdout, r.stdout


def test_invalid_config_yaml_is_one_line_with_file_and_line(tmp_path):
    (tmp_path / "config.yaml").write_text("videos: {v: v.mp4}\nextract:\n  size: 64\n   side: short\n")
    r = snakemake(tmp_path, "-n", check=False)
    assert r.returncode != 0
    assert "iovst: error: config file 'config.yaml', line 4: not valid YAML" in r.stderr.splitlines()[-1], r.stderr


def test_metrics_rule_writes_per_round_json_and_plots(finished_run):
    """The metrics rule measured every round: per-pair warping error and per-frame losses in
    JSON, three PNG plots; multipass is steadier than round 0. Every job left a benchmark file."""
    from PIL import Image

    base = finished_run / "results" / "clip" / "paint" / "metrics"
    report = json.loads((base / "metrics.json").read_text())
    assert list(report) == ["round 0", "round 1", "round 2"]
    for p, m in enumerate(report.values()):
        assert m["round"] == p and m["frames"] == 10
        assert len(m["warping_error_per_pair"]) == m["pairs"] >= 5
        assert m["warping_error"] == pytest.approx(np.mean([e for _, e in m["warping_error_per_pair"]]))
        assert [i for i, _ in m["content_loss_per_frame"]] == list(range(10))
        assert m["style_loss"] > 0 and len(m["style_loss_per_frame"]) == 10
    assert report["round 2"]["warping_error"] < report["round 0"]["warping_error"]
    for name in ("warping_error", "losses", "thumbnails"):
        with Image.open(base / f"{name}.png") as im:
            assert im.format == "PNG" and min(im.size) > 100
    logs = finished_run / "results" / "logs" / "clip"
    benchmarks = {p.relative_to(logs).as_posix() for p in logs.rglob("*.benchmark.tsv")}
    assert {"extract.benchmark.tsv", "paint/metrics.benchmark.tsv", "paint/r2/chunk_0002.benchmark.tsv"} <= benchmarks
    assert len(benchmarks) == 1 + 3 * 3 + 1 + 3 * 3 + 1 + 1 + 3 + 1  # extract, flow/masks/longterm, preview,
    # rounds, encode, side by side, round previews, metrics (the summary comes last, unmeasured)


def _browser() -> str | None:
    import shutil

    return next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)


def _rendered_text(browser: str, page: Path, script: str = "") -> str:
    """The text a headless browser shows for ``page`` after ``script`` (appended to the body) ran."""
    import html as html_mod

    src = page.read_text()
    if script:
        grab = "var o=document.createElement('pre');o.id='dump';o.textContent=document.body.innerText;"
        js = f"<script>window.addEventListener('load',function(){{setTimeout(function(){{{script};"
        js += f"setTimeout(function(){{{grab}document.body.appendChild(o);}},300);}},300);}});</script>"
        i = src.rfind("</body>")
        src = src[:i] + js + src[i:]
    probe = page.with_name(f"probe-{page.name}")
    probe.write_text(src)
    r = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=20000", "--dump-dom"]
        + [probe.resolve().as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    dom = r.stdout
    if script:
        dom = dom[dom.index('<pre id="dump">') :]
    return html_mod.unescape(re.sub(r"<[^>]+>", " ", re.sub(r"<(script|style)\b.*?</\1>", "", dom, flags=re.S)))


def test_report_shows_results_metrics_weights_cuts_and_job_times(finished_run, tmp_path):
    """`snakemake --report` builds on the finished tiny run; a headless browser renders each
    category's entries (the React app: one page load per category), the loud random-weights note
    on the main page, and the run summary page: weights, scene cuts, every job's time and memory,
    the configuration."""
    out = tmp_path / "report.html"
    snakemake(finished_run, "--report", str(out), "--configfile", str(finished_run / "config.yaml"))
    text = out.read_text()
    for name in ("clip_paint.mp4", "clip_paint_side_by_side.mp4", "flow_preview.mp4", "preview_r2.mp4"):
        assert name in text
    summary = finished_run / "results" / "clip" / "summary.html"
    page = summary.read_text()
    assert 'id="random-weights"' in page and "scene cuts (0), a new shot starts at frame: none" in page
    browser = _browser()
    if browser is None:
        pytest.skip("no headless browser (chromium) to render the report: only its HTML was checked")
    main = _rendered_text(browser, out, "void 0")
    assert "RANDOM VGG-19 WEIGHTS" in main and "Metrics" in main and "Run" in main
    expected = {
        "Results": ["stylized video", "side by side"],
        "Rounds": ["round 0", "round 1", "round 2"],
        "Flow": ["flow preview"],
        "Metrics": ["warping error per frame", "losses per round", "one frame per round"],
        "Run": ["summary"],
    }
    for category, entries in expected.items():
        shown = _rendered_text(browser, out, f"app.showCategory('{category}')")
        listing = shown.split("iovst: optimization-based")[0]  # the entries; the description follows
        missing = [e for e in entries if e not in listing]
        assert "clip" in listing and not missing, f"{category}: {missing} not rendered in\n{listing[:2000]}"
    shown = re.sub(r"\s+", " ", _rendered_text(browser, summary))
    assert "RANDOM WEIGHTS: VGG-19 (style paint)" in shown
    assert "scene cuts (0), a new shot starts at frame: none" in shown
    assert re.search(r"metrics jobs: [\d.]+ s, stylize \+ multipass jobs: [\d.]+ s", shown)
    for job in ("extract", "flow/chunk_0002", "paint/r2/chunk_0001", "paint/metrics", "paint/side_by_side"):
        assert re.search(rf"\b{re.escape(job)} [\d.]+ (\d+|-) ", shown), job
    assert "chunk_size: 4" in shown and "weights: random" in shown  # the validated configuration


def test_status_predicts_jobs_disk_and_gpu_time(finished_run, clip, tmp_path):
    """Before a run (nothing extracted: the source is probed) `iovst status` predicts the frames,
    the jobs and the disk space and says that GPU time is not measured yet; after it, the job count
    is what Snakemake plans for a full rerun, the disk space is what the artifacts take and the GPU
    time comes from the measured seconds per iteration."""

    def status(work):
        r = subprocess.run(
            [sys.executable, "-m", "iovst", "status", "-d", str(work), "--configfile", str(work / "config.yaml")],
            capture_output=True,
            text=True,
        )
        assert r.returncode == 0, r.stderr
        return r.stdout

    fresh = tmp_path / "fresh"
    fresh.mkdir()
    write_config(fresh, clip, ROOT / "data" / "style.png", metrics=True, encode={"previews": True})
    before = status(fresh)
    m = re.search(r"clip: 10 frames of 64x48, (\d+) jobs\n  disk: frames [\d.]+ KB \(at most\)", before)
    assert m, before
    assert "GPU time of the whole render: no measurement yet" in before
    after = status(finished_run)
    m2 = re.search(r"clip: 10 frames of 64x48, (\d+) jobs", after)
    assert m2 and m2.group(1) == m.group(1), after
    planned = job_counts(snakemake(finished_run, "-n", "-R", "flow", "stylize").stdout)  # all but extract
    assert int(m2.group(1)) == planned["total"] - 1 + 1  # - rule all + extract
    rounds = sum(f.stat().st_size for f in (finished_run / "results" / "clip" / "paint").glob("r*/chunk_*.h5"))
    shown = re.search(r"rounds ([\d.]+) KB,", after)
    assert shown and float(shown.group(1)) == pytest.approx(rounds / 1000, abs=0.1), after
    assert re.search(r"GPU time of the whole render: .* \(measured: stylize [\d.e-]+ s/iteration", after), after
