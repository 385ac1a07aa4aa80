"""Corrupt artifacts are detected, removed and regenerated, never built on; a full disk fails
cleanly; the package never builds shell commands or unpickles arbitrary objects."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from stageparams import stage_json

ROOT = Path(__file__).resolve().parents[1]


def _garble(path: Path, frac: float = 0.5, n: int = 64) -> None:
    """Flip ``n`` bytes at ``frac`` of the file, keeping its times (silent corruption: Snakemake
    sees nothing to rerun)."""
    st = path.stat()
    b = bytearray(path.read_bytes())
    pos = int(len(b) * frac)
    b[pos : pos + n] = bytes(x ^ 0xFF for x in b[pos : pos + n])
    path.write_bytes(bytes(b))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _truncate(path: Path) -> None:
    st = path.stat()
    path.write_bytes(path.read_bytes()[: st.st_size // 2])
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


# ------------------------------------------------------------------------------- workflow level
@pytest.mark.slow
def test_corrupt_meta_flow_masks_and_cache_entry_are_never_built_on(killtest_ref, tmp_path):
    """meta.json: found when the workflow starts, deleted, re-extracted in the same run.
    flow / masks HDF5 (declared outputs with good mtimes, so Snakemake would not rerun them): the
    consuming job finds the damage (checksums), deletes the file and fails with one line; the
    same snakemake command then regenerates it. A per-frame cache entry: logged, deleted,
    recomputed. The final result is bit-identical to an undamaged run."""
    kt, ref, _ = killtest_ref
    work = tmp_path / "w"
    r = kt.setup(work, *kt.make_inputs(tmp_path))
    res = work / "results" / "clip"
    masks = [f"results/clip/masks/chunk_{k:04d}.h5" for k in range(2)]

    # meta.json garbled after extract: deleted at start, re-extracted, then flow + masks run
    assert r.call("--cores", "2", "results/clip/meta.json").returncode == 0
    (res / "meta.json").write_text((res / "meta.json").read_text()[:40])
    out = r.call("--cores", "2", *masks)
    assert out.returncode == 0, out.stderr[-3000:]
    assert re.search(
        r"iovst: warning: '.*meta\.json': corrupt meta\.json .*deleted it, re-extracting 'clip'", out.stderr
    )
    assert json.loads((res / "meta.json").read_text())["frame_count"] == kt.N_FRAMES

    # a mask chunk truncated and a flow chunk garbled: each consumer refuses, removes, fails
    _truncate(res / "masks" / "chunk_0001.h5")
    _garble(res / "flow" / "chunk_0001.h5")
    first = r.call("--cores", "2", "--keep-going")
    assert first.returncode != 0
    # the scene cuts read every masks chunk first (long-term weights and multipass wait for them)
    log = (work / "results" / "logs" / "clip" / "cuts.log").read_text()
    assert re.search(r"iovst cuts: error: '.*masks/chunk_0001\.h5': not a readable HDF5 file .*removed it", log), log
    assert not (res / "masks" / "chunk_0001.h5").exists()
    assert not (res / "longterm" / "chunk_0001.h5").exists()
    assert not (res / "paint" / "r1" / "chunk_0001.h5").exists()
    # stylize ran meanwhile: garble one per-frame cache entry and force that chunk to rerun
    entries = sorted((work / "cache" / "stylize").rglob("*.npz"))
    assert len(entries) == kt.N_FRAMES
    _garble(entries[0], 0.6, 16)
    for f in (res / "paint" / "r0").glob("chunk_*.h5"):
        f.unlink()
    # second run: regenerates masks 1 from the garbled flow 1 -> the masks job catches that one
    t_second = time.time()
    second = r.call("--cores", "2", "--keep-going")
    assert second.returncode != 0
    log = (work / "results" / "logs" / "clip" / "masks" / "chunk_0001.log").read_text()
    assert re.search(r"iovst masks: error: '.*flow/chunk_0001\.h5': .*corrupt.*removed it", log), log
    assert not (res / "flow" / "chunk_0001.h5").exists()
    # third run (the same command): everything regenerated, result as if nothing happened
    third = r.call("--cores", "2")
    assert third.returncode == 0, third.stderr[-3000:]
    # the garbled cache entry was found, deleted and its frame recomputed; the others were reused
    stylize_logs = "".join(
        f.read_text()
        for f in (work / "results" / "logs" / "clip" / "paint" / "r0").glob("*.log")
        if f.stat().st_mtime >= t_second
    )
    assert stylize_logs.count("cache: corrupt entry") == 1 and "deleted, recomputing" in stylize_logs
    assert len(re.findall(r"frame \d+: computed", stylize_logs)) == 1
    assert re.findall(r"frame \d+: reused", stylize_logs)  # (both deleted r0 chunks were rebuilt:
    # the default target names every intermediate artifact)
    a, b = kt.final_frames(ref.work), kt.final_frames(work)
    assert sorted(a) == sorted(b)
    for i in a:
        assert np.array_equal(a[i], b[i]), i


def test_stage_command_removes_a_corrupt_input_and_says_so(tmp_path):
    from iovst.storage import h5io

    flow = tmp_path / "flow.h5"
    h5io.write(
        flow,
        {"N1/forward": np.ones((2, 2, 8, 8), np.float16), "N1/backward": np.ones((2, 2, 8, 8), np.float16)},
        kind="flow",
        attrs={
            "first_frame": 0,
            "n_frames": 3,
            "offsets": [1],
            "height": 8,
            "width": 8,
            "params_hash": "x",
            "method": "dis",
        },
    )
    _garble(flow, 0.75, 32)
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "iovst",
            "masks",
            f"--flow={flow}",
            f"--out={tmp_path / 'm.h5'}",
            f"--params={stage_json('masks')}",
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.splitlines() if "error:" in ln]
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert re.match(
        r"iovst masks: error: '.*flow\.h5': .*(corrupt|not a readable|not a complete).*removed it so that it is "
        r"regenerated: run the same snakemake command again",
        lines[0],
    ), lines[0]
    assert not flow.exists() and not (tmp_path / "m.h5").exists()


def test_an_unreadable_frame_blames_the_extraction_only_when_the_digest_says_so(tmp_path):
    """A frame that no longer matches meta.json's frame_digest: meta.json is removed (the video is
    re-extracted by the next run) and the one error line goes to stderr as well as to --log."""
    from iovst.video import frames

    d = tmp_path / "frames"
    rng = np.random.default_rng(0)
    for i in range(3):
        frames.write_png(frames.frame_path(d, i), rng.random((8, 10, 3)))
    meta = tmp_path / "meta.json"
    fields = {"fps_num": 25, "fps_den": 1, "frame_count": 3, "width": 10, "height": 8}
    cmd = [
        sys.executable,
        "-m",
        "iovst",
        "encode",
        f"--frames-dir={d}",
        f"--meta={meta}",
        f"--out={tmp_path / 'o.mp4'}",
        f"--params={stage_json('encode')}",
        f"--log={tmp_path / 'logs' / 'encode.log'}",
    ]
    meta.write_text(json.dumps({**fields, "frame_digest": frames.digest(sorted(d.iterdir()))}))
    _garble(frames.frame_path(d, 1), 0.5, 4)
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert re.fullmatch(
        r"iovst encode: error: '.*meta\.json': the frames in '.*frames' no longer match its "
        r"frame_digest \(damaged extraction: frame '.*000001\.png': missing or unreadable\); "
        r"removed it so that it is regenerated: .*\n",
        r.stderr,
    ), r.stderr
    assert r.stderr in (tmp_path / "logs" / "encode.log").read_text()
    assert not meta.exists()
    # the same unreadable frame, but meta.json's digest says it was written that way: not removed
    meta.write_text(json.dumps({**fields, "frame_digest": frames.digest(sorted(d.iterdir()))}))
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 2 and re.fullmatch(
        r"iovst encode: error: frame '.*000001\.png': missing or unreadable\n", r.stderr
    ), r.stderr
    assert meta.exists()


def test_every_single_byte_flip_of_an_hdf5_artifact_is_caught_or_harmless(tmp_path):
    from iovst.errors import CacheError
    from iovst.storage import h5io

    rng = np.random.default_rng(0)
    data = {"frames": rng.random((3, 12, 16, 3)).astype(np.float16)}
    src = tmp_path / "a.h5"
    h5io.write(src, data, kind="frames", attrs={"first_frame": 4, "n_frames": 3, "round": 1})
    blob = src.read_bytes()
    bad = tmp_path / "b.h5"
    for pos in range(0, len(blob), 53):
        b = bytearray(blob)
        b[pos] ^= 0x41
        bad.write_bytes(bytes(b))
        try:
            h5io.verify(bad, kind="frames")
            with h5io.open_checked(bad, kind="frames") as f:
                attrs = (int(f.attrs["first_frame"]), int(f.attrs["n_frames"]), int(f.attrs["round"]))
            first, frames = h5io.read_frames(bad)
        except CacheError:
            continue
        assert attrs == (4, 3, 1) and first == 4, pos  # undetected flips must be in unused bytes
        assert np.array_equal(frames, data["frames"].astype(np.float32)), pos


# ----------------------------------------------------------------------------------- disk full
_LIMITED = textwrap.dedent("""
    import json, resource, signal, sys
    from pathlib import Path
    import numpy as np
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    d = Path(sys.argv[1])
    from iovst.video import frames
    from iovst.storage import h5io
    from iovst.storage.cache import FrameCache
    from iovst.errors import StorageError
    rng = np.random.default_rng(0)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
    out = {}
    jobs = {
        "png": lambda: frames.write_png(d / "frame.png", rng.random((128, 128, 3))),
        "h5": lambda: h5io.write(d / "flow.h5", {"x": rng.random((4, 2, 64, 64)).astype(np.float16)}, kind="flow"),
        "cache": lambda: FrameCache(d / "cache", "stylize").put("ab" * 32, rng.random((64, 64, 3)).astype(np.float16)),
    }
    for name, job in jobs.items():
        try:
            job()
            out[name] = "written"
        except StorageError as exc:
            out[name] = str(exc)
    print(json.dumps(out))
""")


def test_disk_full_gives_one_clear_line_and_leaves_nothing(tmp_path):
    r = subprocess.run([sys.executable, "-c", _LIMITED, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    for name, fname in (("png", "frame.png"), ("h5", "flow.h5"), ("cache", "ab" * 32 + ".npz")):
        assert fname in out[name] and "disk is full" in out[name] and "\n" not in out[name], out[name]
    left = [p.name for p in tmp_path.rglob("*") if p.is_file()]
    assert left == [], left  # no truncated artifact, no .tmp-* file


def test_disk_full_during_extract(tmp_path, make_clip):
    """ffmpeg writing frames into a full disk (here: a file-size limit) -> one line, nothing left."""
    import resource
    import signal

    clip = make_clip("clip.mp4", frames=5)

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (2048, 2048))

    params = stage_json("extract", extract={"size": 96, "max_pixels": 10**6})
    out = tmp_path / "res"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "iovst",
            "extract",
            f"--video={clip}",
            f"--frames-dir={out / 'frames'}",
            f"--meta={out / 'meta.json'}",
            f"--params={params}",
        ],
        capture_output=True,
        text=True,
        preexec_fn=limit,
        timeout=120,
    )
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if "error:" in ln]
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert "clip.mp4" in lines[0] and "disk is full" in lines[0], lines[0]
    assert not out.exists() or not any(out.iterdir()), list(out.rglob("*"))


# ------------------------------------------------------------------------------------ security
def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            owner = getattr(f.value, "id", "") if isinstance(f, ast.Attribute) else ""
            yield node, owner, name


def _shell_problems(node: ast.Call, owner: str, name: str) -> list[str]:
    """A ``shell=`` argument other than ``False``, or a call that always goes through a shell
    (``os.system``/``os.popen``/``os.spawn*``, ``subprocess.getoutput``/``getstatusoutput``)."""
    problems = []
    if any(
        k.arg == "shell" and not (isinstance(k.value, ast.Constant) and k.value.value is False) for k in node.keywords
    ):
        problems.append("shell=...")
    if (
        (owner, name)
        in {("os", "system"), ("os", "popen"), ("subprocess", "getoutput"), ("subprocess", "getstatusoutput")}
        or name.startswith("spawn")
        and owner == "os"
    ):
        problems.append(f"{owner}.{name}")
    return problems


def _command_problems(node: ast.Call, owner: str, name: str) -> list[str]:
    """A ``subprocess`` call whose command is not an argument list (a list, a name or a call)."""
    if owner != "subprocess" or name not in {"run", "Popen", "call", "check_call", "check_output"}:
        return []
    if not node.args or not isinstance(node.args[0], (ast.List, ast.Name, ast.Call)):
        return [f"subprocess.{name} without an argument list"]
    if isinstance(node.args[0], (ast.Constant, ast.JoinedStr, ast.BinOp)):
        return ["string command"]
    return []


def _unpickle_problems(node: ast.Call, owner: str, name: str) -> list[str]:
    """A load that may unpickle: ``torch.load`` without ``weights_only=True``, ``pickle.load``,
    ``np.load``/``numpy.load`` without ``allow_pickle=False``."""
    if name != "load":
        return []
    if owner == "torch" and not any(
        k.arg == "weights_only" and isinstance(k.value, ast.Constant) and k.value.value is True for k in node.keywords
    ):
        return ["torch.load without weights_only=True"]
    if owner == "pickle" or (
        owner in {"np", "numpy"}
        and not any(k.arg == "allow_pickle" and getattr(k.value, "value", None) is False for k in node.keywords)
    ):
        return [f"{owner}.load may unpickle"]
    return []


def test_no_shell_commands_and_safe_torch_load():
    sources = sorted((ROOT / "iovst").rglob("*.py")) + [ROOT / "tools" / "killtest.py"]
    problems = []
    for path in sources:
        tree = ast.parse(path.read_text(), filename=str(path))
        for node, owner, name in _calls(tree):
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            for check in (_shell_problems, _command_problems, _unpickle_problems):
                problems += [f"{where}: {p}" for p in check(node, owner, name)]
    assert not problems, problems
    smk = "".join(p.read_text() for p in [ROOT / "Snakefile", *(ROOT / "workflow" / "rules").glob("*.smk")])
    # every path in a shell command is quoted (:q) or a number / fixed word
    for m in re.finditer(r"\{(input|output|log|params)(\.\w+)?(:q)?\}", smk):
        name = m.group(0)
        if not m.group(3) and name not in (
            "{params.chunk_size}",
            "{params.device}",
            "{params.style}",
            "{params.extra}",
            "{params.neighbors}",
            "{params.paintings}",
        ):
            pytest.fail(f"unquoted {name} in a shell command")
