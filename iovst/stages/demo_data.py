"""``iovst demo-data``: write the demo clip and style image (:mod:`iovst.demo`)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ..demo import DEMO_CRF, DEMO_FRAMES, DEMO_SIZE, make_demo_clip, make_style_image

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out-dir", required=True, help="directory for demo.mp4 and style.png")


def run(args: argparse.Namespace) -> int:
    out = Path(args.out_dir)
    make_demo_clip(out / "demo.mp4", n_frames=DEMO_FRAMES, size=DEMO_SIZE, crf=DEMO_CRF)
    make_style_image(out / "style.png")
    for name in ("demo.mp4", "style.png"):
        log.info("wrote '%s' (%d KB)", out / name, (out / name).stat().st_size // 1024)
    return 0
