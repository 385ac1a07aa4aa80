"""``iovst encode``: H.264 video at the source's exact frame rate, with the source's audio.

Frames (``(H, W, 3)`` float32 RGB in ``[0, 1]``, square pixels at the processing size) are piped
as raw rgb24 into ffmpeg: libx264, yuv420p (BT.709 matrix, limited range), SAR 1:1, ``+faststart``,
frame rate exactly ``fps_num/fps_den`` from meta.json, so frame count and duration equal the source's
used range. The source's first audio stream is trimmed to that range: stream-copied when no trim
is needed and the codec fits MP4, else re-encoded to AAC. Output is written to a temporary file
and renamed into place.

CLI inputs: ``--frames-dir`` (PNG frames, e.g. the extracted source) or ``--chunks`` (result chunks,
checked to be contiguous from frame 0 to ``frame_count - 1``); ``--side-by-side-source DIR`` puts the
extracted source frames left of the result in the same output; without ``--source`` there is no
audio (round previews).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import ffmpeg as graph
import numpy as np

from ..config import EncodeParams
from ..errors import CacheError
from ..storage import h5io
from ..storage.atomic import atomic_path
from . import ffmpeg
from .frames import read_frame, to_uint8

log = logging.getLogger(__name__)

#: Audio codecs the MP4 muxer takes as they are (stream copy).
MP4_AUDIO = frozenset({"aac", "mp3", "alac", "opus", "ac3", "eac3", "flac"})
AAC_BITRATE = "192k"


def _fps(meta: Mapping[str, Any]) -> Fraction:
    return Fraction(int(meta["fps_num"]), int(meta["fps_den"]))


def _audio(meta: Mapping[str, Any], source: str | Path) -> tuple[graph.nodes.FilterableStream, dict[str, str]]:
    """The source's first audio stream, trimmed to the used frame range (``start_time`` ..
    ``start_time + frame_count / fps`` on the source's timeline), and its output options."""
    fps = _fps(meta)
    duration = Fraction(int(meta["frame_count"])) / fps
    start = float(meta.get("start_time") or 0.0)
    start = start if start > 1e-6 else 0.0
    audio_duration = meta.get("audio_duration")
    longer = audio_duration is None or audio_duration > duration + 1 / fps
    needs_trim = start > 0 or longer
    if not needs_trim and meta.get("audio_codec") in MP4_AUDIO:
        return graph.input(ffmpeg.media_path(source))["a:0"], {"acodec": "copy"}
    seek = {"ss": f"{start:.6f}"} if start > 0 else {}
    audio = graph.input(ffmpeg.media_path(source), **seek, t=f"{float(duration):.6f}")["a:0"]
    return audio, {"acodec": "aac", "audio_bitrate": AAC_BITRATE}


def h264(
    video: graph.nodes.FilterableStream, *, primaries: str = "bt709", transfer: str = "bt709"
) -> graph.nodes.FilterableStream:
    """``video`` (square-pixel RGB) converted for H.264 yuv420p: BT.709 matrix, limited range,
    tagged so (``primaries``/``transfer``: ffmpeg names the RGB values are in), SAR 1:1.
    Output options: :func:`h264_options`."""
    return (
        video.filter("scale", out_color_matrix="bt709", out_range="tv", flags="bicubic+accurate_rnd+full_chroma_int")
        .filter("format", "yuv420p")
        .filter("setsar", 1)
        .filter("setparams", colorspace="bt709", range="tv", color_primaries=primaries, color_trc=transfer)
    )


def h264_options(*, crf: int, preset: str) -> dict[str, str]:
    """ffmpeg output options of :func:`h264`'s stream: libx264, yuv420p, timestamps passed through
    unchanged (the input's frame rate is kept exactly), ``+faststart``."""
    return {
        "vcodec": "libx264",
        "preset": preset,
        "crf": str(int(crf)),
        "pix_fmt": "yuv420p",
        "fps_mode": "passthrough",
        "movflags": "+faststart",
    }


def _rgb24(frames: Iterable[np.ndarray], shape: tuple[int, ...]) -> Iterator[np.ndarray]:
    """uint8 frames, each checked to have ``shape``."""
    for i, frame in enumerate(frames):
        if frame.shape != shape:
            raise ValueError(f"encode: frame {i} has shape {frame.shape}, expected {shape}")
        yield to_uint8(frame)


def encode_video(
    frames: Iterable[np.ndarray],
    *,
    meta: Mapping[str, Any],
    out: str | Path,
    params: EncodeParams,
    source: str | Path | None = None,
) -> int:
    """Encode ``frames`` to the H.264 MP4 ``out`` (atomically); return the number of frames.

    Args:
        frames: ``meta["frame_count"]`` arrays ``(H, W, 3)`` float32 RGB in ``[0, 1]``, square
            pixels, ``H`` and ``W`` even.
        meta: extract's meta.json: ``fps_num``/``fps_den`` (exact rate), ``frame_count``,
            ``start_time`` (s), ``has_audio``, ``audio_codec``, ``audio_duration`` (s), ``color``.
        out: output ``.mp4`` path.
        params: the config ``encode`` section: ``crf``, ``preset`` (libx264 quality, 0-51, lower is
            better, and speed preset), ``audio`` (add the source's audio if it has any).
        source: the source video whose first audio stream is added (None: no audio).

    Raises:
        ValueError: no frames, odd/inconsistent frame sizes, or a frame count other than
            ``meta["frame_count"]`` (nothing is written).
        RuntimeError: ffmpeg failed.
    """
    it = iter(frames)
    first = next(it, None)
    if first is None:
        raise ValueError(f"encode '{out}': no frames")
    if first.ndim != 3 or first.shape[2] != 3 or first.shape[0] % 2 or first.shape[1] % 2:
        raise ValueError(f"encode '{out}': frames must be (H, W, 3) with even H, W; got {first.shape}")
    height, width = first.shape[:2]
    fps = _fps(meta)
    color = meta.get("color") or {}
    streams = [
        h264(
            ffmpeg.raw_rgb24_input(width, height, fps),
            primaries=color.get("primaries") or "bt709",
            transfer=color.get("transfer") or "bt709",
        )
    ]
    options = h264_options(crf=params.crf, preset=params.preset)
    if params.audio and source is not None and meta.get("has_audio"):
        audio_stream, audio_options = _audio(meta, source)
        streams.append(audio_stream)
        options.update(audio_options)
    expected = int(meta["frame_count"])
    with atomic_path(out) as tmp:
        n = ffmpeg.pipe_frames(
            graph.output(*streams, ffmpeg.media_path(tmp), **options),
            _rgb24(itertools.chain([first], it), first.shape),
            context=f"encode '{out}'",
        )
        if n != expected:
            raise ValueError(f"encode '{out}': got {n} frames, meta.json says frame_count = {expected}")
    return n


def chunk_frames(paths: Sequence[str | Path], *, frame_count: int) -> Iterator[np.ndarray]:
    """Frames ``0 .. frame_count-1`` from result chunks (``kind=frames``), ordered by first frame.

    All chunks' headers are checked before the first frame is yielded.

    Raises:
        CacheError: a chunk is unreadable, or the chunks are not contiguous from frame 0 to
            ``frame_count - 1`` (naming the first offending file).
    """
    spans = []
    for p in paths:
        with h5io.open_checked(p, kind="frames") as f:
            spans.append((int(f.attrs["first_frame"]), int(f.attrs["n_frames"]), Path(p)))
    spans.sort(key=lambda s: s[0])
    expected = 0
    for first, n, p in spans:
        if first != expected:
            raise CacheError(
                f"chunk '{p}': starts at frame {first}, expected frame {expected} (missing or overlapping chunk)"
            )
        expected = first + n
    if expected != frame_count:
        last = spans[-1][2] if spans else "<none>"
        raise CacheError(f"chunk '{last}': chunks end at frame {expected}, meta.json has {frame_count} frames")
    for _, _, p in spans:
        yield from h5io.read_frames(p)[1]


def dir_frames(frames_dir: str | Path, count: int) -> Iterator[np.ndarray]:
    for i in range(count):
        yield read_frame(frames_dir, i)


def side_by_side(left: Iterable[np.ndarray], right: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    """``left | right`` horizontally; ``left`` is resized to ``right``'s height (width kept even)."""
    import cv2

    for a, b in zip(left, right, strict=True):
        if a.shape[0] != b.shape[0]:
            w = max(2, 2 * round(a.shape[1] * b.shape[0] / a.shape[0] / 2))
            a = cv2.resize(a, (w, b.shape[0]), interpolation=cv2.INTER_AREA)
        yield np.concatenate([a, b], axis=1)
