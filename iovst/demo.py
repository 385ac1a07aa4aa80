"""``iovst demo-data``: a short demo clip (H.264 + AAC MP4) and a style image, made from
scikit-image's bundled sample photos (nothing is downloaded).

The clip pans and zooms over ``skimage.data.astronaut()`` while a soft-edged disc crosses in front
(occlusions and disocclusions for the flow and mask stages) with a 440 Hz tone of exactly the
clip's duration. The style image is a painterly, posterised, colour-shifted rendering of
``skimage.data.coffee()`` made of oriented brush strokes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import ffmpeg as graph
import numpy as np

from .storage.atomic import atomic_path
from .video import ffmpeg
from .video.encode import h264, h264_options
from .video.frames import to_uint8

log = logging.getLogger(__name__)

#: Geometry of the shipped ``data/demo.mp4``: frames, (height, width) in pixels.
DEMO_FRAMES = 72
DEMO_SIZE = (180, 240)
#: Quality of the demo clip (visually lossless; the shipped clip stays under 200 KB).
DEMO_CRF = 14
AUDIO_RATE = 44100
TONE_HZ = 440
#: Style image palette, dark to light (RGB in [0, 1]).
PALETTE = np.array(
    [[0.08, 0.05, 0.30], [0.35, 0.10, 0.60], [0.80, 0.15, 0.45], [0.98, 0.50, 0.15], [0.99, 0.90, 0.35]], np.float32
)


def demo_frames(n_frames: int, size: tuple[int, int], seed: int, *, photo: str = "astronaut") -> Iterator[np.ndarray]:
    """``n_frames`` ``(H, W, 3)`` float32 frames in ``[0, 1]``: pan + zoom over ``skimage.data``'s
    RGB photo ``photo`` and a moving occluding disc."""
    import cv2
    import skimage.data

    height, width = size
    rng = np.random.default_rng(seed)
    photo = getattr(skimage.data, photo)()[..., :3].astype(np.float32) / 255.0  # astronaut: (512, 512, 3)
    # pre-shrink so the per-frame warp never downsamples by more than ~1.5x (no aliasing)
    shrink = min(1.0, 1.5 * max(height, width) / (0.6 * photo.shape[1]))
    photo = cv2.resize(photo, None, fx=shrink, fy=shrink, interpolation=cv2.INTER_AREA)
    ph, pw = photo.shape[:2]
    cx0, cy0 = pw * rng.uniform(0.40, 0.45), ph * rng.uniform(0.35, 0.40)
    cx1, cy1 = pw * rng.uniform(0.55, 0.60), ph * rng.uniform(0.45, 0.50)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    radius = 0.22 * min(height, width)
    colour = np.array([0.1, 0.45, 0.9], np.float32)
    for i in range(n_frames):
        t = i / max(1, n_frames - 1)
        # crop window: width shrinks from 60 % to 45 % of the photo (zoom in) while panning
        crop_w = pw * (0.60 - 0.15 * t)
        zoom = width / crop_w
        cx, cy = cx0 + (cx1 - cx0) * t, cy0 + (cy1 - cy0) * t
        m = np.array([[zoom, 0, width / 2 - zoom * cx], [0, zoom, height / 2 - zoom * cy]], np.float32)
        frame = cv2.warpAffine(photo, m, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
        sx = -radius + (width + 2 * radius) * t
        sy = height * (0.6 + 0.15 * np.sin(2 * np.pi * t))
        alpha = np.clip(radius - np.hypot(xx - sx, yy - sy), 0.0, 1.0)[..., None]
        shade = 1.0 - 0.25 * np.clip((yy - sy) / radius, -1, 1)[..., None]  # lit from above
        frame = frame * (1 - alpha) + alpha * colour * shade
        yield np.clip(frame, 0.0, 1.0).astype(np.float32)


def make_demo_clip(
    path: str | Path,
    *,
    n_frames: int = 24,
    size: tuple[int, int] = (96, 128),
    fps: Fraction = Fraction(30000, 1001),
    audio: bool = True,
    seed: int = 0,
    crf: int = 10,
    photo: str = "astronaut",
) -> None:
    """Write a demo H.264 MP4 to ``path`` (atomically).

    Args:
        n_frames: number of frames.
        size: ``(height, width)`` in pixels, both even.
        fps: exact frame rate.
        audio: add a 440 Hz sine (AAC) lasting exactly ``n_frames / fps`` seconds.
        seed: varies the camera path.
        photo: the ``skimage.data`` RGB photo the camera moves over.
        crf: libx264 quality (lower: closer to lossless, larger file).
    """
    height, width = size
    if height % 2 or width % 2:
        raise ValueError(f"demo clip size must be even, got {size}")
    streams = [h264(ffmpeg.raw_rgb24_input(width, height, fps))]
    options = h264_options(crf=crf, preset="slow")
    if audio:
        samples = round(n_frames / fps * AUDIO_RATE)
        streams.append(
            graph.input(f"sine=frequency={TONE_HZ}:sample_rate={AUDIO_RATE},atrim=end_sample={samples}", f="lavfi")[
                "a:0"
            ]
        )
        options.update(acodec="aac", audio_bitrate="48k")
    with atomic_path(path) as tmp:
        frames = (to_uint8(f) for f in demo_frames(n_frames, size, seed, photo=photo))
        ffmpeg.pipe_frames(
            graph.output(*streams, ffmpeg.media_path(tmp), **options), frames, context=f"demo clip '{path}'"
        )


def make_style_image(path: str | Path, *, size: tuple[int, int] = (256, 384), seed: int = 0) -> None:
    """Write a painterly style image (palette PNG, ``(height, width)`` = ``size``) to ``path``.

    ``skimage.data.coffee()`` is posterised into superpixel colours, painted over with a few
    thousand oriented brush strokes following the image's edges, colour-shifted and saturated.
    """
    import cv2
    import skimage.data
    from PIL import Image
    from skimage.color import label2rgb
    from skimage.draw import polygon
    from skimage.segmentation import slic

    height, width = size
    rng = np.random.default_rng(seed)
    img = cv2.resize(skimage.data.coffee().astype(np.float32) / 255.0, (width, height), interpolation=cv2.INTER_AREA)
    segments = slic(img, n_segments=250, compactness=10, start_label=0)
    poster = label2rgb(segments, img, kind="avg", bg_label=-1).astype(np.float32)
    gray = cv2.GaussianBlur(img.mean(axis=2), (0, 0), 3)
    # strokes run along edges: perpendicular to the (smoothed) gradient
    angle = np.arctan2(cv2.Sobel(gray, cv2.CV_32F, 0, 1), cv2.Sobel(gray, cv2.CV_32F, 1, 0)) + np.pi / 2
    canvas = cv2.GaussianBlur(poster, (0, 0), 2)
    for _ in range(int(height * width / 12)):
        y, x = rng.integers(0, height), rng.integers(0, width)
        length, half_w = rng.uniform(4, 12), rng.uniform(0.8, 2.0)
        a = angle[y, x] + rng.normal(0, 0.15)
        u = np.array([np.cos(a), np.sin(a)]) * length / 2
        v = np.array([-np.sin(a), np.cos(a)]) * half_w
        corners = np.array([x, y]) + np.array([-u - v, u - v, u + v, -u + v])
        rr, cc = polygon(corners[:, 1], corners[:, 0], shape=(height, width))
        canvas[rr, cc] = 0.15 * canvas[rr, cc] + 0.85 * np.clip(poster[y, x] + rng.normal(0, 0.04, 3), 0, 1)
    # colour-map the luminance through a vivid palette, keeping a little of the original hue
    lum = canvas @ np.array([0.299, 0.587, 0.114], np.float32)
    lum = (lum - lum.min()) / max(1e-6, float(np.ptp(lum)))
    mapped = np.stack([np.interp(lum, np.linspace(0, 1, len(PALETTE)), PALETTE[:, c]) for c in range(3)], -1)
    styled = np.round((0.75 * mapped + 0.25 * canvas) * 7) / 7  # posterise: 8 levels per channel
    image = Image.fromarray(to_uint8(styled)).quantize(colors=64, method=Image.Quantize.MEDIANCUT)
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG", optimize=True)
