"""``iovst stylize`` with ``stylize.method: brushstroke``: strokes carried across frames and chunks,
per-frame cache with resume, and the workflow end to end (tiny sizes, CPU, random VGG weights)."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import pytest
import synth
from stageparams import load, stage_params

from iovst.cli import main
from iovst.flow.masks import masks_file
from iovst.storage import h5io
from iovst.storage.cache import FrameCache
from iovst.style.brush import paint
from iovst.video.frames import write_png

H, W, N, C = 32, 40, 6, 3
STEP = 2.0  # the camera pans right by 2 px per frame: GT flow t -> t+1 is (-2, 0) everywhere


@pytest.fixture()
def setup(tmp_path: Path) -> dict:
    clip = synth.pan(N, size=(H, W), step=(STEP, 0.0))
    frames, meta = tmp_path / "frames", tmp_path / "meta.json"
    synth.write_clip(clip, frames, meta_path=meta)
    flows, masks = [], []
    for k in range(2):
        f, m = tmp_path / f"flow_{k}.h5", tmp_path / f"masks_{k}.h5"
        synth.write_gt_flow(clip, f, chunk=k, chunk_size=C, offsets=[1])
        masks_file(flow_path=f, out=m, params=load("masks"))
        flows.append(f)
        masks.append(m)
    style = tmp_path / "style.png"
    write_png(style, synth.photo("coffee")[::16, ::16])
    params = stage_params(
        "stylize",
        stylize={
            "method": "brushstroke",
            "optimizer": "adam",
            "style_layers": ["relu1_1", "relu2_1"],
            "content_layers": ["relu2_1"],
            "brushstroke": {"n_strokes": 40, "steps": 2, "pixel_iterations": 2},
        },
        model={"weights": "random", "torch_home": None},
    )
    return {
        "tmp": tmp_path,
        "frames": frames,
        "meta": meta,
        "style": style,
        "params": params,
        "flow": flows,
        "masks": masks,
    }


def argv(s: dict, k: int, *extra: str) -> list[str]:
    out = s["tmp"] / "r0" / f"chunk_{k}.h5"
    args = [
        "stylize",
        "--frames-dir",
        str(s["frames"]),
        "--meta",
        str(s["meta"]),
        "--chunk",
        str(k),
        "--chunk-size",
        str(C),
        "--style",
        str(s["style"]),
        "--out",
        str(out),
        "--cache-dir",
        str(s["tmp"] / "cache"),
        "--params",
        json.dumps(s["params"]),
        "--device",
        "cpu",
        "--style-scale",
        "1",
    ]
    args += [
        "--flow",
        *map(str, s["flow"][max(0, k - 1) : k + 1]),
        "--masks",
        *map(str, s["masks"][max(0, k - 1) : k + 1]),
    ]
    if k > 0:
        args += ["--prev", str(s["tmp"] / "r0" / f"chunk_{k - 1}.h5")]
    return args + list(extra)


def frame_lines(text: str) -> list[str]:
    return [m.group(1) for m in re.finditer(r"\b(frame \d+: .*)$", text, flags=re.M)]


def read_chunk(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with h5io.open_checked(path, kind="frames") as f:
        assert f.attrs["method"] == "brushstroke"
        return h5io.read_dataset(f, "frames"), h5io.read_dataset(f, "strokes_last")


def test_strokes_carried_across_frames_and_chunks_then_reused(setup, caplog, monkeypatch):
    calls = []  # (prev strokes (n, 12) or None, carried result or None) per painted frame
    orig_paint, orig_carry = paint.BrushPainter.paint_frame, paint.carry_strokes

    def spy_paint(self, content, *, prev_strokes=None, **kw):
        calls.append({"prev": None if prev_strokes is None else prev_strokes.to_array()})
        return orig_paint(self, content, prev_strokes=prev_strokes, **kw)

    def spy_carry(prev, frame, **kw):
        carried = orig_carry(prev, frame, **kw)
        calls[-1]["carried"] = carried
        return carried

    monkeypatch.setattr(paint.BrushPainter, "paint_frame", spy_paint)
    monkeypatch.setattr(paint, "carry_strokes", spy_carry)
    caplog.set_level(logging.INFO)
    assert main(argv(setup, 0)) == 0
    assert main(argv(setup, 1)) == 0
    lines = frame_lines(caplog.text)
    assert [line.split(" (")[0] for line in lines] == [f"frame {i}: computed" for i in range(N)]
    frames0, last0 = read_chunk(setup["tmp"] / "r0" / "chunk_0.h5")
    frames1, last1 = read_chunk(setup["tmp"] / "r0" / "chunk_1.h5")
    assert frames0.shape == frames1.shape == (C, H, W, 3) and last0.dtype == np.float32 and last0.shape[1] == 12
    assert h5io.read_frames(setup["tmp"] / "r0" / "chunk_1.h5")[0] == C

    # frame 0 starts from SLIC; every later frame from the previous frame's final strokes, and
    # chunk 1's first frame from chunk 0's stored last strokes
    assert calls[0]["prev"] is None and all(c["prev"] is not None for c in calls[1:])
    np.testing.assert_array_equal(calls[C]["prev"], last0)
    # coherence: most strokes of frame t are frame t-1's moved by the known flow (-2, 0)
    for c in calls[1:]:
        prev, carried = c["prev"], c["carried"]
        kept = carried.strokes.to_array()[: carried.n_kept]
        assert carried.n_kept >= 0.6 * len(prev) and carried.n_kept >= 0.6 * len(carried.strokes)
        moved = prev + np.array([-STEP, 0.0] + [0.0] * 10, np.float32)
        gap = np.abs(kept[:, None, :] - moved[None, :, :]).max(-1).min(1)
        assert gap.max() < 1e-4

    # a rerun reuses every frame and is bit-identical (frames and hand-over strokes)
    caplog.clear()
    for k in range(2):
        out = setup["tmp"] / "rerun" / f"chunk_{k}.h5"
        assert main(argv(setup, k, "--out", str(out))) == 0
    assert frame_lines(caplog.text) == [f"frame {i}: reused" for i in range(N)]
    for k, (fr, last) in enumerate([(frames0, last0), (frames1, last1)]):
        fr2, last2 = read_chunk(setup["tmp"] / "rerun" / f"chunk_{k}.h5")
        assert np.array_equal(fr2, fr) and np.array_equal(last2, last)


def test_resume_mid_chunk_is_bit_identical(setup, caplog, monkeypatch):
    """A job killed after frame 1 of chunk 0 (frames 1 and 2 never cached) resumes at frame 1."""
    puts = []
    orig_put = FrameCache.put
    monkeypatch.setattr(
        FrameCache, "put", lambda self, key, value: puts.append(self.path(key)) or orig_put(self, key, value)
    )
    assert main(argv(setup, 0)) == 0
    full = read_chunk(setup["tmp"] / "r0" / "chunk_0.h5")
    for p in puts[1:]:
        p.unlink()
    caplog.set_level(logging.INFO)
    out = setup["tmp"] / "resumed.h5"
    assert main(argv(setup, 0, "--out", str(out))) == 0
    assert [line.split(" (")[0] for line in frame_lines(caplog.text)] == [
        "frame 0: reused",
        "frame 1: computed",
        "frame 2: computed",
    ]
    resumed = read_chunk(out)
    assert np.array_equal(resumed[0], full[0]) and np.array_equal(resumed[1], full[1])


def test_brush_argument_errors_and_report(setup, capsys):
    args = argv(setup, 1)
    i = args.index("--prev")
    assert main(args[:i] + args[i + 2 :]) == 2
    assert "--prev" in capsys.readouterr().err
    assert main(argv(setup, 0, "--prev", str(setup["tmp"] / "x.h5"))) == 2
    assert "--prev" in capsys.readouterr().err
    # a round-0 chunk without strokes (e.g. left by a Gatys run) is removed for regeneration
    gatys_chunk = setup["tmp"] / "r0" / "chunk_0.h5"
    h5io.write_frames(gatys_chunk, np.zeros((C, H, W, 3), np.float32), first_frame=0)
    assert main(argv(setup, 1)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "strokes_last" in err[0] and not gatys_chunk.exists()
    setup["params"]["stylize"]["method"] = "gatys"
    assert main(argv(setup, 0)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "only for stylize.method brushstroke" in err[0]
    setup["params"]["stylize"]["method"] = "brushstroke"
    assert main(argv(setup, 0, "--report-losses")) == 0
    text = capsys.readouterr().out
    for term in ("content", "style", "curvature", "orientation", "tv", "total", "pixel"):
        assert term in text
    assert not list((setup["tmp"] / "r0").iterdir())


# ------------------------------------------------------------------------------------ workflow
@pytest.mark.slow
def test_workflow_brushstroke_end_to_end(tmp_path):
    from fractions import Fraction

    from test_workflow import ROOT, snakemake, write_config

    from iovst.demo import make_demo_clip
    from iovst.video.probe import probe

    clip = tmp_path / "clip.mp4"
    make_demo_clip(clip, n_frames=10, size=(48, 64), fps=Fraction(25, 1), audio=False)
    work = tmp_path / "run"
    work.mkdir()
    cfg = write_config(
        work,
        clip,
        ROOT / "data" / "style.png",
        flow={"preview": False},
        encode={"side_by_side": False},
        stylize={
            "method": "brushstroke",
            "optimizer": "adam",
            "iterations": 2,
            "brushstroke": {"n_strokes": 40, "steps": 2, "pixel_iterations": 2},
        },
        multipass={"passes": 1, "iterations": 2},
    )
    snakemake(work, "--cores", "2", "--configfile", str(cfg))
    out = work / "results" / "clip" / "paint" / "clip_paint.mp4"
    assert probe(out).frame_count == 10
    r0 = sorted((work / "results" / "clip" / "paint" / "r0").glob("chunk_*.h5"))
    assert len(r0) == 3
    for p in r0:
        _, last = read_chunk(p)
        assert last.shape[0] > 0
    log1 = (work / "results" / "logs" / "clip" / "paint" / "r0" / "chunk_0001.log").read_text()
    assert "frame 4: computed" in log1
