"""``iovst extract``: probe a video and decode its frames losslessly at the processing size.

Frames are written as ``<frames_dir>/%06d.png`` (0-based) in upright, square-pixel display
geometry: SAR and rotation applied, scaled so the chosen side equals ``size`` with both dimensions
even. 8-bit sources give 8-bit RGB PNGs, deeper sources 16-bit RGB PNGs. Constant-frame-rate
sources are decoded frame by frame (nothing dropped or duplicated); variable-frame-rate sources are
resampled to a constant rate (``vfr: true`` in meta.json). The frames are decoded into a temporary
directory next to ``frames_dir`` that is renamed into place when complete; meta.json follows.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import secrets
import shutil
from fractions import Fraction
from pathlib import Path
from typing import Any

import ffmpeg as graph

from ..config import StageParams, params_hash
from ..errors import ConfigError, InputError
from ..storage.atomic import TMP_PREFIX, write_json
from . import ffmpeg
from .frames import PATTERN
from .frames import digest as frames_digest
from .probe import VideoInfo, probe

log = logging.getLogger(__name__)

#: swscale input matrix for each source colour space (ffmpeg names); RGB sources need none.
_SCALE_MATRIX = {
    "bt709": "bt709",
    "fcc": "fcc",
    "bt470bg": "bt601",
    "smpte170m": "bt601",
    "smpte240m": "smpte240m",
    "bt2020nc": "bt2020",
    "bt2020c": "bt2020",
}
#: Untagged sources this tall or taller are assumed BT.709 (HD), smaller ones BT.601 (SD), as
#: players do.
_HD_HEIGHT = 720


def _round_even(x: float | Fraction) -> int:
    """Nearest even integer >= 2 (halves round up)."""
    return max(2, 2 * math.floor(x / 2 + Fraction(1, 2)))


def processing_size(info: VideoInfo, *, size: int, side: str) -> tuple[int, int]:
    """``(width, height)`` in pixels: upright square-pixel display geometry scaled so ``side``
    (``"short"`` or ``"long"``) is ``size``, display aspect kept, both dimensions even."""
    aspect = info.display_aspect  # width / height
    wide = aspect >= 1
    if (side == "short") == wide:  # the height is the side that gets `size`
        return _round_even(size * aspect), _round_even(size)
    return _round_even(size), _round_even(size / aspect)


def _suggest_size(info: VideoInfo, *, size: int, side: str, max_pixels: int) -> int:
    """Largest size (<= ``size``) whose processing size fits in ``max_pixels``."""
    pixels = math.prod(processing_size(info, size=size, side=side))
    s = max(16, int(size * math.sqrt(max_pixels / pixels)))
    while s > 16 and math.prod(processing_size(info, size=s, side=side)) > max_pixels:
        s -= 1
    return s


def _filters(
    video: graph.nodes.FilterableStream, info: VideoInfo, *, width: int, height: int, start: int, count: int | None
) -> graph.nodes.FilterableStream:
    """``video`` through the filter chain (after autorotate): CFR resampling for VFR sources,
    frame range, scale + colour conversion to RGB, square pixels."""
    if info.vfr:
        video = video.filter("fps", fps=f"{info.fps.numerator}/{info.fps.denominator}")
    trim = {"start_frame": start} if start else {}
    if count is not None:
        trim["end_frame"] = start + count
    if trim:
        video = video.filter("trim", **trim)
    upscale = width * height > math.prod(info.display_size)
    scale = {
        "w": width,
        "h": height,
        "flags": f"{'lanczos' if upscale else 'area'}+accurate_rnd+full_chroma_int+full_chroma_inp",
    }
    if info.color_space != "gbr":
        matrix = _SCALE_MATRIX.get(info.color_space or "", "bt709" if info.height >= _HD_HEIGHT else "bt601")
        scale.update(in_color_matrix=matrix, in_range=info.color_range or "tv")
    video = video.filter("scale", **scale).filter("setsar", 1)
    return video.filter("format", "rgb24" if info.bit_depth <= 8 else "rgb48be")


def _remove_stale(frames_dir: Path, meta_path: Path) -> None:
    """Remove a previous frames directory, meta.json and leftover temporary directories."""
    if frames_dir.is_dir() and not frames_dir.is_symlink():
        shutil.rmtree(frames_dir)
    elif frames_dir.exists() or frames_dir.is_symlink():
        frames_dir.unlink()
    with contextlib.suppress(FileNotFoundError):
        meta_path.unlink()
    if frames_dir.parent.is_dir():
        for tmp in frames_dir.parent.glob(TMP_PREFIX + frames_dir.name + ".*"):
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)


def extract(video: str | Path, *, frames_dir: str | Path, meta_path: str | Path, params: StageParams) -> dict[str, Any]:
    """Decode ``video`` into ``frames_dir/%06d.png`` and write ``meta_path``; return the meta dict.

    Args:
        video: source video file.
        frames_dir: output directory (replaced atomically; a stale one is removed first).
        meta_path: output meta.json (fields: see docs/ARCHITECTURE.md).
        params: the stage's ``--params`` (the config's ``extract`` section).

    Raises:
        InputError: unusable video, or no frame in the requested range.
        ConfigError: processing size above ``max_pixels``.
    """
    frames_dir, meta_path = Path(frames_dir), Path(meta_path)
    p = params.extract
    size, side, start, count = p.size, p.side, p.start, p.count
    _remove_stale(frames_dir, meta_path)
    info = probe(video)
    width, height = processing_size(info, size=size, side=side)
    max_pixels = p.max_pixels
    if width * height > max_pixels:
        fit = _suggest_size(info, size=size, side=side, max_pixels=max_pixels)
        if math.prod(processing_size(info, size=fit, side=side)) > max_pixels:
            raise ConfigError(
                f"config key 'extract.max_pixels': {max_pixels} px is too small for video '{video}' "
                f"even at extract.size 16; raise extract.max_pixels"
            )
        raise ConfigError(
            f"config key 'extract.size': {size} gives {width}x{height} = {width * height} px for "
            f"video '{video}', above extract.max_pixels = {max_pixels}; use extract.size <= "
            f"{_suggest_size(info, size=size, side=side, max_pixels=max_pixels)}"
        )
    if width * height > math.prod(info.display_size):
        log.warning("video '%s': upscaling %dx%d to %dx%d", video, *info.display_size, width, height)
    log.info(
        "video '%s': %s fps%s, ~%d frames, %dx%d (sar %s, rotation %d) -> %dx%d",
        video,
        info.fps,
        " (VFR, resampled to CFR)" if info.vfr else "",
        info.frame_count,
        info.width,
        info.height,
        info.sar,
        info.rotation,
        width,
        height,
    )

    frames_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = frames_dir.parent / f"{TMP_PREFIX}{frames_dir.name}.{secrets.token_hex(6)}"
    tmp_dir.mkdir()  # unlike mkdtemp, keeps the umask's permissions
    try:
        source = graph.input(ffmpeg.media_path(video))[str(info.stream_index)]
        frames = _filters(source, info, width=width, height=height, start=start, count=count)
        ffmpeg.run(
            frames.output(
                ffmpeg.image_pattern(tmp_dir, PATTERN),
                an=None,
                sn=None,
                dn=None,
                fps_mode="passthrough",
                vcodec="png",
                start_number=0,
                f="image2",
            ),
            context=f"video '{video}'",
            user_error=True,
        )
        files = sorted(tmp_dir.glob("*.png"))
        if not files:
            raise InputError(
                f"video '{video}': no frame decoded in the range start={start}, "
                f"count={count} (the video has ~{info.frame_count} frames)"
            )
        if [f.name for f in files] != [PATTERN % i for i in range(len(files))]:
            raise RuntimeError(f"video '{video}': ffmpeg wrote non-contiguous frame files")
        digest = frames_digest(files)
        os.replace(tmp_dir, frames_dir)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    n = len(files)
    expected = max(0, info.frame_count - start)
    expected = expected if count is None else min(count, expected)
    if n < expected - 1:
        log.warning(
            "video '%s': %d frame(s) decoded from frame %d, the container promises ~%d (truncated or damaged file?)",
            video,
            n,
            start,
            expected,
        )
    aspect = info.display_aspect
    meta = {
        "source": str(video),
        "fps": f"{info.fps.numerator}/{info.fps.denominator}",
        "fps_num": info.fps.numerator,
        "fps_den": info.fps.denominator,
        "frame_count": n,
        "width": width,
        "height": height,
        "source_width": info.width,
        "source_height": info.height,
        "sar": f"{info.sar.numerator}/{info.sar.denominator}",
        "rotation": info.rotation,
        "display_aspect": f"{aspect.numerator}/{aspect.denominator}",
        "duration": float(n / info.fps),
        "source_duration": info.duration,
        "has_audio": info.has_audio,
        "audio_codec": info.audio_codec,
        "audio_duration": info.audio_duration,
        "pix_fmt": info.pix_fmt,
        "bit_depth": info.bit_depth,
        "color": {
            "primaries": info.color_primaries,
            "transfer": info.color_transfer,
            "space": info.color_space,
            "range": info.color_range,
        },
        "vfr": info.vfr,
        "start_frame": start,
        "start_time": info.start_time + float(start / info.fps),
        "frame_digest": digest,
        "stage_version": params.version,
        "params_hash": params_hash(params.raw),
    }
    write_json(meta_path, meta)
    log.info("video '%s': %d frames -> '%s'", video, n, frames_dir)
    return meta
