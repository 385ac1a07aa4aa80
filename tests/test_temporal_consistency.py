"""Multipass on a synthetic pan with exact flow: far less flicker than independent frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from synth import pan, write_clip, write_gt_flow

from iovst import cli
from iovst.config import canonical_json, load_stage_params, section_params, stage_params, validate
from iovst.flow.flowstore import FlowStore, MaskStore
from iovst.flow.longterm import longterm_chunk
from iovst.flow.masks import masks_file
from iovst.metrics import warping_error
from iovst.storage import h5io

ROOT = Path(__file__).resolve().parents[1]
N, C, OFFSETS, ROUNDS = 6, 3, [1, 2], 2


def _stage(cfg, stage):
    return canonical_json(stage_params(cfg, stage))


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    d = tmp_path_factory.mktemp("pan")
    torch.manual_seed(0)
    clip = pan(N, size=(32, 40), step=(2.0, 0.0), sprite_step=(-1.0, 1.0), sprite_size=(12, 10))
    frames, meta = d / "frames", d / "meta.json"
    write_clip(clip, frames, meta_path=meta)
    cfg = validate(
        {
            "videos": {"v": "v.mp4"},
            "styles": {"s": {"images": ["s.png"]}},
            "model": {"weights": "random"},
            # round 0 from seeded noise per frame, like Ruder's first pass: independent frames flicker
            "stylize": {"init": "noise", "iterations": 25},
            "multipass": {"passes": ROUNDS, "iterations": 15, "temporal_weight": 1e3},
            "flow": {"offsets": OFFSETS},
        }
    )
    style = ["--style", str(ROOT / "data" / "style.png")]
    flow = [d / f"flow_{k}.h5" for k in range(N // C)]
    mask = [d / f"mask_{k}.h5" for k in range(N // C)]
    for k in range(N // C):
        write_gt_flow(clip, flow[k], chunk=k, chunk_size=C, offsets=OFFSETS)
        masks_file(flow_path=flow[k], out=mask[k], params=load_stage_params("masks", stage_params(cfg, "masks")))
    for k in range(N // C):
        longterm_chunk(
            mask_paths=mask,
            n_frames=N,
            size=(32, 40),
            chunk=k,
            chunk_size=C,
            params=load_stage_params("longterm", stage_params(cfg, "longterm")),
            out=d / f"lt_{k}.h5",
        )
    common = [
        "--frames-dir",
        str(frames),
        "--meta",
        str(meta),
        "--chunk-size",
        str(C),
        "--cache-dir",
        str(d / "cache"),
        "--device",
        "cpu",
        "--style-scale",
        "1",
        *style,
    ]
    r = lambda p, k: d / f"r{p}_{k}.h5"  # noqa: E731
    for k in range(N // C):
        assert (
            cli.main(["stylize", *common, "--chunk", str(k), "--out", str(r(0, k)), "--params", _stage(cfg, "stylize")])
            == 0
        )
    for p in range(1, ROUNDS + 1):
        order = range(N // C) if p % 2 else reversed(range(N // C))
        for k in order:
            nb = [r(p, j) for j in range(N // C) if (j < k if p % 2 else j > k)]
            assert (
                cli.main(
                    [
                        "multipass",
                        *common,
                        "--chunk",
                        str(k),
                        "--round",
                        str(p),
                        "--prev",
                        str(r(p - 1, k)),
                        "--neighbors",
                        *map(str, nb),
                        "--flow",
                        *map(str, flow),
                        "--masks",
                        *map(str, mask),
                        "--longterm",
                        str(d / f"lt_{k}.h5"),
                        "--out",
                        str(r(p, k)),
                        "--params",
                        _stage(cfg, "multipass"),
                    ]
                )
                == 0
            )
    results = {p: h5io.chunk_frames_files([r(p, k) for k in range(N // C)]) for p in (0, ROUNDS)}
    fs, ms = FlowStore(flow), MaskStore(mask)
    flows = [fs.flow(t, t + 1) for t in range(N - 1)]
    rel = [ms.reliability(t, t + 1) for t in range(N - 1)]
    return results, flows, rel, cfg, d


def test_multipass_reduces_warping_error(rendered):
    results, flows, rel, _, _ = rendered
    indep = warping_error([results[0][i] for i in range(N)], flows, rel)
    multi = warping_error([results[ROUNDS][i] for i in range(N)], flows, rel)
    print(f"warping error: independent {indep:.5f}, multipass {multi:.5f} ({indep / multi:.1f}x lower)")
    assert multi < 0.25 * indep


def test_multipass_keeps_the_style(rendered):
    from iovst.style.gatys import Gatys
    from iovst.video.frames import read_frame, read_image

    results, _, _, cfg, d = rendered
    g = Gatys(params=section_params("stylize", cfg["stylize"]), device=torch.device("cpu"), weights="random", seed=0)
    targets = g.style_targets([read_image(ROOT / "data" / "style.png")], None, frame_hw=(32, 40))
    t = lambda a: torch.from_numpy(a).permute(2, 0, 1)[None]  # noqa: E731
    style = {
        p: np.mean([g.loss_terms(t(results[p][i]), t(read_frame(d / "frames", i)), targets)["style"] for i in range(N)])
        for p in (0, ROUNDS)
    }
    print(f"style loss: independent {style[0]:.4g}, multipass {style[ROUNDS]:.4g}")
    assert style[ROUNDS] < 2.0 * style[0]


def test_rounds_sweep_and_never_restart_from_content(rendered):
    results, *_ = rendered
    # the final round stays close to round 0's stylization, not to the content photo
    for i in range(N):
        assert np.abs(results[ROUNDS][i] - results[0][i]).mean() < 0.2
