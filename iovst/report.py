"""The run summary of one video (``iovst report-summary``), an HTML page for ``snakemake --report``.

It shows what Snakemake's report cannot know: the validated configuration (defaults and
``--config`` values filled in), which VGG-19 and flow weights the jobs actually used (read from the
result and flow chunks' ``weights`` attributes; a loud note when they were random), the scene cuts
(the ``cuts`` list, first frames of new shots, of the cuts file given, else "not computed"
(no flow in the run)), and each job's wall time and peak memory from the rules' ``benchmark:`` files
(``<results>/logs/<video>/...benchmark.tsv``, :meth:`iovst.layout.Layout.benchmark`), with totals
per stage and the cost of the metrics jobs next to the render's (stylize + multipass).
"""

from __future__ import annotations

import csv
import html
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from .storage import h5io
from .storage.atomic import write_bytes

BENCHMARK_SUFFIX = ".benchmark.tsv"


def read_benchmarks(logs_dir: str | Path) -> list[dict[str, Any]]:
    """Every benchmark file under ``logs_dir`` (one video's logs), sorted by job:
    ``{"job": "paint/r1/chunk_0000", "stage": "paint/r1", "seconds": float, "max_rss_mb": float |
    None}``; a job's last repetition counts, unreadable files are skipped."""
    rows = []
    base = Path(logs_dir)
    for p in sorted(base.rglob(f"*{BENCHMARK_SUFFIX}")):
        try:
            with open(p, newline="") as fh:
                recs = list(csv.DictReader(fh, delimiter="\t"))
            rec = recs[-1]
            seconds = float(rec["s"])
        except (OSError, IndexError, KeyError, ValueError):
            continue
        try:
            rss = float(rec.get("max_rss", "NA"))
        except ValueError:  # "NA": too short to be sampled
            rss = None
        job = p.relative_to(base).as_posix()[: -len(BENCHMARK_SUFFIX)]
        stage = re.sub(r"/chunk_\d+$", "", job)
        rows.append({"job": job, "stage": stage, "seconds": seconds, "max_rss_mb": rss})
    return rows


def stage_totals(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per stage (``rows``' ``stage``): ``{"jobs": n, "seconds": sum, "max_rss_mb": max}``."""
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        t = out.setdefault(r["stage"], {"jobs": 0, "seconds": 0.0, "max_rss_mb": None})
        t["jobs"] += 1
        t["seconds"] += r["seconds"]
        if r["max_rss_mb"] is not None:
            t["max_rss_mb"] = max(t["max_rss_mb"] or 0.0, r["max_rss_mb"])
    return out


def metrics_cost(rows: Sequence[Mapping[str, Any]]) -> tuple[float, float] | None:
    """``(seconds of the metrics jobs, seconds of the stylize and multipass jobs)``, ``None``
    without both."""
    metrics = sum(r["seconds"] for r in rows if r["stage"].endswith("/metrics"))
    render = sum(r["seconds"] for r in rows if re.search(r"/r\d+$", r["stage"]))
    return (metrics, render) if metrics and render else None


def chunk_weights(path: str | Path) -> dict[str, str]:
    """The ``weights`` record (``model``, ``source``, ``detail``, ``warning``) a chunk's job
    wrote; a flow chunk without one (OpenCV DIS) gives its ``model`` as the source."""
    with h5io.open_checked(path, kind=_kind(path)) as f:
        rec = json.loads(f.attrs.get("weights") or "{}")
        if not rec.get("source") and f.attrs.get("model"):
            rec = {"source": f"{f.attrs['model']} (no weights)", "warning": f.attrs.get("warning", "")}
    return rec


def _kind(path: str | Path) -> str:
    return "flow" if Path(path).parent.name == "flow" else "frames"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _mb(x: float | None) -> str:
    return "-" if x is None else f"{x:.0f}"


def summary_html(
    *,
    video: str,
    cfg: Mapping[str, Any],
    cuts: Sequence[int] | None,
    weights: Mapping[str, Mapping[str, str]],
    benchmarks: Sequence[Mapping[str, Any]],
) -> str:
    """The page: ``cuts`` the first frames of new shots (``None``: not detected); ``weights`` maps
    a label (``"VGG-19 (style paint)"``, ``"flow"``) to a :func:`chunk_weights` record;
    ``benchmarks`` are :func:`read_benchmarks` rows."""
    parts = [f"<h1>iovst run summary: {html.escape(video)}</h1>", "<h2>Weights</h2>"]
    random = [label for label, w in weights.items() if w.get("source") == "random"]
    if random:
        parts.append(
            '<p class="loud" id="random-weights">RANDOM WEIGHTS: '
            + html.escape(", ".join(random))
            + " ran with seeded random weights, not pretrained ones: the result is NOT a real stylization "
            "(fetch them with <code>iovst weights fetch</code>).</p>"
        )
    rows = [(label, w.get("source", "?"), w.get("detail", ""), w.get("warning", "")) for label, w in weights.items()]
    parts.append(_table(["model", "weights", "detail", "warning"], rows))
    parts.append("<h2>Scene cuts</h2>")
    if cuts is None:
        parts.append('<p id="scene-cuts">scene cuts: not computed (this run uses no optical flow)</p>')
    else:
        listed = html.escape(", ".join(str(c) for c in cuts) or "none")
        parts.append(f'<p id="scene-cuts">scene cuts ({len(cuts)}), a new shot starts at frame: {listed}</p>')
    parts.append("<h2>Jobs: wall time and peak memory (Snakemake benchmark files)</h2>")
    cost = metrics_cost(benchmarks)
    if cost:
        parts.append(
            f'<p id="metrics-cost">metrics jobs: {cost[0]:.1f} s, stylize + multipass jobs: {cost[1]:.1f} s '
            f"({100 * cost[0] / cost[1]:.1f} % of the render)</p>"
        )
    totals = stage_totals(benchmarks)
    parts.append(
        _table(
            ["stage", "jobs", "wall time (s)", "peak RSS (MB)"],
            [(s, t["jobs"], f"{t['seconds']:.1f}", _mb(t["max_rss_mb"])) for s, t in totals.items()],
        )
    )
    parts.append(
        _table(
            ["job", "wall time (s)", "peak RSS (MB)"],
            [(r["job"], f"{r['seconds']:.2f}", _mb(r["max_rss_mb"])) for r in benchmarks],
        )
    )
    parts.append("<h2>Configuration (validated, defaults filled in)</h2>")
    parts.append(f"<pre>{html.escape(yaml.safe_dump(dict(cfg), sort_keys=False))}</pre>")
    style = (
        "body{font-family:sans-serif;margin:1em}table{border-collapse:collapse;margin:.5em 0}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}"
        ".loud{background:#c00;color:#fff;font-weight:bold;padding:.6em;font-size:1.2em}"
    )
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>iovst: {html.escape(video)}</title>'
        f"<style>{style}</style></head><body>{''.join(parts)}</body></html>\n"
    )


def write_summary(
    out: str | Path,
    *,
    video: str,
    cfg: Mapping[str, Any],
    style_chunks: Mapping[str, str | Path],
    flow_chunk: str | Path | None,
    cuts_path: str | Path | None,
    logs_dir: str | Path,
) -> None:
    """Write the summary page of ``video`` to ``out``: ``style_chunks`` maps each style to one of
    its round-0 result chunks, ``flow_chunk`` is one flow chunk (``None``: no flow), ``cuts_path``
    the video's scene cuts (JSON with a ``cuts`` list; ``None``: not detected)."""
    cuts = None if cuts_path is None else json.loads(Path(cuts_path).read_text())["cuts"]
    weights = {f"VGG-19 (style {s})": chunk_weights(p) for s, p in style_chunks.items()}
    if flow_chunk is not None:
        weights["flow"] = chunk_weights(flow_chunk)
    page = summary_html(video=video, cfg=cfg, cuts=cuts, weights=weights, benchmarks=read_benchmarks(logs_dir))
    write_bytes(out, page.encode())
