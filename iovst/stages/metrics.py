"""``iovst metrics``: warping error and style/content losses of a finished run (:mod:`iovst.metrics`).

Two uses: by hand (``--run results/<video>/<style>``: round 0 vs the last round), and the workflow's
``metrics`` rule (``--chunks`` of every round, grouped by their ``round`` attribute, ``--params`` of
the ``metrics`` stage, and the plots of :mod:`iovst.plots`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .. import config
from ..errors import InputError
from ..flow.cuts import Cuts
from ..layout import Layout
from ..metrics import chunks_by_round, read_result_frame, run_dir_files, run_metrics, style_content_losses
from ..storage.atomic import write_json

PLOTS = ("warping_error", "losses", "thumbnails")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--run",
        type=Path,
        default=None,
        help="a finished render results/<video>/<style>: compares round 0 with the last round",
    )
    p.add_argument("--round", type=int, default=None, help="with --run: round to measure (default: last)")
    p.add_argument(
        "--chunks", nargs="+", help="result chunk HDF5 files (kind=frames); several rounds are measured apart"
    )
    p.add_argument("--flow", nargs="+", help="flow chunk HDF5 files of the input video")
    p.add_argument("--masks", nargs="+", help="mask chunk HDF5 files of the input video")
    p.add_argument("--cuts", help="the video's cuts.json (no pair across a scene cut; --run finds it)")
    p.add_argument("--frames-dir", default=None, help="source frames (needed for content/style losses)")
    p.add_argument("--style", action="append", default=None, help="style image(s): also report content/style loss")
    p.add_argument("--style-weight", type=float, action="append", help="blend weight per --style (default: equal)")
    p.add_argument("--style-scale", type=float, help="style scale (styles.<name>.scale; default 1)")
    p.add_argument(
        "--weights",
        help="VGG-19 weights for the losses (auto | imagenet | random | path; "
        "default: the config's model.weights default)",
    )
    p.add_argument("--params", help="the metrics stage's params JSON (the workflow's: VGG weights, seed, layers)")
    p.add_argument("--device", help="auto | cpu | cuda | cuda:N for the losses (default cpu)")
    p.add_argument("--json", default=None, help="also write the metrics as JSON here")
    for name in PLOTS:
        p.add_argument(f"--plot-{name.replace('_', '-')}", default=None, help=f"write the {name} plot (PNG) here")


def _loss_args(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments of :func:`style_content_losses` from ``--params`` or ``--weights``."""
    kw: dict[str, Any] = {
        "style_paths": args.style,
        "style_weights": args.style_weight,
        "style_scale": 1.0 if args.style_scale is None else args.style_scale,
    }
    if args.device:
        from ..runtime.device import resolve_device

        kw["device"] = resolve_device(args.device)
    if args.params is None:
        return kw | {"weights": args.weights}
    if args.weights is not None:
        raise InputError("metrics: give --weights or --params, not both")
    sp = config.load_stage_params("metrics", args.params)
    return kw | {"weights": sp.model.weights, "seed": sp.seed, "stylize": dict(sp.stylize)}


def _runs(args: argparse.Namespace) -> tuple[dict[str, tuple[int | None, list, list, list]], Any, Any]:
    """``{name: (round, chunks, flow, masks)}`` to measure, the source frames directory and the
    video's cuts.json (``None``: no cuts)."""
    runs: dict[str, tuple[int | None, list, list, list]] = {}
    if args.run is not None:
        r, chunks, flow, masks, frames_dir = run_dir_files(args.run, args.round)
        layout, video, style = Layout.of_run_dir(args.run)
        cuts_path = args.cuts
        if cuts_path is None and Path(layout.cuts(video)).exists():
            cuts_path = layout.cuts(video)
        if r != 0 and Path(layout.round_dir(video, style, 0)).is_dir():
            runs["round 0 (independent)"] = (0, layout.existing("round", video, style, 0, "*"), flow, masks)
        runs[f"round {r}"] = (r, chunks, flow, masks)
        return runs, frames_dir, cuts_path
    if not (args.chunks and args.flow and args.masks):
        raise InputError("metrics: give --run results/<video>/<style>, or --chunks, --flow and --masks")
    groups = chunks_by_round(args.chunks)
    for r, chunks in groups.items():
        name = "result" if r is None and len(groups) == 1 else f"round {r}"
        runs[name] = (r, chunks, args.flow, args.masks)
    return runs, args.frames_dir, args.cuts


def run(args: argparse.Namespace) -> int:
    runs, frames_dir, cuts_path = _runs(args)
    plots = {name: getattr(args, f"plot_{name}") for name in PLOTS}
    if any(plots.values()) and not (args.style and frames_dir):
        raise InputError("metrics: the plots need --style and --frames-dir (losses and thumbnails)")
    report: dict[str, Any] = {}
    cuts = Cuts.load(cuts_path)
    for name, (r, chunks, flow, masks) in runs.items():
        metrics = run_metrics(chunk_paths=chunks, flow_paths=flow, mask_paths=masks, cuts=cuts)
        result: dict[str, Any] = {"round": r, **metrics}
        counts = f"({result['pairs']} pairs, {result['frames']} frames)"
        line = f"{name:24s} warping_error {result['warping_error']:.6f} {counts}"
        if args.style:
            if frames_dir is None:
                raise InputError("metrics: --style needs --frames-dir (or --run)")
            result.update(style_content_losses(chunk_paths=chunks, frames_dir=frames_dir, **_loss_args(args)))
            line += f"  content_loss {result['content_loss']:.4g}  style_loss {result['style_loss']:.4g}"
        print(line)
        report[name] = result
    if args.json:
        write_json(args.json, report["result"] if list(report) == ["result"] else report)
    _plots(report, runs, frames_dir, plots)
    return 0


def _plots(report: dict[str, Any], runs: dict, frames_dir: Any, plots: dict[str, str | None]) -> None:
    """The requested plots; the thumbnails show the middle frame of the video."""
    from .. import plots as draw

    if plots["warping_error"]:
        draw.warping_error_plot(report, plots["warping_error"])
    if plots["losses"]:
        draw.losses_plot(report, plots["losses"])
    if plots["thumbnails"]:
        from ..video.frames import read_frame

        index = max(report.values(), key=lambda r: r["frames"])["frames"] // 2
        frames = [(name, read_result_frame(chunks, index)) for name, (_, chunks, _, _) in runs.items()]
        draw.thumbnails_plot(read_frame(frames_dir, index), frames, index, plots["thumbnails"])
