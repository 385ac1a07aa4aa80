"""Multipass schedules (config ``multipass.schedule``): critical path in jobs, and their quality cost.

    python benchmarks/bench_schedule.py [--frames 2000] [--chunk 64] [--passes 4] [--max-offset 2]
    python benchmarks/bench_schedule.py --pan  [--pan-frames 32] [--pan-chunk 4] [--passes 4] ...
    python benchmarks/bench_schedule.py --demo [--demo-frames 24] [--demo-chunk 4] [--cores 2] ...

Always printed first: for ``--frames`` frames, chunk ``--chunk``, ``--passes`` rounds, the number of
stylize + multipass jobs and their longest dependency chain under ``sequential`` and ``parallel``
(:func:`iovst.chunks.multipass_critical_path`, the rules' own dependency functions).

``--pan``: renders a synthetic pan with exact flow (``tests/synth.py``, 32x40 px, random VGG
weights, round 0 from seeded noise so that independent frames flicker) with both schedules, calling
``iovst stylize`` / ``iovst multipass`` in this process in the rules' order, and prints the final
round's warping error (:func:`iovst.metrics.pair_warping_error`, exact flow, Ruder masks) over the
whole clip, over the pairs ``(t, t+1)`` across a chunk boundary (``t + 1`` a chunk's first frame)
and over the pairs inside a chunk.

``--demo``: renders the demo clip (``iovst.demo``, 48x64) through Snakemake with ``--cores`` with
both schedules (DIS flow, random weights, round 0 from the content frames as by default, each in a
fresh work dir under ``--workdir``), and prints the wall time of each run and the same warping
errors (on the run's own DIS flow and masks).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from fractions import Fraction
from pathlib import Path

import numpy as np
import yaml

from iovst.chunks import SCHEDULES, multipass_critical_path, multipass_inputs, n_chunks

ROOT = Path(__file__).resolve().parents[1]


def critical_paths(n_frames: int, chunk: int, passes: int, max_offset: int) -> None:
    print(f"{n_frames} frames, chunk {chunk}, {passes} passes, max offset {max_offset}:")
    for s in SCHEDULES:
        length, jobs = multipass_critical_path(n_frames, chunk, passes, max_offset, s)
        print(f"  {s:10s}  stylize+multipass jobs {jobs:5d}   longest chain {length:4d} jobs")


def boundary_errors(frames: Mapping[int, np.ndarray], flows, masks, chunk: int, overlap: int) -> dict[str, float]:
    """Warping error of the whole clip, of the pairs across a chunk boundary, of those inside a
    chunk, and of the *seam zone* (pairs within ``overlap`` frames of a boundary: the cross-fade).

    Args:
        frames: frame index -> ``(H, W, 3)`` float output, consecutive from 0.
        flows, masks: :class:`iovst.flow.flowstore.FlowStore` / ``MaskStore`` with the offset-1 pairs.
        chunk: chunk size (a pair ``(t, t+1)`` is a boundary pair when ``(t + 1) % chunk == 0``).
    """
    from iovst.metrics import pair_warping_error

    errs: dict[str, list[float]] = {"whole": [], "boundary": [], "interior": [], "zone": []}
    for t in range(len(frames) - 1):
        e = pair_warping_error(frames[t], frames[t + 1], flows.flow(t, t + 1), masks.reliability(t, t + 1))
        if e is not None:
            errs["whole"].append(e)
            errs["boundary" if (t + 1) % chunk == 0 else "interior"].append(e)
            if t + 1 >= chunk and min((t + 1) % chunk, chunk - (t + 1) % chunk) <= overlap:
                errs["zone"].append(e)
    return {k: float(np.mean(v)) for k, v in errs.items()}


def _print_errors(label: str, e: dict[str, float], extra: str = "") -> None:
    print(
        f"  {label:10s}  whole {e['whole']:.5f}  boundary {e['boundary']:.5f}  interior {e['interior']:.5f}"
        f"  seam zone {e['zone']:.5f}  boundary/interior {e['boundary'] / e['interior']:.2f}{extra}"
    )


def pan(a: argparse.Namespace, workdir: Path) -> None:
    """The synthetic-pan measurement (``--pan``)."""
    n, chunk, passes, iterations, overlap, schedules = (
        a.pan_frames,
        a.pan_chunk,
        a.passes,
        a.iterations,
        a.overlap,
        a.schedules,
    )
    import torch

    sys.path.insert(0, str(ROOT / "tests"))
    from synth import pan as synth_pan
    from synth import write_clip, write_gt_flow

    from iovst import cli
    from iovst.config import canonical_json, load_stage_params, stage_params, validate
    from iovst.flow.flowstore import FlowStore, MaskStore
    from iovst.flow.longterm import longterm_chunk
    from iovst.flow.masks import masks_file
    from iovst.storage import h5io

    offsets, size, nk = [1, 2], (32, 40), n_chunks(n, chunk)
    torch.manual_seed(0)
    clip = synth_pan(n, size=size, step=(2.0, 0.0), sprite_step=(-1.0, 1.0), sprite_size=(12, 10))
    d = workdir
    frames, meta = d / "frames", d / "meta.json"
    write_clip(clip, frames, meta_path=meta)
    flow = [d / f"flow_{k}.h5" for k in range(nk)]
    mask = [d / f"mask_{k}.h5" for k in range(nk)]
    base = {
        "videos": {"v": "v.mp4"},
        "styles": {"s": {"images": ["s.png"]}},
        "model": {"weights": "random"},
        "stylize": {"init": "noise", "iterations": 2 * iterations},
        "multipass": {"passes": passes, "iterations": iterations, "temporal_weight": 1e3},
        "flow": {"offsets": offsets},
    }
    cfg0 = validate(base)
    for k in range(nk):
        write_gt_flow(clip, flow[k], chunk=k, chunk_size=chunk, offsets=offsets)
        masks_file(flow_path=flow[k], out=mask[k], params=load_stage_params("masks", stage_params(cfg0, "masks")))
    for k in range(nk):
        longterm_chunk(
            mask_paths=mask,
            n_frames=n,
            size=size,
            chunk=k,
            chunk_size=chunk,
            params=load_stage_params("longterm", stage_params(cfg0, "longterm")),
            out=d / f"lt_{k}.h5",
        )
    fs, ms = FlowStore(flow), MaskStore(mask)
    common = [
        *("--frames-dir", str(frames), "--meta", str(meta), "--chunk-size", str(chunk)),
        *("--cache-dir", str(d / "cache"), "--device", "cpu", "--style-scale", "1"),
        *("--style", str(ROOT / "data" / "style.png")),
    ]
    r0 = [d / f"r0_{k}.h5" for k in range(nk)]
    for k in range(nk):
        js = canonical_json(stage_params(cfg0, "stylize"))
        assert cli.main(["stylize", *common, "--chunk", str(k), "--out", str(r0[k]), "--params", js]) == 0
    res0 = h5io.chunk_frames_files(r0)
    print(f"synthetic pan: {n} frames {size[0]}x{size[1]}, chunk {chunk}, {passes} passes x {iterations} iterations")
    _print_errors("round 0", boundary_errors(res0, fs, ms, chunk, overlap))
    found = {}
    for schedule in schedules:
        cfg = validate({**base, "multipass": {**base["multipass"], "schedule": schedule, "overlap": overlap}})
        js = canonical_json(stage_params(cfg, "multipass"))
        r = lambda p, k, s=schedule: r0[k] if p == 0 else d / f"{s}_r{p}_{k}.h5"  # noqa: E731
        t0 = time.perf_counter()
        for p in range(1, passes + 1):
            for k in range(nk) if p % 2 else reversed(range(nk)):  # a valid order for both schedules
                q, nb, pairs, lt = multipass_inputs(k, p, chunk, n, max(offsets), schedule, overlap)
                args = ["multipass", *common, "--chunk", str(k), "--round", str(p), "--prev", str(r(p - 1, k))]
                args += ["--neighbors", *[str(r(q, j)) for j in nb]]
                args += ["--flow", *[str(flow[j]) for j in pairs], "--masks", *[str(mask[j]) for j in pairs]]
                args += ["--longterm", *[str(d / f"lt_{j}.h5") for j in lt], "--out", str(r(p, k)), "--params", js]
                assert cli.main(args) == 0
        final = h5io.chunk_frames_files([r(passes, k) for k in range(nk)])
        found[schedule] = boundary_errors(final, fs, ms, chunk, overlap)
        _print_errors(schedule, found[schedule], f"   ({time.perf_counter() - t0:.0f} s)")
    if len(found) == 2:
        print(f"  whole-clip parallel / sequential {found['parallel']['whole'] / found['sequential']['whole']:.2f}")


def demo(a: argparse.Namespace, workdir: Path) -> None:
    """The demo-clip measurement through Snakemake (``--demo``)."""
    n, chunk, passes, iterations, overlap, cores, schedules = (
        a.demo_frames,
        a.demo_chunk,
        a.passes,
        a.iterations,
        a.overlap,
        a.cores,
        a.schedules,
    )
    from iovst.demo import make_demo_clip
    from iovst.flow.flowstore import FlowStore, MaskStore
    from iovst.metrics import run_dir_files
    from iovst.storage import h5io

    clip = workdir / "demo.mp4"
    make_demo_clip(clip, n_frames=n, size=(48, 64), fps=Fraction(25, 1), audio=False)
    print(f"demo clip: {n} frames 48x64, chunk {chunk}, {passes} passes x {iterations} iterations, --cores {cores}")
    found = {}
    for schedule in schedules:
        work = workdir / schedule
        work.mkdir()
        cfg = {
            "device": "cpu",
            "chunk_size": chunk,
            "model": {"weights": "random"},
            "extract": {"size": 48},
            "flow": {"method": "dis", "offsets": [1, 2]},
            "stylize": {"iterations": 2 * iterations},  # the default init: from the content frame
            "multipass": {"passes": passes, "iterations": iterations, "schedule": schedule, "overlap": overlap},
            "encode": {"preset": "ultrafast"},
            "videos": {"clip": str(clip)},
            "styles": {"paint": {"images": [str(ROOT / "data" / "style.png")]}},
        }
        (work / "config.yaml").write_text(yaml.safe_dump(cfg))
        cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(work)]
        env = dict(os.environ, IOVST_OFFLINE="1", PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
        t0 = time.perf_counter()
        subprocess.run([*cmd, "--cores", str(cores), "--configfile", str(work / "config.yaml")], check=True, env=env)
        wall = time.perf_counter() - t0
        _, chunks, flow, masks, _ = run_dir_files(work / "results" / "clip" / "paint", None)
        with FlowStore(flow) as fs, MaskStore(masks) as ms:
            found[schedule] = boundary_errors(h5io.chunk_frames_files(chunks), fs, ms, chunk, overlap)
        _print_errors(schedule, found[schedule], f"   (snakemake wall {wall:.0f} s)")
    if len(found) == 2:
        print(f"  whole-clip parallel / sequential {found['parallel']['whole'] / found['sequential']['whole']:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=2000)
    ap.add_argument("--chunk", type=int, default=64)
    ap.add_argument("--passes", type=int, default=4)
    ap.add_argument("--max-offset", type=int, default=2, help="largest multipass offset (flow.offsets)")
    ap.add_argument("--pan", action="store_true", help="measure the warping errors on a synthetic pan")
    ap.add_argument("--pan-frames", type=int, default=32)
    ap.add_argument("--pan-chunk", type=int, default=4)
    ap.add_argument("--demo", action="store_true", help="render the demo clip through snakemake with both")
    ap.add_argument("--demo-frames", type=int, default=24)
    ap.add_argument("--demo-chunk", type=int, default=4)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--overlap", type=int, default=8, help="multipass.overlap of the parallel schedule")
    ap.add_argument("--schedules", nargs="+", default=list(SCHEDULES), choices=SCHEDULES)
    ap.add_argument("--iterations", type=int, default=10, help="multipass iterations (round 0: twice that)")
    ap.add_argument("--workdir", type=Path, default=None, help="default: a temporary directory")
    a = ap.parse_args()
    critical_paths(a.frames, a.chunk, a.passes, a.max_offset)
    with tempfile.TemporaryDirectory(dir=a.workdir) as tmp:
        if a.pan:
            (Path(tmp) / "pan").mkdir()
            pan(a, Path(tmp) / "pan")
        if a.demo:
            (Path(tmp) / "demo").mkdir()
            demo(a, Path(tmp) / "demo")


if __name__ == "__main__":
    main()
