"""Job requests (iovst.resources): sized from the work, grown on retry only after OOM / time limit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from stageparams import stage_json

from iovst import config as iovst_config
from iovst import resources as R

REPO = Path(__file__).resolve().parents[1]


def _config(**over) -> dict:
    cfg = iovst_config.validate({"videos": {"v": "v.mp4"}, "styles": {"s": {"images": ["s.png"]}}})
    for key, value in over.items():
        section, _, name = key.partition("__")
        if name:
            cfg[section][name] = value
        else:
            cfg[section] = value
    return cfg


def test_stylize_memory_scales_with_chunk_and_frame_size():
    cfg = _config()
    big = R.estimate("stylize", cfg, 4096 * 2160, 64)
    # several float32 copies of 64 frames at the 4096x2160 maximum: ~27 GB (+ torch), not 8 GB
    assert 27_000 <= big.mem_mb <= 32_000, big
    small = R.estimate("stylize", cfg, 910 * 512, 64)
    assert small.mem_mb < 5_000, small
    assert R.estimate("stylize", cfg, 910 * 512, 16).mem_mb < small.mem_mb


def test_runtime_scales_with_iterations_pixels_and_device():
    cfg = _config()
    base = R.estimate("stylize", cfg, 910 * 512, 64).runtime
    assert R.estimate("stylize", _config(stylize__iterations=1000), 910 * 512, 64).runtime > 1.8 * base - 20
    assert R.estimate("stylize", cfg, 4 * 910 * 512, 64).runtime > 3 * base - 30
    assert R.estimate("stylize", _config(device="cpu"), 910 * 512, 64).runtime > 10 * base
    # multipass: its own iterations; flow: more offsets -> more memory and time
    assert R.estimate("multipass", cfg, 910 * 512, 64).runtime < base  # 100 iterations per round vs 500
    flow = R.estimate("flow", cfg, 910 * 512, 64)
    more = R.estimate("flow", _config(flow__offsets=[1, 2, 4, 8, 16]), 910 * 512, 64)
    assert more.mem_mb > flow.mem_mb and more.runtime > flow.runtime


def test_frame_size_before_extraction_is_the_config_bound():
    cfg = _config(extract__size=512)
    assert R.frame_pixels(cfg, {"width": 910, "height": 512}) == 910 * 512
    assert R.frame_pixels(cfg, None) == 4 * 512 * 512
    assert R.frame_pixels(_config(extract__size=4096), None) == cfg["extract"]["max_pixels"]


def _marker(tmp_path: Path, rec: dict) -> Path:
    out = tmp_path / "chunk_0000.h5"
    R.marker_path(out).write_text(json.dumps(rec))
    return out


@pytest.mark.parametrize(
    ("state", "mem", "runtime"),
    [
        ("CANCELLED", 6000, 120),  # scancel: same request again
        ("PREEMPTED", 6000, 120),
        ("FAILED", 6000, 120),  # an ordinary error: more memory would not help
        ("NODE_FAIL", 6000, 120),
        ("OUT_OF_MEMORY", 12000, 120),
        ("TIMEOUT", 6000, 240),
        (None, 4000, 60),  # SLURM forgot the job: the first request
    ],
)
def test_retry_grows_only_after_oom_or_timeout(tmp_path, state, mem, runtime):
    out = _marker(tmp_path, {"job_id": "17"})
    asked = []

    def query(job_id):
        asked.append(job_id)
        return (state, 6000, 120) if state else (None, None, None)

    base = R.Request(mem_mb=4000, runtime=60)
    got = R.grow(base, R.previous_attempt(R.marker_path(out), query=query))
    assert asked == ["17"]
    assert got == R.Request(mem_mb=mem, runtime=runtime)


def test_in_process_oom_is_recorded_and_grows_memory(tmp_path):
    out = tmp_path / "chunk_0000.h5"
    R.record_start(out, env={"SLURM_JOB_ID": "5"})
    assert json.loads(R.marker_path(out).read_text()) == {"job_id": "5"}
    R.record_failure(out, RuntimeError("CUDA out of memory"), env={"SLURM_JOB_ID": "5"})
    assert json.loads(R.marker_path(out).read_text()) == {"job_id": "5"}  # GPU memory: not mem_mb
    R.record_failure(out, MemoryError(), env={"SLURM_JOB_ID": "5"})
    prev = R.previous_attempt(R.marker_path(out), query=lambda j: ("FAILED", 3000, 30))
    assert prev.oom and not prev.timeout
    assert R.grow(R.Request(2000, 30), prev) == R.Request(6000, 30)
    R.record_start(tmp_path / "x.h5", env={})  # outside SLURM nothing is written
    assert not R.marker_path(tmp_path / "x.h5").exists()


def test_slurm_formats_parse():
    assert R._mem_mb("8000M") == 8000 and R._mem_mb("8G") == 8192 and R._mem_mb("4000Mn") == 4000
    assert R._minutes("4:00:00") == 240 and R._minutes("1-00:00:00") == 1440 and R._minutes("30:00") == 30
    assert R._minutes("UNLIMITED") is None


def test_rule_callables_use_meta_and_attempt(tmp_path):
    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "meta.json").write_text(json.dumps({"width": 4096, "height": 2160, "frame_count": 70}))
    cfg = _config()
    res = R.rule_resources(
        "stylize", cfg, output=f"{tmp_path}/{{video}}/r0/chunk_{{k}}.h5", meta=f"{tmp_path}/{{video}}/meta.json"
    )
    wc = {"video": "v", "k": "0000"}
    assert res["mem_mb"](wc, 1) == R.estimate("stylize", cfg, 4096 * 2160, 64).mem_mb
    assert res["mem_mb"]({"video": "v", "k": "0001"}, 1) == R.estimate("stylize", cfg, 4096 * 2160, 6).mem_mb
    # no marker (the job never started): a retry asks for the same
    assert res["mem_mb"](wc, 2) == res["mem_mb"](wc, 1)
    assert res["runtime"](wc, 3) == res["runtime"](wc, 1)


def test_workflow_rules_request_memory_and_time_themselves(tmp_path):
    """The rules' own resources, not the profile's (a --set-resources would replace a profile's)."""
    import shutil

    for p in ("data/demo.mp4", "data/style.png"):
        (tmp_path / p).parent.mkdir(exist_ok=True)
        shutil.copy2(REPO / p, tmp_path / p)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-s",
            str(REPO / "Snakefile"),
            "--configfile",
            str(REPO / "config" / "demo.yaml"),
            "-n",
            "--cores",
            "1",
            "--workflow-profile",
            "none",
            "--set-resources",
            "extract:slurm_partition=x",
            "--default-resources",
            "slurm_account=y",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    m = [ln for ln in out.stdout.splitlines() if "runtime=" in ln and "mem_mb=" in ln]
    assert len(m) >= 4, out.stdout[-3000:]  # extract, encode, side_by_side, flow_preview
    # extract before extraction: 8 frames at the config bound (96 x 384 px), extract.count=48
    extract = R.estimate("extract", iovst_config.validate(_demo_config()), 4 * 96 * 96, 48)
    assert f"runtime={extract.runtime}," in out.stdout and f"mem_mb={extract.mem_mb}," in out.stdout


def _demo_config() -> dict:
    import yaml

    return yaml.safe_load((REPO / "config" / "demo.yaml").read_text())


def test_iovst_command_records_its_slurm_job_next_to_its_output(tmp_path, monkeypatch):
    """Inside a SLURM job every stage command notes its job id beside its output (before failing
    here on a missing input), so the retry's request can ask SLURM how that attempt ended."""
    from iovst.cli import main

    out = tmp_path / "longterm" / "chunk_0000.h5"
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    missing = tmp_path / "missing"
    args = [f"--masks={missing}.h5", f"--meta={missing}.json", "--chunk=0", "--chunk-size=4"]
    assert main(["longterm", *args, f"--out={out}", f"--params={stage_json('longterm')}"]) != 0
    assert json.loads(R.marker_path(out).read_text()) == {"job_id": "42"}
    assert not out.exists()
