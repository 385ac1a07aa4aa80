"""``iovst masks``: reliability masks of one flow chunk (:mod:`iovst.flow.masks`)."""

from __future__ import annotations

import argparse

from ..config import load_stage_params
from ..flow.masks import masks_file


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--flow", required=True, help="flow chunk HDF5")
    p.add_argument("--out", required=True, help="output masks chunk HDF5")
    p.add_argument("--params", required=True, help="JSON (or @file): iovst.config.stage_params(config, 'masks')")


def run(args: argparse.Namespace) -> int:
    masks_file(flow_path=args.flow, out=args.out, params=load_stage_params("masks", args.params))
    return 0
