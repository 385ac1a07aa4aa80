"""Dry-run time of the workflow for a long video (fake meta.json), against a bare Snakefile.

    python benchmarks/bench_dryrun.py --frames 10000 [--chunk-size 64] [--passes 8]

Prints the job count and seconds for iovst's DAG, and for a bare one-rule-per-chunk Snakefile
with the same number of jobs (the baseline: what Snakemake itself costs), and their ratio.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def timed(cmd: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        sys.exit(r.stdout + r.stderr)
    return time.perf_counter() - t0, r.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=10000)
    ap.add_argument("--chunk-size", type=int, default=64)
    ap.add_argument("--passes", type=int, default=8)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        (d / "v.mp4").write_bytes(b"")
        (d / "results/big/frames").mkdir(parents=True)
        (d / "results/big/meta.json").write_text(
            json.dumps({"fps_num": 30, "fps_den": 1, "frame_count": a.frames, "width": 512, "height": 288})
        )
        (d / "c.yaml").write_text(
            yaml.safe_dump(
                {
                    "videos": {"big": "v.mp4"},
                    "styles": {"s": {"images": [str(ROOT / "data/style.png")]}},
                    "chunk_size": a.chunk_size,
                    "multipass": {"passes": a.passes},
                }
            )
        )
        sm = [sys.executable, "-m", "snakemake", "-n", "--quiet", "rules", "-d", str(d)]
        t, out = timed(sm + ["-s", str(ROOT / "Snakefile"), "--configfile", str(d / "c.yaml")])
        jobs = next(int(line.split()[1]) for line in out.splitlines() if line.startswith("total"))
        (d / "bare.smk").write_text(
            f"rule all:\n    input: expand('out/{{i}}.txt', i=range({jobs - 1}))\n"
            "rule one:\n    output: 'out/{i}.txt'\n    shell: 'touch {output}'\n"
        )
        tb, _ = timed(sm + ["-s", str(d / "bare.smk")])
    print(f"iovst dry run, {a.frames} frames, chunk {a.chunk_size}, {a.passes} passes: {jobs} jobs in {t:.1f} s")
    print(f"bare Snakefile with {jobs} independent jobs:                      {tb:.1f} s  (ratio {t / tb:.1f}x)")


if __name__ == "__main__":
    main()
