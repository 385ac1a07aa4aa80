"""The CUDA-only settings (no GPU needed): flags set inside and restored, in-place ReLUs exact."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from iovst.runtime.device import cuda_flags
from iovst.style.vgg import VGGFeatures


def _flags() -> tuple[bool, bool, bool]:
    return (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark)


def test_cuda_flags_set_inside_restored_after_and_untouched_on_cpu():
    before = _flags()
    with cuda_flags(torch.device("cpu"), tf32_matmul=not before[0], cudnn_benchmark=not before[2]):
        assert _flags() == before
    # setting the flags needs no GPU: check the CUDA branch here
    with (
        pytest.raises(RuntimeError, match="boom"),
        cuda_flags(torch.device("cuda"), tf32_matmul=not before[0], cudnn_benchmark=not before[2]),
    ):
        assert _flags() == (not before[0], before[1], not before[2])
        raise RuntimeError("boom")
    assert _flags() == before


def test_in_place_relus_only_after_unrequested_convs_and_same_gradients():
    v = VGGFeatures(layers=["relu1_1", "conv2_1", "relu2_1"], weights="random", seed=0)
    relus = {v._names[i]: m.inplace for i, m in enumerate(v.body) if isinstance(m, nn.ReLU)}
    assert relus == {"relu1_1": True, "relu1_2": True, "relu2_1": False}
    ref = VGGFeatures(layers=["relu1_1", "conv2_1", "relu2_1"], weights="random", seed=0)
    for m in ref.body:
        if isinstance(m, nn.ReLU):
            m.inplace = False
    grads = []
    for net in (v, ref):
        x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
        out = net(x)
        sum((f * f).mean() for f in out.values()).backward()
        grads.append((out, x.grad))
    (out, g), (out_ref, g_ref) = grads
    assert all(torch.equal(out[n], out_ref[n]) for n in out) and torch.equal(g, g_ref)
