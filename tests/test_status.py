"""``iovst status``: counts and ETA of a finished and of a half-finished render (the killtest's
tiny reference run), and the per-frame progress lines of the stylize / multipass job logs."""

from __future__ import annotations

import re
import shutil

import pytest

from iovst import config
from iovst.cli import main
from iovst.progress import FRAME_LINE, ChunkProgress
from iovst.status import status_report

pytestmark = pytest.mark.slow


def test_chunk_progress_eta_from_computed_frames():
    p = ChunkProgress(4)
    assert p.step() == "1/4 done, chunk ETA ?"  # reused: nothing measured yet
    assert p.step(2.0) == "2/4 done, chunk ETA 4 s"
    assert p.step(4.0) == "3/4 done, chunk ETA 3 s"
    assert p.step(1.0) == "4/4 done, chunk ETA 0 s"


@pytest.fixture
def render(killtest_ref, tmp_path):
    """A copy of the reference run's config, results and job logs (the cache is not needed)."""
    kt, ref, _ = killtest_ref
    shutil.copy(ref.work / "config.yaml", tmp_path / "config.yaml")
    shutil.copytree(ref.work / "results", tmp_path / "results")
    return kt, tmp_path


def _status(work, capsys, *extra):
    assert main(["status", "-d", str(work), *extra]) == 0
    return capsys.readouterr().out


def test_status_of_finished_render_all_done_eta_zero(render, capsys):
    kt, work = render
    logs = list((work / "results" / "logs" / "clip" / "paint").rglob("chunk_*.log"))
    assert len(logs) == 2 * (kt.PASSES + 1)
    for log in logs:  # every frame line carries the chunk's progress and ETA
        lines = [ln for ln in log.read_text().splitlines() if FRAME_LINE.search(ln)]
        assert len(lines) == 3
        assert re.search(r"; 3/3 done, chunk ETA 0 s$", lines[-1]), lines[-1]
    out = _status(work, capsys)
    assert "clip x paint: frames extracted 6/6; flow 2/2 chunks, masks 2/2 chunks" in out
    for p in range(kt.PASSES + 1):
        assert re.search(rf"round {p}: 6/6 frames done \(\d+\.\d\d s/frame\)", out), out
    assert "left: 0 frames, 0 s" in out
    assert out.rstrip().endswith("ETA: 0 s with 1 GPU")


def test_status_of_half_finished_render_counts_and_eta(render, capsys):
    kt, work = render
    res = work / "results" / "clip" / "paint"
    logs = work / "results" / "logs" / "clip" / "paint"
    # round 1: chunk 1 running (its first frame logged); round 2 not started
    (res / "r1" / "chunk_0001.h5").unlink()
    log = logs / "r1" / "chunk_0001.log"
    text = log.read_text()
    first = next(m for m in FRAME_LINE.finditer(text))
    log.write_text(text[: text.index("\n", first.end()) + 1])
    shutil.rmtree(res / "r2")
    shutil.rmtree(logs / "r2")
    cfg = config.load(work / "config.yaml")
    (r,), _ = status_report(cfg, workdir=work)
    assert (r.n_frames, r.extracted, r.n_chunks, r.flow, r.masks) == (6, 6, 2, 2, 2)
    assert r.rounds == [6, 4, 0]
    # multipass s/frame: the mean of the computed frames' seconds in the round-1 logs
    secs = [float(m.group(3)) for f in (logs / "r1").glob("*.log") for m in FRAME_LINE.finditer(f.read_text())]
    assert len(secs) == 4 and r.seconds[1] == r.seconds[2] == pytest.approx(sum(secs) / 4)
    assert r.gpu_seconds_left() == pytest.approx(8 * sum(secs) / 4)
    out = _status(work, capsys, "--gpus", "2")
    assert "round 1: 4/6 frames done" in out and "round 2: 0/6 frames done" in out
    assert "left: 8 frames" in out
    eta = re.search(r"ETA: (\d+) s with 2 GPUs$", out.rstrip())
    assert eta and int(eta.group(1)) == round(8 * sum(secs) / 4 / 2), out
