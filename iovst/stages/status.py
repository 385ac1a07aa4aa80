"""``iovst status [--configfile FILE] [--gpus N]``: progress and ETA of a render (:mod:`iovst.status`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import config
from ..errors import InputError
from ..status import status_report


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--configfile",
        default=None,
        help="the render's config, as given to snakemake (default: config.yaml in --directory)",
    )
    p.add_argument(
        "-d",
        "--directory",
        type=Path,
        default=Path("."),
        help="snakemake's working directory (results/ and logs are relative to it; default: .)",
    )
    p.add_argument("--gpus", type=int, default=1, help="GPUs the rest of the render runs on (default 1)")


def run(args: argparse.Namespace) -> int:
    if args.gpus < 1:
        raise InputError(f"--gpus: must be >= 1, got {args.gpus}")
    cfg = config.load(args.configfile or args.directory / "config.yaml")
    print(status_report(cfg, workdir=args.directory, gpus=args.gpus)[1])
    return 0
