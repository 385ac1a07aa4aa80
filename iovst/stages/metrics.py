"""``iovst metrics``: warping error and style/content losses of a finished run (:mod:`iovst.metrics`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..flow.cuts import Cuts
from ..layout import Layout
from ..metrics import run_dir_files, run_metrics, style_content_losses
from ..storage.atomic import write_json


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--run",
        type=Path,
        default=None,
        help="a finished render results/<video>/<style>: compares round 0 with the last round",
    )
    p.add_argument("--round", type=int, default=None, help="with --run: round to measure (default: last)")
    p.add_argument("--chunks", nargs="+", help="result chunk HDF5 files (kind=frames)")
    p.add_argument("--flow", nargs="+", help="flow chunk HDF5 files of the input video")
    p.add_argument("--masks", nargs="+", help="mask chunk HDF5 files of the input video")
    p.add_argument("--cuts", help="the video's cuts.json (no pair across a scene cut; --run finds it)")
    p.add_argument("--frames-dir", default=None, help="source frames (needed for content/style losses)")
    p.add_argument("--style", action="append", default=None, help="style image(s): also report content/style loss")
    p.add_argument(
        "--weights",
        help="VGG-19 weights for the losses (auto | imagenet | random | path; "
        "default: the config's model.weights default)",
    )
    p.add_argument("--json", default=None, help="also write the metrics as JSON here")


def run(args: argparse.Namespace) -> int:
    runs: dict[str, tuple[list, list, list]] = {}
    frames_dir, cuts_path = args.frames_dir, args.cuts
    if args.run is not None:
        r, chunks, flow, masks, frames_dir = run_dir_files(args.run, args.round)
        layout, video, style = Layout.of_run_dir(args.run)
        if cuts_path is None and Path(layout.cuts(video)).exists():
            cuts_path = layout.cuts(video)
        if r != 0 and Path(layout.round_dir(video, style, 0)).is_dir():
            runs["round 0 (independent)"] = (layout.existing("round", video, style, 0, "*"), flow, masks)
        runs[f"round {r}"] = (chunks, flow, masks)
    elif args.chunks and args.flow and args.masks:
        runs["result"] = (args.chunks, args.flow, args.masks)
    else:
        raise InputError("metrics: give --run results/<video>/<style>, or --chunks, --flow and --masks")
    report: dict[str, Any] = {}
    cuts = Cuts.load(cuts_path)
    for name, (chunks, flow, masks) in runs.items():
        result = run_metrics(chunk_paths=chunks, flow_paths=flow, mask_paths=masks, cuts=cuts)
        counts = f"({result['pairs']} pairs, {result['frames']} frames)"
        line = f"{name:24s} warping_error {result['warping_error']:.6f} {counts}"
        if args.style:
            if frames_dir is None:
                raise InputError("metrics: --style needs --frames-dir (or --run)")
            result.update(
                style_content_losses(
                    chunk_paths=chunks, frames_dir=frames_dir, style_paths=args.style, weights=args.weights
                )
            )
            line += f"  content_loss {result['content_loss']:.4g}  style_loss {result['style_loss']:.4g}"
        print(line)
        report[name] = result
    if args.json:
        write_json(args.json, report if len(report) > 1 else next(iter(report.values())))
    return 0
