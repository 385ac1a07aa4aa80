"""``iovst report-summary``: the run summary page of one video for ``snakemake --report``
(:mod:`iovst.report`)."""

from __future__ import annotations

import argparse

from .. import config
from ..report import write_summary


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--video", required=True, help="the video's name (config key videos.<name>)")
    p.add_argument("--run-config", required=True, help="the run's validated config as JSON (or @file)")
    p.add_argument(
        "--style-chunk",
        nargs=2,
        action="append",
        default=[],
        metavar=("STYLE", "CHUNK"),
        help="a style and one of its round-0 result chunks (which weights it used); repeat per style",
    )
    p.add_argument("--flow-chunk", default=None, help="one flow chunk of the video (its flow weights)")
    p.add_argument("--cuts", default=None, help="the video's scene cuts (JSON with a 'cuts' list of shot starts)")
    p.add_argument("--logs-dir", required=True, help="the video's job logs and benchmark files")
    p.add_argument("--out", required=True, help="the summary page (HTML)")


def run(args: argparse.Namespace) -> int:
    write_summary(
        args.out,
        video=args.video,
        cfg=config.parse_params(args.run_config),
        style_chunks=dict(args.style_chunk),
        flow_chunk=args.flow_chunk,
        cuts_path=args.cuts,
        logs_dir=args.logs_dir,
    )
    return 0
