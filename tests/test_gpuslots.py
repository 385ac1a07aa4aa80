"""iovst.runtime.gpuslots: flock-based GPU slot allocation between processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from iovst.errors import IovstError
from iovst.runtime import gpuslots

# A holder process: claims a slot, prints "<idx> <pid of a grandchild or 0>", then sleeps until killed.
HOLDER = textwrap.dedent(
    """
    import subprocess, sys, time
    from iovst.runtime.gpuslots import acquire
    n, lock_dir, spawn = int(sys.argv[1]), sys.argv[2], sys.argv[3] == "1"
    idx, fd = acquire(n, lock_dir, timeout=30, poll=0.05)
    child = subprocess.Popen(["sleep", "60"]) if spawn else None
    print(idx, child.pid if child else 0, flush=True)
    time.sleep(60)
    """
)


@pytest.fixture
def holders():
    procs: list[subprocess.Popen] = []
    extra_pids: list[int] = []

    def start(n: int, lock_dir, spawn_child: bool = False) -> tuple[subprocess.Popen, int, int]:
        p = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(n), str(lock_dir), "1" if spawn_child else "0"],
            stdout=subprocess.PIPE,
            text=True,
        )
        procs.append(p)
        line = p.stdout.readline().split()
        assert line, "holder process died before claiming a slot"
        idx, child = int(line[0]), int(line[1])
        if child:
            extra_pids.append(child)
        return p, idx, child

    yield start
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()
    for pid in extra_pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_concurrent_holders_get_different_slots(tmp_path, holders):
    _, a, _ = holders(2, tmp_path)
    _, b, _ = holders(2, tmp_path)
    assert {a, b} == {0, 1}
    assert gpuslots.try_acquire(2, tmp_path) is None


def test_killed_holder_frees_its_slot(tmp_path, holders):
    p, idx, _ = holders(1, tmp_path)
    assert idx == 0
    assert gpuslots.try_acquire(1, tmp_path) is None
    p.send_signal(signal.SIGKILL)
    p.wait()
    got = gpuslots.try_acquire(1, tmp_path)
    assert got is not None and got[0] == 0
    os.close(got[1])


def test_lock_not_inherited_by_holders_children(tmp_path, holders):
    """A GPU job's subprocess (ffmpeg, ...) outliving it must not keep the slot."""
    p, idx, child = holders(1, tmp_path, spawn_child=True)
    assert child > 0
    p.send_signal(signal.SIGKILL)
    p.wait()
    os.kill(child, 0)  # the grandchild still runs
    got = gpuslots.try_acquire(1, tmp_path)
    assert got is not None, "slot still locked by the holder's child process"
    os.close(got[1])


def test_all_busy_waits_then_times_out(tmp_path, holders):
    holders(2, tmp_path)
    holders(2, tmp_path)
    t0 = time.monotonic()
    with pytest.raises(gpuslots.GpuSlotTimeout) as exc:
        gpuslots.acquire(2, tmp_path, timeout=0.6, poll=0.05)
    elapsed = time.monotonic() - t0
    assert 0.55 <= elapsed < 5
    msg = str(exc.value)
    assert str(tmp_path) in msg and "all 2 GPU slot(s) busy" in msg
    assert isinstance(exc.value, IovstError)  # reported as one line by the CLI


def test_waiter_gets_slot_when_holder_dies(tmp_path, holders):
    p, _, _ = holders(1, tmp_path)
    killer = subprocess.Popen(["sh", "-c", f"sleep 0.5; kill -9 {p.pid}"])
    try:
        t0 = time.monotonic()
        idx, fd = gpuslots.acquire(1, tmp_path, timeout=20, poll=0.05)
        assert idx == 0 and time.monotonic() - t0 >= 0.3
        os.close(fd)
    finally:
        killer.wait()


def test_context_manager_sets_and_restores_env(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "7")
    with gpuslots.gpu_slot(3, tmp_path, timeout=1) as a:
        assert a == 0 and os.environ["CUDA_VISIBLE_DEVICES"] == "0"
        with gpuslots.gpu_slot(3, tmp_path, timeout=1) as b:
            assert b == 1 and os.environ["CUDA_VISIBLE_DEVICES"] == "1"
        assert os.environ["CUDA_VISIBLE_DEVICES"] == "0"
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "7"
    got = gpuslots.try_acquire(1, tmp_path)  # released
    assert got is not None
    os.close(got[1])


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"IOVST_GPU_SLOTS": ""},
        {"IOVST_GPU_SLOTS": "1"},
        {"IOVST_GPU_SLOTS": "0"},
        {"IOVST_GPU_SLOTS": "2", "CUDA_VISIBLE_DEVICES": "3"},
        {"IOVST_GPU_SLOTS": "2", "SLURM_JOB_ID": "42"},
    ],
)
def test_claim_from_env_noop(tmp_path, env):
    env = dict(env, IOVST_GPU_LOCK_DIR=str(tmp_path))
    before = dict(env)
    assert gpuslots.claim_gpu_from_env(env) is None
    assert env == before
    assert not list(tmp_path.iterdir())  # nothing locked


def test_claim_from_env_bad_value(tmp_path):
    with pytest.raises(IovstError, match="IOVST_GPU_SLOTS"):
        gpuslots.claim_gpu_from_env({"IOVST_GPU_SLOTS": "two", "IOVST_GPU_LOCK_DIR": str(tmp_path)})


def test_claim_from_env_in_processes(tmp_path):
    """Stage commands call claim_gpu_from_env() at start-up: concurrent ones get different GPUs."""
    code = textwrap.dedent(
        """
        import os, sys, time
        from iovst.runtime.gpuslots import claim_gpu_from_env
        idx = claim_gpu_from_env()
        assert claim_gpu_from_env() == idx   # idempotent
        print(idx, os.environ["CUDA_VISIBLE_DEVICES"], flush=True)
        time.sleep(float(sys.argv[1]))
        """
    )
    env = {k: v for k, v in os.environ.items() if k not in ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_ID")}
    env.update(IOVST_GPU_SLOTS="2", IOVST_GPU_LOCK_DIR=str(tmp_path), IOVST_GPU_WAIT="0.5")
    procs = [
        subprocess.Popen([sys.executable, "-c", code, "30"], stdout=subprocess.PIPE, text=True, env=env)
        for _ in range(2)
    ]
    try:
        outs = [p.stdout.readline().split() for p in procs]
        assert sorted(o[0] for o in outs) == ["0", "1"]
        assert all(o[0] == o[1] for o in outs)  # CUDA_VISIBLE_DEVICES == slot
        # a third one: all busy -> clear one-line error after IOVST_GPU_WAIT
        third = subprocess.run([sys.executable, "-c", code, "0"], capture_output=True, text=True, env=env, timeout=60)
        assert third.returncode != 0
        assert "all 2 GPU slot(s) busy" in third.stderr
    finally:
        for p in procs:
            p.kill()
            p.wait()
