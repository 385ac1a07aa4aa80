"""``iovst flow-preview``: colour-coded flow + mask preview video (:mod:`iovst.video.preview`)."""

from __future__ import annotations

import argparse
import logging

from ..video.preview import write_preview

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--flow", nargs="+", required=True, help="all flow chunk HDF5 files of the video")
    p.add_argument("--masks", nargs="+", required=True, help="all mask chunk HDF5 files of the video")
    p.add_argument("--meta", required=True, help="meta.json written by extract")
    p.add_argument("--out", required=True, help="output .mp4")


def run(args: argparse.Namespace) -> int:
    n = write_preview(flow_paths=args.flow, mask_paths=args.masks, meta_path=args.meta, out=args.out)
    log.info("flow-preview: wrote %d frames to %s", n, args.out)
    return 0
