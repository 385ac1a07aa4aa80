"""Brushstrokes through multipass: the rounds refine each frame against its round-0 stroke
painting (stored in the round-0 chunk), so they keep the brushstroke look; ``original_colors``
paints the strokes in the frame's chroma (tiny sizes, CPU, random VGG weights)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import synth
import torch
from stageparams import load, stage_json

from iovst import cli
from iovst.flow.flowstore import FlowStore, MaskStore
from iovst.flow.longterm import longterm_chunk
from iovst.flow.masks import masks_file
from iovst.metrics import warping_error
from iovst.storage import h5io
from iovst.style import color
from iovst.style.stylizer import GatysStylizer
from iovst.tensors import to_tensor

ROOT = Path(__file__).resolve().parents[1]
H, W, N = 32, 40, 4
SMALL = {"style_layers": ["relu1_1", "relu2_1"], "content_layers": ["relu2_1"]}  # a shallow VGG: fast
BRUSH = {**SMALL, "method": "brushstroke", "optimizer": "adam", "lr": 0.05, "iterations": 20,
         "brushstroke": {"n_strokes": 40, "steps": 5, "pixel_iterations": 5}}  # fmt: skip
MP = {"passes": 2, "iterations": 10, "temporal_weight": 1e3}
MODEL = {"weights": "random", "torch_home": None}


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    d = tmp_path_factory.mktemp("brushmp")
    clip = synth.pan(N, size=(H, W), step=(2.0, 0.0), sprite_step=(-1.0, 1.0), sprite_size=(10, 10))
    synth.write_clip(clip, d / "frames", meta_path=d / "meta.json")
    synth.write_gt_flow(clip, d / "flow.h5", chunk=0, chunk_size=N, offsets=[1])
    masks_file(flow_path=d / "flow.h5", out=d / "masks.h5", params=load("masks"))
    (d / "cuts.json").write_text(json.dumps({"cuts": []}))
    longterm_chunk(
        mask_paths=[d / "masks.h5"],
        n_frames=N,
        size=(H, W),
        chunk=0,
        chunk_size=N,
        params=load("longterm", flow={"offsets": [1]}),
        out=d / "lt.h5",
    )
    common = ["--frames-dir", str(d / "frames"), "--meta", str(d / "meta.json"), "--chunk", "0", "--chunk-size",
              str(N), "--style", str(ROOT / "data" / "style.png"), "--style-scale", "1", "--device", "cpu",
              "--cache-dir", str(d / "cache")]  # fmt: skip
    brush = ["--flow", str(d / "flow.h5"), "--masks", str(d / "masks.h5"), "--cuts", str(d / "cuts.json")]
    r0, gatys = d / "brush_r0.h5", d / "gatys_r0.h5"  # and a Gatys render of the same frames, for comparison
    for out, stylize, extra in ((r0, BRUSH, brush), (gatys, {**BRUSH, "method": "gatys"}, [])):
        params = stage_json("stylize", stylize=stylize, model=MODEL)
        assert cli.main(["stylize", *common, *extra, "--out", str(out), "--params", params]) == 0

    def multipass(name: str, stylize: dict, *extra: str) -> np.ndarray:
        prev = r0
        for p in (1, 2):
            out = d / f"{name}_r{p}.h5"
            params = stage_json("multipass", stylize=stylize, model=MODEL, flow={"offsets": [1]}, multipass=MP)
            args = ["multipass", *common, "--round", str(p), "--prev", str(prev), "--neighbors", "--flow",
                    str(d / "flow.h5"), "--masks", str(d / "masks.h5"), "--longterm", str(d / "lt.h5"),
                    "--cuts", str(d / "cuts.json"), "--out", str(out)]  # fmt: skip
            assert cli.main([*args, "--params", params, *extra]) == 0
            prev = out
        return h5io.read_frames(prev)[1]

    return {"d": d, "r0": r0, "gatys": gatys, "multipass": multipass, "common": common}


def test_brush_multipass_refines_against_the_stroke_paintings(video, monkeypatch):
    d = video["d"]
    with h5io.open_checked(video["r0"], kind="frames") as f:
        paintings = h5io.read_dataset(f, "paintings").astype(np.float32)
        r0 = h5io.read_dataset(f, "frames").astype(np.float32)
    assert paintings.shape == (N, H, W, 3) and np.abs(paintings - r0).max() > 0  # before the pixel stage

    contents = []
    orig = GatysStylizer.refine

    def spy(self, content, **kw):
        contents.append(content)
        return orig(self, content, **kw)

    monkeypatch.setattr(GatysStylizer, "refine", spy)
    brush = video["multipass"]("brush", BRUSH, "--paintings", str(video["r0"]))
    assert len(contents) == 2 * N
    for j, c in enumerate(contents):  # round 1 forward, round 2 backward
        i = j if j < N else 2 * N - 1 - j
        assert torch.equal(c.cpu(), to_tensor(paintings[i])), i
    monkeypatch.undo()
    # what multipass did before: Gatys rounds with the photo as content
    photo = video["multipass"]("photo", {**BRUSH, "method": "gatys"})

    from iovst.config import section_params
    from iovst.style.gatys import Gatys
    from iovst.video.frames import read_image

    g = Gatys(params=section_params("stylize", SMALL), device="cpu", weights="random", seed=0)
    targets = g.style_targets([read_image(ROOT / "data" / "style.png")], None, frame_hw=(H, W))
    gatys = h5io.read_frames(video["gatys"])[1]

    def content_loss(x: np.ndarray, ref: np.ndarray) -> float:
        return float(np.mean([g.loss_terms(to_tensor(x[i]), to_tensor(ref[i]), targets)["content"] for i in range(N)]))

    fs, ms = FlowStore([d / "flow.h5"]), MaskStore([d / "masks.h5"])
    flows, rel = [fs.flow(t, t + 1) for t in range(N - 1)], [ms.reliability(t, t + 1) for t in range(N - 1)]
    figures = {
        name: (content_loss(x, paintings), content_loss(x, gatys), warping_error(list(x), flows, rel))
        for name, x in (("round 0", r0), ("multipass, painting content", brush), ("multipass, photo content", photo))
    }
    for name, (cp, cg, we) in figures.items():
        print(f"{name:28s} content loss to painting {cp:.4f}, to Gatys render {cg:.4f}, warping error {we:.5f}")
    cp, cg, we = figures["multipass, painting content"]
    assert cp < cg  # still the stroke painting, not a Gatys render of the photo
    assert cp < figures["multipass, photo content"][0]
    assert we < figures["round 0"][2]  # steadier than round 0, as for Gatys


def test_brush_multipass_uses_the_pixel_style_weight(video, monkeypatch):
    """After a brushstroke round 0 the rounds weight style by ``brushstroke.pixel_style_weight``
    (as the pixel stage), not by ``stylize.style_weight`` (a Gatys render's)."""
    seen = []
    orig = GatysStylizer.refine

    def spy(self, content, **kw):
        seen.append(self.model.params.style_weight)
        return orig(self, content, **kw)

    monkeypatch.setattr(GatysStylizer, "refine", spy)
    stylize = {**BRUSH, "style_weight": 10.0, "brushstroke": {**BRUSH["brushstroke"], "pixel_style_weight": 0.5}}
    video["multipass"]("psw", stylize, "--paintings", str(video["r0"]))
    assert seen == [0.5] * (2 * N)


def test_multipass_needs_the_paintings_of_a_brush_run(video, capsys):
    d = video["d"]
    args = ["multipass", *video["common"], "--round", "1", "--prev", str(video["r0"]), "--neighbors", "--flow",
            str(d / "flow.h5"), "--masks", str(d / "masks.h5"), "--longterm", str(d / "lt.h5"), "--out",
            str(d / "x.h5")]  # fmt: skip
    mp = lambda stylize: stage_json("multipass", stylize=stylize, model=MODEL, flow={"offsets": [1]}, multipass=MP)  # noqa: E731
    assert cli.main([*args, "--params", mp(BRUSH)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--paintings" in err[0] and "brushstroke" in err[0]
    assert cli.main([*args, "--params", mp({**BRUSH, "method": "gatys"}), "--paintings", str(video["r0"])]) == 2
    assert "only for stylize.method brushstroke" in capsys.readouterr().err
    # a round-0 chunk without paintings (an older brush chunk, or a Gatys one) is removed for regeneration
    old = d / "old_r0.h5"
    h5io.write_frames(old, h5io.read_frames(video["r0"])[1], first_frame=0)
    assert cli.main([*args, "--params", mp(BRUSH), "--paintings", str(old)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "paintings" in err[0] and not old.exists()
    assert not (d / "x.h5").exists()


def test_brush_original_colors_paints_in_the_frames_chroma():
    from iovst.config import section_params
    from iovst.style.brush.paint import CONTENT_LAYERS, BrushPainter
    from iovst.style.gatys import Gatys
    from iovst.video.frames import read_image

    p = section_params("stylize", {**BRUSH, "original_colors": True})
    g = Gatys(params=p, device="cpu", weights="random", seed=0, extra_layers=CONTENT_LAYERS)
    targets = g.style_targets([read_image(ROOT / "data" / "style.png")], None, frame_hw=(H, W))
    frame = synth.pan(1, size=(H, W), image="chelsea").frames[0]
    image, painting, _ = BrushPainter(gatys=g, params=p.brushstroke).paint_frame(frame, targets=targets, seed=1)
    iq = lambda x: color.rgb_to_yiq(to_tensor(x))[:, 1:]  # noqa: E731
    assert torch.allclose(iq(painting), iq(frame), atol=1e-5)
    assert torch.allclose(iq(image), iq(frame), atol=1e-4)
    # the luminance is the strokes' (stylised), not the frame's
    assert (color.luminance(to_tensor(painting)) - color.luminance(to_tensor(frame))).abs().mean() > 0.02


def _painter(stylize: dict):
    from iovst.config import section_params
    from iovst.style.stylizer import BrushStylizer
    from iovst.video.frames import read_image

    p = section_params("stylize", stylize)
    style = read_image(ROOT / "data" / "style.png")
    s = BrushStylizer(
        stylize=p, styles=[style], style_weights=None, style_scale=1.0, frame_hw=(H, W),
        device=torch.device("cpu"), weights="random", seed=0,
    )  # fmt: skip
    return s, s.painter


def test_stroke_colours_follow_the_content_term():
    """With no style term the colours still move (towards the frame): they are optimised on
    content + style, not on the style term alone (Adam would make the weights irrelevant)."""
    brush = {**BRUSH["brushstroke"], "style_weight": 0.0, "curvature_weight": 0.0, "orientation_weight": 0.0}
    stylizer, painter = _painter({**BRUSH, "brushstroke": {**brush, "steps": 8}})
    frame = synth.pan(1, size=(H, W), image="chelsea").frames[0]
    strokes = painter.initial_strokes(frame, seed=0)
    strokes.color.data = torch.full_like(strokes.color, 0.5)  # grey strokes: the content pulls the colours
    out, history = painter.optimize_strokes(strokes, to_tensor(frame), targets=stylizer.targets, steps=8)
    assert (out.color - strokes.color).abs().max() > 0.02
    assert history[-1] < history[0]


def test_pixel_stage_uses_the_pixel_style_weight():
    """The pixel stage (and multipass, same model) weights style by
    ``brushstroke.pixel_style_weight``, not ``stylize.style_weight``: at 0 it keeps the painting."""
    frame = synth.pan(1, size=(H, W), image="chelsea").frames[0]
    moved = {}
    for psw in (0.0, 10.0):
        brush = {**BRUSH["brushstroke"], "pixel_style_weight": psw, "pixel_iterations": 10}
        stylizer, painter = _painter({**BRUSH, "style_weight": 10.0, "brushstroke": brush})
        assert stylizer.model.params.style_weight == psw
        image, painting, _ = painter.paint_frame(frame, targets=stylizer.targets, seed=1)
        moved[psw] = float(np.abs(image - painting).mean())
    assert moved[0.0] < 0.25 * moved[10.0], moved
