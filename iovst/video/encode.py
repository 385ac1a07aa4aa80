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

import argparse
import itertools
import logging
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np

from . import ffmpeg
from ..storage import h5io
from ..storage.atomic import atomic_path
from ..config import parse_params
from ..errors import CacheError
from .frames import read_frame, to_uint8
from ..storage.meta import load_meta

log = logging.getLogger(__name__)

#: Audio codecs the MP4 muxer takes as they are (stream copy).
MP4_AUDIO = frozenset({"aac", "mp3", "alac", "opus", "ac3", "eac3", "flac"})
AAC_BITRATE = "192k"


def _fps(meta: Mapping[str, Any]) -> Fraction:
    return Fraction(int(meta["fps_num"]), int(meta["fps_den"]))


def _audio_args(meta: Mapping[str, Any], source: str | Path) -> tuple[list[str], list[str]]:
    """ffmpeg input and output arguments adding the source's first audio stream, trimmed to the
    used frame range (``start_time`` .. ``start_time + frame_count / fps`` on the source's timeline)."""
    fps = _fps(meta)
    duration = Fraction(int(meta["frame_count"])) / fps
    start = float(meta.get("start_time") or 0.0)
    start = start if start > 1e-6 else 0.0
    audio_duration = meta.get("audio_duration")
    longer = audio_duration is None or audio_duration > duration + 1 / fps
    needs_trim = start > 0 or longer
    if not needs_trim and meta.get("audio_codec") in MP4_AUDIO:
        return ["-i", ffmpeg.media_path(source)], ["-c:a", "copy"]
    seek = ["-ss", f"{start:.6f}"] if start > 0 else []
    return ([*seek, "-t", f"{float(duration):.6f}", "-i", ffmpeg.media_path(source)],
            ["-c:a", "aac", "-b:a", AAC_BITRATE])


def h264_args(*, crf: int, preset: str, primaries: str = "bt709", transfer: str = "bt709") -> list[str]:
    """ffmpeg output arguments encoding square-pixel RGB input to H.264 yuv420p.

    The RGB -> YCbCr conversion uses the BT.709 matrix, limited range, and the stream is tagged
    so (``primaries``/``transfer``: ffmpeg names the RGB values are in); SAR 1:1; timestamps pass
    through unchanged, so the input's frame rate is kept exactly.
    """
    return [
        "-vf", "scale=out_color_matrix=bt709:out_range=tv:flags=bicubic+accurate_rnd+full_chroma_int,"
               f"format=yuv420p,setsar=1,setparams=colorspace=bt709:range=tv:color_primaries={primaries}"
               f":color_trc={transfer}",
        "-c:v", "libx264", "-preset", preset, "-crf", str(int(crf)), "-pix_fmt", "yuv420p",
        "-fps_mode", "passthrough",
    ]


def _rgb24(frames: Iterable[np.ndarray], shape: tuple[int, ...]) -> Iterator[np.ndarray]:
    """uint8 frames, each checked to have ``shape``."""
    for i, frame in enumerate(frames):
        if frame.shape != shape:
            raise ValueError(f"encode: frame {i} has shape {frame.shape}, expected {shape}")
        yield to_uint8(frame)


def encode_video(frames: Iterable[np.ndarray], *, meta: Mapping[str, Any], out: str | Path,
                 source: str | Path | None = None, crf: int = 18, preset: str = "medium",
                 audio: bool = True) -> int:
    """Encode ``frames`` to the H.264 MP4 ``out`` (atomically); return the number of frames.

    Args:
        frames: ``meta["frame_count"]`` arrays ``(H, W, 3)`` float32 RGB in ``[0, 1]``, square
            pixels, ``H`` and ``W`` even.
        meta: extract's meta.json: ``fps_num``/``fps_den`` (exact rate), ``frame_count``,
            ``start_time`` (s), ``has_audio``, ``audio_codec``, ``audio_duration`` (s), ``color``.
        out: output ``.mp4`` path.
        source: the source video whose first audio stream is added (None: no audio).
        crf, preset: libx264 quality (0-51, lower is better) and speed preset.
        audio: add the source's audio if it has any.

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
    args = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
            "-framerate", f"{fps.numerator}/{fps.denominator}", "-i", "pipe:0"]
    audio_in: list[str] = []
    audio_out: list[str] = []
    if audio and source is not None and meta.get("has_audio"):
        audio_in, audio_out = _audio_args(meta, source)
    args += audio_in + ["-map", "0:v:0"] + (["-map", "1:a:0"] if audio_in else [])
    args += h264_args(crf=crf, preset=preset, primaries=color.get("primaries") or "bt709",
                      transfer=color.get("transfer") or "bt709")
    args += [*audio_out, "-movflags", "+faststart"]
    expected = int(meta["frame_count"])
    with atomic_path(out) as tmp:
        n = ffmpeg.pipe_frames([*args, ffmpeg.media_path(tmp)],
                               _rgb24(itertools.chain([first], it), first.shape),
                               context=f"encode '{out}'")
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
            raise CacheError(f"chunk '{p}': starts at frame {first}, expected frame {expected} "
                             "(missing or overlapping chunk)")
        expected = first + n
    if expected != frame_count:
        last = spans[-1][2] if spans else "<none>"
        raise CacheError(f"chunk '{last}': chunks end at frame {expected}, "
                         f"meta.json has {frame_count} frames")
    for _, _, p in spans:
        yield from h5io.read_frames(p)[1]


def _dir_frames(frames_dir: str | Path, count: int) -> Iterator[np.ndarray]:
    for i in range(count):
        yield read_frame(frames_dir, i)


def _side_by_side(left: Iterable[np.ndarray], right: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    """``left | right`` horizontally; ``left`` is resized to ``right``'s height (width kept even)."""
    import cv2

    for a, b in zip(left, right, strict=True):
        if a.shape[0] != b.shape[0]:
            w = max(2, 2 * round(a.shape[1] * b.shape[0] / a.shape[0] / 2))
            a = cv2.resize(a, (w, b.shape[0]), interpolation=cv2.INTER_AREA)
        yield np.concatenate([a, b], axis=1)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--frames-dir", help="directory of %%06d.png frames to encode")
    src.add_argument("--chunks", nargs="+", help="result chunk files (HDF5, kind=frames)")
    parser.add_argument("--meta", required=True, help="extract's meta.json")
    parser.add_argument("--source", help="source video whose audio is added (omit: no audio)")
    parser.add_argument("--out", required=True, help="output .mp4")
    parser.add_argument("--params", required=True, help="JSON (or @file): the config's encode section")
    parser.add_argument("--side-by-side-source", metavar="DIR",
                        help="extracted source frames: write source | result side by side to --out")


def run(args: argparse.Namespace) -> int:
    params = parse_params(args.params)
    meta = load_meta(args.meta)
    count = meta["frame_count"]
    if args.chunks:
        frames = chunk_frames(args.chunks, frame_count=count)
    else:
        frames = _dir_frames(args.frames_dir, count)
    if args.side_by_side_source:
        frames = _side_by_side(_dir_frames(args.side_by_side_source, count), frames)
    n = encode_video(frames, meta=meta, out=args.out, source=args.source, crf=params.get("crf", 18),
                     preset=params.get("preset", "medium"), audio=params.get("audio", True))
    log.info("wrote %d frames to '%s'", n, args.out)
    return 0
