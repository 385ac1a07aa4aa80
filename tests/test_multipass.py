"""Multipass building blocks: sweep order, neighbours, the reliability-weighted blend; one
parallel job's lockstep sub-sweeps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from iovst.style.multipass import blend_init, neighbour_of, sweep_order

ROOT = Path(__file__).resolve().parents[1]


def test_sweep_order_alternates():
    frames = range(8, 12)
    assert sweep_order(frames, 1) == [8, 9, 10, 11]
    assert sweep_order(frames, 2) == [11, 10, 9, 8]
    assert sweep_order(frames, 3) == [8, 9, 10, 11]
    with pytest.raises(ValueError):
        sweep_order(frames, 0)


def test_neighbour_is_where_the_sweep_comes_from():
    assert neighbour_of(5, 1, 10) == 4
    assert neighbour_of(5, 2, 10) == 6
    assert neighbour_of(0, 1, 10) is None  # first frame of a forward sweep
    assert neighbour_of(9, 2, 10) is None  # first frame of a backward sweep
    assert neighbour_of(9, 1, 10) == 8


def test_blend_formula():
    torch.manual_seed(0)
    x = torch.rand(1, 3, 5, 6)
    w = torch.rand(1, 3, 5, 6)
    c = torch.zeros(5, 6)
    c[2:, 3:] = 1.0
    c[0, 0] = 0.5
    out = blend_init(x, w, c, 0.5)
    # c = 0: previous result kept exactly (never the content photo)
    assert torch.equal(out[..., 1:2, :3], x[..., 1:2, :3])
    # c = 1, δ = 0.5: the average
    assert torch.allclose(out[..., 2:, 3:], 0.5 * x[..., 2:, 3:] + 0.5 * w[..., 2:, 3:])
    # c = 0.5: (1 - 0.25) x + 0.25 w
    assert torch.allclose(out[..., 0, 0], 0.75 * x[..., 0, 0] + 0.25 * w[..., 0, 0])
    # δ = 1, c = 1 -> the warped neighbour
    assert torch.allclose(blend_init(x, w, torch.ones(5, 6), 1.0), w)


def test_blend_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"\(1, 3, 5, 6\)"):
        blend_init(torch.rand(1, 3, 5, 6), torch.rand(1, 3, 5, 7), torch.ones(5, 6), 0.5)


# ---- one parallel job: lockstep sub-sweeps (tiny clip, exact flow, random VGG weights, CPU) ----
N, C, HW = 24, 8, (24, 32)
SMALL = {"style_layers": ["relu1_1", "relu2_1"], "content_layers": ["relu2_1"]}  # a shallow VGG: fast
MP = {"iterations": 4, "temporal_weight": 1e3, "schedule": "parallel", "overlap": 2}


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A 24-frame pan (3 chunks of 8), GT flow at offsets 1 and 2, masks, long-term weights and a
    noisy round 0; :func:`job` runs one multipass job on it."""
    from stageparams import load
    from synth import pan, write_clip, write_gt_flow

    from iovst.flow.longterm import longterm_chunk
    from iovst.flow.masks import masks_file
    from iovst.storage import h5io

    d = tmp_path_factory.mktemp("lockstep")
    video = pan(N, size=HW, step=(1.0, 0.0), sprite_step=(-1.0, 1.0), sprite_size=(8, 8))
    write_clip(video, d / "frames", meta_path=d / "meta.json")
    rng = np.random.default_rng(0)
    for k in range(N // C):
        write_gt_flow(video, d / f"flow{k}.h5", chunk=k, chunk_size=C, offsets=[1, 2])
        masks_file(flow_path=d / f"flow{k}.h5", out=d / f"masks{k}.h5", params=load("masks"))
        r0 = np.stack(video.frames[k * C : (k + 1) * C]) + rng.normal(0, 0.1, (C, *HW, 3))
        h5io.write_frames(d / f"r0_{k}.h5", r0.astype(np.float32), first_frame=k * C)
    for k in range(N // C):
        longterm_chunk(
            mask_paths=[d / f"masks{j}.h5" for j in range(N // C)],
            n_frames=N,
            size=HW,
            chunk=k,
            chunk_size=C,
            params=load("longterm", flow={"offsets": [1, 2]}),
            out=d / f"lt{k}.h5",
        )
    return d


def job(d, cache: str, *, chunk: int, round_: int, batch_size: int = 1, **multipass) -> np.ndarray:
    """Chunk ``chunk``'s round-``round_`` parallel job (round 0 as the previous round); its frames."""
    from stageparams import load

    from iovst.storage.meta import load_meta
    from iovst.style.multipass import run_chunk

    params = load(
        "multipass",
        stylize={**SMALL, "batch_size": batch_size},
        model={"weights": "random", "torch_home": None},
        flow={"offsets": [1, 2]},
        multipass={**MP, **multipass},
    )
    k3 = range(N // C)
    first, frames, _ = run_chunk(
        frames_dir=d / "frames",
        meta=load_meta(d / "meta.json"),
        round_=round_,
        chunk=chunk,
        chunk_size=C,
        prev_file=d / f"r0_{chunk}.h5",
        neighbor_files=[d / f"r0_{k}.h5" for k in k3 if k != chunk],
        flow_files=[d / f"flow{k}.h5" for k in k3],
        mask_files=[d / f"masks{k}.h5" for k in k3],
        longterm_files=[d / f"lt{k}.h5" for k in k3],
        styles=[ROOT / "data" / "style.png"],
        style_weights=None,
        style_scale=1.0,
        params=params,
        cache_dir=d / cache,
        device=torch.device("cpu"),
    )
    assert first == chunk * C
    return frames


@pytest.fixture
def batches(monkeypatch):
    """The frames of each batched refinement (``Gatys.optimize_batch`` call), from their seeds
    (round 1, seed 0: frame ``i`` has seed ``10_007 + i``)."""
    from iovst.style.gatys import Gatys

    calls: list[list[int]] = []
    orig = Gatys.optimize_batch

    def spy(self, content, **kw):
        calls.append([s - 10_007 for s in kw["seeds"]])
        return orig(self, content, **kw)

    monkeypatch.setattr(Gatys, "optimize_batch", spy)
    return calls


def test_lockstep_batches_equal_one_frame_at_a_time(clip, batches, monkeypatch):
    """Chunk 0, round 1 (forward), sub_sweeps 2: sweeps [0, 4), lead [2, 4) + [4, 8), and chunk 1's
    lead [6, 8) advance in lockstep, 3 frames a step until the shorter ones finish; frames 0 (no
    temporal term), 1 (one) and the others (two) share batches.

    Batched = unbatched within 1e-3 (measured 0.0) with batch-invariant CPU kernels (oneDNN off, as
    in tests/test_gatys.py). With oneDNN a batch's ~1e-6 rounding can flip a float16 rounding of a
    result (4.9e-4), which the next frames' start images and temporal targets carry on: measured
    up to 6e-3 here (docs/performance.md, "Lockstep sub-sweeps")."""
    monkeypatch.setattr(torch.backends.mkldnn, "enabled", False)
    one = job(clip, "c1", chunk=0, round_=1, sub_sweeps=2, batch_size=1)
    assert batches == [[i] for i in (0, 2, 6, 1, 3, 7, 2, 4, 3, 5, 6, 7)]  # len(chunk) + 2 leads of 2
    batches.clear()
    four = job(clip, "c4", chunk=0, round_=1, sub_sweeps=2, batch_size=4)
    assert batches == [[0, 2, 6], [1, 3, 7], [2, 4], [3, 5], [6], [7]]
    assert four.shape == (C, *HW, 3) and np.abs(four - one).max() <= 1e-3
    batches.clear()
    job(clip, "c2", chunk=0, round_=1, sub_sweeps=2, batch_size=2)
    assert batches == [[0, 2], [6], [1, 3], [7], [2, 4], [3, 5], [6], [7]]  # at most batch_size a call


def test_sub_sweeps_1_batch_1_is_the_sweeps_one_after_another(clip, monkeypatch):
    """sub_sweeps 1, batch_size 1: bit for bit what the job computed before lockstep, its two sweeps
    (the chunk's, the next chunk's lead) run one after the other, frame by frame."""
    from iovst.style.multipass import _Job

    now = job(clip, "s_now", chunk=1, round_=1)

    def one_after_another(self, sweeps):
        for order, current in sweeps:
            for i in order:
                f = self._frame(i, current)
                hit = self.cache.get(f.key)
                if hit is None:
                    self._refine([f])
                else:
                    current[i] = hit

    monkeypatch.setattr(_Job, "run", one_after_another)
    assert np.array_equal(job(clip, "s_before", chunk=1, round_=1), now)


def test_resumed_job_computes_only_the_frames_not_cached(clip, batches, monkeypatch):
    """A job killed after two batches reuses their 6 frames and computes the other 6 (backward
    round, chunk 2, sub_sweeps 2: sweeps [16, 20) + lead [20, 22), [20, 24), chunk 1's lead
    [16, 18)); the result equals an uninterrupted run's."""
    from iovst.style.gatys import Gatys

    whole = job(clip, "r_whole", chunk=2, round_=2, sub_sweeps=2, batch_size=4)
    assert [len(b) for b in batches] == [3, 3, 2, 2, 1, 1]
    orig, n = Gatys.optimize_batch, []

    def killed(self, content, **kw):
        if len(n) == 2:
            raise KeyboardInterrupt
        n.append(content.shape[0])
        return orig(self, content, **kw)

    monkeypatch.setattr(Gatys, "optimize_batch", killed)
    with pytest.raises(KeyboardInterrupt):
        job(clip, "r_kill", chunk=2, round_=2, sub_sweeps=2, batch_size=4)
    assert n == [3, 3]
    monkeypatch.undo()
    count = []
    monkeypatch.setattr(Gatys, "optimize_batch", lambda self, c, **kw: count.append(c.shape[0]) or orig(self, c, **kw))
    assert np.array_equal(job(clip, "r_kill", chunk=2, round_=2, sub_sweeps=2, batch_size=4), whole)
    assert count == [2, 2, 1, 1]


def test_a_zero_weight_temporal_term_adds_nothing():
    """Padding a batch's temporal terms with weight 0 leaves a frame's loss exactly as without."""
    from iovst.config import section_params
    from iovst.style.gatys import Gatys

    g = Gatys(params=section_params("stylize", SMALL), device="cpu", weights="random", seed=0)
    gen = torch.Generator().manual_seed(1)
    x, content, style = (torch.rand(1, 3, 16, 16, generator=gen) for _ in range(3))
    t = g.style_targets([style[0].permute(1, 2, 0).numpy()], None, frame_hw=(16, 16))
    pad = [(torch.zeros(1, 3, 16, 16), torch.zeros(1, 1, 16, 16))]
    assert g.loss_terms(x, content, t, pad, 1e3) == g.loss_terms(x, content, t)
