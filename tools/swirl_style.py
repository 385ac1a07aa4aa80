"""A painting-like style image for tuning and docs: thick short strokes along a swirling vector
field in a blue/yellow palette (the 'swirl' style of docs/tuning.md).

    python tools/swirl_style.py OUT.png [--seed 3]
"""

from __future__ import annotations

import argparse

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

#: stroke colours, RGB 0-255: night blues, yellows, a dark green and an orange
PALETTE = np.array(
    [[18, 38, 96], [40, 80, 160], [70, 120, 200], [230, 200, 60], [250, 230, 120], [20, 60, 60], [120, 170, 220],
     [200, 120, 40]]
)  # fmt: skip


def swirl_style(*, size: tuple[int, int] = (320, 448), strokes: int = 9000, seed: int = 3) -> Image.Image:
    """The style image, ``size`` = ``(height, width)`` in pixels."""
    rng = np.random.default_rng(seed)
    height, width = size
    img = Image.new("RGB", (width, height), (20, 40, 90))
    draw = ImageDraw.Draw(img)
    for _ in range(strokes):
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        angle = np.sin(x / 40) + np.cos(y / 30) + 0.5 * np.sin((x + y) / 23)
        length = rng.uniform(6, 16)
        dx, dy = np.cos(angle) * length, np.sin(angle) * length
        band = (np.sin(x / 60 + y / 45) + 1) / 2  # broad diagonal bands of yellow and blue
        if rng.random() < 0.3:
            i = rng.choice(len(PALETTE))
        else:
            i = 3 if band > 0.75 else 1 if band < 0.3 else 2 if band < 0.55 else 6
        colour = tuple(int(v) for v in np.clip(PALETTE[i] + rng.normal(0, 18, 3), 0, 255))
        draw.line([(x - dx, y - dy), (x + dx, y + dy)], fill=colour, width=int(rng.integers(2, 5)))
    return img.filter(ImageFilter.SMOOTH)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=3)
    a = ap.parse_args()
    swirl_style(seed=a.seed).save(a.out)


if __name__ == "__main__":
    main()
