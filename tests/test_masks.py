"""Reliability masks (Ruder et al.) and closest-first long-term weights."""

from __future__ import annotations

import numpy as np
import pytest
import synth
from scipy import ndimage
from stageparams import stage_json

from iovst import cli
from iovst.flow.flowstore import LongtermStore, MaskStore
from iovst.flow.longterm import closest_first
from iovst.flow.masks import reliability
from iovst.storage import h5io


@pytest.fixture(scope="module")
def occluded_pan():
    """Diagonal sub-pixel pan with a 16x16 sprite moving against it."""
    return synth.pan(4, size=(64, 64), step=(1.0, 0.5), sprite_step=(-2.0, 1.0), sprite_size=(16, 16))


@pytest.mark.parametrize("t,s", [(0, 1), (1, 0), (0, 2), (3, 1)])
def test_gt_occlusions_and_border_are_flagged(occluded_pan, t, s):
    clip = occluded_pan
    c = reliability(clip.flow(t, s), clip.flow(s, t))
    assert c.shape == (64, 64) and c.dtype == np.float32 and c.min() >= 0 and c.max() <= 1
    occluded, oof = clip.occluded(t, s), clip.out_of_frame(t, s)
    assert occluded.sum() > 20 and oof.sum() > 20  # the scene really has both
    assert c[occluded].max() == 0 and c[oof].max() == 0
    boundary = clip.motion_boundary(t)
    assert c[boundary].max() == 0
    rest = ~(occluded | oof | boundary)
    # the soft transition (σ = 0.8) costs a ~1 px rim; beyond it everything is reliable
    far = ~ndimage.binary_dilation(~rest, iterations=1)
    assert (c[far] > 0.9).mean() >= 0.95
    assert (c[rest] > 0.4).mean() >= 0.99


def test_disocclusion_is_the_fb_check(occluded_pan):
    """With the motion-boundary test off and no blur, exactly the GT-occluded pixels (+ border) fail."""
    clip = occluded_pan
    c = reliability(clip.flow(0, 1), clip.flow(1, 0), mb_abs=1e9, sigma=0)
    bad = ~clip.valid(0, 1)
    assert set(np.unique(c)) <= {0.0, 1.0}
    # bilinear sampling of ŵ straddles the sprite edge for a 1 px rim: allow that rim only
    assert np.all(c[bad] == 0)
    assert np.all(c[~ndimage.binary_dilation(bad, iterations=2)] == 1)


def test_motion_boundaries_flagged():
    h, w = 20, 30
    flow = np.zeros((2, h, w), np.float32)
    flow[0, :, 15:] = 3.0  # a vertical motion edge; backward flow consistent everywhere
    c = reliability(flow, -flow, fb_abs=1e9, sigma=0)
    assert np.all(c[:, 14:16] == 0)  # central differences see the edge on both sides
    assert np.all(c[:, :14] == 1) and np.all(c[:, 16:-3] == 1)
    assert np.all(c[:, -3:] == 0)  # moved out of frame


def test_softening_keeps_holes_and_grows_them():
    h, w = 24, 24
    flow = np.zeros((2, h, w), np.float32)
    back = np.zeros_like(flow)
    back[0, 8:16, 8:16] = 5.0  # inconsistent block -> disoccluded
    hard = reliability(flow, back, sigma=0)
    soft = reliability(flow, back, sigma=0.8)
    assert np.array_equal(
        hard == 0, np.isin(np.arange(h), range(8, 16))[:, None] & np.isin(np.arange(w), range(8, 16))[None]
    )
    assert np.all(soft[hard == 0] == 0)
    assert np.all(soft <= hard)
    assert 0.3 < soft[12, 7] < 0.6 and 0.85 < soft[12, 6] < 0.97 and soft[12, 3] > 0.999
    assert soft[0, 0] == 1.0


def test_batched_and_tensor_inputs_agree(occluded_pan):
    import torch

    clip = occluded_pan
    f = np.stack([clip.flow(0, 1), clip.flow(1, 0)])
    b = np.stack([clip.flow(1, 0), clip.flow(0, 1)])
    batched = reliability(torch.from_numpy(f), torch.from_numpy(b))
    assert isinstance(batched, torch.Tensor) and batched.shape == (2, 64, 64)
    assert np.allclose(batched[1].numpy(), reliability(f[1], b[1]))
    with pytest.raises(ValueError, match=r"\(2, 64, 64\)"):
        reliability(f[0], b)


def test_masks_cli_layout(occluded_pan, tmp_path):
    clip = occluded_pan
    flow, out = tmp_path / "flow.h5", tmp_path / "masks.h5"
    synth.write_gt_flow(clip, flow, chunk=0, chunk_size=4, offsets=[1, 2])
    params = stage_json("masks")
    assert cli.main(["masks", "--flow", str(flow), "--out", str(out), "--params", params]) == 0
    with h5io.open_checked(out, kind="masks") as f:
        assert f["N1/forward"].shape == (3, 64, 64) and f["N2/backward"].shape == (2, 64, 64)
        assert f["N1/forward"].dtype == np.float16
        assert f.attrs["first_frame"] == 0 and list(f.attrs["offsets"]) == [1, 2]
    with MaskStore([out]) as store:
        for t, s in [(0, 1), (1, 0), (3, 1), (1, 3)]:
            want = reliability(clip.flow(t, s), clip.flow(s, t))
            assert np.allclose(store.reliability(t, s), want, atol=1e-3)
        with pytest.raises(KeyError, match=r"pair \(1, 4\)"):
            store.reliability(4, 1)


def test_closest_first_formula_and_sum():
    rng = np.random.default_rng(0)
    cs = [rng.random((5, 6)).astype(np.float32) for _ in range(4)]
    cs[2][0] = 0
    out = closest_first(cs)
    expect, acc = [], np.zeros((5, 6))
    for c in cs:
        w = np.maximum(c - acc, 0)
        expect.append(w)
        acc = acc + w
    for a, b in zip(out, expect):
        assert np.allclose(a, b, atol=1e-6)
    total = sum(out)
    assert np.all(total <= 1 + 1e-6)
    assert np.allclose(total, np.maximum.reduce(cs), atol=1e-6)  # running sum = running max
    assert np.array_equal(out[0], cs[0])


def test_longterm_cli_across_chunk_boundaries(tmp_path):
    """chunk_size 2 < largest offset 3: each longterm chunk needs masks of several earlier chunks."""
    n, cs, offsets = 7, 2, [1, 3]
    clip = synth.pan(n, size=(24, 32), step=(-1.0, 0.0), sprite_step=(-3.0, 0.0), sprite_size=(8, 8))
    meta = tmp_path / "meta.json"
    synth.write_clip(clip, tmp_path / "frames", meta_path=meta)
    mask_files = []
    for k in range(4):
        flow = tmp_path / f"flow_{k}.h5"
        synth.write_gt_flow(clip, flow, chunk=k, chunk_size=cs, offsets=offsets)
        mask_files.append(tmp_path / f"masks_{k}.h5")
        assert (
            cli.main(["masks", "--flow", str(flow), "--out", str(mask_files[-1]), "--params", stage_json("masks")]) == 0
        )
    params = stage_json("longterm", flow={"offsets": offsets})
    lt_files = []
    for k in range(4):
        lt_files.append(tmp_path / f"longterm_{k}.h5")
        # exactly the chunks holding pairs (i - N, i) and (i, i + N) for i in chunk k
        need = sorted(
            {
                j // cs
                for i in range(k * cs, min((k + 1) * cs, n))
                for m in offsets
                for j in (i - m, i)
                if 0 <= j and j < n
            }
        )
        args = [
            "longterm",
            "--masks",
            *[str(mask_files[j]) for j in need],
            "--meta",
            str(meta),
            "--chunk",
            str(k),
            "--chunk-size",
            str(cs),
            "--out",
            str(lt_files[-1]),
            "--params",
            params,
        ]
        assert cli.main(args) == 0
    with h5io.open_checked(lt_files[3], kind="longterm") as f:
        assert f["from_prev/N3"].shape == (1, 24, 32) and f.attrs["first_frame"] == 6
    with LongtermStore(lt_files) as lt, MaskStore(mask_files) as masks:
        for i in range(n):
            for direction, sign in (("from_prev", -1), ("from_next", 1)):
                w = lt.weights(i, direction)
                assert sorted(w) == offsets
                raw = [
                    masks.reliability(i, i + sign * m) if 0 <= i + sign * m < n else np.zeros((24, 32)) for m in offsets
                ]
                for m, a, b in zip(offsets, [w[m] for m in offsets], closest_first(raw)):
                    assert np.allclose(a, b, atol=2e-3), (i, direction, m)
                    if not 0 <= i + sign * m < n:
                        assert not a.any()
                assert np.all(sum(w.values()) <= 1 + 2e-3)
        # far neighbours fill what the near one leaves: the trail the sprite uncovers at frame 4
        # was hidden in frame 3 but visible in frame 1
        w = lt.weights(4, "from_prev")
        assert w[1].mean() > 0.5 and 0 < w[3].sum() < w[1].sum()
    # a missing mask chunk is a one-line user error
    rc = cli.main(
        [
            "longterm",
            "--masks",
            str(mask_files[2]),
            "--meta",
            str(meta),
            "--chunk",
            "2",
            "--chunk-size",
            str(cs),
            "--out",
            str(tmp_path / "x.h5"),
            "--params",
            params,
        ]
    )
    assert rc == 2 and not (tmp_path / "x.h5").exists()
