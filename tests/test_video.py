"""Video I/O: probe, extract, encode, demo data (CPU, small synthetic clips made with ffmpeg)."""

from __future__ import annotations

import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from stageparams import load, stage_json

from iovst.config import StageParams, section_params
from iovst.demo import make_demo_clip, make_style_image
from iovst.errors import CacheError, ConfigError, InputError
from iovst.storage import h5io
from iovst.video.encode import chunk_frames, encode_video
from iovst.video.extract import extract, processing_size
from iovst.video.ffmpeg import ffmpeg_exe, last_error_line
from iovst.video.frames import frame_path, read_frame, read_image
from iovst.video.probe import probe

ULTRAFAST = section_params("encode", {"preset": "ultrafast"})

REPO = Path(__file__).resolve().parents[1]
#: frame i of INDEX_VIDEO is a flat gray with luma 16 + 7 i (limited range), i.e. RGB gray 7 i * 255 / 219
INDEX_VIDEO = "color=c=black:s=64x48:r=25,format=yuv444p,geq=lum='16+N*7':cb=128:cr=128"
LOSSLESS_444 = ("-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv444p")


def index_gray(i: int | np.ndarray) -> np.ndarray:
    """Expected 8-bit RGB gray level of INDEX_VIDEO's frame ``i``."""
    return np.asarray(i) * 7 * 255 / 219


def frame_indices(grays: list[float]) -> list[int]:
    """Nearest INDEX_VIDEO frame index of each mean gray level."""
    table = index_gray(np.arange(40))
    return [int(np.abs(table - g).argmin()) for g in grays]


def params(size: int = 120, **over) -> StageParams:
    return load("extract", extract={"size": size, **over})


def run_extract(video: Path, tmp_path: Path, **over) -> tuple[Path, dict]:
    frames_dir = tmp_path / f"{video.stem}_frames"
    meta = extract(video, frames_dir=frames_dir, meta_path=tmp_path / f"{video.stem}_meta.json", params=params(**over))
    return frames_dir, meta


def dir_frames(frames_dir: Path, meta: dict) -> list[np.ndarray]:
    return [read_frame(frames_dir, i) for i in range(meta["frame_count"])]


def decode_video(path: Path) -> list[np.ndarray]:
    """All frames of ``path`` as uint8 RGB arrays."""
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(c.streams.video[0])]


def decode_audio(path: Path) -> tuple[np.ndarray, int]:
    """First channel of the first audio stream (float samples) and its sample rate."""
    with av.open(str(path)) as c:
        s = c.streams.audio[0]
        chunks = [f.to_ndarray().reshape(f.layout.nb_channels if f.format.is_planar else 1, -1)[0] for f in c.decode(s)]
        return np.concatenate(chunks).astype(np.float64), s.rate


# ------------------------------------------------------------------------------- fps and audio
@pytest.mark.parametrize(
    "rate, frames, audio, extra, audio_codec",
    [
        # audio twice as long as the video: trimmed -> re-encoded to AAC
        ("30000/1001", 30, "sine=frequency=440:duration=2", (), "aac"),
        # audio as long as the video and MP4-compatible: stream-copied (stays MP3)
        ("25", 25, "sine=frequency=440:duration=1", ("-c:a", "libmp3lame"), "mp3"),
    ],
)
def test_roundtrip_keeps_exact_fps_count_duration_and_audio(
    make_clip, tmp_path, rate, frames, audio, extra, audio_codec
):
    # a name ffmpeg or a shell could misread: leading dash, $(...), quotes, spaces, unicode
    src = make_clip(
        f"-clip $(touch x) 'q' ü {rate.replace('/', '_')}.mp4",
        video=f"testsrc2=size=160x120:rate={rate}",
        frames=frames,
        audio=audio,
        extra=extra,
    )
    fps = Fraction(rate)
    frames_dir, meta = run_extract(src, tmp_path, size=96)
    assert Fraction(meta["fps_num"], meta["fps_den"]) == fps == Fraction(meta["fps"])
    assert meta["frame_count"] == frames and meta["has_audio"] and not meta["vfr"]
    out = tmp_path / "out put.mp4"
    n = encode_video(dir_frames(frames_dir, meta), meta=meta, out=out, source=src, params=ULTRAFAST)
    assert n == frames
    info = probe(out)
    assert info.fps == fps
    assert len(decode_video(out)) == frames
    assert abs(info.duration - frames / fps) <= 1 / fps
    assert info.has_audio and info.audio_codec == audio_codec
    assert abs(info.audio_duration - info.duration) <= 1 / fps
    assert (info.color_space, info.color_primaries, info.sar) == ("bt709", "bt709", 1)
    assert not (tmp_path / "x").exists()


# ------------------------------------------------------------------- no frame dropped or duplicated
def test_every_frame_extracted_and_encoded_once_in_order(make_clip, tmp_path):
    src = make_clip("index.mp4", video=INDEX_VIDEO, frames=30, codec=LOSSLESS_444)
    frames_dir, meta = run_extract(src, tmp_path, size=48)
    assert (meta["width"], meta["height"], meta["frame_count"]) == (64, 48, 30)
    grays = [float(read_frame(frames_dir, i).mean() * 255) for i in range(30)]
    assert np.allclose(grays, index_gray(np.arange(30)), atol=1.5)
    assert not frame_path(frames_dir, 30).exists()

    out = tmp_path / "index_out.mp4"
    encode_video(dir_frames(frames_dir, meta), meta=meta, out=out, params=ULTRAFAST)
    decoded = decode_video(out)
    assert frame_indices([float(f.mean()) for f in decoded]) == list(range(30))


# ------------------------------------------------------------------------------------ geometry
@pytest.mark.parametrize("size, side, expect", [(64, "short", (106, 64)), (100, "long", (100, 60))])
def test_odd_source_gives_even_size_with_aspect_kept(make_clip, tmp_path, size, side, expect):
    src = make_clip(
        "odd.mp4",
        video="testsrc2=size=160x96:rate=25,scale=161:97",
        frames=3,
        codec=("-c:v", "libx264", "-pix_fmt", "yuv444p"),
    )
    assert (probe(src).width, probe(src).height) == (161, 97)
    frames_dir, meta = run_extract(src, tmp_path, size=size, side=side)
    w, h = meta["width"], meta["height"]
    assert (w, h) == expect and w % 2 == 0 and h % 2 == 0
    assert abs(w / h - 161 / 97) < 2 / min(w, h)
    assert read_frame(frames_dir, 0).shape == (h, w, 3)


def test_non_square_pixels_give_display_aspect(make_clip, tmp_path):
    src = make_clip("sar.mp4", video="testsrc2=size=160x120:rate=25,setsar=2", frames=5)
    assert probe(src).sar == 2
    frames_dir, meta = run_extract(src, tmp_path, size=120)
    assert (meta["width"], meta["height"], meta["sar"], meta["display_aspect"]) == (320, 120, "2/1", "8/3")
    assert read_frame(frames_dir, 0).shape == (120, 320, 3)
    out = tmp_path / "sar_out.mp4"
    encode_video(dir_frames(frames_dir, meta), meta=meta, out=out, params=ULTRAFAST)
    info = probe(out)
    assert (info.width, info.height, info.sar, info.display_aspect) == (320, 120, 1, Fraction(8, 3))


def test_rotation_metadata_gives_upright_frames(make_clip, tmp_path):
    plain = make_clip("plain.mp4", frames=5)
    rotated = tmp_path / "rotated.mp4"
    subprocess.run(
        [
            ffmpeg_exe(),
            "-hide_banner",
            "-loglevel",
            "error",
            "-display_rotation",
            "90",
            "-i",
            str(plain),
            "-c",
            "copy",
            str(rotated),
        ],
        check=True,
    )
    assert probe(rotated).rotation == 90 and probe(plain).rotation == 0
    plain_dir, _ = run_extract(plain, tmp_path, size=120)
    rot_dir, meta = run_extract(rotated, tmp_path, size=120)
    assert (meta["width"], meta["height"], meta["rotation"]) == (120, 160, 90)
    upright = read_frame(rot_dir, 0)
    # display rotation 90 = counter-clockwise quarter turn of the stored picture
    assert np.abs(upright - np.rot90(read_frame(plain_dir, 0), 1)).mean() < 0.01
    out = tmp_path / "rot_out.mp4"
    encode_video(dir_frames(rot_dir, meta), meta=meta, out=out, params=ULTRAFAST)
    info = probe(out)
    assert (info.width, info.height, info.rotation) == (120, 160, 0)


# --------------------------------------------------------------------------------- frame range
def test_frame_range_and_audio_trimmed_to_it(make_clip, tmp_path):
    # audio: 300 Hz before t = 0.2 s (= frame 5 at 25 fps), 1200 Hz after
    src = make_clip(
        "range.mp4",
        video=INDEX_VIDEO,
        frames=30,
        codec=LOSSLESS_444,
        audio="aevalsrc='0.5*sin(2*PI*if(lt(t,0.2),300,1200)*t)':s=44100:d=1.2",
    )
    frames_dir, meta = run_extract(src, tmp_path, size=48, start=5, count=10)
    assert meta["frame_count"] == 10 and meta["start_frame"] == 5
    assert meta["start_time"] == pytest.approx(0.2, abs=1e-6)
    assert meta["duration"] == pytest.approx(0.4, abs=1e-9)
    assert frame_indices([float(f.mean() * 255) for f in dir_frames(frames_dir, meta)]) == list(range(5, 15))
    assert not frame_path(frames_dir, 10).exists()

    out = tmp_path / "range_out.mp4"
    encode_video(dir_frames(frames_dir, meta), meta=meta, out=out, source=src, params=ULTRAFAST)
    info = probe(out)
    assert len(decode_video(out)) == 10 and abs(info.duration - 0.4) <= 0.04
    assert abs(info.audio_duration - 0.4) <= 0.04
    samples, rate = decode_audio(out)
    head = samples[: int(0.15 * rate)]
    freq = np.count_nonzero(np.diff(np.signbit(head))) / 2 / 0.15
    assert 1000 < freq < 1400  # starts in the 1200 Hz part: the audio was cut at frame 5


def test_range_past_the_end_is_an_input_error(make_clip, tmp_path):
    src = make_clip("short.mp4", frames=5)
    with pytest.raises(InputError, match="short.mp4"):
        run_extract(src, tmp_path, start=50, count=3)
    assert not (tmp_path / "short_frames").exists() and not list(tmp_path.glob(".tmp-*"))


# ------------------------------------------------------------------------------------ bit depth
def test_10bit_source_gives_16bit_png(make_clip, tmp_path):
    src = make_clip("deep.mp4", frames=3, codec=("-c:v", "libx264", "-pix_fmt", "yuv420p10le"))
    frames_dir, meta = run_extract(src, tmp_path, size=120)
    assert meta["bit_depth"] == 10 and meta["pix_fmt"] == "yuv420p10le"
    png = cv2.imread(str(frame_path(frames_dir, 0)), cv2.IMREAD_UNCHANGED)
    assert png.dtype == np.uint16 and png.shape == (120, 160, 3)
    assert np.count_nonzero(png % 257) > png.size // 10  # more than 8 bits of information


# ----------------------------------------------------------------------------------- bad inputs
def _bad_input(kind: str, tmp_path: Path, make_clip) -> Path:
    if kind == "missing":
        return tmp_path / "-missing $(touch y) 'q'.mp4"
    if kind == "text":
        p = tmp_path / "notes.mp4"
        p.write_text("this is not a video\n")
        return p
    return make_clip("audio only.mp4", video=None, audio="sine=duration=0.5")


@pytest.mark.parametrize(
    "kind, reason", [("missing", "not found"), ("text", "not a readable video"), ("audio", "no video stream")]
)
def test_bad_input_is_one_line_input_error(make_clip, tmp_path, kind, reason):
    video = _bad_input(kind, tmp_path, make_clip)
    with pytest.raises(InputError, match=reason) as exc:
        probe(video)
    assert video.name in str(exc.value) and "\n" not in str(exc.value)

    frames_dir, meta = tmp_path / "out" / "frames", tmp_path / "out" / "meta.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "iovst",
            "extract",
            f"--video={video}",
            f"--frames-dir={frames_dir}",
            f"--meta={meta}",
            "--params",
            stage_json("extract", extract={"size": 64, "max_pixels": 100000}),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("iovst extract: error: ") and video.name in lines[0]
    assert not frames_dir.exists() and not meta.exists() and not (tmp_path / "y").exists()


def test_size_over_max_pixels_is_refused_with_a_fitting_suggestion(make_clip, tmp_path):
    src = make_clip("big.mp4", frames=2)
    with pytest.raises(ConfigError, match="extract.size") as exc:
        run_extract(src, tmp_path, size=480, max_pixels=50_000)
    suggested = int(re.search(r"extract.size <= (\d+)", str(exc.value)).group(1))
    info = probe(src)
    w, h = processing_size(info, size=suggested, side="short")
    assert w * h <= 50_000 < np.prod(processing_size(info, size=suggested + 2, side="short"))
    assert not (tmp_path / "big_frames").exists()


def test_last_error_line_skips_generic_trailers():
    err = (
        "[libx264 @ 0x1] width not divisible by 2 (161x97)\n"
        "[vost#0:0/libx264 @ 0x2] [enc:libx264 @ 0x3] Error while opening encoder - maybe ...\n"
        "[vf#0:0 @ 0x4] Task finished with error code: -22 (Invalid argument)\n"
        "Conversion failed!\n"
    )
    assert last_error_line(err) == "width not divisible by 2 (161x97)"


# ------------------------------------------------------------------------------ encode from chunks
def test_encode_cli_chunks_side_by_side(make_clip, tmp_path):
    from iovst.cli import main

    src = make_clip("sbs.mp4", video=INDEX_VIDEO, frames=8, codec=LOSSLESS_444)
    frames_dir, meta = run_extract(src, tmp_path, size=48)
    inverted = 1.0 - np.stack(dir_frames(frames_dir, meta))
    chunks = [tmp_path / "c0.h5", tmp_path / "c1.h5"]
    h5io.write_frames(chunks[1], inverted[5:], first_frame=5)
    h5io.write_frames(chunks[0], inverted[:5], first_frame=0)
    out = tmp_path / "sbs_out.mp4"
    rc = main(
        [
            "encode",
            "--chunks",
            str(chunks[1]),
            str(chunks[0]),
            "--meta",
            str(tmp_path / "sbs_meta.json"),
            "--source",
            str(src),
            "--out",
            str(out),
            "--params",
            stage_json("encode", encode={"preset": "ultrafast"}),
            "--side-by-side-source",
            str(frames_dir),
        ]
    )
    assert rc == 0
    decoded = decode_video(out)
    assert len(decoded) == 8 and decoded[0].shape == (48, 128, 3)
    assert frame_indices([float(f[:, :64].mean()) for f in decoded]) == list(range(8))
    assert frame_indices([255 - float(f[:, 64:].mean()) for f in decoded]) == list(range(8))


def test_chunks_with_a_gap_are_refused_naming_the_file(tmp_path):
    frames = np.zeros((3, 4, 4, 3), np.float32)
    h5io.write_frames(tmp_path / "a.h5", frames, first_frame=0)
    h5io.write_frames(tmp_path / "b.h5", frames, first_frame=4)
    with pytest.raises(CacheError, match=r"b\.h5.*starts at frame 4, expected frame 3"):
        next(chunk_frames([tmp_path / "a.h5", tmp_path / "b.h5"], frame_count=7))
    with pytest.raises(CacheError, match=r"a\.h5.*meta.json has 4 frames"):
        next(chunk_frames([tmp_path / "a.h5"], frame_count=4))


# ------------------------------------------------------------------------------------ demo data
def test_demo_clip_and_style_image(tmp_path):
    clip = tmp_path / "demo.mp4"
    make_demo_clip(clip, n_frames=12)
    info = probe(clip)
    assert (info.frame_count, info.fps, info.width, info.height) == (12, Fraction(30000, 1001), 128, 96)
    assert len(decode_video(clip)) == 12
    assert info.has_audio and abs(info.audio_duration - info.duration) <= 1 / info.fps
    frames = decode_video(clip)
    assert np.abs(frames[0].astype(int) - frames[-1]).mean() > 10  # the camera moves

    style = tmp_path / "style.png"
    make_style_image(style)
    assert style.stat().st_size < 200_000 and read_image(style).shape == (256, 384, 3)


def test_shipped_demo_data():
    clip, style = REPO / "data" / "demo.mp4", REPO / "data" / "style.png"
    assert clip.stat().st_size <= 200_000 and style.stat().st_size <= 200_000
    info = probe(clip)
    assert 2.0 <= info.duration <= 3.0 and info.has_audio and info.fps == Fraction(30000, 1001)
