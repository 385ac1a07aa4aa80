"""``iovst stylize`` end to end on a tiny frames dir (CPU, random VGG weights)."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import pytest
from stageparams import stage_params

from iovst.cli import main
from iovst.storage import h5io
from iovst.style.gatys import Gatys
from iovst.video.frames import write_png

H, W, N = 24, 32, 3


@pytest.fixture()
def setup(tmp_path: Path) -> dict:
    rng = np.random.default_rng(0)
    frames = tmp_path / "frames"
    for i in range(N):
        write_png(frames / f"{i:06d}.png", rng.random((H, W, 3)).astype(np.float32))
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps({"frame_count": N, "width": W, "height": H, "fps_num": 25, "fps_den": 1}))
    style = tmp_path / "style.png"
    write_png(style, rng.random((20, 40, 3)).astype(np.float32))
    params = stage_params(
        "stylize",
        stylize={
            "method": "gatys",
            "iterations": 3,
            "style_layers": ["relu1_1", "relu2_1", "relu3_1"],
            "content_layers": ["relu3_2"],
        },
        model={"weights": "random", "torch_home": None},
    )
    return {"tmp": tmp_path, "frames": frames, "meta": meta, "style": style, "params": params}


def argv(s: dict, out: Path, *extra: str, chunk: int = 0, chunk_size: int = N) -> list[str]:
    return [
        "stylize",
        "--frames-dir",
        str(s["frames"]),
        "--meta",
        str(s["meta"]),
        "--chunk",
        str(chunk),
        "--chunk-size",
        str(chunk_size),
        "--style",
        str(s["style"]),
        "--out",
        str(out),
        "--cache-dir",
        str(s["tmp"] / "cache"),
        "--params",
        json.dumps(s["params"]),
        "--device",
        "cpu",
        "--style-scale",
        "1",
        *extra,
    ]


def frame_lines(text: str) -> list[str]:
    return [m.group(1) for m in re.finditer(r"\b(frame \d+: .*)$", text, flags=re.M)]


def test_writes_chunk_then_reuses_every_frame(setup, caplog, monkeypatch):
    calls = []
    orig = Gatys.style_targets
    monkeypatch.setattr(Gatys, "style_targets", lambda self, *a, **k: calls.append(1) or orig(self, *a, **k))
    caplog.set_level(logging.INFO)
    out1 = setup["tmp"] / "r0" / "chunk_0000.h5"
    assert main(argv(setup, out1)) == 0
    assert calls == [1]  # style targets once per job
    lines = frame_lines(caplog.text)
    assert len(lines) == N and all(line.startswith(f"frame {i}: computed (") for i, line in enumerate(lines))
    assert f"cache[stylize]: 0 reused, {N} computed, 0 corrupt" in caplog.text
    h5io.verify(out1, kind="frames")
    first, frames = h5io.read_frames(out1)
    assert first == 0 and frames.shape == (N, H, W, 3) and 0 <= frames.min() and frames.max() <= 1
    with h5io.open_checked(out1, kind="frames") as f:
        assert int(f.attrs["round"]) == 0 and f.attrs["method"] == "gatys"
        assert json.loads(f.attrs["weights"])["source"] == "random"

    caplog.clear()
    out2 = setup["tmp"] / "rerun.h5"
    assert main(argv(setup, out2)) == 0
    assert frame_lines(caplog.text) == [f"frame {i}: reused" for i in range(N)]
    assert f"cache[stylize]: {N} reused, 0 computed, 0 corrupt" in caplog.text
    assert np.array_equal(h5io.read_frames(out2)[1], frames)


def test_corrupt_cache_entry_is_recomputed(setup, caplog):
    caplog.set_level(logging.INFO)
    out1 = setup["tmp"] / "a.h5"
    assert main(argv(setup, out1)) == 0
    entries = sorted((setup["tmp"] / "cache" / "stylize").rglob("*.npz"))
    assert len(entries) == N
    data = bytearray(entries[0].read_bytes())
    data[len(data) // 2] ^= 0xFF
    entries[0].write_bytes(bytes(data))
    caplog.clear()
    out2 = setup["tmp"] / "b.h5"
    assert main(argv(setup, out2)) == 0
    lines = frame_lines(caplog.text)
    assert sum(line.endswith("reused") for line in lines) == N - 1
    assert sum("computed (" in line for line in lines) == 1
    assert f"cache[stylize]: {N - 1} reused, 1 computed, 1 corrupt" in caplog.text
    assert np.array_equal(h5io.read_frames(out2)[1], h5io.read_frames(out1)[1])  # deterministic recompute


def test_second_chunk_and_params_change_invalidates(setup, caplog):
    caplog.set_level(logging.INFO)
    out = setup["tmp"] / "k1.h5"
    assert main(argv(setup, out, chunk=1, chunk_size=2)) == 0
    first, frames = h5io.read_frames(out)
    assert first == 2 and frames.shape == (1, H, W, 3)
    setup["params"]["stylize"]["tv_weight"] = 0.5
    caplog.clear()
    assert main(argv(setup, out, chunk=1, chunk_size=2)) == 0
    assert frame_lines(caplog.text)[0].startswith("frame 2: computed (")


@pytest.mark.parametrize("kind", ["missing", "corrupt"])
def test_bad_style_image_exit_2_one_line(setup, capsys, kind):
    bad = setup["tmp"] / "bad_style.png"
    if kind == "corrupt":
        bad.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    setup["style"] = bad
    out = setup["tmp"] / "x.h5"
    assert main(argv(setup, out)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0] and err[0].startswith("iovst stylize: error:")
    assert not out.exists() and not (setup["tmp"] / "cache").exists()


def test_bad_params_and_style_weights_are_config_errors(setup, capsys):
    out = setup["tmp"] / "x.h5"
    assert main(argv(setup, out, "--style-weight", "1", "--style-weight", "2")) == 2
    assert "--style-weight" in capsys.readouterr().err
    setup["params"]["stylize"]["content_layers"] = ["relu1_3"]
    assert main(argv(setup, out)) == 2
    assert "stylize.content_layers" in capsys.readouterr().err
    del setup["params"]["seed"]
    assert main(argv(setup, out)) == 2
    assert "'seed'" in capsys.readouterr().err


def test_report_losses_prints_terms_and_writes_nothing(setup, capsys):
    out = setup["tmp"] / "x.h5"
    assert main(argv(setup, out, "--report-losses")) == 0
    text = capsys.readouterr().out
    for term in ("content", "style", "tv", "total", "noise"):
        assert term in text
    assert not out.exists()


def test_report_losses_from_a_config_file_takes_its_device(setup, capsys):
    """With --config the params and the device come from the config file (as the workflow would
    send them); with --params the device must be given."""
    import yaml

    cfg = setup["tmp"] / "c.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "videos": {"v": "v.mp4"},
                "styles": {"s": {"images": ["s.png"]}},
                "device": "cpu",
                **{k: setup["params"][k] for k in ("stylize", "model")},
            }
        )
    )
    args = [a for a in argv(setup, setup["tmp"] / "x.h5", "--report-losses") if a not in ("--device", "cpu")]
    i = args.index("--params")
    assert main(args[:i] + args[i + 2 :] + ["--config", str(cfg)]) == 0
    assert "loss terms at iteration 0" in capsys.readouterr().out
    assert main(args) == 2
    assert "--device is required with --params" in capsys.readouterr().err


def test_batches_share_the_cache_and_a_kill_loses_only_the_batch_in_flight(setup, caplog, monkeypatch):
    """batch_size 2: a kill in the second batch keeps the first batch's frames; a batch_size 1 run
    (same per-frame keys) reuses them and computes only the lost frame."""
    caplog.set_level(logging.INFO)
    setup["params"]["stylize"]["batch_size"] = 2
    sizes = []
    orig = Gatys.optimize_batch

    def killed_in_second_batch(self, content, **kw):
        sizes.append(content.shape[0])
        if len(sizes) == 2:
            raise KeyboardInterrupt
        return orig(self, content, **kw)

    monkeypatch.setattr(Gatys, "optimize_batch", killed_in_second_batch)
    with pytest.raises(KeyboardInterrupt):
        main(argv(setup, setup["tmp"] / "killed.h5"))
    assert sizes == [2, 1] and not (setup["tmp"] / "killed.h5").exists()
    assert [line[:19] for line in frame_lines(caplog.text)] == ["frame 0: computed (", "frame 1: computed ("]
    monkeypatch.setattr(Gatys, "optimize_batch", orig)
    setup["params"]["stylize"]["batch_size"] = 1
    caplog.clear()
    out = setup["tmp"] / "resumed.h5"
    assert main(argv(setup, out)) == 0
    assert [line[:19] for line in frame_lines(caplog.text)] == [
        "frame 0: reused",
        "frame 1: reused",
        "frame 2: computed (",
    ]
    assert h5io.read_frames(out)[1].shape == (N, H, W, 3)
