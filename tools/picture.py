"""Compose the README's pictures from a finished render: content | style | round 0 | final round.

    python tools/picture.py RESULTS/VIDEO/STYLE --frame 6 --style style.png --out docs/picture.png

Reads frame ``--frame`` of the source frames, of round 0 (independent stylisation) and of the
last round (after multipass), and the style image resized to the frame's height; writes one PNG
row (labels are left to the caption).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from iovst.layout import Layout  # noqa: E402
from iovst.metrics import read_result_frame, run_dir_files  # noqa: E402
from iovst.video.frames import read_frame, read_image, to_uint8  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path, help="a finished render results/<video>/<style>")
    ap.add_argument("--frame", type=int, default=0)
    ap.add_argument("--style", required=True, help="the style image")
    ap.add_argument("--out", required=True, type=Path)
    a = ap.parse_args()
    import cv2
    from PIL import Image

    last, *_ = run_dir_files(a.run, None)
    layout, video, style = Layout.of_run_dir(a.run)
    content = read_frame(layout.frames(video), a.frame)
    h = content.shape[0]
    st = read_image(a.style)
    st = cv2.resize(st, (round(st.shape[1] * h / st.shape[0]), h), interpolation=cv2.INTER_AREA)
    rounds = [read_result_frame(layout.existing("round", video, style, r, "*"), a.frame) for r in (0, last)]
    row = [content, st, *rounds]
    gap = np.ones((h, 4, 3), np.float32)
    Image.fromarray(to_uint8(np.concatenate([x for r in row for x in (r, gap)][:-1], axis=1))).save(a.out)
    print(f"{a.out}: content | style | round 0 | round {last}, frame {a.frame}")


if __name__ == "__main__":
    main()
