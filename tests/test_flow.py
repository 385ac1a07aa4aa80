"""Flow stage (DIS, RAFT with random weights), flow HDF5 files, FlowStore, flow preview."""

from __future__ import annotations

import json
import subprocess

import h5py
import numpy as np
import pytest
import synth
import torch
from stageparams import stage_json

from iovst import cli
from iovst.errors import CacheError
from iovst.flow.estimate import DisEstimator
from iovst.flow.flowstore import FlowStore, MaskStore
from iovst.storage import h5io


def _params(**kw) -> str:
    p = {
        "method": "dis",
        "offsets": [1, 2],
        "weights": "auto",
        "num_flow_updates": 2,
        "batch_size": 3,
        "dis_preset": "medium",
        "preview": True,
    }
    p.update(kw)
    return stage_json("flow", flow=p)


@pytest.fixture
def clip_dir(tmp_path):
    """5 frames 58x62 (neither a multiple of 8) of a diagonal sub-pixel pan, written as PNG + meta."""
    clip = synth.pan(5, size=(58, 62), step=(1.5, -0.75))
    synth.write_clip(clip, tmp_path / "frames", meta_path=tmp_path / "meta.json", fps=(30000, 1001))
    return clip, tmp_path


def _flow_cli(tmp, out, *, chunk, chunk_size, params):
    return cli.main(
        [
            "flow",
            "--frames-dir",
            str(tmp / "frames"),
            "--meta",
            str(tmp / "meta.json"),
            "--chunk",
            str(chunk),
            "--chunk-size",
            str(chunk_size),
            "--out",
            str(out),
            "--params",
            params,
            "--device",
            "cpu",
        ]
    )


@pytest.mark.parametrize("step", [(1.5, -0.75), (3.0, 2.0), (-0.4, 0.0)])
def test_dis_recovers_known_shift(step):
    clip = synth.pan(2, size=(64, 64), step=step, image="coffee")
    est = DisEstimator(preset="medium")
    for t, s in [(0, 1), (1, 0)]:
        flow = est([clip.frames[t]], [clip.frames[s]])[0]
        assert flow.shape == (2, 64, 64) and flow.dtype == np.float32
        err = np.abs(flow - clip.flow(t, s))[:, 8:-8, 8:-8]
        assert np.median(err) < 0.25, (step, t, s, np.median(err))


def test_dis_chunk_cli_and_roundtrip(clip_dir):
    clip, tmp = clip_dir
    out0, out1 = tmp / "flow" / "chunk_0000.h5", tmp / "flow" / "chunk_0001.h5"
    assert _flow_cli(tmp, out0, chunk=0, chunk_size=3, params=_params()) == 0
    assert _flow_cli(tmp, out1, chunk=1, chunk_size=3, params=_params()) == 0
    with h5io.open_checked(out0, kind="flow") as f:
        assert f["N1/forward"].shape == (3, 2, 58, 62) and f["N1/forward"].dtype == np.float16
        assert f["N2/backward"].shape == (3, 2, 58, 62)
        assert f.attrs["method"] == "dis" and f.attrs["first_frame"] == 0 and f.attrs["n_frames"] == 5
        assert list(f.attrs["offsets"]) == [1, 2] and f.attrs["warning"] == ""
        assert (f.attrs["height"], f.attrs["width"]) == (58, 62)
    with h5io.open_checked(out1, kind="flow") as f:
        assert f["N1/forward"].shape[0] == 1 and f["N2/forward"].shape[0] == 0  # end of the video
        assert f.attrs["first_frame"] == 3
    with FlowStore([out1, out0]) as store:
        assert store.offsets == [1, 2]
        with h5io.open_checked(out0, kind="flow") as f:
            raw = f["N2/backward"][1].astype(np.float32)
        back = store.flow(3, 1)
        assert back.dtype == np.float32 and back.shape == (2, 58, 62)
        assert np.array_equal(back, raw)
        for t, s in [(0, 1), (1, 0), (3, 4), (4, 3), (2, 4)]:
            err = np.abs(store.flow(t, s) - clip.flow(t, s))[:, 8:-8, 8:-8]
            assert np.median(err) < 0.3
        with pytest.raises(KeyError, match=r"pair \(3, 5\)"):
            store.flow(3, 5)
        with pytest.raises(KeyError, match="offset 3"):
            store.flow(0, 3)


def test_flowstore_roundtrip_within_float16(tmp_path):
    clip = synth.pan(4, size=(16, 24), step=(0.37, -1.21), sprite_step=(2.0, 0.5))
    path = tmp_path / "f.h5"
    synth.write_gt_flow(clip, path, chunk=0, chunk_size=4, offsets=[1, 3])
    with FlowStore([path]) as store:
        for t, s in [(0, 1), (1, 0), (2, 3), (3, 0), (0, 3)]:
            exact = clip.flow(t, s)
            assert np.allclose(store.flow(t, s), exact, rtol=1e-3, atol=1e-3)
            assert np.array_equal(store.flow(t, s), exact.astype(np.float16).astype(np.float32))


@pytest.mark.parametrize("model", ["raft_small", "raft_large"])
def test_raft_random_weights_chunk(clip_dir, model, caplog):
    _, tmp = clip_dir
    out = tmp / "flow.h5"
    params = _params(method=model, weights="random", offsets=[1, 3])
    with caplog.at_level("INFO"):
        assert _flow_cli(tmp, out, chunk=0, chunk_size=2, params=params) == 0
    assert "s/flow" in caplog.text
    with h5io.open_checked(out, kind="flow") as f:
        assert f["N1/forward"].shape == (2, 2, 58, 62)
        assert f["N3/forward"].shape == (2, 2, 58, 62) and f["N3/backward"].shape == (2, 2, 58, 62)
        assert f.attrs["method"] == model and f.attrs["model"] == model
        assert f.attrs["num_flow_updates"] == 2
        assert json.loads(f.attrs["weights"])["source"] == "random"
        assert len(f.attrs["params_hash"]) == 16
        assert np.isfinite(f["N1/forward"][:].astype(np.float32)).all()
    h5io.verify(out, kind="flow")


def test_raft_padding_does_not_resize():
    """A frame that is not a multiple of 8 gives a flow of the frame's own size (crop, not resize)."""
    from iovst.flow.estimate import RaftEstimator

    est = RaftEstimator(
        model="raft_small", weights="random", num_flow_updates=1, batch_size=2, device=torch.device("cpu")
    )
    a = np.random.default_rng(0).random((37, 45, 3), dtype=np.float32)
    assert est([a, a], [a, a]).shape == (2, 2, 37, 45)


def test_auto_falls_back_to_dis_without_cached_weights(clip_dir, monkeypatch, caplog):
    from iovst.runtime.weights import set_torch_home

    _, tmp = clip_dir
    old = torch.hub.get_dir()
    monkeypatch.setenv("TORCH_HOME", str(tmp / "torch"))
    set_torch_home(str(tmp / "torch"))
    try:
        with caplog.at_level("WARNING"):
            assert _flow_cli(tmp, tmp / "flow.h5", chunk=0, chunk_size=5, params=_params(method="auto")) == 0
    finally:
        torch.hub.set_dir(old)
    assert "DIS" in caplog.text
    with h5io.open_checked(tmp / "flow.h5", kind="flow") as f:
        assert f.attrs["method"] == "dis"
        assert "no pretrained RAFT weights" in f.attrs["warning"]


def test_corrupt_flow_file_is_rejected(tmp_path):
    clip = synth.pan(3, size=(16, 24), step=(1.0, 0.0))
    good = tmp_path / "good.h5"
    synth.write_gt_flow(clip, good, chunk=0, chunk_size=3, offsets=[1])
    data = good.read_bytes()

    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CacheError, match="truncated.h5"):
        FlowStore([truncated])

    with h5py.File(good, "r") as f:  # byte offset of the first stored chunk of N1/forward
        offset, size = f["N1/forward"].id.get_chunk_info(0).byte_offset, f["N1/forward"].id.get_chunk_info(0).size
    flipped = tmp_path / "flipped.h5"
    buf = bytearray(data)
    for k in range(offset + size // 3, offset + size // 3 + 4):
        buf[k] ^= 0xFF
    flipped.write_bytes(bytes(buf))
    with FlowStore([flipped]) as store:
        store.flow(1, 2)  # another chunk: intact
        with pytest.raises(CacheError, match="corrupt"):
            store.flow(0, 1)

    with pytest.raises(CacheError, match="not a complete iovst masks file"):
        MaskStore([good])  # wrong kind


def test_flow_preview(clip_dir):
    import imageio_ffmpeg

    clip, tmp = clip_dir
    flow, masks, out = tmp / "flow.h5", tmp / "masks.h5", tmp / "preview.mp4"
    synth.write_gt_flow(clip, flow, chunk=0, chunk_size=5, offsets=[1, 2])
    assert cli.main(["masks", "--flow", str(flow), "--out", str(masks), "--params", stage_json("masks")]) == 0
    assert (
        cli.main(
            [
                "flow-preview",
                "--flow",
                str(flow),
                "--masks",
                str(masks),
                "--meta",
                str(tmp / "meta.json"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    probe = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(out)], capture_output=True, text=True, check=False
    ).stderr
    assert "h264" in probe and "124x58" in probe and "29.97 fps" in probe
    n, _ = imageio_ffmpeg.count_frames_and_secs(str(out))
    assert n == 4
    assert not list(tmp.glob(".tmp-*"))
