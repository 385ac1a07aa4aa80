"""Per-job fixed cost of a finished render: the share of each stylize/multipass job spent outside
frame optimisation (process start, imports, model and weights load, style targets, HDF5 I/O).

    python benchmarks/bench_jobcost.py RESULTS_DIR      # e.g. results/demo-run

For every job with both a ``benchmark:`` file (Snakemake's wall time ``s``) and a job log, it sums
the per-frame times the log reports (``frame N: computed (X s ...)``) and prints the job's wall
time, the frame time, and the rest as a share of the wall time, then the totals per stage. Jobs
that reused cached frames count only the frames they computed, so measure a render that ran from
scratch. The goal (issue #11): the rest under 10 % of a default GPU job.
"""

from __future__ import annotations

import argparse
import csv
import re
from pathlib import Path

FRAME = re.compile(r"frame \d+: computed \(([\d.]+) s")


def wall_seconds(tsv: Path) -> float:
    """Snakemake's ``s`` column of a ``benchmark:`` file (first repeat)."""
    with tsv.open() as f:
        return float(next(csv.DictReader(f, delimiter="\t"))["s"])


def frame_seconds(log: Path) -> tuple[float, int]:
    """Sum and count of the per-frame compute times in a job log."""
    times = [float(m.group(1)) for m in FRAME.finditer(log.read_text())]
    return sum(times), len(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", type=Path)
    a = ap.parse_args()
    totals: dict[str, list[float]] = {}
    print(f"{'job':44s} {'wall s':>8s} {'frames s':>9s} {'n':>3s} {'rest':>6s}")
    for tsv in sorted((a.results / "logs").rglob("*.benchmark.tsv")):
        log = tsv.with_name(tsv.name.replace(".benchmark.tsv", ".log"))
        stage = (
            "stylize" if tsv.parent.name == "r0" else "multipass" if re.fullmatch(r"r\d+", tsv.parent.name) else None
        )
        if stage is None or not log.exists():
            continue
        wall = wall_seconds(tsv)
        frames, n = frame_seconds(log)
        if n == 0:
            continue
        rest = max(wall - frames, 0.0)
        t = totals.setdefault(stage, [0.0, 0.0])
        t[0], t[1] = t[0] + wall, t[1] + rest
        job = str(tsv.relative_to(a.results / "logs")).replace(".benchmark.tsv", "")
        print(f"{job:44s} {wall:8.1f} {frames:9.1f} {n:3d} {rest / wall:6.1%}")
    for stage, (wall, rest) in totals.items():
        print(f"{stage}: {wall:.1f} s in jobs, {rest:.1f} s outside frame optimisation ({rest / wall:.1%})")


if __name__ == "__main__":
    main()
