"""Gatys core on CPU with random VGG weights at tiny sizes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from iovst.config import StylizeParams, load_schema, section_params
from iovst.errors import ConfigError
from iovst.style import lbfgs
from iovst.style.gatys import Gatys, frame_seed, split_iterations
from iovst.style.vgg import VGGFeatures

HW = (32, 32)


def params(**over) -> StylizeParams:
    base = {"iterations": 4, "style_layers": ["relu1_1", "relu2_1", "relu3_1"], "content_layers": ["relu3_2"]}
    base.update(over)
    return section_params("stylize", base)


def model(**over) -> Gatys:
    return Gatys(params=params(**over), device="cpu", weights="random", seed=0)


@pytest.fixture(scope="module")
def style_images() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.random((20, 44, 3), dtype=np.float32), rng.random((30, 30, 3), dtype=np.float32)]


@pytest.fixture(scope="module")
def content() -> torch.Tensor:
    torch.manual_seed(3)
    return torch.rand(1, 3, *HW)


def test_params_defaults_come_from_schema_and_bad_values_are_config_errors():
    schema = load_schema()["properties"]["stylize"]["properties"]
    p = section_params("stylize", {})
    assert p.style_weight == schema["style_weight"]["default"]
    assert p.style_layers == tuple(schema["style_layers"]["default"])
    assert section_params("stylize", {"method": "gatys", "brushstroke": {}}) == p
    with pytest.raises(ConfigError, match="stylize.nonsense"):
        section_params("stylize", {"nonsense": 1})
    with pytest.raises(ConfigError, match="relu1_3"):
        section_params("stylize", {"style_layers": ["relu1_3"]})
    with pytest.raises(ConfigError, match="style_layer_weights"):
        section_params("stylize", {"style_layer_weights": [1.0]})


def test_vgg_truncated_frozen_and_conv_outputs_not_clobbered():
    v = VGGFeatures(layers=["conv2_1", "relu2_1"], weights="random")
    assert len(v.body) == 7 and not any(p.requires_grad for p in v.parameters()) and not v.training
    out = v(torch.rand(1, 3, 16, 16))
    assert (out["conv2_1"] < 0).any() and torch.equal(out["relu2_1"], out["conv2_1"].clamp_min(0))
    with pytest.raises(ValueError, match=r"\(1, 16, 16\)"):
        v(torch.rand(1, 16, 16))


def test_vgg_accepts_full_model_and_features_only_state_dicts(tmp_path):
    import torchvision

    full = torchvision.models.vgg19()
    torch.save(full.state_dict(), tmp_path / "full.pth")
    torch.save(full.features.state_dict(), tmp_path / "features.pth")
    x = torch.rand(1, 3, 16, 16)
    for name in ("full.pth", "features.pth"):
        v = VGGFeatures(layers=["relu1_1"], weights=str(tmp_path / name))
        torch.testing.assert_close(v(x)["relu1_1"], full.features[:2]((x - v.mean) / v.std))


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_loss_decreases(optimizer, style_images, content):
    g = model(optimizer=optimizer, lr=0.05)
    t = g.style_targets(style_images[:1], None, frame_hw=HW)
    before = g.loss_terms(content, content, t)["total"]
    out = g.optimize(content, targets=t, iterations=10)
    after = g.loss_terms(out, content, t)
    assert out.shape == content.shape and float(out.min()) >= 0 and float(out.max()) <= 1
    assert after["total"] < 0.7 * before
    assert set(after) == {"content", "style", "tv", "temporal", "total"}


def test_style_targets_computed_once_for_many_frames(style_images, content):
    g = model(iterations=2)
    shapes = []
    forward = g.vgg.forward
    g.vgg.forward = lambda x, *a: shapes.append(tuple(x.shape[2:])) or forward(x, *a)
    t = g.style_targets(style_images, [1, 1], frame_hw=HW)
    assert shapes == list(t.sizes)  # one VGG pass per style image
    for k in range(3):
        g.optimize(content * (0.5 + 0.1 * k), targets=t, iterations=2)
    # per frame: content features once + one pass per iteration; never the style images again
    assert shapes[2:] == [HW] * (3 * (1 + 2))
    assert all(abs(h * w - HW[0] * HW[1]) < 0.05 * HW[0] * HW[1] for h, w in t.sizes)


def test_style_scale_sets_area(style_images):
    t = model().style_targets(style_images[:1], None, frame_hw=HW, scale=2.0)
    ((h, w),) = t.sizes
    assert abs(h * w - 2 * HW[0] * HW[1]) < 0.05 * 2 * HW[0] * HW[1] and abs(w / h - 44 / 20) < 0.1


def test_blend_one_zero_equals_single_style(style_images):
    g = model()
    single = g.style_targets(style_images[:1], None, frame_hw=HW)
    blended = g.style_targets(style_images, [1.0, 0.0], frame_hw=HW)
    mixed = g.style_targets(style_images, [1.0, 1.0], frame_hw=HW)
    assert blended.blend == (1.0, 0.0)
    for name, gram in single.grams.items():
        assert torch.equal(blended.grams[name], gram)
        assert not torch.allclose(mixed.grams[name], gram)
    with pytest.raises(ValueError, match="1 style weight"):
        g.style_targets(style_images, [1.0], frame_hw=HW)


def test_same_seed_bit_identical_different_seed_differs(style_images, content):
    g = model(init="noise", optimizer="lbfgs")
    t = g.style_targets(style_images[:1], None, frame_hw=HW)
    a = g.optimize(content, targets=t, iterations=3, seed=frame_seed(0, 5))
    b = g.optimize(content, targets=t, iterations=3, seed=frame_seed(0, 5))
    c = g.optimize(content, targets=t, iterations=3, seed=frame_seed(0, 6))
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)
    g2 = model(init="noise", optimizer="lbfgs")  # a fresh model (same weights seed) gives the same
    assert torch.equal(
        g2.optimize(
            content, targets=g2.style_targets(style_images[:1], None, frame_hw=HW), iterations=3, seed=frame_seed(0, 5)
        ),
        a,
    )


def test_original_colors_targets_refused_by_an_rgb_model(style_images, content):
    t = model(original_colors=True).style_targets(style_images[:1], None, frame_hw=HW)
    assert t.luminance_only
    with pytest.raises(ValueError, match="luminance_only"):
        model().optimize(content, targets=t, iterations=1)


def test_temporal_term_pulls_only_where_weighted(content):
    g = model(content_weight=0.0, style_weight=0.0, tv_weight=0.0, optimizer="adam", lr=0.05)
    t = g.style_targets([np.zeros((32, 32, 3), np.float32)], None, frame_hw=HW)
    warped = torch.full((1, 3, *HW), 0.5)
    c = torch.zeros(1, 1, *HW)
    c[..., :, :16] = 1.0
    out = g.optimize(content, targets=t, iterations=60, temporal=[(warped, c)], temporal_weight=100.0)
    assert float((out[..., :16] - 0.5).abs().max()) < 0.05
    torch.testing.assert_close(out[..., 16:], content[..., 16:])
    terms = g.loss_terms(out, content, t, [(warped, c)], 100.0, weighted=False)
    assert terms["temporal"] < 1e-3 and terms["content"] > 0
    with pytest.raises(ValueError, match=r"\(1, 1, 32, 16\)"):
        g.optimize(content, targets=t, iterations=1, temporal=[(warped, c[..., :16])], temporal_weight=1.0)


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_early_stop_checks_once_per_window(optimizer, style_images, content):
    g = model(optimizer=optimizer, early_stop_tol=10.0, early_stop_window=2)  # any change counts as "small"
    calls = []
    forward = g.vgg.forward
    t = g.style_targets(style_images[:1], None, frame_hw=HW)
    g.vgg.forward = lambda x, *a: calls.append(1) or forward(x, *a)
    g.optimize(content, targets=t, iterations=50)
    assert len(calls) <= 6  # content features + two windows, not 50 iterations


def test_shape_errors_name_real_shapes(style_images, content):
    g = model()
    t = g.style_targets(style_images[:1], None, frame_hw=HW)
    with pytest.raises(ValueError, match=r"\(3, 32, 32\)"):
        g.optimize(content[0], targets=t, iterations=1)
    with pytest.raises(ValueError, match=r"\(1, 3, 16, 16\)"):
        g.optimize(content, targets=t, init=torch.rand(1, 3, 16, 16), iterations=1)
    with pytest.raises(ValueError, match=r"\(20, 44\)"):
        g.style_targets([style_images[0][..., 0]], None, frame_hw=HW)


@pytest.mark.parametrize(
    ("optimizer", "iterations", "onednn", "tol"),
    [("lbfgs", 15, False, 1e-6), ("adam", 15, False, 1e-6), ("lbfgs", 6, True, 1e-3)],
)
def test_batch_equals_one_frame_at_a_time_with_per_frame_early_stop(
    optimizer, iterations, onednn, tol, style_images, monkeypatch
):
    """Each frame of a batch (own init seed, own temporal term, own early stop) ends where its
    B = 1 run ends; the early stop freezes some frames of the batch while others go on.

    With batch-invariant CPU kernels (oneDNN off: per-sample im2col convolutions) frames never mix,
    so the results agree to fp32 rounding over a whole run. oneDNN's convolutions round a batch's
    rows differently from a single frame's (~1e-6), which L-BFGS (no line search) amplifies over
    long runs (docs/performance.md): the default kernels are checked within 1e-3 on a short run.
    """
    if not onednn:
        monkeypatch.setattr(torch.backends.mkldnn, "enabled", False)
    g = model(optimizer=optimizer, init="noise", early_stop_tol=0.1, early_stop_window=3)
    hw = (24, 24)
    t = g.style_targets(style_images[:1], None, frame_hw=hw)
    gen = torch.Generator().manual_seed(5)
    content = torch.rand(3, 3, *hw, generator=gen)
    content[2] = 0.5  # a flat frame converges differently from the textured ones
    warped = torch.rand(3, 3, *hw, generator=gen)
    c = torch.zeros(3, 1, *hw)
    c[1] = 1.0  # only frame 1 has a temporal term
    seeds = [frame_seed(0, i) for i in range(3)]
    stops = []
    rule = lbfgs.relative_change_below
    monkeypatch.setattr(lbfgs, "relative_change_below", lambda *a: stops.append(rule(*a)) or stops[-1])
    batch = g.optimize_batch(
        content, targets=t, iterations=iterations, temporal=[(warped, c)], temporal_weight=50.0, seeds=seeds
    )
    if iterations > 6:
        assert any(0 < int(s.sum()) < 3 for s in stops), stops  # frames stopped at different checks
    for i in range(3):
        one = g.optimize(
            content[i : i + 1],
            targets=t,
            iterations=iterations,
            temporal=[(warped[i : i + 1], c[i : i + 1])],
            temporal_weight=50.0,
            seed=seeds[i],
        )
        assert (batch[i : i + 1] - one).abs().max() <= tol, i
    with pytest.raises(ValueError, match="2 seed"):
        g.optimize_batch(content, targets=t, iterations=1, seeds=seeds[:2])


def test_coarse_to_fine_scales(style_images, content):
    assert split_iterations(7, 2) == [3, 4] and split_iterations(7, 1) == [7]
    g = model(scales=[0.5, 1.0], iterations=6)
    t = g.style_targets(style_images[:1], None, frame_hw=HW)
    assert (
        set(t.levels) == {0.5}
        and t.levels[0.5].sizes[0] == g._style_targets(style_images[:1], [1.0], (16, 16), 1.0).sizes[0]
    )
    sizes = []
    forward = g.vgg.forward
    g.vgg.forward = lambda x, *a: sizes.append(tuple(x.shape[2:])) or forward(x, *a)
    out = g.optimize(content, targets=t, iterations=6)
    assert out.shape == content.shape and 0 <= out.min() and out.max() <= 1
    assert sizes.count((16, 16)) == 1 + 3 and sizes.count(HW) == 1 + 3  # content features + 3 iterations each
    sizes.clear()
    g.optimize(content, targets=t, init=out, iterations=2)  # a given start image: refined at full scale only
    assert set(sizes) == {HW}
    single = model(iterations=6)
    with pytest.raises(ValueError, match="scale 0.5"):
        g.optimize(content, targets=single.style_targets(style_images[:1], None, frame_hw=HW), iterations=2)
    tiny = model(scales=[0.1, 1.0])  # layers up to relu3_2: two max-pools, 4 px at least
    with pytest.raises(ValueError, match=r"scale 0.1 makes 32x32 frames 3x3, smaller than the 4 px"):
        tiny.style_targets(style_images[:1], None, frame_hw=HW)
    for bad in ([1.0, 0.5], [0.5, 0.5, 1.0], [0.5]):
        with pytest.raises(ConfigError, match="stylize.scales"):
            section_params("stylize", {"scales": bad})
