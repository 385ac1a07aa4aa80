"""Start checks (iovst.preflight): wrong weights files, uncached weights offline, missing CUDA."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from iovst import config, preflight
from iovst.errors import IovstError

BASE = {"videos": {"v": "v.mp4"}, "styles": {"s": {"images": ["s.png"]}}, "model": {"weights": "random"}}


def _save_like(path, model: str, prefix: str = "", extra: dict | None = None) -> str:
    """A state dict file with ``model``'s names and shapes; stride-0 views keep it a few KB."""
    state = {prefix + k: torch.zeros(()).expand(shape) for k, shape in preflight._expected_shapes(model).items()}
    torch.save({**state, **(extra or {})}, path)
    return str(path)


def test_weights_file_of_the_right_network_passes_and_another_fails_with_one_line(tmp_path):
    features = _save_like(tmp_path / "features.pth", "vgg19")
    full = _save_like(tmp_path / "full.pth", "vgg19", "features.", {"classifier.0.weight": torch.zeros(2, 2)})
    small = _save_like(tmp_path / "small.pth", "raft_small")
    for spec in (features, full):
        preflight.check_weights_file("model.weights", spec, "vgg19")
    preflight.check_weights_file("flow.weights", small, "raft_small")
    for key, spec, model, words in [
        ("model.weights", small, "vgg19", "missing"),
        ("flow.weights", small, "raft_large", "of another shape"),
        ("flow.weights", features, "raft_small", "unexpected"),
    ]:
        with pytest.raises(IovstError) as ei:
            preflight.check_weights_file(key, spec, model)
        msg = str(ei.value)
        assert msg.startswith(f"config key '{key}': '{spec}' is not {model} weights") and words in msg, msg
        assert "\n" not in msg and len(msg) < 400


def test_weights_used_follows_the_flow_method():
    def used(**flow):
        return [(k, m) for k, _, m in preflight.weights_used(config.validate(config.deep_merge(BASE, {"flow": flow})))]

    assert used(method="dis", weights="x.pth") == [("model.weights", "vgg19")]
    assert used(method="auto", weights="auto") == [("model.weights", "vgg19")]  # RAFT if cached, else DIS
    assert used(method="auto", weights="x.pth")[1] == ("flow.weights", "raft_large")
    assert used(method="raft_small", weights="auto")[1] == ("flow.weights", "raft_small")


def test_offline_without_cached_weights_fails_at_start(tmp_path, monkeypatch):
    monkeypatch.setenv("IOVST_OFFLINE", "1")
    home = str(tmp_path / "th")
    for spec, words in [("imagenet", "not cached"), ("auto", "RANDOM vgg19 weights")]:
        cfg = config.validate(config.deep_merge(BASE, {"model": {"weights": spec, "torch_home": home}}))
        with pytest.raises(IovstError) as ei:
            preflight.preflight(cfg, device=False)
        msg = str(ei.value)
        assert msg.startswith("config key 'model.weights'") and words in msg, msg
        assert f"iovst weights fetch --torch-home {home}" in msg
    assert "set model.weights: random" in msg  # auto: the explicit way to accept random weights
    from iovst.runtime.weights import cached_file

    f = cached_file("vgg19", home)
    f.parent.mkdir(parents=True)
    f.write_bytes(b"")  # cached: the job loads (and validates) it
    preflight.preflight(cfg, device=False)
    monkeypatch.setenv("IOVST_OFFLINE", "0")  # online: the job downloads
    f.unlink()
    preflight.preflight(cfg, device=False)


def test_cuda_device_without_cuda_fails_at_start(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cfg = config.validate(config.deep_merge(BASE, {"device": "cuda:1"}))
    with pytest.raises(IovstError, match="config key 'device': 'cuda:1' requested but CUDA is not available"):
        preflight.preflight(cfg)
    preflight.preflight(cfg, device=False)  # a cluster's login node: the jobs check their device


def test_weights_status_exits_1_when_one_is_missing(tmp_path):
    from iovst.runtime.weights import cached_file

    cmd = [sys.executable, "-m", "iovst", "weights", "status", "--torch-home", str(tmp_path), "--models", "vgg19"]
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert r.returncode == 1 and "MISSING" in r.stdout, r.stdout + r.stderr
    f = cached_file("vgg19", str(tmp_path))
    f.parent.mkdir(parents=True)
    f.write_bytes(b"")
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert r.returncode == 0 and "cached" in r.stdout, r.stdout + r.stderr


def test_corrupt_meta_is_deleted_before_a_real_run_and_kept_by_a_dry_run(tmp_path, capsys):
    from iovst.layout import Layout

    cfg = config.validate({**BASE, "videos": {"v": "v.mp4", "w": "w.mp4"}})
    layout = Layout(str(tmp_path))
    for v in ("v", "w"):
        (tmp_path / v).mkdir()
    meta = tmp_path / "v" / "meta.json"
    meta.write_text('{"width": 4')
    (tmp_path / "w" / "meta.json").write_text(
        '{"fps_num": 25, "fps_den": 1, "frame_count": 3, "width": 4, "height": 4}'
    )
    assert preflight.drop_corrupt_meta(cfg, layout, dry_run=True) == ["v"]  # planned as not extracted
    assert meta.is_file() and "a real run deletes it and re-extracts 'v'" in capsys.readouterr().err
    assert preflight.drop_corrupt_meta(cfg, layout, dry_run=False) == []
    assert not meta.exists() and "deleted it, re-extracting 'v'" in capsys.readouterr().err
    assert (tmp_path / "w" / "meta.json").is_file()
