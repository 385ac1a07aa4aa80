# Helpers shared by the rules: config validation, paths, chunk arithmetic, per-stage params.
# Top-level code here runs at every parse (also inside every SLURM job): keep it cheap (no torch).
import json
import shlex
import sys
from pathlib import Path

from iovst import config as iovst_config
from iovst.chunks import chunk_of, n_chunks
from iovst.errors import IovstError
from iovst.resources import rule_resources


def _fail(msg):
    print(f"iovst: error: {msg}", file=sys.stderr)
    sys.exit(2)


# The config: the command line's --configfile(s) if given (Snakemake has loaded them and the
# --config values into `config`), else config.yaml; never both (merging would add config.yaml's
# videos and styles to the user's). --config values are re-read as the schema wants them.
try:
    if not workflow.overwrite_configfiles:
        iovst_config.read_yaml("config.yaml")  # invalid YAML: one line with file and line number
        workflow.configfile("config.yaml")  # + the --config values on top
    _cfg = iovst_config.validate(
        iovst_config.deep_merge(config, iovst_config.parse_overrides(workflow.config_settings.config))
    )
except IovstError as _exc:
    _fail(_exc)
config.clear()
config.update(_cfg)


def _safe_path(p):
    """A user path that no program can mistake for an option (leading '-' -> './-...')."""
    return f"./{p}" if p.startswith("-") else p


for _name, _path in list(config["videos"].items()):
    config["videos"][_name] = _safe_path(_path)
    if not Path(_path).is_file():
        _fail(f"config key 'videos.{_name}': video '{_path}' not found")


def _check_image(key, path):
    """Fail at start (before extract/flow run) on a style image Pillow cannot decode.

    Header + checksums (``verify``), then a decode at 1/8 scale for JPEGs (``draft``), which finds
    truncated files; cheap enough for every parse.
    """
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.verify()
        with Image.open(path) as im:
            im.draft("RGB", (max(1, im.width // 8), max(1, im.height // 8)))
            im.load()
    except Exception as exc:  # UnidentifiedImageError, truncated, bad CRC, decompression bomb, ...
        why = str(exc).splitlines()[0][:160] if str(exc) else exc.__class__.__name__
        _fail(f"config key '{key}': style image '{path}' is not a readable image ({why})")


for _name, _style in config["styles"].items():
    _style["images"] = [_safe_path(p) for p in _style["images"]]
    for _p in _style["images"]:
        if not Path(_p).is_file():
            _fail(f"config key 'styles.{_name}.images': style image '{_p}' not found")
        _check_image(f"styles.{_name}.images", _p)



def _check_weights(key, spec):
    """A weights path must be a torch.save file (a zip archive with a pickle), checked without
    importing torch; whether it holds the right network is checked at the run's start (onstart)."""
    import zipfile

    if spec in ("auto", "imagenet", "random"):
        return
    path = Path(spec).expanduser()
    if not path.is_file():
        _fail(f"config key '{key}': weights file '{spec}' not found")
    try:
        with zipfile.ZipFile(path) as z:
            if not any(n.endswith("data.pkl") for n in z.namelist()):
                raise zipfile.BadZipFile("no data.pkl member")
    except (zipfile.BadZipFile, OSError) as exc:
        _fail(f"config key '{key}': '{spec}' is not a torch state_dict file saved with torch.save ({exc})")


_check_weights("model.weights", config["model"]["weights"])
if config["flow"]["method"] != "dis":
    _check_weights("flow.weights", config["flow"]["weights"])

R = _safe_path(config["results"].rstrip("/"))
CACHE = _safe_path(config["cache"].rstrip("/"))
LOGS = f"{R}/logs"  # each run's job logs live with its results
C = config["chunk_size"]
PASSES = config["multipass"]["passes"]
FLOW_OFFSETS = config["flow"]["offsets"]
MP_OFFSETS = config["multipass"]["offsets"] or FLOW_OFFSETS
MAX_MP_OFFSET = max(MP_OFFSETS)
FINAL_ROUND = PASSES


wildcard_constraints:
    video="[A-Za-z0-9][A-Za-z0-9_.-]*",
    style="[A-Za-z0-9][A-Za-z0-9_.-]*",
    k="[0-9]+",
    p="[0-9]+",


def job_resources(stage, output):
    """``mem_mb`` / ``runtime`` of a rule's jobs (iovst.resources: sized from frames, frame size and
    iterations; a retry grows only after out-of-memory / the time limit). ``output``: its pattern."""
    return rule_resources(stage, config, output=output, meta=f"{R}/{{video}}/meta.json")


def stage_params(stage):
    """Canonical JSON of the config keys ``stage`` depends on + its code version, as declared in
    ``iovst.config.STAGES`` (``iovst.config.stage_params``): both the rule's ``params:`` (a change
    reruns exactly the dependent jobs) and the ``--params`` of the ``iovst`` subcommand."""
    return iovst_config.canonical_json(iovst_config.stage_params(config, stage))


_META = {}


def _drop_corrupt_meta():
    """A corrupt meta.json (truncated, garbled, hand-edited) is never used: it is deleted here,
    before the DAG is built, so the extract checkpoint reruns in this same run (everything after it
    follows by modification time; per-frame caches are reused). Not in a dry run."""
    from iovst.errors import CacheError
    from iovst.storage.meta import load_meta

    for video in config["videos"]:
        path = Path(f"{R}/{video}/meta.json")
        if not path.is_file():
            continue
        try:
            load_meta(path)
        except CacheError as exc:
            if workflow.dryrun:
                print(f"iovst: warning: {exc}; a real run deletes it and re-extracts '{video}'", file=sys.stderr)
            else:
                path.unlink(missing_ok=True)
                print(f"iovst: warning: {exc}; deleted it, re-extracting '{video}'", file=sys.stderr)


_drop_corrupt_meta()


def meta_of(video):
    """meta.json of ``video`` (after the extract checkpoint has run; read once per parse)."""
    if video not in _META:
        from iovst.storage.meta import load_meta

        _META[video] = load_meta(checkpoints.extract.get(video=video).output.meta)
    return _META[video]


onstart:
    # Once per run, before any job: a wrong weights file, uncached weights while offline, or
    # `device: cuda` without CUDA fail here with one line instead of in a flow or stylize job after
    # the earlier stages ran. onstart runs only in the main Snakemake process (jobs are started
    # with --no-hooks) and not in dry runs. The device is checked only when the jobs run on this
    # machine (local executor): with a cluster executor this process is on the login node, which
    # may have no GPU; each job then checks its own device.
    from iovst.preflight import preflight

    try:
        preflight(config, device=workflow.local_exec)
    except IovstError as exc:
        _fail(exc)
    # Writers killed by SIGKILL / preemption leave their temporary files (``.tmp-*``, never read by
    # anyone) in results/; remove them now that Snakemake's lock says no other run writes here.
    from iovst.storage.atomic import clean_temp

    clean_temp(R)


def chunks_of(video):
    return range(n_chunks(meta_of(video)["frame_count"], C))


def chunk_name(k):
    return f"chunk_{k:04d}.h5"


def flow_files(video, ks):
    return [f"{R}/{video}/flow/{chunk_name(k)}" for k in ks]


def mask_files(video, ks):
    return [f"{R}/{video}/masks/{chunk_name(k)}" for k in ks]


def round_files(video, style, p, ks):
    return [f"{R}/{video}/{style}/r{p}/{chunk_name(k)}" for k in ks]


def pair_chunks_into(k, max_offset):
    """Flow/mask chunks holding the pairs (i - N, i) and (i, i + N) for frames i of chunk k."""
    return range(chunk_of(max(0, k * C - max_offset), C), k + 1)


def style_images(style):
    return config["styles"][style]["images"]


def style_args(style):
    """``--style IMG ... --style-weights W ... --style-scale S`` as one argument string."""
    import shlex

    st = config["styles"][style]
    args = [f"--style={p}" for p in st["images"]]
    if st.get("weights"):
        args += [f"--style-weight={w}" for w in st["weights"]]
    args.append(f"--style-scale={st['scale']}")
    return " ".join(shlex.quote(a) for a in args)


def all_targets(wildcards):
    targets = []
    for video in config["videos"]:
        if config["flow"]["preview"]:
            targets.append(f"{R}/{video}/flow_preview.mp4")
        for style in config["styles"]:
            targets.append(f"{R}/{video}/{style}/{video}_{style}.mp4")
            if config["encode"]["side_by_side"]:
                targets.append(f"{R}/{video}/{style}/{video}_{style}_side_by_side.mp4")
            if config["encode"]["previews"]:
                targets += [f"{R}/{video}/{style}/preview_r{p}.mp4" for p in range(PASSES + 1)]
    return targets


# ---- recovery: the default target also names every artifact the final outputs are built from ----
def all_artifacts(wildcards):
    """Every intermediate artifact the default targets are built from: meta.json and frames, the
    flow and mask chunks (when multipass, brushstrokes or the flow preview read them), the
    long-term chunks (multipass), every round's result chunks.

    Snakemake rebuilds a missing intermediate only when a job that reads it reruns, so a damaged
    artifact deleted by the job that found it (or a meta.json deleted at start) would stay missing
    behind up-to-date final outputs. As inputs of ``all`` they are rebuilt in the next run, and
    every job after them reruns (Snakemake reruns whatever depends on a job that runs).
    """
    files = []
    uses_flow = PASSES > 0 or config["stylize"]["method"] == "brushstroke" or config["flow"]["preview"]
    for video in config["videos"]:
        files += [f"{R}/{video}/meta.json", f"{R}/{video}/frames"]
        ks = chunks_of(video)
        if uses_flow:
            files += flow_files(video, ks) + mask_files(video, ks)
        if PASSES > 0:
            files += [f"{R}/{video}/longterm/{chunk_name(k)}" for k in ks]
        for style in config["styles"]:
            for p in range(PASSES + 1):
                files += round_files(video, style, p, ks)
    return files
# ---- end of recovery section -----------------------------------------------------------------


def stylize_extra_inputs(wc):
    """Brushstroke: each frame's strokes start from the previous frame's, moved by the flow of
    the pair (t-1, t) (flow/mask chunks k-1 and k); chunk k > 0 continues from round-0 chunk
    k-1's last strokes, so the chunks of one video run in order."""
    if config["stylize"]["method"] != "brushstroke":
        return {}
    k = int(wc.k)
    inputs = {
        "flow": flow_files(wc.video, pair_chunks_into(k, 1)),
        "masks": mask_files(wc.video, pair_chunks_into(k, 1)),
    }
    if k > 0:
        inputs["prev"] = round_files(wc.video, wc.style, 0, [k - 1])
    return inputs


def _opt_args(wc, input):
    """``--prev R.h5 --flow F.h5... --masks M.h5...`` for those of the inputs that exist."""
    args = []
    for key in ("prev", "flow", "masks"):
        if key in input.keys():
            args.append(f"--{key} " + " ".join(shlex.quote(str(p)) for p in input[key]))
    return " ".join(args)


def multipass_inputs(wc):
    """Round p, chunk k: own previous round + this round's already-updated neighbours.

    Odd rounds sweep forward (neighbour i - N, chunks before k), even rounds backward
    (neighbour i + N, chunks after k). Flow/masks: the pairs that touch chunk k's frames.
    """
    k, p = int(wc.k), int(wc.p)
    last = n_chunks(meta_of(wc.video)["frame_count"], C) - 1
    if p % 2 == 1:
        nb = range(chunk_of(max(0, k * C - MAX_MP_OFFSET), C), k)
    else:
        nb = range(k + 1, min(last, chunk_of((k + 1) * C - 1 + MAX_MP_OFFSET, C)) + 1)
    pairs = pair_chunks_into(k, MAX_MP_OFFSET)
    return {
        "prev": round_files(wc.video, wc.style, p - 1, [k]),
        "neighbors": round_files(wc.video, wc.style, p, nb),
        "flow": flow_files(wc.video, pairs),
        "masks": mask_files(wc.video, pairs),
        "longterm": f"{R}/{{video}}/longterm/chunk_{{k}}.h5".format(video=wc.video, k=wc.k),
    }
