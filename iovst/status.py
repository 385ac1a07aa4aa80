"""Progress of a render, read from its results and job logs (``iovst status``); never writes.

Per video x style: frames extracted, flow / masks chunks done, frames done per round, measured
seconds per frame and the GPU time left. A round's frames are done when their result chunk exists
(:class:`iovst.layout.Layout`); of a chunk still missing, the frames its job log lists as
``frame N: computed|reused`` (:mod:`iovst.progress`) are done too (finished in the cache; the log
of a job is rewritten when it restarts, and a restarted job reuses them). The per-frame cache itself
is keyed by hashes of the frames' inputs, so it can't be attributed to a video or round cheaply.

Seconds per frame are the mean of the job logs' ``frame N: computed (X s)`` values: stylize (round
0) and multipass (rounds >= 1) apart; a stage with no measurement yet is estimated from the other
one scaled by the ratio of their iterations. The ETA is the GPU time left over ``gpus`` GPUs (the
per-frame jobs, which dominate; extract, flow, masks and encode are not counted). Works while the
render runs, on a cluster's shared file system too (only file listings and logs are read).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .chunks import chunk_frames, n_chunks
from .errors import CacheError
from .layout import Layout
from .progress import FRAME_LINE
from .storage.meta import load_meta


@dataclass
class RenderProgress:
    """One video x style. ``n_frames`` is ``None`` until meta.json exists (then the rest is 0);
    ``rounds[p]``: frames of round ``p`` done; ``seconds[p]``: measured s/frame of round ``p``'s
    stage (``None``: none computed yet)."""

    video: str
    style: str
    n_frames: int | None
    extracted: int
    n_chunks: int
    flow: int | None  # flow chunks done (None: this config needs no flow)
    masks: int | None
    rounds: list[int] = field(default_factory=list)
    seconds: list[float | None] = field(default_factory=list)

    def frames_left(self) -> list[int]:
        """Frames not done per round (all of them before extraction: unknown count -> 0)."""
        return [max((self.n_frames or 0) - d, 0) for d in self.rounds]

    def gpu_seconds_left(self) -> float | None:
        """Estimated seconds of per-frame work left (``None``: frames left but no measurement)."""
        total = 0.0
        for left, s in zip(self.frames_left(), self.seconds):
            if left:
                if s is None:
                    return None
                total += left * s
        return total


def _log_frames(log: Path) -> tuple[set[int], list[float]]:
    """Frames a job log lists as computed or reused, and the computed frames' seconds."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return set(), []
    done, secs = set(), []
    for m in FRAME_LINE.finditer(text):
        done.add(int(m.group(1)))
        if m.group(3) is not None:
            secs.append(float(m.group(3)))
    return done, secs


def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def render_progress(cfg: Mapping[str, Any], layout: Layout, video: str, style: str) -> RenderProgress:
    """The progress of ``video`` x ``style`` under the validated config ``cfg``."""
    passes, size = cfg["multipass"]["passes"], cfg["chunk_size"]
    frames_dir = Path(layout.frames(video))
    extracted = len(list(frames_dir.glob("*.png"))) if frames_dir.is_dir() else 0
    try:
        n = int(load_meta(layout.meta(video))["frame_count"])
    except CacheError:  # not extracted yet (or damaged: the next run re-extracts it)
        n = None
    k_total = n_chunks(n, size) if n else 0
    needs_flow = passes > 0 or cfg["stylize"]["method"] == "brushstroke" or cfg["flow"]["preview"]
    flow = len(layout.existing("flow", video, "*")) if needs_flow else None
    masks = len(layout.existing("masks", video, "*")) if needs_flow else None
    rounds: list[int] = []
    secs: dict[str, list[float]] = {"stylize": [], "multipass": []}
    for p in range(passes + 1):
        done = 0
        for k in range(k_total):
            log = Path(layout.log(video, style, f"r{p}", f"chunk_{k:04d}"))
            logged, s = _log_frames(log)
            secs["stylize" if p == 0 else "multipass"] += s
            frames = chunk_frames(k, size, n)
            done += len(frames) if Path(layout.round(video, style, p, k)).is_file() else len(logged & set(frames))
        rounds.append(done)
    its = {"stylize": cfg["stylize"]["iterations"], "multipass": cfg["multipass"]["iterations"]}
    mean = {stage: _mean(xs) for stage, xs in secs.items()}
    for stage, other in (("stylize", "multipass"), ("multipass", "stylize")):
        if mean[stage] is None and mean[other] is not None:
            mean[stage] = mean[other] * its[stage] / its[other]
    return RenderProgress(
        video=video,
        style=style,
        n_frames=n,
        extracted=extracted,
        n_chunks=k_total,
        flow=flow,
        masks=masks,
        rounds=rounds,
        seconds=[mean["stylize" if p == 0 else "multipass"] for p in range(passes + 1)],
    )


def _duration(s: float) -> str:
    """``"0 s"``, ``"42 s"``, ``"3 min 20 s"``, ``"2 h 05 min"``."""
    s = round(s)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def format_render(r: RenderProgress) -> str:
    """A few lines describing ``r``."""
    if r.n_frames is None:
        return f"{r.video} x {r.style}: not extracted yet ({r.extracted} frames written)"
    chunks = "" if r.flow is None else f"; flow {r.flow}/{r.n_chunks} chunks, masks {r.masks}/{r.n_chunks} chunks"
    lines = [f"{r.video} x {r.style}: frames extracted {r.extracted}/{r.n_frames}{chunks}"]
    for p, (done, s) in enumerate(zip(r.rounds, r.seconds)):
        rate = "no frame computed yet" if s is None else f"{s:.2f} s/frame"
        lines.append(f"  round {p}: {done}/{r.n_frames} frames done ({rate})")
    left = r.gpu_seconds_left()
    lines.append(f"  left: {sum(r.frames_left())} frames, " + ("GPU time unknown" if left is None else _duration(left)))
    return "\n".join(lines)


def status_report(
    cfg: Mapping[str, Any], *, workdir: str | Path = ".", gpus: int = 1
) -> tuple[list[RenderProgress], str]:
    """Progress of every video x style of the validated config ``cfg`` (its relative ``results``
    relative to snakemake's working directory ``workdir``) and the printed report ending with the
    ETA."""
    layout = Layout(str(Path(workdir) / cfg["results"].rstrip("/")))
    renders = [render_progress(cfg, layout, v, s) for v in cfg["videos"] for s in cfg["styles"]]
    lines = [format_render(r) for r in renders]
    lefts = [r.gpu_seconds_left() for r in renders]
    if any(r.n_frames is None for r in renders) or None in lefts:
        eta = "unknown (no frame measured yet or not extracted)"
    else:
        eta = _duration(sum(lefts) / gpus)  # type: ignore[arg-type]
    plural = "s" if gpus > 1 else ""
    lines.append(f"ETA: {eta} with {gpus} GPU{plural}")
    return renders, "\n".join(lines)
