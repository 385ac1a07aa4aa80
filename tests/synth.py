"""Synthetic clips with exact ground-truth optical flow, occlusion and out-of-frame masks.

A clip is a virtual camera moving over a real photograph from ``skimage.data`` (the *world*),
optionally with an occluding *sprite* (a textured rectangle cut from another photo) moving
differently on top. Because every frame is rendered from a known camera and sprite position, the
flow between *any* two frames is known exactly, in the package's convention (``docs/ARCHITECTURE.md``):
``flow(t, s)`` is ``(2, H, W)`` float32 pixels ``(dx, dy)`` defined on frame ``t``, pointing to
where each pixel of ``t`` is found in frame ``s``; ``iovst.flow.warp.warp(frame_s, flow(t, s))`` brings
frame ``s`` onto frame ``t``'s grid.

Geometry: frame ``t`` pixel ``x`` (pixel centres at integer coordinates) shows world point
``z_t * x + c_t`` (``z_t`` world pixels per frame pixel, ``c_t`` the world position of frame pixel
``(0, 0)``). A pan keeps ``z`` fixed and moves ``c``; a zoom changes ``z`` about the frame centre.
Frames are rendered with cubic-spline interpolation of the world, so sub-pixel motion is real
sub-pixel motion. The sprite covers frame pixels ``x`` with ``0 <= x - q_t <= size - 1`` (per axis;
``q_t`` its top-left corner in frame pixels), is always on top, and carries its texture with it.

Rendering is pure numpy/scipy/scikit-image; :func:`write_clip` and :func:`write_gt_flow` write
frames (+ a minimal meta.json) and exact-flow chunk files for tests of the later stages.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

#: Photos of ``skimage.data`` bundled with scikit-image (no download needed).
IMAGES = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field")


def photo(name: str) -> np.ndarray:
    """``skimage.data`` photo ``name`` as ``(H, W, 3)`` float32 RGB in ``[0, 1]``."""
    import skimage.data

    if name not in IMAGES:
        raise ValueError(f"unknown image {name!r}, expected one of {IMAGES}")
    img = getattr(skimage.data, name)()
    return img[..., :3].astype(np.float32) / 255.0


def _rescaled(img: np.ndarray, factor: float) -> np.ndarray:
    """``img`` resized by ``factor`` (anti-aliased when shrinking), float32 ``(h, w, 3)``."""
    from skimage.transform import rescale

    if abs(factor - 1.0) < 1e-9:
        return img
    out = rescale(img, factor, order=3, anti_aliasing=factor < 1, channel_axis=-1, mode="reflect")
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def _sample(img: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Cubic-spline samples of ``img`` ``(h, w, 3)`` at float coordinates -> ``ys.shape + (3,)``."""
    chans = [ndimage.map_coordinates(img[..., ch], [ys, xs], order=3, mode="mirror") for ch in range(3)]
    return np.clip(np.stack(chans, axis=-1), 0.0, 1.0).astype(np.float32)


@dataclass(frozen=True)
class Sprite:
    """An occluding textured rectangle.

    Attributes:
        texture: ``(h, w, 3)`` float32 spline-sampled at sprite coordinates.
        size: ``(height, width)`` in frame pixels.
        start: ``(x, y)`` top-left corner in frame 0 (frame pixels, may be fractional).
        step: ``(dx, dy)`` motion per frame (frame pixels).
    """

    texture: np.ndarray
    size: tuple[int, int]
    start: tuple[float, float]
    step: tuple[float, float]

    def corner(self, t: int) -> np.ndarray:
        """Top-left corner ``(x, y)`` in frame ``t``."""
        return np.asarray(self.start, np.float64) + t * np.asarray(self.step, np.float64)

    def inside(self, t: int, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """Boolean: frame-``t`` coordinates ``(xs, ys)`` lie on the sprite."""
        qx, qy = self.corner(t)
        h, w = self.size
        return (xs - qx >= 0) & (xs - qx <= w - 1) & (ys - qy >= 0) & (ys - qy <= h - 1)


@dataclass(frozen=True)
class Clip:
    """A rendered synthetic clip and its exact ground truth.

    Attributes:
        frames: ``(n, H, W, 3)`` float32 RGB in ``[0, 1]``.
        zooms: ``(n,)`` world pixels per frame pixel ``z_t``.
        origins: ``(n, 2)`` world ``(x, y)`` of frame pixel ``(0, 0)`` (``c_t``).
        sprite: the occluder, or ``None``.
    """

    frames: np.ndarray
    zooms: np.ndarray
    origins: np.ndarray
    sprite: Sprite | None

    @property
    def n_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """``(H, W)``."""
        return int(self.frames.shape[1]), int(self.frames.shape[2])

    def _check(self, t: int, s: int) -> None:
        if not (0 <= t < self.n_frames and 0 <= s < self.n_frames):
            raise ValueError(f"frames ({t}, {s}) out of range for a clip of {self.n_frames} frames")

    def _grid(self) -> tuple[np.ndarray, np.ndarray]:
        h, w = self.size
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
        return xs, ys

    def _targets(self, t: int, s: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Where each pixel of ``t`` lands in ``s``: ``(x', y', on_sprite_in_t)``."""
        self._check(t, s)
        xs, ys = self._grid()
        zt, zs = self.zooms[t], self.zooms[s]
        ct, cs = self.origins[t], self.origins[s]
        tx = (zt * xs + ct[0] - cs[0]) / zs
        ty = (zt * ys + ct[1] - cs[1]) / zs
        on_sprite = np.zeros(xs.shape, bool)
        if self.sprite is not None:
            on_sprite = self.sprite.inside(t, xs, ys)
            d = self.sprite.corner(s) - self.sprite.corner(t)
            tx = np.where(on_sprite, xs + d[0], tx)
            ty = np.where(on_sprite, ys + d[1], ty)
        # snap to a 2**-20 px grid: float noise in the origins must not decide border ties
        return np.round(tx * 2**20) / 2**20, np.round(ty * 2**20) / 2**20, on_sprite

    def flow(self, t: int, s: int) -> np.ndarray:
        """Exact flow ``(2, H, W)`` float32 defined on frame ``t`` pointing into frame ``s``."""
        xs, ys = self._grid()
        tx, ty, _ = self._targets(t, s)
        return np.stack([tx - xs, ty - ys]).astype(np.float32)

    def out_of_frame(self, t: int, s: int) -> np.ndarray:
        """``(H, W)`` bool: pixel of ``t`` lands outside ``[0, W-1] x [0, H-1]`` in ``s``."""
        h, w = self.size
        tx, ty, _ = self._targets(t, s)
        return (tx < 0) | (tx > w - 1) | (ty < 0) | (ty > h - 1)

    def occluded(self, t: int, s: int) -> np.ndarray:
        """``(H, W)`` bool: background pixel of ``t`` whose point is hidden by the sprite in ``s``."""
        tx, ty, on_sprite = self._targets(t, s)
        if self.sprite is None:
            return np.zeros(on_sprite.shape, bool)
        return ~on_sprite & self.sprite.inside(s, tx, ty)

    def valid(self, t: int, s: int) -> np.ndarray:
        """``(H, W)`` bool: pixel of ``t`` is visible in ``s`` (neither occluded nor out of frame)."""
        return ~(self.occluded(t, s) | self.out_of_frame(t, s))

    def motion_boundary(self, t: int) -> np.ndarray:
        """``(H, W)`` bool: pixels of ``t`` on either side of the sprite's outline."""
        if self.sprite is None:
            return np.zeros(self.size, bool)
        xs, ys = self._grid()
        on = self.sprite.inside(t, xs, ys)
        return on ^ ndimage.binary_erosion(on) | ndimage.binary_dilation(on) & ~on

    @property
    def forward(self) -> np.ndarray:
        """``(n-1, 2, H, W)`` float32: flow ``t -> t+1``."""
        return np.stack([self.flow(t, t + 1) for t in range(self.n_frames - 1)])

    @property
    def backward(self) -> np.ndarray:
        """``(n-1, 2, H, W)`` float32: flow ``t+1 -> t`` (defined on frame ``t+1``)."""
        return np.stack([self.flow(t + 1, t) for t in range(self.n_frames - 1)])


def _make_sprite(
    size: tuple[int, int],
    frame_size: tuple[int, int],
    step: tuple[float, float],
    n_frames: int,
    image: str,
) -> Sprite:
    """A sprite textured with ``image`` whose path stays centred in the frame."""
    h, w = size
    fh, fw = frame_size
    if not (1 <= h <= fh and 1 <= w <= fw):
        raise ValueError(f"sprite size {size} must fit the frame size {frame_size}")
    tex = photo(image)
    tex = _rescaled(tex, 1.5 * max(h / tex.shape[0], w / tex.shape[1]))
    travel = (n_frames - 1) * np.asarray(step, np.float64)
    start = (np.array([fw - w, fh - h], np.float64) - travel) / 2.0
    return Sprite(texture=tex, size=(h, w), start=(float(start[0]), float(start[1])), step=tuple(map(float, step)))


def _render(
    world: np.ndarray,
    zooms: np.ndarray,
    origins: np.ndarray,
    size: tuple[int, int],
    sprite: Sprite | None,
) -> np.ndarray:
    h, w = size
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    frames = np.empty((len(zooms), h, w, 3), np.float32)
    for t, (z, c) in enumerate(zip(zooms, origins)):
        frames[t] = _sample(world, z * ys + c[1], z * xs + c[0])
        if sprite is not None:
            on = sprite.inside(t, xs, ys)
            q = sprite.corner(t)
            th, tw = sprite.texture.shape[:2]
            # texture coordinates: sprite pixel (u, v) -> centred texture patch
            u = xs[on] - q[0] + (tw - sprite.size[1]) / 2.0
            v = ys[on] - q[1] + (th - sprite.size[0]) / 2.0
            frames[t][on] = _sample(sprite.texture, v, u)
    return frames


def _check_common(n_frames: int, size: tuple[int, int]) -> None:
    if n_frames < 1:
        raise ValueError(f"n_frames must be >= 1, got {n_frames}")
    if len(size) != 2 or min(size) < 2:
        raise ValueError(f"size must be (H, W) with H, W >= 2, got {size}")


def pan(
    n_frames: int,
    *,
    size: tuple[int, int] = (64, 64),
    step: tuple[float, float] = (1.0, 0.0),
    image: str = "astronaut",
    seed: int = 0,
    scale: float | None = None,
    sprite_step: tuple[float, float] | None = None,
    sprite_size: tuple[int, int] | None = None,
    sprite_image: str = "coffee",
) -> Clip:
    """A camera panning over a photo: the content moves by ``-step`` pixels per frame.

    Args:
        n_frames: number of frames.
        size: ``(H, W)`` frame size in pixels.
        step: ``(dx, dy)`` camera motion per frame in frame pixels (integer or fractional);
            GT flow ``t -> t+1`` is ``-step`` everywhere off the sprite.
        image: world photo (one of :data:`IMAGES`).
        seed: picks the starting position among those that keep the whole pan inside the photo.
        scale: world pixels per frame pixel; ``None`` shows as much of the photo as the pan allows
            (the photo is resized with anti-aliasing so it is rendered at 1 world px per frame px).
        sprite_step: ``(dx, dy)`` occluder motion per frame; ``None`` = no occluder.
        sprite_size: ``(h, w)`` of the occluder, default a third of the frame.
        sprite_image: occluder texture photo.

    Returns:
        :class:`Clip` (frames ``(n, H, W, 3)`` float32 in ``[0, 1]`` and exact GT).
    """
    _check_common(n_frames, size)
    h, w = size
    travel = (n_frames - 1) * np.abs(np.asarray(step, np.float64))
    need = np.array([w + travel[0] + 4, h + travel[1] + 4])  # + margin for the spline support
    src = photo(image)
    # resize factor photo px -> world px (1 world px per frame px)
    r = 1.0 / scale if scale is not None else max((need[0] + 1) / src.shape[1], (need[1] + 1) / src.shape[0])
    world = _rescaled(src, r)
    if world.shape[1] < need[0] or world.shape[0] < need[1]:
        raise ValueError(
            f"photo {image!r} {src.shape[:2]} at scale {scale} is too small for a {size} pan of "
            f"{n_frames} frames by {step}"
        )
    rng = np.random.default_rng(seed)
    slack = np.array([world.shape[1], world.shape[0]]) - need
    start = 2 + rng.uniform(0, 1, 2) * slack
    # negative steps start at the far end of their travel
    start = start + np.where(np.asarray(step) < 0, travel, 0.0)
    origins = start[None, :] + np.arange(n_frames)[:, None] * np.asarray(step, np.float64)[None, :]
    zooms = np.ones(n_frames)
    sprite = None
    if sprite_step is not None:
        sprite = _make_sprite(
            sprite_size or (max(h // 3, 1), max(w // 3, 1)), size, sprite_step, n_frames, sprite_image
        )
    return Clip(_render(world, zooms, origins, size, sprite), zooms, origins, sprite)


def zoom(
    n_frames: int,
    *,
    size: tuple[int, int] = (64, 64),
    factor: float = 1.02,
    image: str = "astronaut",
    seed: int = 0,
    sprite_step: tuple[float, float] | None = None,
    sprite_size: tuple[int, int] | None = None,
    sprite_image: str = "coffee",
) -> Clip:
    """A camera zooming about the frame centre by ``factor`` per frame (> 1 zooms in).

    Frame 0 shows a region of the photo at 1 photo px per frame px (the photo is upscaled first
    when the frames would not fit); zooming in then magnifies it. ``seed`` shifts the centre. GT flow ``t -> t+1`` is
    ``(factor - 1) * (x - centre)``. Other arguments as in :func:`pan`.
    """
    _check_common(n_frames, size)
    if factor <= 0:
        raise ValueError(f"zoom factor must be > 0, got {factor}")
    h, w = size
    zooms = factor ** -np.arange(n_frames, dtype=np.float64)
    half = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
    reach = half * zooms.max() + 2  # world px the frames reach from the centre (+ spline margin)
    src = photo(image)
    extent = np.array([src.shape[1], src.shape[0]], np.float64)
    world = _rescaled(src, max(1.0, 1.01 * float(np.max((2 * reach + 1) / extent))))
    lo = reach
    hi = np.array([world.shape[1], world.shape[0]], np.float64) - 1 - reach
    rng = np.random.default_rng(seed)
    centre = (lo + hi) / 2.0 + rng.uniform(-0.25, 0.25, 2) * (hi - lo)
    origins = centre[None, :] - zooms[:, None] * half[None, :]
    sprite = None
    if sprite_step is not None:
        sprite = _make_sprite(
            sprite_size or (max(h // 3, 1), max(w // 3, 1)), size, sprite_step, n_frames, sprite_image
        )
    return Clip(_render(world, zooms, origins, size, sprite), zooms, origins, sprite)


@dataclass(frozen=True)
class Spliced:
    """Two clips one after the other: a scene cut before frame ``cut`` (= ``len(first)``).

    Duck-types :class:`Clip` for :func:`write_clip` and :func:`write_gt_flow`: flows inside a shot
    are the shot's exact ones; a pair across the cut gets OpenCV DIS flow (what a real estimator
    gives between unrelated images), as there is no true flow between two scenes.
    """

    first: Clip
    second: Clip

    @property
    def cut(self) -> int:
        return self.first.n_frames

    @property
    def frames(self) -> np.ndarray:
        return np.concatenate([self.first.frames, self.second.frames])

    @property
    def n_frames(self) -> int:
        return self.first.n_frames + self.second.n_frames

    @property
    def size(self) -> tuple[int, int]:
        return self.first.size

    def flow(self, t: int, s: int) -> np.ndarray:
        """``(2, H, W)`` float32 defined on ``t`` pointing into ``s`` (exact inside a shot)."""
        c = self.cut
        if t < c and s < c:
            return self.first.flow(t, s)
        if t >= c and s >= c:
            return self.second.flow(t - c, s - c)
        from iovst.flow.estimate import DisEstimator

        return DisEstimator(preset="medium")([self.frames[t]], [self.frames[s]])[0]


def splice(first: Clip, second: Clip) -> Spliced:
    """``first`` then ``second`` (same frame size) with a cut between them."""
    if first.size != second.size:
        raise ValueError(f"splice: frame sizes differ, {first.size} vs {second.size}")
    return Spliced(first, second)


def write_clip(
    clip: Clip | Spliced,
    frames_dir: str | Path,
    *,
    meta_path: str | Path | None = None,
    fps: tuple[int, int] = (25, 1),
) -> dict:
    """Write ``clip``'s frames as ``frames_dir/%06d.png`` (8-bit) and, optionally, a minimal meta.json.

    The meta holds what the later stages read (``frame_count``, ``width``, ``height``,
    ``fps_num``, ``fps_den``, ``fps``) — enough for tests of the flow/masks/longterm/preview CLIs;
    it is *not* a full ``iovst extract`` meta. Returns the meta dict.
    """
    from iovst.storage.atomic import write_json
    from iovst.video.frames import frame_path, write_png

    for t, frame in enumerate(clip.frames):
        write_png(frame_path(frames_dir, t), frame)
    h, w = clip.size
    meta = {
        "frame_count": clip.n_frames,
        "width": w,
        "height": h,
        "fps_num": int(fps[0]),
        "fps_den": int(fps[1]),
        "fps": f"{fps[0]}/{fps[1]}",
        "source": "tests/synth.py",
    }
    if meta_path is not None:
        write_json(meta_path, meta)
    return meta


def write_gt_flow(clip: Clip | Spliced, out: str | Path, *, chunk: int, chunk_size: int, offsets: list[int]) -> None:
    """Write flow chunk ``chunk`` of ``clip``'s exact flows (``kind=flow``, ARCHITECTURE layout).

    ``method``/``model`` attributes are ``ground_truth``; use it to test masks, longterm and
    multipass with perfect flow.
    """
    from iovst import chunks
    from iovst.storage import h5io

    h, w = clip.size
    datasets = {}
    for n in offsets:
        starts = chunks.pair_starts(chunk, chunk_size, clip.n_frames, n)
        empty = np.zeros((0, 2, h, w), np.float16)
        datasets[f"N{n}/forward"] = (
            np.stack([clip.flow(t, t + n) for t in starts]).astype(np.float16) if starts else empty
        )
        datasets[f"N{n}/backward"] = (
            np.stack([clip.flow(t + n, t) for t in starts]).astype(np.float16) if starts else empty
        )
    attrs = {
        "first_frame": chunk * chunk_size,
        "n_frames": clip.n_frames,
        "offsets": list(offsets),
        "method": "ground_truth",
        "model": "ground_truth",
        "num_flow_updates": 0,
        "height": h,
        "width": w,
        "params_hash": "",
        "weights": "{}",
        "warning": "",
    }
    h5io.write(out, datasets, kind="flow", attrs=attrs)
