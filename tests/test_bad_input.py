"""Bad input is refused early with one line naming the file or key; odd-but-valid input just works.

Policy for damaged videos: whatever ffmpeg can decode is used (a truncated file whose frames
decode gives those frames plus a warning naming the file and both counts); a file with nothing
decodable (header lost, truncated inside the first frame, no video stream, zero frames) is refused.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import yaml
from stageparams import stage_json
from test_workflow import ROOT, snakemake

pytestmark = pytest.mark.slow
STYLE = ROOT / "data" / "style.png"
#: smallest workflow: one chunk, DIS flow, one multipass round
BASE = {
    "device": "cpu",
    "chunk_size": 8,
    "model": {"weights": "random"},
    "extract": {"size": 32},
    "flow": {"method": "dis", "offsets": [1, 2], "preview": False},
    "stylize": {"iterations": 2, "optimizer": "lbfgs"},
    "multipass": {"passes": 1, "iterations": 2},
    "encode": {"preset": "ultrafast", "side_by_side": False},
    "metrics": False,
}
ERROR_LINE = re.compile(r"^iovst[\w -]*: error: .*$", re.M)


def _ffmpeg(*args: str) -> None:
    from iovst.video.ffmpeg import ffmpeg_exe

    subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args], check=True, capture_output=True
    )


def _clip(path: Path, frames: int = 12, *, faststart: bool = False) -> Path:
    _ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=64x48:rate=25",
        "-frames:v",
        str(frames),
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        *(["-movflags", "+faststart"] if faststart else []),
        str(path),
    )
    return path


def _write_config(work: Path, video, style, **over) -> Path:
    from iovst.config import deep_merge

    cfg = deep_merge(BASE, {"videos": {"clip": str(video)}, "styles": {"paint": {"images": [str(style)]}}})
    for key, value in over.items():  # "flow.offsets" -> nested
        d = cfg
        *head, last = key.split(".")
        for h in head:
            d = d.setdefault(h, {})
        d[last] = value
    p = work / "config.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


# ---------------------------------------------------------------------------- the refused cases
def _text_as_mp4(d: Path) -> dict:
    p = d / "notes.mp4"
    p.write_text("this is not a video\n")
    return {"video": p}


def _truncated_header(d: Path) -> dict:  # moov atom at the end: cut off -> nothing decodable
    full = _clip(d / "full.mp4", 12)
    p = d / "cut.mp4"
    p.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    return {"video": p}


def _zero_frames(d: Path) -> dict:
    p = d / "zero.mp4"
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25", "-frames:v", "0", "-c:v", "libx264", str(p))
    return {"video": p}


def _audio_only(d: Path) -> dict:
    p = d / "sound.mp4"
    _ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=0.5", "-c:a", "aac", str(p))
    return {"video": p}


def _too_large(d: Path) -> dict:
    return {"video": _clip(d / "big.mp4", 3), "over": {"extract.size": 32, "extract.max_pixels": 1000}}


def _style_text(d: Path) -> dict:
    p = d / "style.png"
    p.write_text("not an image")
    return {"style": p}


def _style_truncated(d: Path) -> dict:
    p = d / "cut.png"
    p.write_bytes(STYLE.read_bytes()[: STYLE.stat().st_size // 2])
    return {"style": p}


def _weights_corrupt(d: Path) -> dict:
    p = d / "vgg.pth"
    p.write_bytes(os.urandom(4096))
    return {"over": {"model.weights": str(p)}}


def _weights_wrong_net(d: Path) -> dict:
    import torch

    p = d / "other.pth"
    torch.save({"fc.weight": torch.zeros(2, 3), "fc.bias": torch.zeros(2)}, p)
    return {"over": {"model.weights": str(p)}}


def _weights_wrong_raft(d: Path) -> dict:
    p = _weights_wrong_net(d)["over"]["model.weights"]
    return {"over": {"flow.method": "raft_small", "flow.weights": p}}


def _offline_not_cached(spec: str):  # the test's snakemake() sets IOVST_OFFLINE=1
    return lambda d: {"over": {"model.weights": spec, "model.torch_home": str(d / "torch-home")}}


#: id -> (setup, fragments the one error line must contain, the stage that reports it)
CASES = {
    "missing_video": (lambda d: {"video": d / "nowhere.mp4"}, ["videos.clip", "nowhere.mp4", "not found"], "parse"),
    "text_named_mp4": (_text_as_mp4, ["notes.mp4", "not a readable video"], "extract"),
    "truncated_header_lost": (_truncated_header, ["cut.mp4", "not a readable video"], "extract"),
    "zero_frames": (_zero_frames, ["zero.mp4", "no video stream", "zero-frame"], "extract"),
    "audio_only": (_audio_only, ["sound.mp4", "no video stream (found: audio)"], "extract"),
    "too_large": (_too_large, ["extract.size", "big.mp4", "use extract.size <="], "extract"),
    "style_missing": (lambda d: {"style": d / "gone.png"}, ["styles.paint.images", "gone.png", "not found"], "parse"),
    "style_not_an_image": (_style_text, ["styles.paint.images", "style.png", "not a readable image"], "parse"),
    "style_truncated": (_style_truncated, ["styles.paint.images", "cut.png", "not a readable image"], "parse"),
    "unknown_key": (lambda d: {"over": {"flow.offsetz": [1]}}, ["flow.offsetz", "unknown key"], "parse"),
    "wrong_type": (lambda d: {"over": {"chunk_size": "eight"}}, ["chunk_size", "expected integer"], "parse"),
    "out_of_range": (lambda d: {"over": {"extract.size": 4}}, ["extract.size", "out of range"], "parse"),
    "offsets_empty": (lambda d: {"over": {"flow.offsets": []}}, ["flow.offsets", "at least 1"], "parse"),
    "offsets_unsorted": (lambda d: {"over": {"flow.offsets": [2, 1]}}, ["flow.offsets", "sorted"], "parse"),
    "offsets_without_1": (lambda d: {"over": {"flow.offsets": [2, 4]}}, ["flow.offsets", "must contain 1"], "parse"),
    "weights_corrupt": (_weights_corrupt, ["model.weights", "vgg.pth", "not a torch state_dict file"], "parse"),
    # found by the start check (onstart, before any job), not by the first flow / stylize job
    "weights_wrong_network": (_weights_wrong_net, ["model.weights", "other.pth", "not vgg19 weights"], "start"),
    "weights_wrong_raft": (_weights_wrong_raft, ["flow.weights", "other.pth", "not raft_small weights"], "start"),
    "offline_imagenet_not_cached": (
        _offline_not_cached("imagenet"),
        ["model.weights", "not cached", "iovst weights fetch --torch-home"],
        "start",
    ),
    "offline_auto_not_cached": (
        _offline_not_cached("auto"),
        ["model.weights", "RANDOM", "model.weights: random"],
        "start",
    ),
    "cuda_without_cuda": (
        lambda d: {"over": {"device": "cuda"}, "env": {"CUDA_VISIBLE_DEVICES": ""}},
        ["'device'", "CUDA is not available"],
        "start",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_refused_early_with_one_line(tmp_path, case):
    setup, fragments, stage = CASES[case]
    inputs = tmp_path / "in"
    inputs.mkdir()
    made = setup(inputs)
    work = tmp_path / "work"
    work.mkdir()
    video = made.get("video") or _clip(inputs / "ok.mp4", 3)
    cfg = _write_config(work, video, made.get("style", STYLE), **made.get("over", {}))
    r = snakemake(work, "--cores", "1", "--configfile", str(cfg), check=False, timeout=300, env=made.get("env"))
    assert r.returncode != 0
    text = r.stdout + r.stderr
    logs = work / "results" / "logs"
    if logs.is_dir():
        text += "".join(f.read_text(errors="replace") for f in sorted(logs.rglob("*.log")))
    errors = ERROR_LINE.findall(text)
    assert errors, text[-3000:]
    line = errors[0]
    for frag in fragments:
        assert frag in line, f"{frag!r} not in {line!r}"
    # where it failed: before any expensive stage
    ran = {f.relative_to(logs).as_posix() for f in logs.rglob("*.log")} if logs.is_dir() else set()
    if stage in ("parse", "start"):
        assert not ran and not (work / "results").exists(), ran
    elif stage == "extract":
        assert ran == {"clip/extract.log"}, ran
    # nothing cached or half-written was left for it
    res = work / "results" / "clip"
    assert not (res / "meta.json").exists()
    assert not list((res / "paint").rglob("*.h5")) if res.exists() else True
    assert not list((work / "cache").rglob("*.npz")) if (work / "cache").exists() else True
    assert not list(work.rglob(".tmp-*"))


# ----------------------------------------------------------------- damaged but decodable: runs
def test_truncated_but_decodable_video_is_used_with_a_warning(tmp_path):
    full = _clip(tmp_path / "long.mp4", 60, faststart=True)
    cut = tmp_path / "long_cut.mp4"
    cut.write_bytes(full.read_bytes()[: int(full.stat().st_size * 0.7)])
    params = stage_json("extract", extract={"size": 32, "max_pixels": 10**6})
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "iovst",
            "extract",
            f"--video={cut}",
            f"--frames-dir={tmp_path / 'f'}",
            f"--meta={tmp_path / 'meta.json'}",
            f"--params={params}",
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert 0 < meta["frame_count"] < 60
    assert re.search(r"WARNING .*long_cut\.mp4.*decoded.*truncated or damaged", r.stderr), r.stderr


# ------------------------------------------------------------------ odd style images: just work
def _style_variants(d: Path) -> dict[str, Path]:
    from PIL import Image

    rgb = Image.open(STYLE).convert("RGB").resize((40, 30))
    out = {"gray": d / "gray.png", "rgba": d / "rgba.png", "deep16": d / "deep16.png", "cmyk": d / "cmyk.jpg"}
    rgb.convert("L").save(out["gray"])
    rgba = rgb.convert("RGBA")
    rgba.putalpha(128)
    rgba.save(out["rgba"])
    Image.fromarray(np.asarray(rgb.convert("L"), np.uint16) * 257).save(out["deep16"])
    rgb.convert("CMYK").save(out["cmyk"], "JPEG")
    return out


def test_valid_style_image_variants_are_read_and_pass_the_start_check(tmp_path):
    from PIL import Image

    from iovst.video.frames import read_image

    styles = _style_variants(tmp_path)
    assert Image.open(styles["deep16"]).mode.startswith("I")
    assert Image.open(styles["cmyk"]).mode == "CMYK"
    for name, p in styles.items():
        img = read_image(p)
        assert img.dtype == np.float32 and img.shape == (30, 40, 3), name
        assert 0 <= img.min() and img.max() <= 1 and img.max() > 0.2, name
    work = tmp_path / "work"
    work.mkdir()
    from iovst.config import deep_merge

    cfg = deep_merge(
        BASE,
        {
            "videos": {"clip": str(_clip(tmp_path / "c.mp4", 3))},
            "styles": {n: {"images": [str(p)]} for n, p in styles.items()},
        },
    )
    (work / "c.yaml").write_text(yaml.safe_dump(cfg))
    r = snakemake(work, "-n", "--configfile", str(work / "c.yaml"), check=False)
    assert r.returncode == 0 and "error" not in r.stderr.lower(), r.stdout[-2000:] + r.stderr[-2000:]


# ----------------------- 1 frame, shorter than the largest offset, hostile file names: end to end
HOSTILE = "-a $(touch PWNED) 'q\" ü"


def test_one_frame_short_video_and_hostile_names_run_end_to_end(tmp_path):
    """One workflow run: a 1-frame video and a 3-frame video (largest offset 4) whose file names
    contain spaces, quotes, unicode, ``$(...)`` and a leading dash, with a style image named the
    same way. Everything runs with what is possible; nothing is written outside the workdir's
    results/ (logs included), cache/ and .snakemake/; inputs are read-only; no shell expansion happened."""
    from iovst.demo import make_demo_clip
    from iovst.video.probe import probe

    inputs = tmp_path / "in"
    inputs.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    one = work / f"{HOSTILE} one.mp4"  # given relative to the workdir: the name starts with '-'
    short = inputs / f"{HOSTILE} short.mp4"
    make_demo_clip(one, n_frames=1, size=(48, 64), fps=Fraction(25, 1), audio=True)
    make_demo_clip(short, n_frames=3, size=(48, 64), fps=Fraction(30000, 1001), audio=False)
    style = inputs / f"{HOSTILE} style.png"
    shutil.copy(STYLE, style)
    for p in (one, short, style, inputs):
        p.chmod(0o555 if p.is_dir() else 0o444)
    from iovst.config import deep_merge

    cfg = deep_merge(
        BASE,
        {
            "videos": {"one": one.name, "short": str(short)},
            "styles": {"paint": {"images": [str(style)]}},
            "flow": {"offsets": [1, 4]},
            "multipass": {"passes": 2},
        },
    )
    (work / "config.yaml").write_text(yaml.safe_dump(cfg))
    before_parent = sorted(os.listdir(tmp_path))
    before_cwd = sorted(os.listdir(Path.cwd()))
    try:
        r = snakemake(work, "--cores", "2", "--configfile", str(work / "config.yaml"), cwd=str(work))
    finally:
        for p in (inputs, one, short, style):
            p.chmod(0o755 if p.is_dir() else 0o644)
    assert sorted(os.listdir(tmp_path)) == before_parent
    assert sorted(os.listdir(Path.cwd())) == before_cwd
    assert sorted(os.listdir(inputs)) == sorted(p.name for p in (short, style))
    assert not list(tmp_path.rglob("PWNED")) and not (Path.cwd() / "PWNED").exists()
    assert {p.name for p in work.iterdir()} <= {"config.yaml", "results", "cache", ".snakemake", one.name}
    assert not list(work.rglob(".tmp-*"))
    for name, n in (("one", 1), ("short", 3)):
        out = probe(work / "results" / name / "paint" / f"{name}_paint.mp4")
        assert out.frame_count == n, name
        flow_log = (work / "results" / "logs" / name / "flow" / "chunk_0000.log").read_text()
        assert "have no frame pairs" in flow_log, flow_log
    assert "offset(s) [1, 4] >= 1" in (work / "results" / "logs" / "one" / "flow" / "chunk_0000.log").read_text()
    assert "offset(s) [4] >= 3" in (work / "results" / "logs" / "short" / "flow" / "chunk_0000.log").read_text()
    mp_log = (work / "results" / "logs" / "one" / "paint" / "r1" / "chunk_0000.log").read_text()
    assert "frame 0: computed" in mp_log and "0 temporal terms" in mp_log
    assert "Traceback" not in r.stderr
