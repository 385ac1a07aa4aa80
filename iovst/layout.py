"""Where a run's artifacts live under the results directory (one place for every path).

``Layout(root)`` gives the path of each artifact of a video (and style, round, chunk)::

    {root}/{video}/meta.json                         extract (checkpoint)
    {root}/{video}/frames/                           extract: %06d.png
    {root}/{video}/flow/chunk_%04d.h5                flow
    {root}/{video}/masks/chunk_%04d.h5               masks
    {root}/{video}/cuts.json                         cuts (scene cuts, per-pair figures)
    {root}/{video}/longterm/chunk_%04d.h5            longterm
    {root}/{video}/flow_preview.mp4                  flow_preview
    {root}/{video}/{style}/r{p}/chunk_%04d.h5        stylize (p = 0), multipass (p >= 1)
    {root}/{video}/{style}/{video}_{style}.mp4       encode (+ ``_side_by_side.mp4``)
    {root}/{video}/{style}/preview_r{p}.mp4          preview_round
    {root}/{video}/{style}/metrics/...               metrics: metrics.json + plots (``METRICS_FILES``)
    {root}/{video}/summary.html                      summary: config, weights, scene cuts, job times
    {root}/logs/{video}/...                          each job's log (its output's place, ``.log``) and
                                                     benchmark (``.benchmark.tsv``)

Every argument may be a concrete value or a Snakemake wildcard such as ``"{video}"``; chunk ``k``
is written ``%04d`` when it is an int and as given when it is a string (``"{k}"``), so the same
methods give the rules' patterns and the files of one job. Importing this module is cheap.
"""

from __future__ import annotations

import glob
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: the metrics stage's outputs (:meth:`Layout.metrics`): name -> file
METRICS_FILES = {
    "json": "metrics.json",
    "warping_error": "warping_error.png",
    "losses": "losses.png",
    "thumbnails": "thumbnails.png",
}


def uses_flow(cfg: Mapping[str, Any]) -> bool:
    """Whether the validated config ``cfg`` needs the flow and mask chunks: multipass,
    brushstrokes, the flow preview or the metrics (warping error) read them."""
    return (
        cfg["multipass"]["passes"] > 0
        or cfg["stylize"]["method"] == "brushstroke"
        or cfg["flow"]["preview"]
        or cfg["metrics"]
    )


def chunk_name(k: int | str) -> str:
    """``chunk_0007.h5`` for ``k = 7``; ``chunk_{k}.h5`` for the wildcard ``"{k}"``."""
    return f"chunk_{k:04d}.h5" if isinstance(k, int) else f"chunk_{k}.h5"


@dataclass(frozen=True)
class Layout:
    """Paths (str) under the results directory ``root`` (no trailing slash)."""

    root: str

    @property
    def logs(self) -> str:
        """Each run's job logs live with its results."""
        return f"{self.root}/logs"

    def meta(self, video: str) -> str:
        return f"{self.root}/{video}/meta.json"

    def frames(self, video: str) -> str:
        return f"{self.root}/{video}/frames"

    def flow(self, video: str, k: int | str) -> str:
        return f"{self.root}/{video}/flow/{chunk_name(k)}"

    def masks(self, video: str, k: int | str) -> str:
        return f"{self.root}/{video}/masks/{chunk_name(k)}"

    def cuts(self, video: str) -> str:
        """Scene cuts of ``video`` (:mod:`iovst.flow.cuts`)."""
        return f"{self.root}/{video}/cuts.json"

    def longterm(self, video: str, k: int | str) -> str:
        return f"{self.root}/{video}/longterm/{chunk_name(k)}"

    def flow_preview(self, video: str) -> str:
        return f"{self.root}/{video}/flow_preview.mp4"

    def run_dir(self, video: str, style: str) -> str:
        """One render: ``{root}/{video}/{style}`` (what ``iovst metrics --run`` takes)."""
        return f"{self.root}/{video}/{style}"

    def round_dir(self, video: str, style: str, p: int | str) -> str:
        return f"{self.run_dir(video, style)}/r{p}"

    def round(self, video: str, style: str, p: int | str, k: int | str) -> str:
        """Chunk ``k`` of round ``p`` (0: stylize, >= 1: multipass)."""
        return f"{self.round_dir(video, style, p)}/{chunk_name(k)}"

    def encoded(self, video: str, style: str, *, side_by_side: bool = False) -> str:
        suffix = "_side_by_side" if side_by_side else ""
        return f"{self.run_dir(video, style)}/{video}_{style}{suffix}.mp4"

    def preview(self, video: str, style: str, p: int | str) -> str:
        return f"{self.run_dir(video, style)}/preview_r{p}.mp4"

    def metrics(self, video: str, style: str, name: str) -> str:
        """The metrics stage's output ``name`` (a key of :data:`METRICS_FILES`) of one render."""
        return f"{self.run_dir(video, style)}/metrics/{METRICS_FILES[name]}"

    def summary(self, video: str) -> str:
        """The run summary of ``video`` (:mod:`iovst.report`)."""
        return f"{self.root}/{video}/summary.html"

    def log(self, video: str, *parts: str) -> str:
        """``{root}/logs/{video}/{parts...}.log``, e.g. ``log("{video}", "flow", "chunk_{k}")``."""
        return "/".join((self.logs, video, *parts)) + ".log"

    def benchmark(self, video: str, *parts: str) -> str:
        """The Snakemake ``benchmark:`` file of the job whose log is ``log(video, *parts)``:
        ``{root}/logs/{video}/{parts...}.benchmark.tsv`` (wall time, peak memory)."""
        return "/".join((self.logs, video, *parts)) + ".benchmark.tsv"

    def targets(self, cfg: Mapping[str, Any], video: str) -> list[str]:
        """The final outputs of ``video`` that the validated config ``cfg`` asks for."""
        files = [self.flow_preview(video)] if cfg["flow"]["preview"] else []
        for style in cfg["styles"]:
            files.append(self.encoded(video, style))
            if cfg["encode"]["side_by_side"]:
                files.append(self.encoded(video, style, side_by_side=True))
            if cfg["encode"]["previews"]:
                files += [self.preview(video, style, p) for p in range(cfg["multipass"]["passes"] + 1)]
            if cfg["metrics"]:
                files += [self.metrics(video, style, name) for name in METRICS_FILES]
        return files

    def artifacts(self, cfg: Mapping[str, Any], video: str, n_chunks: int) -> list[str]:
        """Every intermediate artifact the targets of ``video`` (``n_chunks`` chunks) are built
        from: meta.json and frames, the flow and mask chunks and the scene cuts (when
        :func:`uses_flow`), the long-term chunks (multipass), every round's result chunks."""
        passes, ks = cfg["multipass"]["passes"], range(n_chunks)
        files = [self.meta(video), self.frames(video)]
        if uses_flow(cfg):
            files += [self.flow(video, k) for k in ks] + [self.masks(video, k) for k in ks] + [self.cuts(video)]
        if passes > 0:
            files += [self.longterm(video, k) for k in ks]
        for style in cfg["styles"]:
            files += [self.round(video, style, p, k) for p in range(passes + 1) for k in ks]
        return files

    def existing(self, artifact: str, *args: int | str) -> list[Path]:
        """The existing files of ``artifact`` (a method name), sorted; an argument ``"*"`` matches
        any value, e.g. ``existing("round", video, style, 2, "*")``: round 2's chunks."""
        escaped = Layout(glob.escape(self.root))
        args = tuple(a if a == "*" or not isinstance(a, str) else glob.escape(a) for a in args)
        return sorted(Path(p) for p in glob.glob(getattr(escaped, artifact)(*args)))

    @classmethod
    def of_run_dir(cls, run_dir: str | Path) -> tuple[Layout, str, str]:
        """``(layout, video, style)`` of a render directory ``{root}/{video}/{style}``."""
        p = Path(run_dir)
        return cls(str(p.parent.parent)), p.parent.name, p.name
