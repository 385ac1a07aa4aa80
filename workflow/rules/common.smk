# Helpers shared by the rules: config validation, paths (iovst.layout), input functions (chunk
# arithmetic: iovst.chunks), per-stage params. Top-level code here runs at every parse (also inside
# every SLURM job): keep it cheap (no torch); checks of the input files run once (iovst.preflight).
import json
import shlex
import sys

from iovst import config as iovst_config
from iovst.chunks import brush_previous, n_chunks, pair_chunks_into
from iovst.chunks import multipass_inputs as multipass_inputs_of
from iovst.errors import IovstError
from iovst.layout import Layout, uses_flow
from iovst.preflight import before_dag
from iovst.resources import gpu_request, rule_resources


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
for _style in config["styles"].values():
    _style["images"] = [_safe_path(p) for p in _style["images"]]

R = _safe_path(config["results"].rstrip("/"))
L = Layout(R)  # every artifact's path (iovst.layout)
CACHE = _safe_path(config["cache"].rstrip("/"))
C = config["chunk_size"]
PASSES = config["multipass"]["passes"]
FLOW_OFFSETS = config["flow"]["offsets"]
MP_OFFSETS = config["multipass"]["offsets"] or FLOW_OFFSETS
MAX_MP_OFFSET = max(MP_OFFSETS)
FINAL_ROUND = PASSES
SCHEDULE = config["multipass"]["schedule"]
OVERLAP = config["multipass"]["overlap"]

# Once per run, in the main Snakemake process before it builds the DAG (jobs re-read this file with
# --mode subprocess/remote and skip it): input files readable, a corrupt meta.json deleted so that
# this run re-extracts the video. A dry run (`workflow.dryrun` is still False while this file is
# read; the command line's -n is in output_settings) keeps it and lists the videos in _STALE.
_STALE = []
if workflow.is_main_process:
    try:
        _STALE = before_dag(config, L, dry_run=workflow.output_settings.dryrun)
    except IovstError as _exc:
        _fail(_exc)
    if workflow.output_settings.dryrun:  # what the render will take (iovst status prints it too)
        from iovst.status import plan_lines

        try:
            print("\n".join(plan_lines(config, L)), file=sys.stderr)
        except IovstError as _exc:
            print(f"iovst: no size prediction: {_exc}", file=sys.stderr)


wildcard_constraints:
    video="[A-Za-z0-9][A-Za-z0-9_.-]*",
    style="[A-Za-z0-9][A-Za-z0-9_.-]*",
    k="[0-9]+",
    p="[0-9]+",


def job_resources(stage, output):
    """``gpu`` (GPU stages), ``mem_mb`` / ``runtime`` of a rule's jobs (iovst.resources: sized from
    frames, frame size and iterations; a retry grows only after out-of-memory / the time limit).
    ``output``: its pattern."""
    return gpu_request(stage) | rule_resources(stage, config, output=output, meta=L.meta("{video}"))


def stage_params(stage):
    """Canonical JSON of the config keys ``stage`` depends on + its code version, as declared in
    ``iovst.config.STAGES`` (``iovst.config.stage_params``): both the rule's ``params:`` (a change
    reruns exactly the dependent jobs) and the ``--params`` of the ``iovst`` subcommand."""
    return iovst_config.canonical_json(iovst_config.stage_params(config, stage))


_META = {}


def meta_of(video):
    """meta.json of ``video`` (after the extract checkpoint has run; read once per parse)."""
    if video in _STALE:  # a dry run left a corrupt meta.json: planned as if not extracted yet
        from snakemake.exceptions import IncompleteCheckpointException

        raise IncompleteCheckpointException(rules.extract, L.meta(video))
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


def flow_files(video, ks):
    return [L.flow(video, k) for k in ks]


def mask_files(video, ks):
    return [L.masks(video, k) for k in ks]


def round_files(video, style, p, ks):
    return [L.round(video, style, p, k) for k in ks]


def style_images(style):
    return config["styles"][style]["images"]


def style_args(style):
    """``--style IMG ... --style-weights W ... --style-scale S`` as one argument string."""
    st = config["styles"][style]
    args = [f"--style={p}" for p in st["images"]]
    if st.get("weights"):
        args += [f"--style-weight={w}" for w in st["weights"]]
    args.append(f"--style-scale={st['scale']}")
    return " ".join(shlex.quote(a) for a in args)


def all_targets(wildcards):
    """The final outputs (iovst.layout) and, with ``metrics``, each video's run summary (last)."""
    summaries = [L.summary(video) for video in config["videos"]] if config["metrics"] else []
    return [f for video in config["videos"] for f in L.targets(config, video)] + summaries


def all_artifacts(wildcards):
    """Every intermediate artifact the default targets are built from (iovst.layout).

    Snakemake rebuilds a missing intermediate only when a job that reads it reruns, so a damaged
    artifact deleted by the job that found it (or a meta.json deleted at start) would stay missing
    behind up-to-date final outputs. As inputs of ``all`` they are rebuilt in the next run, and
    every job after them reruns (Snakemake reruns whatever depends on a job that runs).
    """
    return [f for video in config["videos"] for f in L.artifacts(config, video, len(chunks_of(video)))]


def stylize_extra_inputs(wc):
    """Brushstroke: the flow/mask chunks, the previous round-0 chunk (iovst.chunks.brush_previous)
    and the scene cuts."""
    if config["stylize"]["method"] != "brushstroke":
        return {}
    pairs, prev = brush_previous(int(wc.k), C)
    inputs = {"flow": flow_files(wc.video, pairs), "masks": mask_files(wc.video, pairs), "cuts": [L.cuts(wc.video)]}
    if prev:
        inputs["prev"] = round_files(wc.video, wc.style, 0, prev)
    return inputs


def _opt_args(*keys):
    """A ``params:`` function giving ``--prev R.h5 --flow F.h5...`` for those of the named
    inputs ``keys`` (lists of files) that the job has."""

    def args(wc, input):
        found = [key for key in keys if key in input.keys()]
        return " ".join(f"--{key} " + " ".join(shlex.quote(str(p)) for p in input[key]) for key in found)

    return args


def brush_paintings(wc):
    """Brushstroke: multipass refines against round 0's stroke paintings (round-0 chunk k)."""
    if config["stylize"]["method"] != "brushstroke":
        return {}
    return {"paintings": round_files(wc.video, wc.style, 0, [int(wc.k)])}


def multipass_inputs(wc):
    """Round p, chunk k: own previous round + the neighbour chunks its sweep reads (this round's
    when sequential, round p-1's when parallel), the flow/mask and longterm chunks of the frames it
    sweeps (iovst.chunks.multipass_inputs)."""
    k, p = int(wc.k), int(wc.p)
    n = meta_of(wc.video)["frame_count"]
    q, nb, pairs, lt = multipass_inputs_of(k, p, C, n, MAX_MP_OFFSET, SCHEDULE, OVERLAP)
    return {
        "prev": round_files(wc.video, wc.style, p - 1, [k]),
        "neighbors": round_files(wc.video, wc.style, q, nb),
        "flow": flow_files(wc.video, pairs),
        "masks": mask_files(wc.video, pairs),
        "longterm": [L.longterm(wc.video, j) for j in lt],
    }


def summary_inputs(wc):
    """The run summary of a video comes last: after its final outputs (so every job's benchmark
    file is written); it reads round 0's first chunk of each style and the first flow chunk (which
    weights they used)."""
    inputs = {
        "targets": L.targets(config, wc.video),
        "r0": [L.round(wc.video, s, 0, 0) for s in config["styles"]],
    }
    if uses_flow(config):
        inputs["flow"] = L.flow(wc.video, 0)
        inputs["cuts"] = L.cuts(wc.video)
    return inputs


def summary_args(wc, input):
    """``--style-chunk STYLE R0.h5 ... [--flow-chunk F.h5 --cuts cuts.json]`` of ``iovst
    report-summary``."""
    args = [f"--style-chunk {shlex.quote(s)} {shlex.quote(str(p))}" for s, p in zip(config["styles"], input.r0)]
    if "flow" in input.keys():
        args.append(f"--flow-chunk={shlex.quote(str(input.flow))} --cuts={shlex.quote(str(input.cuts))}")
    return " ".join(args)
