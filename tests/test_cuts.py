"""Scene cuts on a synthetic clip of two shots (two photos panned, a cut before frame 3): detected
from the offset-1 masks and colour histograms, and nothing warped, blended or compared across it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import synth
from stageparams import load, stage_json

from iovst import cli
from iovst.errors import CacheError
from iovst.flow.cuts import Cuts
from iovst.flow.flowstore import FlowStore, LongtermStore, MaskStore
from iovst.flow.longterm import longterm_chunk
from iovst.flow.masks import masks_file
from iovst.metrics import warping_error
from iovst.storage import h5io

ROOT = Path(__file__).resolve().parents[1]
H, W, CUT, OFFSETS = 32, 40, 3, [1, 2]
MP = {"passes": 2, "iterations": 3, "temporal_weight": 1e3}
SMALL = {"style_layers": ["relu1_1", "relu2_1"], "content_layers": ["relu2_1"]}  # a shallow VGG: fast


def _video(d: Path, clip, chunk_size: int, cuts: list[int] | None) -> dict:
    """Frames, meta, exact flow, masks, cuts.json and long-term chunks of ``clip`` under ``d``."""
    d.mkdir(parents=True, exist_ok=True)
    meta = synth.write_clip(clip, d / "frames", meta_path=d / "meta.json")
    ks = range(-(-clip.n_frames // chunk_size))
    flow, masks = [d / f"flow_{k}.h5" for k in ks], [d / f"masks_{k}.h5" for k in ks]
    for k in ks:
        synth.write_gt_flow(clip, flow[k], chunk=k, chunk_size=chunk_size, offsets=OFFSETS)
        masks_file(flow_path=flow[k], out=masks[k], params=load("masks"))
    cuts_json = d / "cuts.json"
    if cuts is None:  # detected by the command
        args = ["cuts", "--masks", *map(str, masks), "--frames-dir", str(d / "frames"), "--meta", str(d / "meta.json")]
        assert cli.main([*args, "--out", str(cuts_json), "--params", stage_json("cuts")]) == 0
    else:
        cuts_json.write_text(json.dumps({"cuts": cuts}))
    lt = [d / f"lt_{k}.h5" for k in ks]
    for k in ks:
        longterm_chunk(
            mask_paths=masks,
            n_frames=clip.n_frames,
            size=(H, W),
            chunk=k,
            chunk_size=chunk_size,
            params=load("longterm", flow={"offsets": OFFSETS}),
            out=lt[k],
            cuts=Cuts.load(cuts_json),
        )
    return {"d": d, "clip": clip, "C": chunk_size, "ks": ks, "flow": flow, "masks": masks, "lt": lt,
            "cuts": cuts_json, "meta": meta}  # fmt: skip


@pytest.fixture(scope="module")
def spliced(tmp_path_factory):
    a = synth.pan(CUT, size=(H, W), step=(2.0, 0.0), image="astronaut")
    b = synth.pan(3, size=(H, W), step=(1.0, 1.0), image="coffee", sprite_step=(-1.0, 1.0), sprite_size=(10, 10))
    base = tmp_path_factory.mktemp("cuts")
    # chunk size 4: chunk 0 holds the end of shot A and the start of shot B
    return _video(base / "spliced", synth.splice(a, b), 4, None), _video(base / "alone", b, 4, [])


def test_cut_detected_with_its_figures(spliced):
    s, _ = spliced
    obj = json.loads(s["cuts"].read_text())
    print("pairs:", [(q["t"], q["reliable"], q["histogram"]) for q in obj["pairs"]])
    assert obj["cuts"] == [CUT] and [q["t"] for q in obj["pairs"]] == list(range(5))
    for q in obj["pairs"]:
        if q["t"] == CUT - 1:  # DIS flow between the two photos: the masks collapse, the colours change
            assert q["cut"] and q["reliable"] < 0.3 and q["histogram"] > 0.3
        else:
            assert not q["cut"] and q["reliable"] > 0.5 and q["histogram"] < 0.2
    assert obj["flow_cuts"] == {"detect": True, "reliable_below": 0.3, "histogram_above": 0.3}
    # detect: false -> one shot, the figures still written
    off = s["d"] / "off.json"
    args = ["cuts", "--masks", *map(str, s["masks"]), "--frames-dir", str(s["d"] / "frames"), "--meta",
            str(s["d"] / "meta.json"), "--out", str(off)]  # fmt: skip
    assert cli.main([*args, "--params", stage_json("cuts", flow={"cuts": {"detect": False}})]) == 0
    assert json.loads(off.read_text())["cuts"] == [] and len(json.loads(off.read_text())["pairs"]) == 5


def test_cuts_file_checked(tmp_path, capsys):
    assert Cuts((3, 7)).crosses(2, 3) and Cuts((3, 7)).crosses(4, 1) and not Cuts((3, 7)).crosses(3, 6)
    bad = tmp_path / "cuts.json"
    bad.write_text('{"cuts": [4, 2]}')
    with pytest.raises(CacheError, match=r"'cuts' must be ascending") as exc:
        Cuts.load(bad)
    assert exc.value.path == bad  # a damaged cuts.json is removed by the command that reads it


def test_longterm_weights_zero_across_the_cut(spliced):
    s, _ = spliced
    with LongtermStore(s["lt"]) as lt:
        for i in range(6):
            for direction, sign in (("from_prev", -1), ("from_next", 1)):
                for n, w in lt.weights(i, direction).items():
                    j = i + sign * n
                    if 0 <= j < 6 and (i < CUT) != (j < CUT):
                        assert not w.any(), (i, j)
                    elif 0 <= j < 6 and n == 1:
                        assert w.mean() > 0.5, (i, j)


def _multipass(v: dict, name: str, r0: np.ndarray) -> dict[int, np.ndarray]:
    """Rounds 1..2 of video ``v`` from round-0 frames ``r0`` ``(n, H, W, 3)``; the last round."""
    d, C, ks = v["d"] / name, v["C"], v["ks"]
    d.mkdir()
    r = lambda p, k: d / f"r{p}_{k}.h5"  # noqa: E731
    for k in ks:
        h5io.write_frames(r(0, k), r0[k * C : (k + 1) * C], first_frame=k * C, attrs={"round": 0})
    params = stage_json(
        "multipass", model={"weights": "random"}, stylize=SMALL, flow={"offsets": OFFSETS}, multipass=MP
    )
    for p in (1, 2):
        for k in ks if p % 2 else reversed(ks):
            nb = [r(p, j) for j in ks if (j < k if p % 2 else j > k)]
            args = ["multipass", "--frames-dir", str(v["d"] / "frames"), "--meta", str(v["d"] / "meta.json"),
                    "--chunk-size", str(C), "--cache-dir", str(d / "cache"), "--device", "cpu", "--style-scale", "1",
                    "--style", str(ROOT / "data" / "style.png"), "--chunk", str(k), "--round", str(p),
                    "--prev", str(r(p - 1, k)), "--neighbors", *map(str, nb), "--flow", *map(str, v["flow"]),
                    "--masks", *map(str, v["masks"]), "--longterm", str(v["lt"][k]), "--cuts", str(v["cuts"]),
                    "--out", str(r(p, k)), "--params", params]  # fmt: skip
            assert cli.main(args) == 0
    return h5io.chunk_frames_files([r(2, k) for k in ks])


def _round0(frames: np.ndarray, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).uniform(-0.3, 0.3, frames.shape)
    return np.clip(frames + noise, 0, 1).astype(np.float32)


def test_metrics_measure_no_pair_across_the_cut(spliced):
    from iovst.metrics import run_metrics

    s, _ = spliced
    chunk = s["d"] / "metrics_r0.h5"
    h5io.write_frames(chunk, s["clip"].frames, first_frame=0)
    files = {"chunk_paths": [chunk], "flow_paths": s["flow"], "mask_paths": s["masks"]}
    assert run_metrics(**files)["pairs"] == 5
    assert run_metrics(**files, cuts=Cuts.load(s["cuts"]))["pairs"] == 4


def test_no_warp_across_the_cut_and_shots_as_without_it(spliced):
    s, alone = spliced
    frames = s["clip"].frames
    r0 = _round0(frames, 0)
    out = _multipass(s, "base", r0)
    # another round 0 for shot A (and, separately, shot B): the other shot's result is bit-identical,
    # so no frame after the cut holds anything warped from before it (forward sweep) and vice versa
    other_a = np.concatenate([_round0(frames[:CUT], 1), r0[CUT:]])
    out_a = _multipass(s, "other_a", other_a)
    other_b = np.concatenate([r0[:CUT], _round0(frames[CUT:], 2)])
    out_b = _multipass(s, "other_b", other_b)
    for i in range(6):
        if i >= CUT:
            assert np.array_equal(out_a[i], out[i]), i
            assert not np.array_equal(out_b[i], out[i]), i
        else:
            assert np.array_equal(out_b[i], out[i]), i
            assert not np.array_equal(out_a[i], out[i]), i
    # shot B rendered as a video of its own: the same frames, the same warping error inside the shot
    own = _multipass(alone, "own", r0[CUT:])
    fs, ms = FlowStore(s["flow"]), MaskStore(s["masks"])
    pairs = range(CUT, 5)
    err = warping_error([out[i] for i in range(CUT, 6)], [fs.flow(t, t + 1) for t in pairs],
                        [ms.reliability(t, t + 1) for t in pairs])  # fmt: skip
    fa, ma = FlowStore(alone["flow"]), MaskStore(alone["masks"])
    err_own = warping_error([own[i] for i in range(3)], [fa.flow(t, t + 1) for t in range(2)],
                            [ma.reliability(t, t + 1) for t in range(2)])  # fmt: skip
    err0 = warping_error(
        list(r0[CUT:]), [fa.flow(t, t + 1) for t in range(2)], [ma.reliability(t, t + 1) for t in range(2)]
    )
    print(f"shot B warping error: round 0 {err0:.5f}, spliced with the cut {err:.5f}, on its own {err_own:.5f}")
    assert err == pytest.approx(err_own, rel=1e-3) and err < 0.5 * err0
    for i in range(3):
        assert np.abs(own[i] - out[CUT + i]).max() < 2e-3


def test_brush_round0_starts_fresh_strokes_at_the_cut(spliced, monkeypatch):
    from iovst.style.brush import paint

    s, _ = spliced
    prevs = []
    orig = paint.BrushPainter.paint_frame

    def spy(self, content, *, prev_strokes=None, **kw):
        prevs.append(prev_strokes)
        return orig(self, content, prev_strokes=prev_strokes, **kw)

    monkeypatch.setattr(paint.BrushPainter, "paint_frame", spy)
    params = stage_json(
        "stylize",
        stylize={**SMALL, "method": "brushstroke", "optimizer": "adam",
                 "brushstroke": {"n_strokes": 30, "steps": 1, "pixel_iterations": 1}},
        model={"weights": "random", "torch_home": None},
    )  # fmt: skip
    out = s["d"] / "brush_r0.h5"
    args = ["stylize", "--frames-dir", str(s["d"] / "frames"), "--meta", str(s["d"] / "meta.json"), "--chunk", "0",
            "--chunk-size", "4", "--style", str(ROOT / "data" / "style.png"), "--style-scale", "1", "--out", str(out),
            "--cache-dir", str(s["d"] / "bcache"), "--params", params, "--device", "cpu",
            "--flow", str(s["flow"][0]), "--masks", str(s["masks"][0]), "--cuts", str(s["cuts"])]  # fmt: skip
    assert cli.main(args) == 0
    assert [p is None for p in prevs] == [True, False, False, True]
