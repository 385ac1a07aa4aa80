"""Probe a video file with PyAV: exact frame rate, geometry, rotation, audio, pixel format, colour.

Only container/stream headers, the first packets (for timestamp regularity) and the first decoded
frame (decodability, rotation side data) are read; the authoritative frame count comes from the
decode in :mod:`iovst.video.extract`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from ..errors import InputError

#: ffmpeg CLI names of AVColorPrimaries / AVColorTransferCharacteristic / AVColorSpace / AVColorRange.
PRIMARIES = {
    1: "bt709",
    4: "bt470m",
    5: "bt470bg",
    6: "smpte170m",
    7: "smpte240m",
    8: "film",
    9: "bt2020",
    10: "smpte428",
    11: "smpte431",
    12: "smpte432",
    22: "jedec-p22",
}
TRANSFERS = {
    1: "bt709",
    4: "bt470m",
    5: "bt470bg",
    6: "smpte170m",
    7: "smpte240m",
    8: "linear",
    9: "log100",
    10: "log316",
    11: "iec61966-2-4",
    12: "bt1361e",
    13: "iec61966-2-1",
    14: "bt2020-10",
    15: "bt2020-12",
    16: "smpte2084",
    17: "smpte428",
    18: "arib-std-b67",
}
SPACES = {
    0: "gbr",
    1: "bt709",
    4: "fcc",
    5: "bt470bg",
    6: "smpte170m",
    7: "smpte240m",
    8: "ycgco",
    9: "bt2020nc",
    10: "bt2020c",
    11: "smpte2085",
    12: "chroma-derived-nc",
    13: "chroma-derived-c",
    14: "ictcp",
}
RANGES = {1: "tv", 2: "pc"}

#: Nominal rates a variable-frame-rate source is resampled to when its average is within 1 %.
STANDARD_RATES = tuple(
    Fraction(r)
    for r in (
        "24000/1001",
        "24",
        "25",
        "30000/1001",
        "30",
        "48",
        "50",
        "60000/1001",
        "60",
        "100",
        "120000/1001",
        "120",
        "240",
    )
)

#: Packets inspected for timestamp regularity (VFR detection); the largest few are ignored
#: because B-frame reordering can leave them out of the window.
_PTS_WINDOW = 120
_PTS_TAIL = 16


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` learns about a video file.

    Attributes:
        path: the probed file.
        stream_index: container index of the video stream used (cover art is skipped).
        fps: exact frame rate (frames per second); for VFR sources the CFR rate frames are
            resampled to (the average rate, snapped to a standard rate within 1 %).
        vfr: timestamps are irregular (variable frame rate).
        frame_count: decode-free estimate of the number of frames (container index or
            duration x fps); the extract's decode is authoritative.
        width, height: coded frame size in pixels (before SAR and rotation).
        sar: sample (pixel) aspect ratio, 1 for square pixels.
        rotation: degrees counter-clockwise the stored frame is turned for display (display
            matrix convention, 0/90/180/270); ffmpeg's autorotate applies it.
        duration: video stream duration in seconds.
        start_time: video stream start relative to the container start in seconds (ffmpeg's
            timeline origin, which ``-ss`` uses).
        has_audio, audio_codec, audio_duration: first audio stream (codec name, seconds).
        pix_fmt, bit_depth: decoded pixel format and bits per component.
        color_primaries, color_transfer, color_space, color_range: ffmpeg names, None if unset.
    """

    path: str
    stream_index: int
    fps: Fraction
    vfr: bool
    frame_count: int
    width: int
    height: int
    sar: Fraction
    rotation: int
    duration: float
    start_time: float
    has_audio: bool
    audio_codec: str | None
    audio_duration: float | None
    pix_fmt: str
    bit_depth: int
    color_primaries: str | None
    color_transfer: str | None
    color_space: str | None
    color_range: str | None

    @property
    def display_size(self) -> tuple[int, int]:
        """Upright square-pixel ``(width, height)`` in pixels: SAR and rotation applied."""
        w = max(1, round(self.width * self.sar))
        return (self.height, w) if self.rotation in (90, 270) else (w, self.height)

    @property
    def display_aspect(self) -> Fraction:
        """Upright display aspect ratio width / height (exact)."""
        dar = Fraction(self.width, self.height) * self.sar
        return 1 / dar if self.rotation in (90, 270) else dar

    def to_json(self) -> dict[str, Any]:
        """JSON-able dict (fractions as ``"num/den"`` strings)."""
        d = asdict(self)
        d["fps"] = f"{self.fps.numerator}/{self.fps.denominator}"
        d["sar"] = f"{self.sar.numerator}/{self.sar.denominator}"
        return d


def _seconds(value: int | None, time_base: Fraction | None) -> float | None:
    if value is None or time_base is None:
        return None
    return float(value * time_base)


def _rotation(stream: Any, frame: Any) -> int:
    """Counter-clockwise display rotation from the display matrix, else the legacy ``rotate`` tag."""
    angle = getattr(frame, "rotation", 0) or 0
    if not angle:
        try:
            angle = -float(stream.metadata.get("rotate", 0))  # legacy tag is clockwise
        except ValueError:
            angle = 0
    return int(round(angle / 90.0)) * 90 % 360


def _scan(container: Any, stream: Any) -> tuple[list[int], Any]:
    """Demux the first packets once: sorted-pts differences (in ``stream.time_base`` ticks) and
    the first decoded frame (None if nothing decodes)."""
    pts: list[int] = []
    first = None
    try:
        for packet in container.demux(stream):
            if first is None:
                first = next(iter(stream.decode(packet)), None)
            if packet.pts is not None:
                pts.append(packet.pts)
            if len(pts) >= _PTS_WINDOW and first is not None:
                break
    except (av.error.InvalidDataError, av.error.EOFError):
        # a truncated or damaged file: keep what was read (extract decodes what is there and warns);
        # nothing at all is an error for the caller
        if first is None:
            raise
    if first is None:
        try:  # decoders with a delay only return the first frame of a very short clip when flushed
            first = next(iter(stream.decode(None)), None)
        except (av.error.FFmpegError, ValueError):
            first = None
    pts.sort()
    if len(pts) > 2 * _PTS_TAIL:
        pts = pts[:-_PTS_TAIL]
    return [b - a for a, b in zip(pts, pts[1:])], first


def _frame_rate(stream: Any, deltas: list[int]) -> tuple[Fraction, bool]:
    """Exact rate and VFR flag from the stream's rates and its packet timestamp spacing."""
    avg = Fraction(stream.average_rate) if stream.average_rate else None
    guess = Fraction(stream.guessed_rate) if stream.guessed_rate else None
    tb = Fraction(stream.time_base)
    # timestamps may be rounded to the time base (e.g. 1 ms in Matroska): allow one tick of jitter
    regular = bool(deltas) and max(deltas) - min(deltas) <= 1 and min(deltas) > 0
    if deltas and not regular:
        rate = avg or guess
        if rate is None:
            rate = 1 / (Fraction(sum(deltas), len(deltas)) * tb)
        nearest = min(STANDARD_RATES, key=lambda r: abs(r - rate))
        return (nearest if abs(nearest - rate) <= rate / 100 else rate.limit_denominator(1001)), True
    for rate in (guess, avg):
        if rate and (not deltas or abs(1 / rate - Fraction(sum(deltas), len(deltas)) * tb) <= tb):
            return rate, False
    if deltas:
        return (1 / (Fraction(sum(deltas), len(deltas)) * tb)).limit_denominator(1001), False
    if rate := guess or avg:
        return rate, False
    raise ValueError("no frame rate")


def _check_file(p: Path, name: str) -> None:
    """Raise :class:`InputError` (``name`` leads the message) unless ``p`` is a non-empty regular file."""
    if not p.exists():
        raise InputError(f"{name}: file not found")
    if not p.is_file():
        raise InputError(f"{name}: not a regular file")
    if p.stat().st_size == 0:
        raise InputError(f"{name}: empty file (0 bytes)")


def _open(p: Path, name: str) -> Any:
    """``av.open`` of ``p`` (resolved); ffmpeg's header errors as a one-line :class:`InputError`."""
    try:
        return av.open(str(p.resolve()))
    except av.error.EOFError:
        raise InputError(f"{name}: not a readable video (end of file in the header: truncated, or no frames)") from None
    except av.error.FFmpegError as exc:
        raise InputError(f"{name}: not a readable video ({exc.strerror or exc})") from None


def _video_stream(container: Any, name: str) -> Any:
    """The first video stream that is not cover art; :class:`InputError` listing what is there if none."""
    videos = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
    if not videos:
        kinds = sorted({"cover art" if s.type == "video" else s.type for s in container.streams})
        kinds = kinds or ["no streams at all: an empty or zero-frame file"]
        raise InputError(f"{name}: no video stream (found: {', '.join(kinds)})")
    return videos[0]


def _decode_start(container: Any, vs: Any, name: str) -> tuple[Any, Fraction, bool]:
    """First decoded frame of ``vs`` and its exact rate (frames/s) and VFR flag
    (:func:`_scan`, :func:`_frame_rate`); undecodable, zero frames or no rate is an :class:`InputError`."""
    try:
        deltas, first = _scan(container, vs)
    except av.error.FFmpegError as exc:
        raise InputError(f"{name}: undecodable video stream ({exc.strerror or exc})") from None
    if first is None:
        raise InputError(f"{name}: video stream has zero decodable frames")
    try:
        fps, vfr = _frame_rate(vs, deltas)
    except ValueError:
        raise InputError(f"{name}: frame rate unknown") from None
    return first, fps, vfr


def _timing(container: Any, vs: Any, tb: Fraction, fps: Fraction, vfr: bool) -> tuple[float, float, int]:
    """``(duration, start_time, frame_count)`` of ``vs`` (time base ``tb`` seconds/tick): seconds,
    seconds relative to the container start, and the decode-free frame estimate (container index,
    else duration x ``fps``)."""
    duration = _seconds(vs.duration, tb)
    if duration is None and container.duration is not None:
        duration = container.duration / av.time_base
    start = _seconds(vs.start_time, tb) or 0.0
    if container.start_time is not None:
        start -= container.start_time / av.time_base
    frames = int(vs.frames or 0)
    if vfr or frames <= 0:
        frames = max(1, math.floor((duration or 0.0) * fps + Fraction(1, 2)))
    if not duration:
        duration = float(frames / fps)
    return float(duration), float(start), frames


def _audio(container: Any) -> tuple[Any, float | None]:
    """The first audio stream (None if none) and its duration in seconds (the container's if the
    stream has none; None if neither is known)."""
    audio = container.streams.audio[0] if container.streams.audio else None
    audio_duration = None
    if audio is not None:
        if audio.time_base:
            audio_duration = _seconds(audio.duration, Fraction(audio.time_base))
        if audio_duration is None and container.duration is not None:
            audio_duration = container.duration / av.time_base
    return audio, audio_duration


def _info(p: Path, container: Any, name: str) -> VideoInfo:
    """Probe the open ``container`` of ``p`` (ffmpeg errors propagate to :func:`probe`)."""
    vs = _video_stream(container, name)
    cc = vs.codec_context
    tb = Fraction(vs.time_base)
    first, fps, vfr = _decode_start(container, vs, name)
    duration, start, frames = _timing(container, vs, tb, fps, vfr)
    audio, audio_duration = _audio(container)
    pix_fmt = first.format.name
    bit_depth = max(c.bits for c in first.format.components)
    sar = Fraction(vs.sample_aspect_ratio or cc.sample_aspect_ratio or 1)
    return VideoInfo(
        path=str(p),
        stream_index=vs.index,
        fps=fps,
        vfr=vfr,
        frame_count=frames,
        width=first.width,
        height=first.height,
        sar=sar if sar > 0 else Fraction(1),
        rotation=_rotation(vs, first),
        duration=duration,
        start_time=start,
        has_audio=audio is not None,
        audio_codec=audio.codec_context.codec.canonical_name if audio is not None else None,
        audio_duration=audio_duration,
        pix_fmt=pix_fmt,
        bit_depth=int(bit_depth),
        color_primaries=PRIMARIES.get(int(cc.color_primaries)),
        color_transfer=TRANSFERS.get(int(cc.color_trc)),
        color_space=SPACES.get(int(cc.colorspace)),
        color_range=RANGES.get(int(cc.color_range)),
    )


def probe(path: str | Path) -> VideoInfo:
    """Probe ``path`` (any container/codec ffmpeg reads).

    Raises:
        InputError: one line naming the file: missing, not a video, no video stream, zero
            frames, or undecodable.
    """
    p = Path(path)
    name = f"video '{p}'"
    _check_file(p, name)
    container = _open(p, name)
    try:
        with container:
            return _info(p, container, name)
    except av.error.FFmpegError as exc:
        raise InputError(f"{name}: not a readable video ({exc.strerror or exc})") from None
