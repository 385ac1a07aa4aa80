"""Warping error (Lai et al., ECCV 2018)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import synth
from stageparams import stage_json

from iovst import cli
from iovst.flow.masks import reliability
from iovst.metrics import pair_warping_error, warping_error
from iovst.storage import h5io


@pytest.fixture(scope="module")
def clip():
    return synth.pan(5, size=(32, 48), step=(2.0, -1.0), sprite_step=(-1.0, 1.0), sprite_size=(8, 8))


def _inputs(clip):
    flows = [clip.flow(t, t + 1) for t in range(clip.n_frames - 1)]
    masks = [reliability(clip.flow(t, t + 1), clip.flow(t + 1, t)) for t in range(clip.n_frames - 1)]
    return flows, masks


def test_consistent_pan_has_zero_error(clip):
    flows, masks = _inputs(clip)
    assert warping_error(list(clip.frames), flows, masks) < 1e-8


def test_subpixel_pan_is_small():
    c = synth.pan(4, size=(32, 48), step=(0.5, 0.25))
    flows, masks = _inputs(c)
    assert warping_error(list(c.frames), flows, masks) < 5e-3


def test_flicker_is_large(clip):
    flows, masks = _inputs(clip)
    flicker = [np.clip(f + (0.15 if t % 2 else -0.15), 0, 1) for t, f in enumerate(clip.frames)]
    noisy = [
        np.clip(f + np.random.default_rng(t).normal(0, 0.1, f.shape), 0, 1).astype(np.float32)
        for t, f in enumerate(clip.frames)
    ]
    steady = warping_error(list(clip.frames), flows, masks)
    assert warping_error(flicker, flows, masks) > 0.03 > 1000 * steady
    assert warping_error(noisy, flows, masks) > 0.03


def test_unwarped_comparison_would_be_wrong(clip):
    """Ignoring the motion (zero flow) gives a large error for the same steady video."""
    _, masks = _inputs(clip)
    zero = [np.zeros((2, 32, 48), np.float32)] * (clip.n_frames - 1)
    assert warping_error(list(clip.frames), zero, masks) > 0.01


def test_mask_weights_and_errors():
    a = np.zeros((4, 5, 3), np.float32)
    b = np.ones((4, 5, 3), np.float32)
    flow = np.zeros((2, 4, 5), np.float32)
    mask = np.zeros((4, 5), np.float32)
    assert pair_warping_error(a, b, flow, mask) is None
    mask[0, 0] = 1
    assert pair_warping_error(a, b, flow, mask) == pytest.approx(3.0)  # squared L2 over RGB
    with pytest.raises(ValueError, match="every mask is all zero"):
        warping_error([a, b], [flow], [np.zeros((4, 5))])
    with pytest.raises(ValueError, match="2 outputs need 1 flows"):
        warping_error([a, b], [flow, flow], [mask])
    with pytest.raises(ValueError, match=r"\(2, 4, 4\)"):
        pair_warping_error(a, b, flow[:, :, :4], mask)


def test_metrics_cli(clip, tmp_path):
    flow, masks = tmp_path / "flow.h5", tmp_path / "masks.h5"
    synth.write_gt_flow(clip, flow, chunk=0, chunk_size=5, offsets=[1])
    assert cli.main(["masks", "--flow", str(flow), "--out", str(masks), "--params", stage_json("masks")]) == 0
    r0, r1 = tmp_path / "r0.h5", tmp_path / "r1.h5"
    h5io.write_frames(r0, clip.frames[:3], first_frame=0)
    h5io.write_frames(r1, clip.frames[3:], first_frame=3)
    out = tmp_path / "metrics.json"
    assert (
        cli.main(
            ["metrics", "--chunks", str(r1), str(r0), "--flow", str(flow), "--masks", str(masks), "--json", str(out)]
        )
        == 0
    )
    result = json.loads(out.read_text())
    assert result["pairs"] == 4 and result["frames"] == 5
    assert result["warping_error"] < 1e-5  # float16 storage of frames and flow
