"""Checks at the start of a workflow run, before any job runs.

What a flow or stylize job would otherwise find only after the earlier stages ran (minutes to hours
on a real video): ``device: cuda`` without CUDA, a weights file that holds another network, and,
with ``IOVST_OFFLINE=1``, pretrained weights that are not in the cache. Each problem is one line
naming the config key. The workflow calls :func:`preflight` once per run from its ``onstart`` hook
(main Snakemake process only: not in dry runs, not inside jobs).

Cheaper checks that need no torch run earlier, while the main Snakemake process reads the workflow
(:func:`before_dag`, also in dry runs, never inside jobs): every input file exists, style images
decode, weights files are torch.save archives, and a corrupt ``meta.json`` is deleted (a real run
only) before the DAG is built, so that run extracts the video again.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import CacheError, InputError
from .layout import Layout


def weights_used(cfg: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """``(config key, spec, model)`` for each pretrained network the run loads.

    ``flow.method: auto`` with ``flow.weights: auto`` is left out: it uses RAFT only when its
    checkpoint is cached and falls back to DIS (with a warning) otherwise, never to random weights.
    """
    used = [("model.weights", str(cfg["model"]["weights"]), "vgg19")]
    method, spec = cfg["flow"]["method"], str(cfg["flow"]["weights"])
    if method in ("raft_large", "raft_small") or (method == "auto" and spec != "auto"):
        used.append(("flow.weights", spec, "raft_large" if method == "auto" else method))
    return used


def _expected_shapes(model: str) -> dict[str, tuple[int, ...]]:
    """``{name: shape}`` of ``model``'s state dict (VGG-19: its ``features`` part), built on the
    meta device (no memory, no init time)."""
    import torch
    import torchvision

    with torch.device("meta"):
        if model == "vgg19":
            net = torchvision.models.vgg19().features
        else:
            net = getattr(torchvision.models.optical_flow, model)(weights=None, progress=False)
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


def check_weights_file(key: str, spec: str, model: str) -> None:
    """Raise :class:`InputError` unless file ``spec`` holds ``model``'s tensor names and shapes.

    The tensors are memory-mapped, not read: cheap even for a 550 MB checkpoint.
    """
    from .runtime.weights import read_state_dict
    from .style.vgg import _features_only

    path = Path(spec).expanduser()
    try:
        state = read_state_dict(path, mmap=True)
    except InputError as exc:
        raise InputError(f"config key '{key}': {exc}") from None
    if model == "vgg19":
        state = _features_only(state)
    want = _expected_shapes(model)
    got = {k: tuple(v.shape) for k, v in state.items()}
    missing = [k for k in want if k not in got]
    unexpected = [k for k in got if k not in want]
    wrong = [f"{k} {got[k]} != {want[k]}" for k in want if k in got and got[k] != want[k]]
    if missing or unexpected or wrong:
        what = [
            f"{len(names)} {kind} (e.g. {names[0]})"
            for kind, names in (("missing", missing), ("unexpected", unexpected), ("of another shape", wrong))
            if names
        ]
        raise InputError(f"config key '{key}': '{spec}' is not {model} weights: tensors {'; '.join(what)}")


def check_cached(key: str, spec: str, model: str, torch_home: str | None) -> None:
    """With ``IOVST_OFFLINE`` set, ``imagenet`` and ``auto`` need the cached checkpoint.

    ``auto`` would otherwise render with seeded random weights (a picture, but not a stylization):
    refused too, with the two ways out (fetch the weights, or ask for ``random`` explicitly).
    """
    from .runtime.weights import cached_file, offline

    if spec not in ("auto", "imagenet") or not offline():
        return
    f = cached_file(model, torch_home)
    if f.is_file():
        return
    fetch = f"run 'iovst weights fetch --torch-home {f.parents[2]}' where there is internet"
    if spec == "imagenet":
        raise InputError(f"config key '{key}': {model} weights not cached at {f} and IOVST_OFFLINE is set; {fetch}")
    raise InputError(
        f"config key '{key}': auto would use RANDOM {model} weights (none cached at {f}, IOVST_OFFLINE "
        f"is set); {fetch}, or set {key}: random to render with random weights"
    )


def preflight(cfg: Mapping[str, Any], *, device: bool = True) -> None:
    """Run every start check on the validated config ``cfg``; raise on the first problem.

    Args:
        device: also check that ``device: cuda`` / ``cuda:N`` exists on this machine (only
            meaningful where the jobs run).

    Raises:
        ConfigError: ``device`` names a CUDA device this machine lacks.
        InputError: a weights file of another network, or uncached weights while offline.
    """
    if device and cfg["device"].startswith("cuda"):
        from .runtime.device import resolve_device

        resolve_device(cfg["device"])
    for key, spec, model in weights_used(cfg):
        if spec in ("auto", "imagenet"):
            check_cached(key, spec, model, cfg["model"]["torch_home"])
        elif spec != "random":
            check_weights_file(key, spec, model)


# ------------------------------------------------------------------ before the DAG (no torch)
def check_style_image(key: str, path: str) -> None:
    """Raise :class:`InputError` unless Pillow can decode the style image ``path``.

    Header + checksums (``verify``), then a decode at 1/8 scale for JPEGs (``draft``), which finds
    truncated files; milliseconds per image.
    """
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.verify()
        with Image.open(path) as im:
            im.draft("RGB", (max(1, im.width // 8), max(1, im.height // 8)))
            im.load()
    except Exception as exc:  # noqa: BLE001 -- UnidentifiedImageError, truncated, bad CRC, decompression bomb, ...
        why = str(exc).splitlines()[0][:160] if str(exc) else exc.__class__.__name__
        raise InputError(f"config key '{key}': style image '{path}' is not a readable image ({why})") from None


def check_weights_archive(key: str, spec: str) -> None:
    """A weights path must be a torch.save file (a zip archive with a pickle), checked without
    importing torch; whether it holds the right network is :func:`check_weights_file`'s job."""
    import zipfile

    if spec in ("auto", "imagenet", "random"):
        return
    path = Path(spec).expanduser()
    if not path.is_file():
        raise InputError(f"config key '{key}': weights file '{spec}' not found")
    try:
        with zipfile.ZipFile(path) as z:
            if not any(n.endswith("data.pkl") for n in z.namelist()):
                raise zipfile.BadZipFile("no data.pkl member")
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(
            f"config key '{key}': '{spec}' is not a torch state_dict file saved with torch.save ({exc})"
        ) from None


def check_inputs(cfg: Mapping[str, Any]) -> None:
    """Raise :class:`InputError` on the first input file of the validated config ``cfg`` that is
    missing or unreadable: videos (existence), style images (decoded), weights files (archive)."""
    for name, path in cfg["videos"].items():
        if not Path(path).is_file():
            raise InputError(f"config key 'videos.{name}': video '{path}' not found")
    for name, style in cfg["styles"].items():
        for p in style["images"]:
            if not Path(p).is_file():
                raise InputError(f"config key 'styles.{name}.images': style image '{p}' not found")
            check_style_image(f"styles.{name}.images", p)
    check_weights_archive("model.weights", str(cfg["model"]["weights"]))
    if cfg["flow"]["method"] != "dis":
        check_weights_archive("flow.weights", str(cfg["flow"]["weights"]))


def drop_corrupt_meta(cfg: Mapping[str, Any], layout: Layout, *, dry_run: bool) -> list[str]:
    """Delete each video's corrupt ``meta.json`` (truncated, garbled, hand-edited) unless
    ``dry_run``, with a warning line each on stderr; return the videos whose corrupt meta.json was
    kept (a dry run's).

    Done before the DAG is built, the extract checkpoint's output is then missing and reruns in
    this same run (everything after it follows by modification time; per-frame caches are reused).
    """
    from .storage.meta import load_meta

    kept = []
    for video in cfg["videos"]:
        path = Path(layout.meta(video))
        if not path.is_file():
            continue
        try:
            load_meta(path)
        except CacheError as exc:
            if dry_run:
                kept.append(video)
                print(f"iovst: warning: {exc}; a real run deletes it and re-extracts '{video}'", file=sys.stderr)
            else:
                path.unlink(missing_ok=True)
                print(f"iovst: warning: {exc}; deleted it, re-extracting '{video}'", file=sys.stderr)
    return kept


def before_dag(cfg: Mapping[str, Any], layout: Layout, *, dry_run: bool) -> list[str]:
    """What the main Snakemake process does once, before it builds the DAG: :func:`check_inputs`,
    then :func:`drop_corrupt_meta` (returned: the videos whose corrupt meta.json a dry run kept, to
    be planned as not yet extracted). Never inside jobs (they would repeat it at every parse, and a
    job must not delete what other jobs read).

    Raises:
        InputError: a missing or unreadable input file (one line naming the config key).
    """
    check_inputs(cfg)
    return drop_corrupt_meta(cfg, layout, dry_run=dry_run)
