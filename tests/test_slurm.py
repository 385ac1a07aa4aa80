"""The workflow on a real (single-node) SLURM cluster, through profiles/slurm.

Needs a running cluster: ``sudo .ci/slurm.sh start`` (or set ``IOVST_SLURM_START=1`` and run the
tests as root: the session fixture then starts it and stops it at the end). Skipped with the
reason when ``sinfo`` is missing or no node is up.

* ``test_toy_*``: a tiny self-contained Snakefile with the real rules' resource requests
  (:mod:`iovst.resources`); proves that jobs go through sbatch and the run ends on a cluster
  without accounting, that the per-rule GPU and memory requests reach SLURM, that GPU jobs are not
  capped to one at a time, and that a ``scancel``-ed job is retried with the same request.
* ``test_demo_*``: the real workflow with ``config/demo.yaml`` through SLURM (one run), one of its
  stylize/multipass jobs ``scancel``-ed mid-chunk: Snakemake retries it with the same request, the
  retry reuses the finished frames, and the result equals the local ``--cores 2`` run's bit for bit.

Extra snakemake arguments for the test cluster (no account, fast status checks, short latency wait)
are in ``SLURM_TEST_ARGS``; override with ``IOVST_SLURM_TEST_ARGS`` when running against a real
cluster. The job status command is the profile's (``squeue``): the test cluster has no accounting,
so the plugin's default ``sacct`` would never see a job finish.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slurm

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "profiles" / "slurm"
SLURM_SH = REPO / ".ci" / "slurm.sh"
SLURM_TEST_ARGS = shlex.split(
    os.environ.get(
        "IOVST_SLURM_TEST_ARGS",
        "--slurm-init-seconds-before-status-checks 1 --slurm-no-account --latency-wait 10",
    )
)
DEMO_TIMEOUT = float(os.environ.get("IOVST_SLURM_DEMO_TIMEOUT", "1800"))


def _env() -> dict[str, str]:
    """Environment for snakemake and its jobs: this venv's ``iovst``/``snakemake`` first on PATH."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    for k in ("CUDA_VISIBLE_DEVICES", "IOVST_GPU_SLOTS"):
        env.pop(k, None)
    return env


def _node_states() -> list[str]:
    out = subprocess.run(["sinfo", "-h", "-N", "-o", "%t"], capture_output=True, text=True, timeout=20)
    return out.stdout.split() if out.returncode == 0 else []


def _cluster_up(states: list[str] | None = None) -> bool:
    states = _node_states() if states is None else states
    return any(s.rstrip("*~#!%$@^-").startswith(("idle", "mix", "alloc", "comp")) for s in states)


@pytest.fixture(scope="session")
def slurm_cluster():
    """A SLURM cluster with at least one usable node; yields the time (s) it took to get it."""
    started_here = False
    t0 = time.monotonic()
    if os.environ.get("IOVST_SLURM_START") == "1" and not (shutil.which("sinfo") and _cluster_up()):
        if os.geteuid() != 0:
            pytest.skip("IOVST_SLURM_START=1 needs root (.ci/slurm.sh installs slurm and runs daemons)")
        out = subprocess.run(["bash", str(SLURM_SH), "start"], capture_output=True, text=True, timeout=900)
        text = out.stdout + out.stderr
        skip = [ln for ln in text.splitlines() if ln.startswith("SLURM-SKIP:")]
        if skip:
            pytest.skip(skip[0])
        if out.returncode != 0:
            pytest.fail(f".ci/slurm.sh start failed:\n{text}")
        started_here = True
    if shutil.which("sinfo") is None:
        pytest.skip("no SLURM here (sinfo not found); start a test cluster: sudo .ci/slurm.sh start")
    states = _node_states()  # (sinfo takes ~10 s to give up when no slurmctld answers)
    if not _cluster_up(states):
        pytest.skip(
            f"no SLURM node is up (sinfo node states: {states or 'none'}); "
            "start a test cluster: sudo .ci/slurm.sh start"
        )
    yield time.monotonic() - t0
    if started_here:
        subprocess.run(["bash", str(SLURM_SH), "stop"], timeout=120)


def _snakemake(args: list[str], cwd: Path, timeout: float, log_name: str) -> subprocess.CompletedProcess:
    """Run snakemake (this interpreter's) in ``cwd``; its output also goes to ``cwd/<log_name>``."""
    cmd = [sys.executable, "-m", "snakemake", *args]
    t0 = time.monotonic()
    with open(cwd / log_name, "w") as log:
        log.write("$ " + shlex.join(cmd) + "\n")
        log.flush()
        proc = subprocess.run(cmd, cwd=cwd, env=_env(), stdout=log, stderr=subprocess.STDOUT, timeout=timeout)
    out = (cwd / log_name).read_text()
    print(f"[{log_name}] rc={proc.returncode} in {time.monotonic() - t0:.1f} s")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, "")


def _slurm_args(*extra: str) -> list[str]:
    return ["--executor", "slurm", "--workflow-profile", str(PROFILE), *SLURM_TEST_ARGS, *extra]


def _squeue_all() -> dict[str, tuple[str, str]]:
    """job id -> (state, comment) of all jobs slurmctld still remembers (MinJobAge)."""
    out = subprocess.run(["squeue", "-h", "--states=all", "-o", "%i|%T|%k"], capture_output=True, text=True, timeout=30)
    jobs = {}
    for line in out.stdout.splitlines():
        parts = line.split("|")
        if len(parts) >= 3:
            jobs[parts[0]] = (parts[1], parts[2])
    return jobs


def _scontrol_job(job_id: str) -> str:
    return subprocess.run(["scontrol", "show", "job", job_id], capture_output=True, text=True, timeout=30).stdout


# --------------------------------------------------------------------------------------------
# toy workflow
# --------------------------------------------------------------------------------------------

# the toy's config for iovst.resources: no meta.json, so the config bound (4 x 32 x 32 px frames)
TOY_CONFIG = {
    "videos": {"v": "v.mp4"},
    "styles": {"s": {"images": ["s.png"]}},
    "chunk_size": 4,
    "extract": {"size": 32},
}
TOY_SNAKEFILE = textwrap.dedent(
    r"""
    # memory / time / GPU requests as the real rules make them (iovst.resources)
    from iovst import config as iovst_config
    from iovst.resources import rule_resources

    CFG = iovst_config.validate(TOY_CONFIG)

    def res(rule, output):
        return rule_resources(rule, CFG, output=output, meta="none/meta.json")

    rule all:
        input: "encoded.txt", "retried.txt"

    rule extract:
        output: "extracted.txt"
        resources: **res("extract", "extracted.txt")
        shell: 'echo "$SLURM_JOB_ID" > {output}'

    rule stylize:
        input: "extracted.txt"
        output: "stylized_{i}.txt"
        resources: gpu=1, **res("stylize", "stylized_{i}.txt")
        shell:
            'echo "$SLURM_JOB_ID ${{CUDA_VISIBLE_DEVICES:-none}} $(date +%s.%N)" > {output}.tmp; '
            'sleep 6; date +%s.%N >> {output}.tmp; mv {output}.tmp {output}'

    rule encode:
        input: expand("stylized_{i}.txt", i=[0, 1])
        output: "encoded.txt"
        resources: **res("encode", "encoded.txt")
        shell: 'cat {input} > {output}; echo "$SLURM_JOB_ID" >> {output}'

    # the test scancels the first attempt (which waits); the retry finishes at once
    rule multipass:
        output: "retried.txt"
        resources: **res("multipass", "retried.txt")
        shell:
            'python -c "import sys; from iovst.resources import record_start; record_start(sys.argv[1])" '
            '{output}; if [ -e started ]; then echo "$SLURM_JOB_ID" > {output}; '
            'else touch started; sleep 300; fi'
    """
).replace("TOY_CONFIG", repr(TOY_CONFIG))


def _toy_request(rule: str):
    """The toy rule's first-attempt request (``iovst.resources.Request``)."""
    from iovst import config as iovst_config
    from iovst import resources

    cfg = iovst_config.validate(dict(TOY_CONFIG))
    return resources.estimate(rule, cfg, resources.frame_pixels(cfg, None), 4)


def _cancel_first_attempt(wd: Path, proc: subprocess.Popen, timeout: float) -> str | None:
    """scancel the toy's `multipass` job once it runs and has noted its job id; its SLURM id."""
    marker = wd / ".retried.txt.job.json"
    t0 = time.monotonic()
    while proc.poll() is None and time.monotonic() - t0 < timeout:
        for job_id, (state, comment) in _squeue_all().items():
            if comment.startswith("rule_multipass") and state == "RUNNING" and marker.is_file():
                subprocess.run(["scancel", job_id], check=True, timeout=30)
                return job_id
        time.sleep(0.5)
    return None


@pytest.fixture(scope="module")
def toy_run(slurm_cluster, tmp_path_factory):
    """The toy workflow through profiles/slurm (its retries), one job scancel-ed on the way."""
    wd = tmp_path_factory.mktemp("toy")
    (wd / "Snakefile").write_text(TOY_SNAKEFILE)
    cmd = [sys.executable, "-m", "snakemake", *_slurm_args("--jobs", "4")]
    t0 = time.monotonic()
    with open(wd / "snakemake.log", "w") as log:
        proc = subprocess.Popen(cmd, cwd=wd, env=_env(), stdout=log, stderr=subprocess.STDOUT)
        try:
            cancelled = _cancel_first_attempt(wd, proc, timeout=300)
            # the plugin's default status command (sacct) never returns on this cluster without
            # accounting: the run would hang here; the profile's squeue ends it
            rc = proc.wait(timeout=300)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                proc.wait(timeout=60)
    out = (wd / "snakemake.log").read_text()
    print(f"toy workflow through SLURM: {time.monotonic() - t0:.1f} s (cluster start: {slurm_cluster:.1f} s)")
    assert rc == 0, out[-5000:]
    return wd, cancelled


def test_toy_jobs_ran_as_slurm_jobs(toy_run):
    wd, _ = toy_run
    extract_id = (wd / "extracted.txt").read_text().split()[0]
    lines = (wd / "encoded.txt").read_text().splitlines()
    encode_id = lines[-1].strip()
    stylize_ids = [ln.split()[0] for ln in lines[:-1] if len(ln.split()) == 3]
    ids = [extract_id, encode_id, *stylize_ids]
    assert all(re.fullmatch(r"\d+", i) for i in ids), f"jobs did not see SLURM_JOB_ID: {ids}"
    assert len(set(ids)) == 4, f"each job should be its own SLURM job: {ids}"
    known = _squeue_all()
    expected = [(extract_id, "extract"), (encode_id, "encode"), *[(i, "stylize") for i in stylize_ids]]
    for job_id, rule in expected:
        assert job_id in known, f"SLURM job {job_id} ({rule}) unknown to squeue (MinJobAge too low?)"
        state, comment = known[job_id]
        assert state == "COMPLETED", (job_id, state)
        assert comment.startswith(f"rule_{rule}"), (job_id, comment)


def _requested(job_id: str) -> tuple[str, str]:
    """(memory, time limit) of a SLURM job as scontrol shows them (``mem=3000M``, ``00:10:00``)."""
    info = _scontrol_job(job_id)
    return re.search(r"mem=(\d+\w)", info).group(1), re.search(r"TimeLimit=(\S+)", info).group(1)


def test_toy_rule_requests_reach_slurm(toy_run):
    """The rules' own gpu / mem_mb / runtime (not the profile's) become sbatch's; distinct GPUs."""
    wd, _ = toy_run
    lines = (wd / "encoded.txt").read_text().splitlines()[:-1]
    starts = [ln.split() for ln in lines if len(ln.split()) == 3]
    assert len(starts) == 2
    want = _toy_request("stylize")
    for job_id, cvd, _ in starts:
        info = _scontrol_job(job_id)
        assert re.search(r"TresPerJob=\S*gres:gpu:1|TresPerNode=\S*gpu:1", info), info
        assert f"mem={want.mem_mb}M" in info, f"stylize's mem_mb ({want}) not applied:\n" + info
        assert re.search(rf"TimeLimit=0*{want.runtime // 60}:{want.runtime % 60:02d}:00", info), info
        assert cvd != "none", f"SLURM set no CUDA_VISIBLE_DEVICES for GPU job {job_id}"
    assert starts[0][1] != starts[1][1] or _concurrency_impossible(), "both jobs got the same GPU"


def test_toy_cancelled_job_retried_with_same_request(toy_run):
    """A scancel-ed job is retried (profile: retries) without more memory or time."""
    wd, cancelled = toy_run
    assert cancelled, "the toy's multipass job was never caught running"
    retry = (wd / "retried.txt").read_text().split()[0]
    known = _squeue_all()
    assert known[cancelled][0] == "CANCELLED" and known[retry][0] == "COMPLETED", (known[cancelled], known[retry])
    want = _toy_request("multipass")
    assert _requested(cancelled) == _requested(retry), (_requested(cancelled), _requested(retry))
    assert _requested(retry)[0] == f"{want.mem_mb}M"


def _concurrency_impossible() -> bool:
    """True when the node cannot run two of the toy's 1-CPU/1-GPU stylize jobs at once."""
    out = subprocess.run(["sinfo", "-h", "-N", "-o", "%c %m %G"], capture_output=True, text=True).stdout
    best = 0
    for line in out.splitlines():
        cpus, mem, gres = line.split()[:3]
        m = re.search(r"gpu(?::[^:,()]+)?:(\d+)", gres)
        gpus = int(m.group(1)) if m else 0
        best = max(best, min(int(cpus), int(float(mem)) // _toy_request("stylize").mem_mb, gpus))
    return best < 2


def test_toy_gpu_jobs_not_capped_to_one(toy_run):
    """`gpu` is a global Snakemake resource; the profile must not cap the cluster to one GPU job."""
    if _concurrency_impossible():
        pytest.skip("no node can run two 1-GPU jobs at once (needs 2 CPUs, 2 GPUs, 6 GB)")
    spans = []
    for f in sorted(toy_run[0].glob("stylized_*.txt")):
        first, last = f.read_text().splitlines()
        spans.append((float(first.split()[2]), float(last)))
    (a0, a1), (b0, b1) = spans
    # capped to one, the second job could only start after the first ended (overlap <= 0); under load
    # SLURM may start the second job seconds after the first (0.9 s overlap of two 6 s jobs seen)
    overlap = min(a1, b1) - max(a0, b0)
    assert overlap > 0, f"the two GPU jobs ran one after the other: {spans}"


# --------------------------------------------------------------------------------------------
# the real workflow (config/demo.yaml)
# --------------------------------------------------------------------------------------------

DEMO_CONFIG = REPO / "config" / "demo.yaml"
DEMO_INPUTS = ("data/demo.mp4", "data/style.png")
# config/demo.yaml made smaller still (8 frames in 2 chunks, 2 multipass rounds, few iterations):
# the test is about the cluster plumbing, and it runs the workflow 3 times on a 2-core machine.
# IOVST_SLURM_DEMO_FULL=1 runs the full demo instead.
DEMO_OVERRIDES = textwrap.dedent(
    """
    chunk_size: 4
    extract: {count: 8}
    stylize: {iterations: 8}
    multipass: {passes: 2, iterations: 4}
    encode: {side_by_side: false}
    metrics: false
    """
)


def _demo_ready() -> str | None:
    snakefile = Path(os.environ.get("IOVST_SLURM_TEST_SNAKEFILE", REPO / "Snakefile"))
    if not snakefile.is_file() or not DEMO_CONFIG.is_file():
        return "workflow not there yet (Snakefile / config/demo.yaml missing)"
    return None


def _make_demo_workdir(wd: Path) -> Path:
    """A working dir with the demo inputs (relative paths of config/demo.yaml resolve here)."""
    (wd / "data").mkdir(parents=True, exist_ok=True)
    missing = [p for p in DEMO_INPUTS if not (REPO / p).is_file()]
    if missing:
        # generate them once into the repo's data/ (what the README's demo does)
        subprocess.run(
            [sys.executable, "-m", "iovst", "demo-data", "--out-dir", str(REPO / "data")],
            cwd=REPO,
            env=_env(),
            check=False,
            capture_output=True,
            timeout=600,
        )
        missing = [p for p in DEMO_INPUTS if not (REPO / p).is_file()]
        if missing:
            pytest.skip(f"demo inputs missing: {missing} (generate them with `iovst demo-data`)")
    for p in DEMO_INPUTS:
        shutil.copy2(REPO / p, wd / p)
    overrides = "" if os.environ.get("IOVST_SLURM_DEMO_FULL") == "1" else DEMO_OVERRIDES
    (wd / "test-overrides.yaml").write_text(overrides or "{}\n")
    return wd


def _demo_args() -> list[str]:
    """Run in the demo workdir: the repo's Snakefile, config/demo.yaml + the test's overrides."""
    snakefile = os.environ.get("IOVST_SLURM_TEST_SNAKEFILE", str(REPO / "Snakefile"))
    return ["-s", snakefile, "--configfile", str(DEMO_CONFIG), "test-overrides.yaml"]


def _h5_contents(path: Path) -> dict[str, tuple]:
    import h5py
    import numpy as np

    items: dict[str, tuple] = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            a = obj[()]
            items[name] = ("dataset", a.dtype.str, a.shape, np.ascontiguousarray(a).tobytes())
        for k, v in obj.attrs.items():
            items[f"{name}@{k}"] = ("attr", repr(v.tolist() if hasattr(v, "tolist") else v))

    with h5py.File(path, "r", locking=False) as f:
        for k, v in f.attrs.items():
            items[f"/@{k}"] = ("attr", repr(v.tolist() if hasattr(v, "tolist") else v))
        f.visititems(visit)
    return items


def _results_dir(wd: Path) -> Path:
    import yaml

    cfg = yaml.safe_load(DEMO_CONFIG.read_text())
    return wd / cfg.get("results", "results")


def _compare_results(ref: Path, other: Path) -> list[str]:
    """Differences between two results trees: h5 contents (exact), json, mp4/png bytes (not the
    job logs under logs/, nor the SLURM jobs' markers, ``.NAME.job.json``, which only a SLURM run
    writes)."""
    from iovst.resources import MARKER_SUFFIX

    def files(root: Path) -> list[Path]:
        return sorted(
            p.relative_to(root)
            for p in root.rglob("*")
            if p.is_file() and not p.name.endswith(MARKER_SUFFIX) and p.relative_to(root).parts[0] != "logs"
        )

    problems = []
    ref_files, other_files = files(ref), files(other)
    if ref_files != other_files:
        problems.append(
            f"file sets differ: only in reference {sorted(set(ref_files) - set(other_files))[:10]}, "
            f"only in other {sorted(set(other_files) - set(ref_files))[:10]}"
        )
    for rel in sorted(set(ref_files) & set(other_files)):
        a, b = ref / rel, other / rel
        if rel.suffix == ".h5":
            ca, cb = _h5_contents(a), _h5_contents(b)
            diff = sorted(k for k in set(ca) | set(cb) if ca.get(k) != cb.get(k))
            if diff:
                problems.append(f"{rel}: differs in {diff[:8]}")
        elif rel.suffix == ".json":
            if json.loads(a.read_text()) != json.loads(b.read_text()):
                problems.append(f"{rel}: json differs")
        elif a.read_bytes() != b.read_bytes():
            problems.append(f"{rel}: bytes differ")
    return problems


@pytest.fixture(scope="module")
def demo_local(tmp_path_factory):
    """Reference: the demo workflow run locally with --cores 2 (no profile)."""
    why = _demo_ready()
    if why:
        pytest.skip(why)
    wd = _make_demo_workdir(tmp_path_factory.mktemp("demo_local"))
    t0 = time.monotonic()
    res = _snakemake(
        [*_demo_args(), "--cores", "2", "--workflow-profile", "none"],
        wd,
        timeout=DEMO_TIMEOUT,
        log_name="snakemake.log",
    )
    print(f"demo, local --cores 2: {time.monotonic() - t0:.1f} s")
    assert res.returncode == 0, res.stdout[-5000:]
    return wd


def _running_frame_jobs() -> list[tuple[str, str, str]]:
    """(job id, rule, wildcard string) of RUNNING stylize/multipass jobs."""
    out = []
    for job_id, (state, comment) in _squeue_all().items():
        m = re.match(r"rule_(stylize|multipass)_wildcards_(.*)", comment)
        if state == "RUNNING" and m:
            out.append((job_id, m.group(1), m.group(2)))
    return out


def _job_log(wd: Path, rule: str, wildcards: str) -> Path | None:
    """The job's log (workflow layout <results>/logs/{video}/{style}/r{p}/chunk_{k}.log) from the SLURM
    comment's wildcard values ``video_style[_p]_k`` (demo names contain no '_')."""
    parts = wildcards.split("_")
    if rule == "stylize" and len(parts) == 3:
        video, style, k = parts
        p = "0"
    elif rule == "multipass" and len(parts) == 4:
        video, style, p, k = parts
    else:
        return None
    return _results_dir(wd) / "logs" / video / style / f"r{p}" / f"chunk_{k}.log"


_FRAME_LINE = re.compile(r"frame (\d+): (computed|reused)")
_SUMMARY = re.compile(r"cache\[[^\]]*\]: (\d+) reused, (\d+) computed")


def _frames(text: str, kind: str) -> set[int]:
    return {int(n) for n, k in _FRAME_LINE.findall(text) if k == kind}


@pytest.mark.slow
def test_demo_slurm_scancel_retried_from_cache(slurm_cluster, demo_local, tmp_path):
    """The workflow through SLURM, one stylize/multipass job scancel-ed mid-chunk: Snakemake
    retries it (profile: retries) with the same request, the retry reuses the frames finished
    before the cancel, every stage ran as a SLURM job, and the result equals the local run's."""
    wd = _make_demo_workdir(tmp_path / "demo_slurm")
    cmd = [sys.executable, "-m", "snakemake", *_demo_args(), *_slurm_args()]
    cancelled: tuple[str, str, str] | None = None
    log_path: Path | None = None
    computed_before: set[int] = set()
    t0 = time.monotonic()
    with open(wd / "snakemake.log", "w") as log:
        proc = subprocess.Popen(cmd, cwd=wd, env=_env(), stdout=log, stderr=subprocess.STDOUT)
        try:
            while proc.poll() is None and time.monotonic() - t0 < DEMO_TIMEOUT and not cancelled:
                for job_id, rule, wcs in _running_frame_jobs():
                    path = _job_log(wd, rule, wcs)
                    text = path.read_text(errors="replace") if path and path.is_file() else ""
                    done = _frames(text, "computed")
                    # >= 2 frames finished and the chunk is not: cancel it now
                    if len(done) >= 2 and not _SUMMARY.search(text):
                        request = _requested(job_id)
                        subprocess.run(["scancel", job_id], check=True, timeout=30)
                        cancelled, log_path, computed_before = (job_id, rule, wcs), path, done
                        break
                time.sleep(0.2)
            # its retry's request, read while SLURM still knows the job (MinJobAge)
            retry = None
            while cancelled and retry is None and proc.poll() is None and time.monotonic() - t0 < DEMO_TIMEOUT:
                comment = f"rule_{cancelled[1]}_wildcards_{cancelled[2]}"
                retry = next((j for j, (_, c) in _squeue_all().items() if c == comment and j != cancelled[0]), None)
                retry_request = _requested(retry) if retry else None
                time.sleep(0.5)
            rc = proc.wait(timeout=max(60.0, DEMO_TIMEOUT - (time.monotonic() - t0)))
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)  # snakemake cancels its SLURM jobs on SIGINT
                try:
                    proc.wait(timeout=120)
                except subprocess.TimeoutExpired:
                    proc.kill()
    out = (wd / "snakemake.log").read_text()
    print(f"demo through SLURM with one scancel: {time.monotonic() - t0:.1f} s")
    assert cancelled, "no stylize/multipass job could be caught running with finished frames"
    assert rc == 0, out[-5000:]
    print(f"cancelled SLURM job {cancelled} after frames {sorted(computed_before)} of {log_path}")

    # rule of each submitted job from its SLURM log path (squeue forgets jobs after MinJobAge)
    rules = set(re.findall(r"submitted with SLURM jobid \d+ \(log: \S*/slurm_logs/rule_(\w+)/", out))
    for rule in ("extract", "flow", "stylize", "multipass", "encode"):
        assert rule in rules, f"no {rule} job ran on SLURM (saw {sorted(rules)})"
    assert f"SLURM-job '{cancelled[0]}' failed, SLURM status is: 'CANCELLED'" in out
    assert retry and f"submitted with SLURM jobid {retry} " in out, f"no retry of {cancelled} seen"
    assert retry_request == request, f"the retry of a cancelled job asked for more: {request} -> {retry_request}"

    text = log_path.read_text(errors="replace")  # the retry's log
    reused = _frames(text, "reused")
    # stages log "computed" just before caching the frame: a cancel landing in between costs that
    # one (the newest) frame; every earlier one must come from the cache
    must_reuse = computed_before - {max(computed_before)}
    assert must_reuse <= reused, (
        f"{log_path.relative_to(wd)}: frames {sorted(must_reuse - reused)} finished before the "
        f"cancel were recomputed by the retry:\n{text[-3000:]}"
    )
    m = _SUMMARY.search(text)
    assert m and int(m.group(1)) >= len(must_reuse) >= 1, f"cache summary: {m and m.group(0)}"
    problems = _compare_results(_results_dir(demo_local), _results_dir(wd))
    assert not problems, "SLURM run with a cancelled job differs from the local run:\n" + "\n".join(problems)
