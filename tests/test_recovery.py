"""Every recovery path really recovers: after damage, the next runs rebuild what is missing or bad
and everything built from it, never report success without it, and say why a job failed on the
terminal. Each test starts from a copy of the shared finished tiny render (``killtest_ref``)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture
def copy_of_ref(killtest_ref, tmp_path):
    """``(killtest module, reference, Runner)`` on a copy of the finished reference render (times
    kept, so Snakemake sees it up to date)."""
    kt, ref, _ = killtest_ref
    work = tmp_path / "w"
    shutil.copytree(ref.work, work, symlinks=True)
    return kt, ref, kt.Runner(work)


def _damage(path: Path, how: str) -> None:
    """Truncate or flip one byte of ``path`` (inside a PNG's image data), keeping its times."""
    st = path.stat()
    b = bytearray(path.read_bytes())
    if how == "truncate":
        b = b[: len(b) // 2]
    else:
        b[b.index(b"IDAT") + 20] ^= 0x01
    path.write_bytes(bytes(b))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _set_iterations(r, n: int) -> None:
    cfg = yaml.safe_load(r.cfg.read_text())
    cfg["stylize"]["iterations"] = n
    r.cfg.write_text(yaml.safe_dump(cfg))


def _errors(out: subprocess.CompletedProcess) -> list[str]:
    return [ln for ln in (out.stdout + out.stderr).splitlines() if re.match(r"iovst \S+: error: ", ln)]


def _assert_same_as(kt, ref, r) -> None:
    a, b = kt.final_frames(ref.work), kt.final_frames(r.work)
    assert sorted(a) == sorted(b) == list(range(kt.N_FRAMES))
    for i in a:
        assert np.array_equal(a[i], b[i]), i


def _planned(r) -> dict[str, int]:
    """``{rule: jobs}`` that a dry run plans."""
    out = r.call("-n")
    assert out.returncode == 0, out.stderr[-3000:]
    return {m[0]: int(m[1]) for m in re.findall(r"^(\w+)\s+(\d+)$", out.stdout, re.M) if m[0] != "total"}


def test_corrupt_meta_is_reextracted_in_the_same_run(copy_of_ref):
    kt, ref, r = copy_of_ref
    meta = r.work / "results" / "clip" / "meta.json"
    meta.write_text(meta.read_text()[:40])
    out = r.call("--cores", "2")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "deleted it, re-extracting 'clip'" in out.stderr
    assert json.loads(meta.read_text())["frame_count"] == kt.N_FRAMES
    _assert_same_as(kt, ref, r)
    # and a later parameter change reruns what depends on it
    _set_iterations(r, 5)
    assert _planned(r) == {"stylize": 2, "multipass": 4, "encode": 1, "all": 1}


def test_a_damaged_chunk_is_rebuilt_with_everything_after_it(copy_of_ref):
    """Bit rot in a flow and a long-term chunk whose consumers' outputs are gone: the run rebuilds
    the masks chunk, which finds the damaged flow chunk, deletes it and fails with its one line on
    the terminal (the scene cuts, and so the long-term weights and multipass, wait for every masks
    chunk); the next run rebuilds the deleted chunk and everything after it, the damaged long-term
    chunk included, and ends bit-identical to the reference."""
    kt, ref, r = copy_of_ref
    res = r.work / "results" / "clip"
    _damage(res / "flow" / "chunk_0001.h5", "truncate")
    _damage(res / "longterm" / "chunk_0000.h5", "truncate")
    (res / "masks" / "chunk_0001.h5").unlink()
    (res / "paint" / "r1" / "chunk_0000.h5").unlink()
    first = r.call("--cores", "2", "--keep-going")
    assert first.returncode != 0, "a run reported success without rebuilding a missing artifact"
    errors = _errors(first)
    assert len(errors) == 1, first.stderr[-3000:]
    assert re.match(r"iovst masks: error: '.*flow/chunk_0001\.h5': .*removed it", errors[0]), errors
    assert not (res / "flow" / "chunk_0001.h5").exists()

    second = r.call("--cores", "2")
    assert second.returncode == 0, second.stderr[-3000:]
    ran = re.findall(r"^localrule (\w+):", second.stderr, re.M)
    assert {"flow", "masks", "cuts", "longterm", "multipass", "encode"} <= set(ran), ran
    _assert_same_as(kt, ref, r)
    assert _planned(r) == {}


def test_a_damaged_frame_reextracts_the_video(copy_of_ref):
    kt, ref, r = copy_of_ref
    res = r.work / "results" / "clip"
    _damage(res / "frames" / "000004.png", "flip")
    _set_iterations(r, 5)  # any stylize change: the stylize jobs read the frames again
    first = r.call("--cores", "2")
    assert first.returncode != 0
    errors = _errors(first)
    assert len(errors) == 1 and re.match(
        r"iovst stylize: error: '.*meta\.json': the frames in '.*frames' no longer match its frame_digest .*"
        r"000004\.png.*removed it so that it is regenerated: run the same snakemake command again",
        errors[0],
    ), errors
    assert not (res / "meta.json").exists()
    second = r.call("--cores", "2")
    assert second.returncode == 0, second.stderr[-3000:]
    from iovst.video.frames import read_frame

    assert read_frame(res / "frames", 4).shape == (32, 42, 3)
    assert _planned(r) == {}


def test_a_failing_job_says_why_on_the_terminal(tmp_path):
    """Two unreadable videos, --keep-going: both jobs' error lines reach the terminal; each job's
    log keeps it too."""
    from test_workflow import snakemake, write_config

    (tmp_path / "a.mp4").write_bytes(os.urandom(4000))
    (tmp_path / "b.mp4").write_text("not a video")
    cfg = write_config(tmp_path, tmp_path / "a.mp4", ROOT / "data" / "style.png", videos={"b": str(tmp_path / "b.mp4")})
    out = snakemake(tmp_path, "--cores", "2", "--keep-going", "--configfile", str(cfg), check=False)
    assert out.returncode != 0
    errors = _errors(out)
    assert sorted(errors) == [
        f"iovst extract: error: video '{tmp_path / v}.mp4': not a readable video "
        "(Invalid data found when processing input)"
        for v in "ab"
    ], out.stderr[-3000:]
    for v in "ab":
        log = next(tmp_path.rglob(f"{'clip' if v == 'a' else v}/extract.log")).read_text()
        assert f"video '{tmp_path / v}.mp4': not a readable video" in log and "INFO" not in out.stderr
