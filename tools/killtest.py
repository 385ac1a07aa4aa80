#!/usr/bin/env python
"""Kill-anywhere harness: SIGKILL a tiny render at seeded random moments, recover, compare.

    python tools/killtest.py --kills 20 [--seed 0] [--chain 1] [--workdir DIR] [--keep]

1. One uninterrupted reference run of a demo-sized workflow (6 frames, 2 chunks, 2 multipass
   rounds, DIS flow, random VGG weights, CPU). While it runs, the harness records when each job
   ran (Snakemake's ``.snakemake/incomplete`` markers, named by output file), which gives the
   window of every job of every stage (extract, flow, masks, stylize, multipass, encode).
2. N kill moments, seeded: stages are taken round-robin from a shuffled order, then one job of
   that stage at random and a fraction ``f`` in [0.05, 0.95] of its reference duration. A trial
   starts the workflow, waits until that job starts, sleeps ``f`` x its reference duration and
   SIGKILLs the whole Snakemake process group (Snakemake, its jobs, ffmpeg).
3. Recovery the README way: ``snakemake --unlock``, then the same command with
   ``--rerun-incomplete``. With ``--chain K`` the recovery run of a trial is itself killed at the
   next moment, K kills per workdir (cheaper: one render absorbs K kills; the CI test uses it);
   ``--chain 1`` gives independent trials.
4. Checks per workdir: the run completes; every result HDF5 verifies (checksums); no ``.tmp-*``
   file is left in results/; the final round's frames are bit-identical to the reference; and
   the frames recomputed because of each kill (``frame N: computed`` log lines: a logs snapshot
   at each kill + logs written afterwards, each (job, frame) computation beyond the first is
   charged to the kill that interrupted the earlier one) are at most 1.

Prints one line per kill and ``N/N recovered, max frames recomputed per kill: M``; exit status 0
when every kill recovered with at most one recomputed frame. ``run_killtest()`` is the same thing
as a function (``tests/test_killtest.py``).
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
import time
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("extract", "flow", "masks", "stylize", "multipass", "encode")
COMPUTED = re.compile(r"frame (\d+): computed")
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
}
N_FRAMES = 6
PASSES = CONFIG["multipass"]["passes"]


def stage_of(output: str) -> str:
    """Pipeline stage of a declared output path."""
    if output.endswith("meta.json") or output.endswith("/frames"):
        return "extract"
    if "/flow/" in output or output.endswith("flow_preview.mp4"):
        return "flow"
    if "/masks/" in output or "/longterm/" in output:
        return "masks"
    if "/r0/" in output:
        return "stylize"
    if re.search(r"/r\d+/", output):
        return "multipass"
    return "encode"


def running_outputs(work: Path, since: float = 0.0) -> set[str]:
    """Outputs of the jobs Snakemake marked as running (``.snakemake/incomplete``), touched >= ``since``."""
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
                out.add(base64.urlsafe_b64decode("".join(parts)).decode())
            except (ValueError, UnicodeDecodeError):
                pass
    return out


def computed_events(logs: Path, since: float) -> list[tuple[str, int]]:
    """``(log, frame)`` for every ``frame N: computed`` line in logs written at or after ``since``."""
    ev = []
    if not logs.is_dir():
        return ev
    for f in sorted(logs.rglob("*.log")):
        if f.stat().st_mtime >= since:
            rel = str(f.relative_to(logs))
            ev += [(rel, int(m)) for m in COMPUTED.findall(f.read_text(errors="replace"))]
    return ev


class Runner:
    """Starts ``snakemake`` on the repo's Snakefile in ``work`` (own process group)."""

    def __init__(self, work: Path, cores: int = 2) -> None:
        self.work, self.cores = work, cores
        self.cfg = work / "config.yaml"
        self.env = dict(os.environ, IOVST_OFFLINE="1", PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")

    def cmd(self, *extra: str) -> list[str]:
        return [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(self.work),
                "--configfile", str(self.cfg), *extra]

    def start(self, *extra: str, log_name: str = "snakemake.out") -> subprocess.Popen:
        out = open(self.work / log_name, "ab")
        try:
            return subprocess.Popen(self.cmd("--cores", str(self.cores), *extra), stdout=out, stderr=subprocess.STDOUT,
                                    env=self.env, start_new_session=True)
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
    windows: dict[str, tuple[float, float]]  # output -> (start, end) seconds after launch
    computed: list[tuple[str, int]]
    concurrent: str = ""  # what a second snakemake said while this one ran ("" = not tried)
    concurrent_rc: int = 0


def run_reference(work: Path, clip: Path, style: Path, *, check_concurrent: bool = False) -> Reference:
    """The uninterrupted run, with job windows; optionally try a second run while it holds the lock."""
    r = setup(work, clip, style)
    t0 = time.time()
    proc = r.start()
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    concurrent, concurrent_rc = "", 0
    while proc.poll() is None:
        now = time.time() - t0
        for o in running_outputs(work):
            first.setdefault(o, now)
            last[o] = now
        if check_concurrent and not concurrent and first and any((work / ".snakemake" / "locks").glob("*")):
            c = r.call("--cores", "1")
            concurrent, concurrent_rc = (c.stdout + c.stderr).strip(), c.returncode
        time.sleep(POLL)
    duration = time.time() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"reference run failed: see {work / 'snakemake.out'}")
    windows = {o: (first[o], max(last[o], first[o] + POLL)) for o in first}
    return Reference(work, duration, windows, computed_events(Path(layout(work).logs), 0.0), concurrent, concurrent_rc)


@dataclass
class Kill:
    index: int
    stage: str  # planned stage
    job: str  # planned job (its output)
    fraction: float
    running: list[str] = field(default_factory=list)  # stages of the jobs running at the kill
    at: float = 0.0  # seconds after the segment started
    recomputed: int = 0
    performed: bool = False  # False: the run finished before this moment (not counted)
    recovered: bool = False
    note: str = ""


def plan(ref: Reference, kills: int, seed: int) -> list[Kill]:
    rng = random.Random(seed)
    order = list(STAGES)
    rng.shuffle(order)
    by_stage = {s: sorted(o for o in ref.windows if stage_of(o) == s) for s in STAGES}
    out = []
    for i in range(kills):
        stage = order[i % len(order)]
        job = rng.choice(by_stage[stage]) if by_stage[stage] else rng.choice(sorted(ref.windows))
        out.append(Kill(i, stage, job, rng.uniform(0.05, 0.95)))
    return out


def _segment(r: Runner, ref: Reference, kill: Kill | None, first: bool, timeout: float) -> tuple[bool, float]:
    """Run (or recover, if not ``first``) until ``kill``'s moment, then SIGKILL; without ``kill``
    run to the end. Returns (finished successfully, segment start time)."""
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
    target, trigger = kill.job, None
    done_already = (r.work / target).exists() and target not in running_outputs(r.work)
    while proc.poll() is None and time.time() < deadline:
        now_running = running_outputs(r.work, since=start)
        if not done_already and target in now_running:
            trigger = time.time()
            break
        if done_already and now_running:  # planned job finished earlier in this chain: take the next job
            target = sorted(now_running)[0]
            kill.note = f"planned job already done, took {target}"
            trigger = time.time()
            break
        time.sleep(POLL)
    if trigger is not None:
        s, e = ref.windows.get(target, (0.0, 1.0))
        end = trigger + kill.fraction * (e - s)
        while proc.poll() is None and time.time() < end:
            time.sleep(POLL / 2)
    if proc.poll() is not None:
        kill.note = (kill.note + "; " if kill.note else "") + "run ended before the kill moment"
        return proc.returncode == 0, start
    kill.running = sorted({stage_of(o) for o in running_outputs(r.work, since=start)}) or ["(between jobs)"]
    kill.performed = True
    kill.at = time.time() - start
    kill_group(proc)
    return False, start


def run_chain(work: Path, ref: Reference, kills: list[Kill], clip: Path, style: Path, *, timeout: float) -> dict:
    """Apply ``kills`` one after another to one render in ``work``, recover, check."""
    r = setup(work, clip, style)
    segments: list[tuple[float, list[tuple[str, int]]]] = []  # (start, computed events) per segment
    finished = False
    for j, k in enumerate(kills):
        ok, start = _segment(r, ref, k, first=(j == 0), timeout=timeout)
        segments.append((start, computed_events(Path(layout(work).logs), start)))  # the logs snapshot at kill time
        if ok:
            finished = True
            break
    if not finished:
        ok, start = _segment(r, ref, None, first=False, timeout=timeout)
        segments.append((start, computed_events(Path(layout(work).logs), start)))
        finished = ok
    # charge each (job, frame) computation beyond the first to the kill ending the earlier one
    seen: dict[tuple[str, int], int] = {}
    charged = [0] * len(segments)
    for si, (_, events) in enumerate(segments):
        for ev in events:
            if ev in seen:
                charged[seen[ev]] += 1
            seen[ev] = si
    problems = []
    if not finished:
        problems.append("the run did not complete after recovery")
    missing = set(ref.computed) - set(seen)
    if finished and missing:
        problems.append(f"frames never computed: {sorted(missing)[:5]}")
    if finished:
        problems += _check_results(work, ref)
    for j, k in enumerate(kills[:len(segments) - 1]):
        k.recomputed = charged[j]
        k.recovered = finished and not problems
    return {"problems": problems, "segments": len(segments)}


def _check_results(work: Path, ref: Reference) -> list[str]:
    import numpy as np

    from iovst.storage import h5io
    from iovst.errors import CacheError

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
    if not Path(layout(work).encoded("clip", "paint")).is_file():
        problems.append("no encoded video")
    a, b = final_frames(ref.work), final_frames(work)
    if sorted(a) != sorted(b):
        problems.append(f"final frames {sorted(b)} != reference {sorted(a)}")
    else:
        diff = [i for i in a if not np.array_equal(a[i], b[i])]
        if diff:
            problems.append(f"frames {diff} differ from the uninterrupted run")
    return problems


def make_inputs(base: Path) -> tuple[Path, Path]:
    from iovst.demo import make_demo_clip

    clip = base / "clip.mp4"
    if not clip.exists():
        make_demo_clip(clip, n_frames=N_FRAMES, size=(48, 64), fps=Fraction(25, 1), audio=True)
    return clip, ROOT / "data" / "style.png"


def run_killtest(kills: int = 5, *, seed: int = 0, chain: int = 1, workdir: Path | None = None,
                 reference: Reference | None = None, check_concurrent: bool = False,
                 timeout: float = 600, log: Callable[[str], None] = print) -> dict:
    """Reference run + ``kills`` seeded kills in chains of ``chain``; returns a summary dict
    (``kills`` list, ``recovered``, ``max_recomputed``, ``problems``, ``reference_s``, ``total_s``)."""
    t0 = time.time()
    base = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="iovst-killtest-"))
    base.mkdir(parents=True, exist_ok=True)
    clip, style = make_inputs(base)
    ref = reference or run_reference(base / "ref", clip, style, check_concurrent=check_concurrent)
    log(f"reference: {ref.duration:.1f} s, {len(ref.windows)} jobs, {len(ref.computed)} frames computed")
    planned = plan(ref, kills, seed)
    problems: list[str] = []
    for c in range(0, kills, chain):
        group = planned[c:c + chain]
        if chain > 1:  # a chain kills one render at increasing moments
            group.sort(key=lambda k: ref.windows[k.job][0] + k.fraction * (ref.windows[k.job][1] - ref.windows[k.job][0]))
        res = run_chain(base / f"trial{c:03d}", ref, group, clip, style, timeout=timeout)
        problems += [f"trial {c}: {p}" for p in res["problems"]]
        for k in group:
            log(f"kill {k.index:2d}: planned {k.stage:9s} ({k.job}, f={k.fraction:.2f}) at {k.at:5.1f} s, "
                f"running {','.join(k.running) or '-'}: {'recovered' if k.recovered else 'NOT RECOVERED'}, "
                f"{k.recomputed} frame(s) recomputed{' (' + k.note + ')' if k.note else ''}"
                if k.performed else f"kill {k.index:2d}: planned {k.stage} ({k.job}): not performed ({k.note})")
    done = [k for k in planned if k.performed]
    recovered = sum(k.recovered for k in done)
    worst = max((k.recomputed for k in planned), default=0)
    summary = {"kills": [asdict(k) for k in planned], "recovered": recovered, "n": len(done), "planned": kills, "max_recomputed": worst,
               "problems": problems, "reference_s": ref.duration, "total_s": time.time() - t0,
               "stages_hit": sorted({s for k in planned for s in k.running}), "workdir": str(base),
               "concurrent": ref.concurrent, "concurrent_rc": ref.concurrent_rc}
    for p in problems:
        log(f"PROBLEM: {p}")
    if len(done) < kills:
        log(f"{kills - len(done)} planned kill(s) not performed (the run finished first)")
    log(f"{recovered}/{len(done)} recovered, max frames recomputed per kill: {worst}")
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
    print(f"time: {s['total_s']:.0f} s (reference run {s['reference_s']:.0f} s); stages hit: {', '.join(s['stages_hit'])}")
    if args.json:
        args.json.write_text(json.dumps(s, indent=2))
    if not args.keep and args.workdir is None:
        shutil.rmtree(s["workdir"], ignore_errors=True)
    return 0 if s["recovered"] == s["n"] and s["max_recomputed"] <= 1 and not s["problems"] else 1


if __name__ == "__main__":
    sys.exit(main())
