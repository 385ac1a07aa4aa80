"""Quality of a render per multipass round: warping error, content and style loss, contrast.

    python benchmarks/bench_quality.py --weights /path/vgg.pth --clip chelsea --style style.png \\
        [--size 128] [--frames 12] [--iterations 150] [--passes 4] [--mp-iterations 50] \\
        [--set multipass.temporal_weight=100 ...] [--workdir DIR] [--compare GATYS_WORKDIR]

Renders a synthetic camera move (pan + zoom + an occluding disc, :func:`iovst.demo.demo_frames`)
over the ``skimage.data`` photo ``--clip`` with the real workflow (``snakemake --cores N``), then
prints per round (0 = independent frames) the warping error E_warp (Lai et al.; masked by the
offset-1 reliability), the mean content and style loss (the stylize stage's relative errors) and
the luminance contrast of the last frame vs the first (std of Y, relative to the same ratio of the
source frames: < 1 means the sweep washed the picture out), and the ratios the project's goals
are stated in:

    E_warp(final) / E_warp(round 0)   <= 0.3
    E_warp(final) / E_warp(source)    <= 3
    style loss final / round 0        <= 1.15
    contrast final                    >= 0.9

A benchmark, not a test: with random VGG weights the figures say little; use real weights
(``model.weights``, e.g. the file ``../shared/tools/imagenet_vgg.py`` writes).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from iovst.config import parse_overrides  # noqa: E402
from iovst.flow.flowstore import FlowStore, MaskStore  # noqa: E402
from iovst.layout import Layout  # noqa: E402
from iovst.metrics import _frames_in_order, pair_warping_error, style_content_losses  # noqa: E402
from iovst.style.color import luminance  # noqa: E402
from iovst.tensors import to_tensor  # noqa: E402
from iovst.video.frames import read_frame  # noqa: E402

GOALS = {"ewarp_vs_round0": 0.3, "ewarp_vs_source": 3.0, "style_vs_round0": 1.15, "contrast": 0.9}


def set_key(cfg: dict[str, Any], dotted: str, value: str) -> None:
    """``cfg[a][b] = value`` for ``dotted`` = ``a.b`` (value parsed as YAML)."""
    *path, last = dotted.split(".")
    node = cfg
    for k in path:
        node = node.setdefault(k, {})
    node[last] = yaml.safe_load(value)


def make_config(a: argparse.Namespace, work: Path, clip: Path) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "videos": {"clip": str(clip)},
        "styles": {"style": {"images": [str(Path(a.style).resolve())]}},
        "results": str(work / "results"),
        "cache": str(work / "cache"),
        "device": "cpu",
        "chunk_size": a.frames,
        "model": {"weights": a.weights},
        "extract": {"size": a.size},
        "flow": {"method": "dis", "offsets": [1, 4]},
        "stylize": {"iterations": a.iterations},
        "multipass": {"passes": a.passes, "iterations": a.mp_iterations},
    }
    for item in a.set:
        key, _, value = item.partition("=")
        set_key(cfg, key, value)
    return cfg


def source_frames(frames_dir: Path, n: int) -> Iterator[tuple[int, np.ndarray]]:
    for i in range(n):
        yield i, read_frame(frames_dir, i)


def warping_error(frames: Iterator[tuple[int, np.ndarray]], flows: FlowStore, masks: MaskStore) -> float:
    """Mean masked warping error over the consecutive pairs of ``frames``."""
    errs, prev = [], None
    for i, frame in frames:
        if prev is not None:
            e = pair_warping_error(prev, frame, flows.flow(i - 1, i), masks.reliability(i - 1, i))
            if e is not None:
                errs.append(e)
        prev = frame
    return float(np.mean(errs))


def contrast(first: np.ndarray, last: np.ndarray) -> float:
    """std of the luminance of ``last`` over that of ``first`` (``(H, W, 3)`` in [0, 1])."""
    return float(luminance(to_tensor(last)).std() / luminance(to_tensor(first)).std())


def _last_round_frames(results: Path) -> dict[int, np.ndarray]:
    """The last round's frames of the render under ``results`` (a bench_quality workdir's)."""
    layout = Layout(str(results))
    rounds = sorted(int(p.name[1:]) for p in layout.existing("round_dir", "clip", "style", "*") if p.name[1:].isdigit())
    return dict(_frames_in_order(layout.existing("round", "clip", "style", rounds[-1], "*")))


def content_to(model: Any, frames: list[tuple[int, np.ndarray]], targets: dict[int, np.ndarray]) -> float:
    """Mean content loss (the stylize stage's relative relu4_2 error) of ``frames`` against
    ``targets`` (same indices) instead of the source frames; ``model``: :func:`content_model`."""
    g, style = model
    return float(
        np.mean(
            [g.loss_terms(to_tensor(x), to_tensor(targets[i]), style, weighted=False)["content"] for i, x in frames]
        )
    )


def content_model(cfg: dict[str, Any], hw: tuple[int, int]) -> tuple[Any, Any]:
    """``(Gatys model, style targets)`` of the run's weights and style, built once per benchmark."""
    import torch

    from iovst.config import section_params
    from iovst.style.gatys import Gatys
    from iovst.video.frames import read_image

    g = Gatys(params=section_params("stylize", {}), device=torch.device("cpu"), weights=cfg["model"]["weights"], seed=0)
    styles = [read_image(p) for p in cfg["styles"]["style"]["images"]]
    return g, g.style_targets(styles, None, frame_hw=hw)


def paintings(layout: Layout) -> dict[int, np.ndarray]:
    """Round 0's stroke paintings (brushstroke renders) by frame index."""
    from iovst.storage import h5io

    out = {}
    for p in layout.existing("round", "clip", "style", 0, "*"):
        with h5io.open_checked(p, kind="frames") as f:
            first = int(f.attrs["first_frame"])
            arr = h5io.read_dataset(f, "paintings").astype(np.float32)
        out.update({first + j: arr[j] for j in range(arr.shape[0])})
    return out


def measure(cfg: dict[str, Any], passes: int, compare: Path | None = None) -> dict[str, Any]:
    layout = Layout(cfg["results"])
    frames_dir = Path(layout.frames("clip"))
    n = len(list(frames_dir.glob("*.png")))
    flow_paths, mask_paths = layout.existing("flow", "clip", "*"), layout.existing("masks", "clip", "*")
    src_first, src_last = read_frame(frames_dir, 0), read_frame(frames_dir, n - 1)
    brush = cfg.get("stylize", {}).get("method") == "brushstroke"
    refs = {}
    if brush:
        refs["painting"] = paintings(layout)
    if compare is not None:
        refs["gatys"] = _last_round_frames(compare / "results")
    model = content_model(cfg, src_first.shape[:2]) if refs else None
    rows = []
    with FlowStore(flow_paths) as flows, MaskStore(mask_paths) as masks:
        e_src = warping_error(source_frames(frames_dir, n), flows, masks)
        for r in range(passes + 1):
            chunks = layout.existing("round", "clip", "style", r, "*")
            frames = list(_frames_in_order(chunks))
            losses = style_content_losses(
                chunk_paths=chunks,
                frames_dir=frames_dir,
                style_paths=cfg["styles"]["style"]["images"],
                weights=cfg["model"]["weights"],
            )
            rows.append(
                {
                    "round": r,
                    "ewarp": warping_error(iter(frames), flows, masks),
                    **losses,
                    "contrast": contrast(frames[0][1], frames[-1][1]) / contrast(src_first, src_last),
                    **{f"content_to_{k}": content_to(model, frames, v) for k, v in refs.items()},
                }
            )
    first, last = rows[0], rows[-1]
    return {
        "rounds": rows,
        "ewarp_source": e_src,
        "ewarp_vs_round0": last["ewarp"] / first["ewarp"],
        "ewarp_vs_source": last["ewarp"] / e_src,
        "style_vs_round0": last["style_loss"] / first["style_loss"],
        "contrast": last["contrast"],
    }


def report(res: dict[str, Any], seconds: float) -> None:
    extra = [k for k in res["rounds"][0] if k.startswith("content_to_")]
    head = f"{'round':>5} {'E_warp':>10} {'content':>9} {'style':>9} {'contrast':>9}"
    print(head + "".join(f" {k:>19}" for k in extra))
    for r in res["rounds"]:
        losses = f"{r['content_loss']:>9.4f} {r['style_loss']:>9.4f}"
        more = "".join(f" {r[k]:>19.4f}" for k in extra)
        print(f"{r['round']:>5} {r['ewarp']:>10.5f} {losses} {r['contrast']:>9.3f}{more}")
    if len(extra) == 2:
        last = res["rounds"][-1]
        closer = last["content_to_painting"] < last["content_to_gatys"]
        print(f"final closer to the stroke painting than to the Gatys render: {'yes' if closer else 'NO'}")
    print(f"source E_warp {res['ewarp_source']:.5f}; render {seconds:.0f} s")
    for key, goal in GOALS.items():
        ok = res[key] >= goal if key == "contrast" else res[key] <= goal
        rel = ">=" if key == "contrast" else "<="
        print(f"{key:16s} {res[key]:7.3f}  goal {rel} {goal}  {'ok' if ok else 'MISSED'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", required=True, help="model.weights (a path to real VGG weights)")
    ap.add_argument("--clip", default="astronaut", help="skimage.data RGB photo the camera moves over")
    ap.add_argument("--style", required=True, help="style image")
    ap.add_argument("--size", type=int, default=128, help="extract.size (short side, px)")
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--iterations", type=int, default=150, help="stylize.iterations")
    ap.add_argument("--passes", type=int, default=4, help="multipass.passes")
    ap.add_argument("--mp-iterations", type=int, default=50, help="multipass.iterations")
    ap.add_argument("--set", action="append", default=[], help="further config KEY.SUB=VALUE (YAML value)")
    ap.add_argument("--seed", type=int, default=0, help="camera path of the clip")
    ap.add_argument("--workdir", type=Path, default=None, help="keep the render here (reused when rerun)")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    ap.add_argument("--cores", type=int, default=2, help="snakemake --cores")
    ap.add_argument(
        "--compare",
        type=Path,
        default=None,
        help="--workdir of a Gatys run of the same clip: also print each round's content loss to its last round "
        "(brushstroke runs also print it to their stroke paintings)",
    )
    a = ap.parse_args()
    parse_overrides({})  # fail early on a broken install
    work = a.workdir or Path(tempfile.mkdtemp(prefix="bench_quality_"))
    work.mkdir(parents=True, exist_ok=True)
    clip = work / f"{a.clip}.mp4"
    if not clip.exists():
        from iovst.demo import make_demo_clip

        h = a.size // 2 * 2
        make_demo_clip(clip, n_frames=a.frames, size=(h, h * 4 // 3 // 2 * 2), seed=a.seed, photo=a.clip, audio=False)
    cfg = make_config(a, work, clip)
    (work / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    t0 = time.perf_counter()
    cmd = ["snakemake", "--cores", str(a.cores), "--configfile", str(work / "config.yaml"), "--quiet", "rules"]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"render failed (see {work}):\n{r.stdout[-3000:]}{r.stderr[-3000:]}")
    seconds = time.perf_counter() - t0
    res = measure(cfg, a.passes, a.compare)
    print(f"clip {a.clip} ({a.frames} frames, size {a.size}), style {a.style}, settings {a.set or 'defaults'}")
    report(res, seconds)
    if a.json:
        a.json.write_text(json.dumps({"config": cfg, "seconds": seconds, **res}, indent=1))


if __name__ == "__main__":
    main()
