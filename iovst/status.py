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

Before and during a render, :func:`video_plan` predicts per video the number of Snakemake jobs (as
``snakemake -n --forceall`` counts them), the disk space of its artifacts (frames, flow, masks,
long-term weights, every round's result chunks and the per-frame cache; measured per frame from
the files already written, else the uncompressed size, an upper bound) and the GPU time of the
whole render at the configured size and iterations (from the measured seconds per iteration; "no
measurement yet" before the first frame). Before extraction the frame count and size come from
probing the source video.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .chunks import chunk_frames, n_chunks
from .errors import CacheError
from .layout import Layout, uses_flow
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
    needs_flow = uses_flow(cfg)
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


@dataclass
class VideoPlan:
    """Prediction for one video (all its styles). ``disk``: artifact -> ``(bytes, measured)``,
    ``measured`` False for the uncompressed upper bound of an artifact not written yet."""

    video: str
    frames: int
    width: int
    height: int
    jobs: int
    disk: dict[str, tuple[int, bool]]


def _video_geometry(cfg: Mapping[str, Any], layout: Layout, video: str, workdir: Path) -> tuple[int, int, int]:
    """``(frames, width, height)`` of ``video`` as processed: from meta.json, else by probing the
    source (relative to ``workdir``; the extract stage's size and frame range)."""
    try:
        meta = load_meta(layout.meta(video))
        return int(meta["frame_count"]), int(meta["width"]), int(meta["height"])
    except CacheError:
        from .video.extract import processing_size
        from .video.probe import probe

        ex = cfg["extract"]
        info = probe(workdir / cfg["videos"][video])
        n = max(info.frame_count - ex["start"], 0)
        w, h = processing_size(info, size=ex["size"], side=ex["side"])
        return (n if ex["count"] is None else min(n, ex["count"])), w, h


def _job_count(cfg: Mapping[str, Any], k: int) -> int:
    """Jobs of one video with ``k`` chunks (without the ``all`` rule)."""
    passes, enc, styles = cfg["multipass"]["passes"], cfg["encode"], len(cfg["styles"])
    per_video = 1 + int(cfg["metrics"])  # extract, summary
    if uses_flow(cfg):
        per_video += 2 * k + 1 + (1 if cfg["flow"]["preview"] else 0)  # flow, masks, cuts, flow preview
    if passes:
        per_video += k  # longterm
    per_style = k * (1 + passes) + 1 + int(enc["side_by_side"]) + (passes + 1) * int(enc["previews"])
    per_style += int(cfg["metrics"])  # metrics
    return per_video + styles * per_style


def _measured(files: list[Path], frames: int) -> int | None:
    """Bytes per frame of ``files`` that hold ``frames`` frames together (``None``: no file)."""
    sizes = [f.stat().st_size for f in files if f.is_file()]
    return round(sum(sizes) / frames) if sizes and frames else None


def video_plan(cfg: Mapping[str, Any], layout: Layout, video: str, *, workdir: str | Path = ".") -> VideoPlan:
    """Jobs and disk space of ``video`` under the validated config ``cfg`` (see the module doc);
    relative source paths are relative to ``workdir``."""
    n, w, h = _video_geometry(cfg, layout, video, Path(workdir))
    size, passes, styles = cfg["chunk_size"], cfg["multipass"]["passes"], list(cfg["styles"])
    k = n_chunks(n, size) if n else 0
    px, offsets = w * h, len(cfg["flow"]["offsets"])
    mp_offsets = len(cfg["multipass"]["offsets"] or cfg["flow"]["offsets"])
    rounds = passes + 1

    def chunk_frames_of(paths: list[Path]) -> int:  # frames held by existing chunk files
        return sum(len(chunk_frames(int(p.stem.split("_")[1]), size, n)) for p in paths) if n else 0

    # artifact -> (existing files, frames they hold, frames in total, raw bytes per frame)
    frames_dir = Path(layout.frames(video))
    pngs = sorted(frames_dir.glob("*.png")) if frames_dir.is_dir() else []
    kinds: dict[str, tuple[list[Path], int, int, int]] = {"frames": (pngs, len(pngs), n, 3 * px)}
    if uses_flow(cfg):  # forward + backward per offset: flow (2, H, W) and masks (H, W), float16
        for name, raw in (("flow", 8 * px * offsets), ("masks", 4 * px * offsets)):
            files = layout.existing(name, video, "*")
            kinds[name] = (files, chunk_frames_of(files), n, raw)
    if passes:
        files = layout.existing("longterm", video, "*")
        kinds["longterm"] = (files, chunk_frames_of(files), n, 4 * px * mp_offsets)
    files = [f for st in styles for p in range(rounds) for f in layout.existing("round", video, st, p, "*")]
    kinds["rounds"] = (files, chunk_frames_of(files), n * rounds * len(styles), 6 * px)
    disk: dict[str, tuple[int, bool]] = {}
    for name, (files, held, total, raw) in kinds.items():
        per_frame = _measured(files, held)
        disk[name] = (total * (raw if per_frame is None else per_frame), per_frame is not None)
    disk["cache"] = (n * rounds * len(styles) * 12 * px, False)  # float32 frames, per frame and round
    return VideoPlan(video, n, w, h, _job_count(cfg, k), disk)


def _size(b: float) -> str:
    """``"840 B"``, ``"1.2 MB"``, ``"3.4 GB"`` (powers of 1000)."""
    for unit in ("B", "KB", "MB", "GB"):
        if b < 1000:
            return f"{b:.0f} {unit}" if unit == "B" else f"{b:.1f} {unit}"
        b /= 1000
    return f"{b:.1f} TB"


def format_plan(plan: VideoPlan) -> str:
    """Two lines: jobs and frames, then the disk space per artifact."""
    parts = [f"{name} {_size(b)}" + ("" if measured else " (at most)") for name, (b, measured) in plan.disk.items()]
    total = sum(b for b, _ in plan.disk.values())
    return (
        f"{plan.video}: {plan.frames} frames of {plan.width}x{plan.height}, {plan.jobs} jobs\n"
        f"  disk: {', '.join(parts)}; total {_size(total)}"
    )


def gpu_total(cfg: Mapping[str, Any], renders: list[RenderProgress], plans: Mapping[str, VideoPlan]) -> str:
    """GPU time of the whole render (every frame of every round of every video x style) at the
    measured seconds per iteration, or ``"no measurement yet"``."""
    total, per_iter = 0.0, {}
    its = {"stylize": cfg["stylize"]["iterations"], "multipass": cfg["multipass"]["iterations"]}
    for r in renders:
        for p, s in enumerate(r.seconds):
            if s is None:
                return "no measurement yet"
            total += s * plans[r.video].frames
            stage = "stylize" if p == 0 else "multipass"
            per_iter.setdefault(stage, s / its[stage])
    rates = ", ".join(f"{stage} {v:.3g} s/iteration" for stage, v in per_iter.items())
    return f"{_duration(total)} (measured: {rates})"


def plan_lines(
    cfg: Mapping[str, Any], layout: Layout, renders: list[RenderProgress] | None = None, *, workdir: str | Path = "."
) -> list[str]:
    """The prediction for the whole render: :func:`format_plan` per video, then the jobs in all
    (with Snakemake's ``all``) and the GPU time (``renders``: the :func:`render_progress` of every
    video x style, computed here when ``None``)."""
    if renders is None:
        renders = [render_progress(cfg, layout, v, s) for v in cfg["videos"] for s in cfg["styles"]]
    plans = {v: video_plan(cfg, layout, v, workdir=workdir) for v in cfg["videos"]}
    n_jobs = sum(p.jobs for p in plans.values()) + 1  # + rule all
    return [format_plan(p) for p in plans.values()] + [
        f"plan: {n_jobs} jobs in all; GPU time of the whole render: {gpu_total(cfg, renders, plans)}"
    ]


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
    lines = [format_render(r) for r in renders] + plan_lines(cfg, layout, renders, workdir=workdir)
    lefts = [r.gpu_seconds_left() for r in renders]
    if any(r.n_frames is None for r in renders) or None in lefts:
        eta = "unknown (no frame measured yet or not extracted)"
    else:
        eta = _duration(sum(lefts) / gpus)  # type: ignore[arg-type]
    plural = "s" if gpus > 1 else ""
    lines.append(f"ETA: {eta} with {gpus} GPU{plural}")
    return renders, "\n".join(lines)
