"""SIGKILL anywhere (extract, flow, masks, longterm, stylize, multipass, encode), recover the README
way, lose at most one frame per killed job and end bit-identical (every round and the decoded mp4;
tools/killtest.py); a second run in the same directory is refused by Snakemake's lock."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def test_second_snakemake_in_the_same_directory_is_refused(killtest_ref):
    _, ref, _ = killtest_ref
    assert ref.concurrent, "the reference run ended before a second run could be tried"
    assert ref.concurrent_rc != 0
    assert "cannot be locked" in ref.concurrent and "--unlock" in ref.concurrent, ref.concurrent[-2000:]


def test_kills_anywhere_recover_with_at_most_one_frame_lost(killtest_ref):
    kt, ref, base = killtest_ref
    # one render absorbs the kills one after another (cheap); 6 planned so that >= 5 happen
    s = kt.run_killtest(6, seed=1, chain=6, workdir=base, reference=ref)
    assert not s["problems"], s["problems"]
    assert s["n"] >= 5, s["kills"]
    assert s["recovered"] == s["n"]
    assert s["max_recomputed"] <= 1
    # a chain kills in stage order, and stylize round 0 runs beside flow/masks/longterm, so which
    # stages a 6-kill chain still finds running depends on timing: at least 2 (all stages are hit
    # by `python tools/killtest.py --kills 20`, independent trials)
    assert len(s["stages_hit"]) >= 2, s["stages_hit"]
    # the "at most one frame lost" path ran: a stylize/multipass job killed after it had cached
    # frames, which the recovery reused
    cached = [k for k in s["kills"] if k["outcome"] == "hit" and k["frames_done"] > 0]
    assert cached, s["kills"]
    assert all(k["worst_job"] <= 1 and k["identical"] for k in cached), cached
    assert any(k["reused"] > 0 for k in cached), cached


def test_job_keys_and_stages(killtest):
    kt = killtest
    assert [
        kt.stage_of(kt.job_of(o))
        for o in (
            "results/clip/meta.json",
            "results/clip/frames",
            "results/clip/flow/chunk_0001.h5",
            "results/clip/masks/chunk_0000.h5",
            "results/clip/longterm/chunk_0000.h5",
            "results/clip/paint/r0/chunk_0001.h5",
            "results/clip/paint/r2/chunk_0000.h5",
            "results/clip/paint/clip_paint.mp4",
        )
    ] == ["extract", "extract", "flow", "masks", "longterm", "stylize", "multipass", "encode"]
    # the job key is the log path (relative to the log directory, without .log)
    assert kt.job_of("results/clip/paint/r1/chunk_0001.h5") == "clip/paint/r1/chunk_0001"
    assert kt.job_of("results/clip/paint/clip_paint.mp4") == "clip/paint/encode"


def _frames(*lines: str) -> str:
    return "".join(f"12:00:00 INFO iovst.stylize: {line}\n" for line in lines)


@pytest.mark.parametrize(
    "before, after, done, reused, recomputed",
    [
        # killed while computing frame 2: frames 0, 1 reused, frame 2 lost
        (
            ("targets ready", "frame 0: computed", "frame 1: computed"),
            ("frame 0: reused", "frame 1: reused", "frame 2: computed"),
            2,
            2,
            1,
        ),
        # killed between frame 1's log line and its cache write: frame 1 lost, frame 2 never started
        (
            ("targets ready", "frame 0: computed", "frame 1: computed"),
            ("frame 0: reused", "frame 1: computed", "frame 2: computed"),
            2,
            1,
            1,
        ),
        # killed before the first frame started: nothing lost
        ((), ("frame 0: computed", "frame 1: computed", "frame 2: computed"), 0, 0, 0),
        # the cache did not work: every finished frame recomputed (frame 2 looks never started)
        (
            ("targets ready", "frame 0: computed", "frame 1: computed"),
            ("frame 0: computed", "frame 1: computed", "frame 2: computed"),
            2,
            0,
            2,
        ),
    ],
)
def test_lost_work_is_counted_from_the_job_logs(killtest, before, after, done, reused, recomputed):
    kt = killtest
    job = "clip/paint/r0/chunk_0000"
    k = kt.Kill(0, "stylize", job, 1, 0.1, 5.0, jobs=[job, "clip/flow/chunk_0001", "clip/extract"])
    later = {job: [_frames(*after)], "clip/flow/chunk_0001": [""], "clip/extract": [""]}
    assert kt._charge(k, {job: _frames(*before)}, later) == []
    assert (k.frames_done, k.reused, k.recomputed, k.worst_job) == (done, reused, recomputed, recomputed)
    assert k.chunks_recomputed == 1 and k.reran == ["extract"]
    # a resumed run killed before its first frame does not hide what this kill cost
    k2 = kt.Kill(0, "stylize", job, 1, 0.1, 5.0, jobs=[job])
    assert kt._charge(k2, {job: _frames(*before)}, {job: [_frames("targets ready"), _frames(*after)]}) == []
    assert (k2.frames_done, k2.reused, k2.recomputed) == (done, reused, recomputed)
    # a "killed" job that never ran again had finished: the kill did not hit it
    k3 = kt.Kill(1, "masks", "m", 0, 0.1, 1.0, jobs=["clip/masks/chunk_0000"], outcome="hit")
    assert kt._charge(k3, {}, {}) == [] and k3.jobs == [] and k3.outcome == "between jobs"
