#!/usr/bin/env python
"""Kill-anywhere harness: SIGKILL a tiny render at seeded moments, recover, compare, count lost work.

    python tools/killtest.py --kills 20 [--seed 0] [--chain 1] [--workdir DIR] [--keep]

1. One uninterrupted reference run of a demo-sized workflow (6 frames, 2 chunks, 2 multipass
   rounds, DIS flow, random VGG weights, CPU). While it runs, the harness records the window of
   every job (Snakemake's ``.snakemake/incomplete`` markers) and, for the jobs with a per-frame
   cache (stylize, multipass), when each ``frame N: computed|reused`` line appeared in its log.
2. N kill moments, seeded. 3 of every 5 kills go to a stylize or multipass job: "after its k-th
   frame finished" (1 <= k < frames of the job, so frames are cached), plus a fraction in
   [0.05, 0.95] of the next frame's reference duration (less if that frame ends sooner). The others
   go round-robin to extract, flow, masks, longterm and encode (no per-frame cache): a fraction of
   the job's reference duration after it started. A trial starts the workflow, waits until that
   job runs (and has logged k frames), waits the same delay and SIGKILLs the whole Snakemake
   process group (Snakemake, its jobs, ffmpeg).
3. Recovery the README way: ``snakemake --unlock``, then the same command with
   ``--rerun-incomplete``. With ``--chain K`` the recovery run of a trial is itself killed at the
   next moment (in stage order; a planned job already done gives way to the next job of its
   stage, or of a later stage), K kills per workdir (cheaper: one render absorbs K kills; the CI
   test uses it); ``--chain 1`` gives independent trials.
4. Checks per workdir: the run completes; every job of the reference ran; every result HDF5
   verifies (checksums); no ``.tmp-*`` file is left in results/; every round's chunks (r0..rP) and
   the decoded frames of the mp4 are bit-identical to the reference; no job ran again after it
   had finished. Per kill, from the job logs of the killed and the resumed run: frames reused
   from ``cache/`` and frames recomputed (finished or in progress at the kill, computed again:
   at most 1 per killed stylize/multipass job), flow/masks/longterm chunks recomputed, whether
   extract/encode reran.

Prints a table (one row per kill) and ``N/N recovered, K kills landed after frames were cached``;
kills that did not happen (the run had finished, or no job was running) are listed apart. Exit
status 0 when every check passed and at least half the kills landed after frames were cached.
``run_killtest()`` is the same thing as a function (``tests/test_killtest.py``).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("extract", "flow", "masks", "longterm", "stylize", "multipass", "encode")
#: stages with a per-frame cache: a kill may lose the frame in progress, never a finished one
FRAME_STAGES = ("stylize", "multipass")
#: per-frame line of a stylize/multipass job log
PROGRESS = re.compile(r"frame (\d+): (computed|reused)")
#: stylize logs this just before its first frame
READY = "targets ready"
POLL = 0.02

#: the demo-sized render (like tests/test_workflow.py's TINY, smaller)
CONFIG = {
    "device": "cpu",
    "chunk_size": 3,
    "model": {"weights": "random"},
    "extract": {"size": 32},
    "flow": {"method": "dis", "offsets": [1, 2], "preview": False},
    "stylize": {"iterations": 4, "optimizer": "lbfgs"},
    "multipass": {"passes": 2, "iterations": 3},
    "encode": {"preset": "ultrafast", "side_by_side": False},
    "metrics": False,
}
N_FRAMES = 6
PASSES = CONFIG["multipass"]["passes"]


def log_dir(work: Path) -> Path:
    """The job log directory of the workflow run in ``work`` (one ``<job>.log`` per job)."""
    return Path(layout(work).logs)


def job_of(output: str) -> str:
    """Job key of a declared output path: its log path relative to :func:`log_dir`, no ``.log``."""
    rel = output.removeprefix("results/")
    parent, name = rel.rsplit("/", 1) if "/" in rel else ("", rel)
    if name in ("meta.json", "frames"):
        return f"{parent}/extract"
    if name == "flow_preview.mp4":
        return f"{parent}/flow_preview"
    if name.endswith(".mp4"):
        return f"{parent}/encode"
    return rel.rsplit(".", 1)[0]


def stage_of(job: str) -> str:
    """Pipeline stage of a job key (see :func:`job_of`)."""
    name = job.rsplit("/", 1)[-1]
    if name in ("extract", "encode"):
        return name
    if name == "flow_preview":
        return "flow"
    if name == "cuts":  # scene cuts: read from the masks, listed with them
        return "masks"
    m = re.search(r"/(flow|masks|longterm|r\d+)/chunk_", job)
    if not m:
        return "encode"  # round previews, side by side
    return {"r0": "stylize"}.get(m.group(1), "multipass" if m.group(1).startswith("r") else m.group(1))


def running_jobs(work: Path, since: float = 0.0) -> set[str]:
    """Jobs Snakemake marked as running (``.snakemake/incomplete``, marker touched >= ``since``)."""
    root = work / ".snakemake" / "incomplete"
    out = set()
    if not root.is_dir():
        return out
    for dirpath, _, files in os.walk(root):
        for name in files:
            if name == "migration_underway" or name.startswith("@"):
                continue
            p = Path(dirpath) / name
            try:
                if p.stat().st_mtime < since:
                    continue
            except FileNotFoundError:
                continue
            parts = [q.lstrip("@") for q in p.relative_to(root).parts]
            try:
                out.add(job_of(base64.urlsafe_b64decode("".join(parts)).decode()))
            except (ValueError, UnicodeDecodeError):
                pass
    return out


def job_logs(work: Path, since: float = 0.0) -> dict[str, str]:
    """``{job: log text}`` of the job logs written at or after ``since`` (jobs started since)."""
    root, out = log_dir(work), {}
    for f in sorted(root.rglob("*.log")) if root.is_dir() else ():
        try:
            if f.stat().st_mtime >= since:
                out[str(f.relative_to(root))[:-4]] = f.read_text(errors="replace")
        except FileNotFoundError:
            pass
    return out


def progress(text: str) -> list[tuple[int, str]]:
    """``(frame, "computed" | "reused")`` per ``frame N: ...`` line of a job log, in order."""
    return [(int(n), kind) for n, kind in PROGRESS.findall(text)]


class Runner:
    """Starts ``snakemake`` on the repo's Snakefile in ``work`` (own process group)."""

    def __init__(self, work: Path, cores: int = 2) -> None:
        self.work, self.cores = work, cores
        self.cfg = work / "config.yaml"
        self.env = dict(os.environ, IOVST_OFFLINE="1", PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")

    def cmd(self, *extra: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "snakemake",
            "-s",
            str(ROOT / "Snakefile"),
            "-d",
            str(self.work),
            "--configfile",
            str(self.cfg),
            *extra,
        ]

    def start(self, *extra: str, log_name: str = "snakemake.out") -> subprocess.Popen:
        out = open(self.work / log_name, "ab")
        try:
            return subprocess.Popen(
                self.cmd("--cores", str(self.cores), *extra),
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
            )
        finally:
            out.close()

    def call(self, *extra: str, timeout: float = 900) -> subprocess.CompletedProcess:
        return subprocess.run(self.cmd(*extra), capture_output=True, text=True, env=self.env, timeout=timeout)


def kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=60)


def setup(work: Path, clip: Path, style: Path) -> Runner:
    import yaml

    from iovst.config import deep_merge

    work.mkdir(parents=True, exist_ok=True)
    cfg = deep_merge(CONFIG, {"videos": {"clip": str(clip)}, "styles": {"paint": {"images": [str(style)]}}})
    (work / "config.yaml").write_text(yaml.safe_dump(cfg))
    return Runner(work)


def layout(work: Path):
    """The results layout (:class:`iovst.layout.Layout`) of the run in ``work``."""
    from iovst.layout import Layout

    return Layout(str(work / "results"))


def final_frames(work: Path) -> dict:
    from iovst.storage import h5io

    return h5io.chunk_frames_files(layout(work).existing("round", "clip", "paint", PASSES, "*"))


@dataclass
class Reference:
    work: Path
    duration: float
    windows: dict[str, tuple[float, float]]  # job -> (start, end) seconds after launch
    frame_times: dict[str, list[float]]  # job -> when its i-th ``frame N:`` line appeared (s after launch)
    jobs: list[str]  # every job (from the logs)
    concurrent: str = ""  # what a second snakemake said while this one ran ("" = not tried)
    concurrent_rc: int = 0


def run_reference(work: Path, clip: Path, style: Path, *, check_concurrent: bool = False) -> Reference:
    """The uninterrupted run, with job windows and per-frame log times; optionally try a second
    run while it holds the lock."""
    r = setup(work, clip, style)
    t0 = time.time()
    proc = r.start()
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    times: dict[str, list[float]] = {}
    watched: set[str] = set()
    concurrent: list[subprocess.CompletedProcess] = []
    tried = None  # the second run, in a thread: the job windows stay measured meanwhile

    def read_progress(jobs: set[str], now: float) -> None:
        for j in jobs:
            try:
                n = len(progress((log_dir(work) / f"{j}.log").read_text(errors="replace")))
            except FileNotFoundError:
                continue
            times.setdefault(j, []).extend([now] * (n - len(times.get(j, []))))

    while proc.poll() is None:
        now = time.time() - t0
        running = running_jobs(work)
        for j in running:
            first.setdefault(j, now)
            last[j] = now
        read_progress(running | watched, now)  # watched: a job that just ended logged its last line
        watched = running
        if check_concurrent and tried is None and first and any((work / ".snakemake" / "locks").glob("*")):
            tried = threading.Thread(target=lambda: concurrent.append(r.call("--cores", "1")))
            tried.start()
        time.sleep(POLL)
    duration = time.time() - t0
    if tried is not None:
        tried.join()
    if proc.returncode != 0:
        raise RuntimeError(f"reference run failed: see {work / 'snakemake.out'}")
    read_progress(watched, duration)
    windows = {j: (first[j], max(last[j], first[j] + POLL)) for j in first}
    c = concurrent[0] if concurrent else None
    return Reference(
        work,
        duration,
        windows,
        times,
        sorted(job_logs(work)),
        (c.stdout + c.stderr).strip() if c else "",
        c.returncode if c else 0,
    )


@dataclass
class Kill:
    index: int
    stage: str  # planned stage
    job: str  # planned job
    after: int  # planned: kill after this many of the job's frames finished (0: after the job started)
    delay: float  # ... plus this many seconds
    moment: float  # when that was in the reference run (s after launch; orders a chain)
    outcome: str = "planned"  # "hit" | "between jobs" | "run finished first"
    jobs: list[str] = field(default_factory=list)  # jobs running at the kill
    running: list[str] = field(default_factory=list)  # their stages
    at: float = 0.0  # seconds after the segment started
    frames_done: int = 0  # frames of the killed stylize/multipass jobs finished before the kill
    reused: int = 0  # frames of the killed jobs reused from cache/ by the resumed jobs
    recomputed: int = 0  # frames finished or in progress at the kill that were computed again
    worst_job: int = 0  # the most frames recomputed for one killed job (must be <= 1)
    chunks_recomputed: int = 0  # flow/masks/longterm chunks computed again
    reran: list[str] = field(default_factory=list)  # extract/encode jobs that ran again
    identical: bool = False  # the render this kill hit ended bit-identical to the reference
    recovered: bool = False
    note: str = ""


def plan(ref: Reference, kills: int, seed: int) -> list[Kill]:
    """``kills`` seeded kill moments: 3 of every 5 after the k-th frame of a stylize/multipass job
    (k >= 1), the others round-robin over the other stages, at a fraction of the job's duration."""
    rng = random.Random(seed)
    jobs = {s: sorted(j for j in ref.windows if stage_of(j) == s) for s in STAGES}
    framed = [s for s in FRAME_STAGES if jobs[s]]
    other = [s for s in STAGES if s not in FRAME_STAGES and jobs[s]]
    rng.shuffle(framed)
    rng.shuffle(other)
    out, nf, no = [], 0, 0
    for i in range(kills):
        if framed and (i % 5 in (0, 2, 4) or not other):
            stage, nf = framed[nf % len(framed)], nf + 1
        else:
            stage, no = other[no % len(other)], no + 1
        job = rng.choice(jobs[stage])
        start, end = ref.windows[job]
        t = ref.frame_times.get(job, [])
        f = rng.uniform(0.05, 0.95)
        if stage in FRAME_STAGES and len(t) > 1:
            after = rng.randint(1, len(t) - 1)  # inside a frame (after the last one the job is ending)
            delay = f * (t[after] - t[after - 1])
            out.append(Kill(i, stage, job, after, delay, t[after - 1] + delay))
        else:
            delay = f * (end - start)
            out.append(Kill(i, stage, job, 0, delay, start + delay))
    return out


def _remaining_jobs(kill: Kill, done: set[str], ref: Reference) -> set[str]:
    """Where a kill goes whose planned job is already done: the reference jobs not in ``done`` of
    ``kill.stage``, else of the next stage (in ``STAGES`` order) with any left; empty when none has."""
    left: set[str] = set()
    for st in STAGES[STAGES.index(kill.stage) :]:
        left = {j for j in ref.jobs if stage_of(j) == st} - done
        if left:
            break
    return left


def _await_target(
    r: Runner, proc: subprocess.Popen, kill: Kill, done: set[str], left: set[str], start: float, deadline: float
) -> tuple[str, bool]:
    """Poll until the job to kill runs: ``kill.job``, or, if it finished in an earlier segment
    (``done``), the first running job of ``left`` (any running job when ``left`` is empty; noted in
    ``kill.note``). Gives up when the run ends or at ``deadline`` (epoch s). Returns (the job,
    whether it was seen running)."""
    target = kill.job
    while proc.poll() is None and time.time() < deadline:
        now = running_jobs(r.work, since=start)
        if target not in done and target in now:
            return target, True
        if target in done and now:  # finished earlier in this chain: see ``left``, else any
            same = sorted(j for j in now if j in left)
            if same or not left:
                target = (same or sorted(now))[0]
                kill.note = f"planned job already done, took {target}"
                return target, True
        time.sleep(POLL)
    return target, False


def _frames_logged(log: Path, start: float) -> int:
    """How many ``frame N: computed|reused`` lines the job log ``log`` holds, 0 when it is missing or
    was last written before ``start`` (epoch s; an earlier segment's log)."""
    try:
        return len(progress(log.read_text(errors="replace"))) if log.stat().st_mtime >= start else 0
    except FileNotFoundError:
        return 0


def _await_frames(
    r: Runner, proc: subprocess.Popen, kill: Kill, target: str, need: int, start: float, deadline: float
) -> None:
    """Poll until ``target`` has logged ``need`` frames; stop early when the run ends, at
    ``deadline`` (epoch s), or when ``target`` stops running (noted in ``kill.note``)."""
    log = log_dir(r.work) / f"{target}.log"
    while proc.poll() is None and time.time() < deadline and _frames_logged(log, start) < need:
        if target not in running_jobs(r.work, since=start):
            kill.note = (kill.note + "; " if kill.note else "") + f"{target} ended before its frame {need} was seen"
            break
        time.sleep(POLL / 2)


def _await_delay(r: Runner, proc: subprocess.Popen, kill: Kill, target: str, need: int, start: float) -> None:
    """Wait ``kill.delay`` seconds, cut short when the run ends or when ``target`` logs its frame
    ``need + 1`` first (this run is faster than the reference; ``need`` 0: never cut short)."""
    log = log_dir(r.work) / f"{target}.log"
    end = time.time() + kill.delay
    while proc.poll() is None and time.time() < end and not (need and _frames_logged(log, start) > need):
        time.sleep(POLL / 2)


def _fire(r: Runner, proc: subprocess.Popen, kill: Kill, start: float) -> tuple[bool, float]:
    """SIGKILL the run now and record in ``kill`` what was running and when; if the run had ended
    already, record that instead. Returns (finished successfully, ``start``)."""
    if proc.poll() is not None:
        kill.outcome = "run finished first"
        return proc.returncode == 0, start
    kill.jobs = sorted(running_jobs(r.work, since=start))
    kill.at = time.time() - start
    kill_group(proc)
    kill.running = sorted({stage_of(j) for j in kill.jobs})
    kill.outcome = "hit" if kill.jobs else "between jobs"
    return False, start


def _segment(
    r: Runner, kill: Kill | None, first: bool, timeout: float, done: set[str], ref: Reference
) -> tuple[bool, float]:
    """Run (or recover, if not ``first``) until ``kill``'s moment, then SIGKILL; without ``kill``
    run to the end. ``done``: jobs finished in earlier segments. Returns (finished successfully,
    segment start time)."""
    if not first:
        u = r.call("--unlock")
        if u.returncode != 0:
            raise RuntimeError(f"--unlock failed: {u.stderr[-2000:]}")
    start = time.time()
    proc = r.start(*(() if first else ("--rerun-incomplete",)))
    if kill is None:
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            return False, start
        return rc == 0, start
    deadline = start + timeout
    target, seen = _await_target(r, proc, kill, done, _remaining_jobs(kill, done, ref), start, deadline)
    need = min(kill.after, len(ref.frame_times.get(target, [])))
    if seen and need:
        _await_frames(r, proc, kill, target, need, start, deadline)
    if seen:
        _await_delay(r, proc, kill, target, need, start)
    return _fire(r, proc, kill, start)


def _charge(k: Kill, before: dict[str, str], after: dict[str, list[str]]) -> list[str]:
    """Count what kill ``k`` cost, from the logs of the killed jobs at the kill (``before``) and of
    their later runs (``after``: per job, in order; a later run killed early is looked through to
    the first one that got past the frames done at this kill); return problems."""
    problems = []
    for job in list(k.jobs):
        if not after.get(job):  # it had written its output and Snakemake recorded it as finished
            k.jobs.remove(job)  # just before the kill took effect (the results are checked anyway)
            k.note = (k.note + "; " if k.note else "") + f"{job} had finished"
            continue
        stage = stage_of(job)
        if stage in FRAME_STAGES:
            done = progress(before.get(job, ""))
            m = len(done)
            runs = [progress(t) for t in after[job]]
            last = next((i for i, r in enumerate(runs) if len(r) > m), len(runs) - 1)
            computed = {f for r in runs[: last + 1] for f, c in r if c == "computed"}
            order = [f for f, _ in runs[last]]
            again = [f for f, _ in done if f in computed]
            # the frame in progress at the kill: the one after the last logged one, if it had
            # started (a kill between a frame's log line and its cache write loses that frame instead)
            started = (m > 0 or READY in before.get(job, "")) and not (m and done[-1][0] in again)
            lost = int(started and m < len(order) and order[m] in computed)
            k.frames_done += m
            k.reused += sum(c == "reused" for _, c in runs[last])
            k.recomputed += len(again) + lost
            k.worst_job = max(k.worst_job, len(again) + lost)
        elif stage in ("flow", "masks", "longterm"):
            k.chunks_recomputed += 1
        else:
            k.reran.append(stage)
    k.running = sorted({stage_of(j) for j in k.jobs})
    if not k.jobs:
        k.outcome = "between jobs"
    return problems


Segment = tuple[dict[str, str], Kill | None]  # (logs of the jobs run in it, the kill ending it)


def _run_segments(r: Runner, ref: Reference, kills: list[Kill], *, timeout: float) -> tuple[list[Segment], bool]:
    """Run the render of ``r`` through ``kills`` (each recovery run killed at the next one; the
    kills left when the run completes first are marked so), then recover to the end if needed.
    Returns (the segments, whether the run completed)."""
    segments: list[Segment] = []
    done: set[str] = set()
    for j, k in enumerate(kills):
        ok, start = _segment(r, k, first=(j == 0), timeout=timeout, done=done, ref=ref)
        logs = job_logs(r.work, start)  # at the kill: the killed jobs' logs before their rerun
        segments.append((logs, k if k.outcome in ("hit", "between jobs") else None))
        done |= set(logs) - set(k.jobs)
        if ok:
            for rest in kills[j + 1 :]:
                rest.outcome = "run finished first"
            return segments, True
    ok, start = _segment(r, None, first=False, timeout=timeout, done=done, ref=ref)
    segments.append((job_logs(r.work, start), None))
    return segments, ok


def _charge_segments(segments: list[Segment]) -> list[str]:
    """Charge every kill (``_charge``) with the logs of the jobs' runs in the later segments;
    return problems, among them a killed job that recomputed more than 1 frame."""
    problems = []
    for i, (logs, k) in enumerate(segments):
        if k is None:
            continue
        later: dict[str, list[str]] = {}
        for nxt, _ in segments[i + 1 :]:
            for job, text in nxt.items():
                later.setdefault(job, []).append(text)
        problems += _charge(k, logs, later)
        if k.worst_job > 1:
            problems.append(f"kill {k.index}: {k.worst_job} frames of one killed job recomputed")
    return problems


def _job_run_problems(segments: list[Segment], ref: Reference, finished: bool) -> list[str]:
    """No job runs again after it finished; every job of the reference ran (checked when the run
    ``finished``)."""
    problems = []
    for i, (logs, k) in enumerate(segments):
        for job in logs:
            if (k is None or job not in k.jobs) and any(job in nxt for nxt, _ in segments[i + 1 :]):
                problems.append(f"{job} ran again after it had finished")
    ran = {j for logs, _ in segments for j in logs}
    if finished and set(ref.jobs) - ran:
        problems.append(f"jobs never run: {sorted(set(ref.jobs) - ran)[:5]}")
    return problems


def run_chain(work: Path, ref: Reference, kills: list[Kill], clip: Path, style: Path, *, timeout: float) -> dict:
    """Apply ``kills`` one after another to one render in ``work``, recover, check."""
    r = setup(work, clip, style)
    segments, finished = _run_segments(r, ref, kills, timeout=timeout)
    problems = [] if finished else ["the run did not complete after recovery"]
    problems += _charge_segments(segments)
    problems += _job_run_problems(segments, ref, finished)
    differ = _compare(work, ref) if finished else []
    problems += (_check_results(work) if finished else []) + differ
    for _, k in segments:
        if k is not None:
            k.identical = finished and not differ
            k.recovered = finished and not problems
    return {"problems": problems, "segments": len(segments)}


def decoded(mp4: Path, out: Path) -> bytes:
    """All frames of ``mp4`` decoded to raw rgb24 bytes (via ``out``, a scratch file)."""
    import ffmpeg as graph

    from iovst.video import ffmpeg

    ffmpeg.run(
        graph.input(ffmpeg.media_path(mp4)).output(ffmpeg.media_path(out), f="rawvideo", pix_fmt="rgb24"),
        context=f"decode '{mp4}'",
    )
    data = out.read_bytes()
    out.unlink()
    return data


def _check_results(work: Path) -> list[str]:
    """Every result HDF5 verifies, no temporary file is left."""
    from iovst.errors import CacheError
    from iovst.storage import h5io

    problems = []
    for f in sorted((work / "results").rglob("*.h5")):
        kind = {"flow": "flow", "masks": "masks", "longterm": "longterm"}.get(f.parent.name, "frames")
        try:
            h5io.verify(f, kind=kind)
        except CacheError as exc:
            problems.append(str(exc))
    tmp = [str(p) for p in (work / "results").rglob(".tmp-*")]
    if tmp:
        problems.append(f"temporary files left in results/: {tmp[:3]}")
    return problems


def _compare(work: Path, ref: Reference) -> list[str]:
    """Every round's chunks (r0..rP) and the decoded mp4 frames are bit-identical to the reference."""
    import numpy as np

    from iovst.storage import h5io

    problems = []
    res, ref_res = work / "results" / "clip" / "paint", ref.work / "results" / "clip" / "paint"
    for p in range(PASSES + 1):  # every round's chunks
        names = sorted(f.name for f in (ref_res / f"r{p}").glob("chunk_*.h5"))
        got = sorted(f.name for f in (res / f"r{p}").glob("chunk_*.h5"))
        if got != names:
            problems.append(f"round {p}: chunks {got} != reference {names}")
            continue
        for name in names:
            (fa, a), (fb, b) = h5io.read_frames(ref_res / f"r{p}" / name), h5io.read_frames(res / f"r{p}" / name)
            if fa != fb or a.shape != b.shape or not np.array_equal(a, b):
                problems.append(f"round {p} {name}: frames differ from the uninterrupted run")
    mp4 = Path("clip") / "paint" / "clip_paint.mp4"
    if not (work / "results" / mp4).is_file():
        problems.append("no encoded video")
    elif decoded(work / "results" / mp4, work / "decoded.rgb") != decoded(
        ref.work / "results" / mp4, work / "decoded.rgb"
    ):
        problems.append("the decoded mp4 frames differ from the uninterrupted run")
    return problems


def make_inputs(base: Path) -> tuple[Path, Path]:
    from iovst.demo import make_demo_clip

    clip = base / "clip.mp4"
    if not clip.exists():
        make_demo_clip(clip, n_frames=N_FRAMES, size=(48, 64), fps=Fraction(25, 1), audio=True)
    return clip, ROOT / "data" / "style.png"


def table(kills: list[Kill]) -> list[str]:
    """One line per kill: stage, frames reused / recomputed, chunks recomputed, reruns, identical."""
    rows = [
        (
            f"{'kill':>4} {'planned':9} {'hit':18} {'at s':>5} {'done':>4} {'reused':>6} {'recomp':>6} "
            f"{'chunks':>6} {'reran':10} identical"
        )
    ]
    for k in kills:
        if k.outcome != "hit":
            rows.append(
                f"{k.index:4d} {k.stage:9} -- did not happen: {k.outcome}{' (' + k.note + ')' if k.note else ''}"
            )
            continue
        rows.append(
            f"{k.index:4d} {k.stage:9} {','.join(k.running):18} {k.at:5.1f} {k.frames_done:4d} {k.reused:6d} "
            f"{k.recomputed:6d} {k.chunks_recomputed:6d} {','.join(k.reran) or '-':10} "
            f"{'yes' if k.identical else 'NO'}{'' if k.recovered else ' NOT RECOVERED'}"
            f"{'  (' + k.note + ')' if k.note else ''}"
        )
    return rows


def run_killtest(
    kills: int = 5,
    *,
    seed: int = 0,
    chain: int = 1,
    workdir: Path | None = None,
    reference: Reference | None = None,
    check_concurrent: bool = False,
    timeout: float = 600,
    log: Callable[[str], None] = print,
) -> dict:
    """Reference run + ``kills`` seeded kills in chains of ``chain``; returns a summary dict
    (``kills`` list, ``n`` kills that hit a job, ``recovered``, ``cached`` kills after frames
    were cached, ``max_recomputed`` per killed job, ``problems``, ``reference_s``, ``total_s``)."""
    t0 = time.time()
    base = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="iovst-killtest-"))
    base.mkdir(parents=True, exist_ok=True)
    clip, style = make_inputs(base)
    ref = reference or run_reference(base / "ref", clip, style, check_concurrent=check_concurrent)
    log(
        f"reference: {ref.duration:.1f} s, {len(ref.jobs)} jobs, "
        f"{sum(map(len, ref.frame_times.values()))} frames computed"
    )
    planned = plan(ref, kills, seed)
    problems: list[str] = []
    for c in range(0, kills, chain):
        # a chain kills one render stage after stage (a restarted run may reorder independent jobs:
        # ordering by reference moment alone would find masks done before a stylize kill's restart)
        group = sorted(planned[c : c + chain], key=lambda k: (STAGES.index(k.stage), k.moment))
        res = run_chain(base / f"trial{c:03d}", ref, group, clip, style, timeout=timeout)
        problems += [f"trial {c}: {p}" for p in res["problems"]]
        for k in group:
            log(f"kill {k.index:2d}: {k.outcome}, planned {k.stage} {k.job} after frame {k.after} + {k.delay:.2f} s")
    for row in table(planned):
        log(row)
    hit = [k for k in planned if k.outcome == "hit"]
    recovered = sum(k.recovered for k in hit)
    cached = [k for k in hit if k.frames_done > 0]
    worst = max((k.worst_job for k in planned), default=0)
    summary = {
        "kills": [asdict(k) for k in planned],
        "recovered": recovered,
        "n": len(hit),
        "planned": kills,
        "cached": len(cached),
        "max_recomputed": worst,
        "problems": problems,
        "reference_s": ref.duration,
        "total_s": time.time() - t0,
        "stages_hit": sorted({s for k in hit for s in k.running}),
        "workdir": str(base),
        "concurrent": ref.concurrent,
        "concurrent_rc": ref.concurrent_rc,
    }
    for p in problems:
        log(f"PROBLEM: {p}")
    missed = [k for k in planned if k.outcome != "hit"]
    if missed:
        log(f"{len(missed)} planned kill(s) did not happen: " + ", ".join(f"{k.index} ({k.outcome})" for k in missed))
    log(
        f"{recovered}/{len(hit)} recovered, {len(cached)} kills landed after frames were cached "
        f"(max frames recomputed per killed job: {worst})"
    )
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--chain", type=int, default=1, help="kills per render (1 = independent trials)")
    ap.add_argument("--workdir", type=Path, default=None, help="default: a new temporary directory")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--json", type=Path, help="also write the summary as JSON here")
    args = ap.parse_args(argv)
    s = run_killtest(args.kills, seed=args.seed, chain=max(1, args.chain), workdir=args.workdir)
    print(
        f"time: {s['total_s']:.0f} s (reference run {s['reference_s']:.0f} s); stages hit: {', '.join(s['stages_hit'])}"
    )
    if args.json:
        args.json.write_text(json.dumps(s, indent=2))
    if not args.keep and args.workdir is None:
        shutil.rmtree(s["workdir"], ignore_errors=True)
    ok = s["n"] and s["recovered"] == s["n"] and s["max_recomputed"] <= 1 and not s["problems"]
    return 0 if ok and 2 * s["cached"] >= s["n"] else 1  # the goal: >= half the kills after frames were cached


if __name__ == "__main__":
    sys.exit(main())
