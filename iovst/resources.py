"""Memory and time requests of each job (Snakemake ``resources: mem_mb, runtime``), from its work.

The rules call :func:`rule_resources` in their own ``resources:``, so the requests survive a
``--set-resources`` / ``--default-resources`` on the command line (those replace a profile's whole
mapping, not single keys of the rules' own resources).

Estimates (:func:`estimate`) scale with the frames of the job (``chunk_size``; the whole video for
the encoders), the frame size in pixels (``meta.json``'s ``width x height``; before extraction, or
when ``meta.json`` is unreadable, a bound from ``extract.size`` / ``side`` / ``max_pixels``: see
:func:`frame_pixels`), the optimizer iterations and the flow offsets (``extract``:
``extract.count`` frames, or a guess):

* memory (MB) = a per-stage base (Python, torch, model weights) + ``copies`` float32 RGB copies of
  the job's frames (12 bytes per pixel per frame). Stylize holds 4 (input frames, results, the
  stacked output and its fp16 conversion): 64 frames at the 4096x2160 maximum are ~27 GB.
* runtime (minutes) = 2 x (5 min start-up + frames x seconds per frame) with seconds per frame =
  megapixels x iterations x seconds per megapixel-iteration (GPU or CPU rate by ``device``).
  ``multipass.passes`` does not change one job's work: each round of each chunk is its own job.

The rates are conservative guesses for a data-centre GPU / a 2-core CPU, not measurements of
your hardware; a job that still runs out of memory or time is retried with more of *that* one.

Retries (Snakemake ``attempt`` > 1) grow a request only when the previous attempt of the same job
ran out of it: memory doubles after an out-of-memory failure, time doubles after SLURM's time limit;
a cancelled, preempted or otherwise failed job is retried with the request it had. The job itself
records, in an undeclared marker next to its output (:func:`marker_path`, written atomically), its
SLURM job id at start (:func:`record_start`) and an in-process out-of-memory error
(:func:`record_failure`); the retry's request asks SLURM (``squeue``, else ``sacct``) for that job's
final state (``OUT_OF_MEMORY``, ``TIMEOUT``, ``CANCELLED``, ``PREEMPTED``, ...) and its request.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: bytes per pixel of one float32 RGB frame
FLOAT_RGB = 12
#: seconds per megapixel per optimizer iteration (VGG-19 forward + backward, L-BFGS step)
SEC_PER_MP_ITER = {"gpu": 0.1, "cpu": 5.0}
#: seconds per megapixel per flow pair (RAFT 12 updates on the GPU; DIS or RAFT on the CPU)
SEC_PER_MP_PAIR = {"gpu": 0.5, "cpu": 20.0}
#: seconds per megapixel per frame of the CPU stages (PNG decode/encode, numpy, ffmpeg)
SEC_PER_MP_FRAME = 2.0
#: seconds per megapixel of an extracted frame (decode, scale, PNG), and the frame count assumed
#: for ``extract`` when ``extract.count`` is null (20000 = 11 minutes at 30 fps)
SEC_PER_MP_DECODE = 0.1
EXTRACT_FRAMES_GUESS = 20000
START_MIN = 5
SAFETY = 2
#: SLURM states after which a retry gets more memory / more time
OOM_STATES = {"OUT_OF_MEMORY"}
TIME_STATES = {"TIMEOUT", "DEADLINE"}
MARKER_SUFFIX = ".job.json"


@dataclass(frozen=True)
class Request:
    """One job's request: ``mem_mb`` (MB) and ``runtime`` (minutes)."""

    mem_mb: int
    runtime: int


@dataclass(frozen=True)
class Previous:
    """What became of the previous attempt: SLURM ``state`` (or None), whether it ran out of
    memory / time, and its request (MB, minutes; None when SLURM no longer knows the job)."""

    state: str | None
    oom: bool
    timeout: bool
    mem_mb: int | None
    runtime: int | None


def frame_pixels(config: Mapping[str, Any], meta: Mapping[str, Any] | None) -> int:
    """Pixels per processed frame: ``meta.json``'s width x height; without it a bound from the
    config: ``extract.size`` squared (``side: long``) or ``size x 4 size`` (``side: short``, up to
    4:1 frames), at most ``extract.max_pixels``."""
    if meta and meta.get("width") and meta.get("height"):
        return int(meta["width"]) * int(meta["height"])
    ex = config["extract"]
    bound = ex["size"] ** 2 * (1 if ex["side"] == "long" else 4)
    return int(min(bound, ex["max_pixels"]))


def estimate(stage: str, config: Mapping[str, Any], pixels: int, frames: int) -> Request:
    """First-attempt request of one ``stage`` job over ``frames`` frames of ``pixels`` pixels.

    ``stage`` is a rule name (extract, flow, masks, cuts, longterm, flow_preview, stylize,
    multipass, encode, side_by_side, preview_round, metrics, summary); ``config`` the validated config.
    """
    mp = pixels / 1e6
    kind = "cpu" if config["device"] == "cpu" else "gpu"
    offsets = len(config["flow"]["offsets"])
    chunk_mb = frames * pixels * FLOAT_RGB / 2**20
    if stage == "extract":  # decodes and writes one frame at a time; frame count not known yet
        count = config["extract"]["count"] or EXTRACT_FRAMES_GUESS
        mem, work = 2000 + 8 * pixels * FLOAT_RGB / 2**20, count * mp * SEC_PER_MP_DECODE
    elif stage == "flow":  # frames + forward/backward flow per offset (float32 2-channel + fp16)
        mem, work = 3000 + (1 + 2 * offsets) * chunk_mb, frames * 2 * offsets * mp * SEC_PER_MP_PAIR[kind]
    elif stage in ("masks", "longterm"):  # fp16 flow / masks of the chunk, float32 per batch
        mem, work = 1500 + (1 + offsets) * chunk_mb, frames * offsets * mp * SEC_PER_MP_FRAME
    elif stage in ("stylize", "multipass"):
        st = config["stylize"]
        if stage == "stylize":
            iters = st["iterations"] + (st["brushstroke"]["pixel_iterations"] if st["method"] == "brushstroke" else 0)
            copies = 4
        else:  # frames, previous round, current round, output; neighbours' frames; flow and
            # masks are read one pair at a time
            iters, copies = config["multipass"]["iterations"], 5
        mem, work = 3000 + copies * chunk_mb, frames * iters * mp * SEC_PER_MP_ITER[kind]
    elif stage == "metrics":  # one VGG forward (about half an iteration) per frame and round
        chunk = min(frames, config["chunk_size"])
        rounds = config["multipass"]["passes"] + 1
        mem = 3000 + 3 * chunk * pixels * FLOAT_RGB / 2**20
        work = frames * rounds * mp * (SEC_PER_MP_ITER[kind] / 2 + SEC_PER_MP_FRAME)
    else:  # encoders, previews and cuts stream one chunk (cuts: one frame + mask pair) at a time
        chunk = min(frames, config["chunk_size"])
        mem, work = 2000 + 3 * chunk * pixels * FLOAT_RGB / 2**20, frames * mp * SEC_PER_MP_FRAME
    runtime = SAFETY * (START_MIN + work / 60)
    return Request(mem_mb=math.ceil(mem / 100) * 100, runtime=math.ceil(runtime))


def grow(base: Request, prev: Previous | None) -> Request:
    """The retry's request: ``base`` or the previous attempt's request (when SLURM still knows it),
    whichever is larger, with memory doubled only after out-of-memory and time only after a time
    limit. Cancelled / preempted / failed attempts do not grow anything."""
    if prev is None:
        return base
    mem = max(base.mem_mb, prev.mem_mb or 0)
    runtime = max(base.runtime, prev.runtime or 0)
    if prev.oom:
        mem = 2 * max(base.mem_mb, prev.mem_mb or 0)
    if prev.timeout:
        runtime = 2 * max(base.runtime, prev.runtime or 0)
    return Request(mem_mb=mem, runtime=runtime)


# --------------------------------------------------------------------------------------------
# the job's marker (written by the iovst command inside the job, read by the retry's request)
# --------------------------------------------------------------------------------------------


def marker_path(output: str | os.PathLike[str]) -> Path:
    """``dir/.NAME.job.json`` for the job output ``dir/NAME`` (hidden, never a declared output)."""
    p = Path(output)
    return p.with_name(f".{p.name}{MARKER_SUFFIX}")


def record_start(output: str | os.PathLike[str], env: Mapping[str, str] = os.environ) -> None:
    """Inside a SLURM job (``SLURM_JOB_ID`` set): note the job id next to ``output``."""
    job_id = env.get("SLURM_JOB_ID")
    if job_id:
        from .storage.atomic import write_json

        write_json(marker_path(output), {"job_id": job_id})


def is_host_oom(exc: BaseException) -> bool:
    """Whether ``exc`` is host memory running out: ``MemoryError`` or torch's CPU allocator
    failing. CUDA out-of-memory is not: more ``mem_mb`` does not give a GPU more memory."""
    if isinstance(exc, MemoryError):
        return True
    return isinstance(exc, RuntimeError) and "DefaultCPUAllocator: can't allocate memory" in str(exc)


def record_failure(output: str | os.PathLike[str], exc: BaseException, env: Mapping[str, str] = os.environ) -> None:
    """After ``exc`` ended the job: mark a host out-of-memory in the marker (others need nothing:
    SLURM's own state tells a time limit from a cancel)."""
    if is_host_oom(exc):
        from .errors import IovstError
        from .storage.atomic import write_json

        rec: dict[str, Any] = {"failure": "oom"}
        if env.get("SLURM_JOB_ID"):
            rec["job_id"] = env["SLURM_JOB_ID"]
        with contextlib.suppress(OSError, IovstError):  # never hide the job's own error
            write_json(marker_path(output), rec)


def _mem_mb(text: str) -> int | None:
    """SLURM memory ``8000M`` / ``8G`` / ``1.5T`` / ``8000Mn`` (ReqMem) -> MB."""
    m = re.fullmatch(r"([\d.]+)([KMGT]?)[nc]?", text.strip())
    if not m:
        return None
    scale = {"K": 1 / 1024, "": 1, "M": 1, "G": 1024, "T": 1024**2}[m.group(2)]
    return round(float(m.group(1)) * scale)


def _minutes(text: str) -> int | None:
    """SLURM time limit ``[days-]hours:minutes:seconds`` / ``minutes:seconds`` -> minutes."""
    m = re.fullmatch(r"(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+)", text.strip())
    if not m:
        return None
    days, hours, minutes, seconds = (int(g) if g else 0 for g in m.groups())
    return days * 1440 + hours * 60 + minutes + (1 if seconds else 0)


def slurm_job(job_id: str) -> tuple[str | None, int | None, int | None]:
    """``(state, mem_mb, runtime minutes)`` of a SLURM job from ``squeue`` (jobs that ended within
    ``MinJobAge``), else ``sacct``; Nones when neither knows it."""
    queries = (
        ["squeue", "-h", "--states=all", "-j", job_id, "-o", "%T|%m|%l"],
        ["sacct", "-n", "-X", "-P", "-j", job_id, "-o", "State,ReqMem,Timelimit"],
    )
    for cmd in queries:
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired):
            continue
        lines = [ln for ln in out.stdout.splitlines() if ln.count("|") == 2]
        if out.returncode == 0 and lines:
            state, mem, limit = lines[0].split("|")
            # sacct: "CANCELLED by 0"; squeue prints states whole
            return state.split()[0] if state.strip() else None, _mem_mb(mem), _minutes(limit)
    return None, None, None


def previous_attempt(
    marker: str | os.PathLike[str],
    query: Callable[[str], tuple[str | None, int | None, int | None]] = slurm_job,
) -> Previous | None:
    """What the marker (and SLURM, for the job id in it) says of the previous attempt; None when
    there is no readable marker."""
    try:
        rec = json.loads(Path(marker).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(rec, dict):
        return None
    state = mem = runtime = None
    if rec.get("job_id"):
        state, mem, runtime = query(str(rec["job_id"]))
    return Previous(
        state=state,
        oom=rec.get("failure") == "oom" or state in OOM_STATES,
        timeout=state in TIME_STATES,
        mem_mb=mem,
        runtime=runtime,
    )


# --------------------------------------------------------------------------------------------
# Snakemake glue: the callables of a rule's `resources:`
# --------------------------------------------------------------------------------------------


def _load_meta(path: str) -> dict[str, Any] | None:
    try:
        meta = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def job_request(
    stage: str, config: Mapping[str, Any], wildcards: Mapping[str, str], attempt: int, *, output: str, meta: str
) -> Request:
    """The request of one job: ``output`` / ``meta`` are the rule's output and ``meta.json``
    patterns (``{video}``, ``{k}``, ... filled from ``wildcards``)."""
    wc = dict(wildcards)
    info = None if stage == "extract" else _load_meta(meta.format(**wc))
    frames = config["chunk_size"]
    if info and info.get("frame_count"):
        if "k" in wc:
            frames = max(1, min(frames, int(info["frame_count"]) - int(wc["k"]) * frames))
        elif stage in ("encode", "side_by_side", "preview_round", "flow_preview", "cuts", "metrics"):
            frames = int(info["frame_count"])
    base = estimate(stage, config, frame_pixels(config, info), frames)
    if attempt <= 1:
        return base
    return grow(base, previous_attempt(marker_path(output.format(**wc))))


def rule_resources(stage: str, config: Mapping[str, Any], *, output: str, meta: str) -> dict[str, Callable]:
    """``mem_mb`` and ``runtime`` callables for a rule's ``resources:`` (Snakemake passes
    ``wildcards`` and ``attempt``; the request is computed once per job and attempt)."""
    memo: dict[tuple, Request] = {}

    def request(wildcards, attempt) -> Request:
        key = (tuple(sorted(dict(wildcards).items())), attempt)
        if key not in memo:
            memo[key] = job_request(stage, config, wildcards, attempt, output=output, meta=meta)
        return memo[key]

    def mem_mb(wildcards, attempt):
        return request(wildcards, attempt).mem_mb

    def runtime(wildcards, attempt):
        return request(wildcards, attempt).runtime

    return {"mem_mb": mem_mb, "runtime": runtime}


#: stages (rules and ``iovst`` commands of the same name) that use a GPU: their rules request
#: ``gpu=1`` (:func:`gpu_request`) and the command claims a free GPU (:mod:`iovst.runtime.gpuslots`)
GPU_STAGES = frozenset({"flow", "stylize", "multipass", "metrics"})


def gpu_request(stage: str) -> dict[str, int]:
    """``{"gpu": 1}`` for a GPU stage's rule ``resources:``, ``{}`` otherwise (``--resources gpu=N``
    then runs at most N GPU jobs at once on one machine)."""
    return {"gpu": 1} if stage in GPU_STAGES else {}
