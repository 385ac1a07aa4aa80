"""SIGKILL anywhere (extract, flow, masks, stylize, multipass, encode), recover the README way,
lose at most one frame per kill and end bit-identical (tools/killtest.py); a second run in the
same directory is refused by Snakemake's lock."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def test_second_snakemake_in_the_same_directory_is_refused(killtest_ref):
    _, ref, _ = killtest_ref
    assert ref.concurrent, "the reference run ended before a second run could be tried"
    assert ref.concurrent_rc != 0
    assert "cannot be locked" in ref.concurrent and "--unlock" in ref.concurrent, ref.concurrent[-2000:]


def test_kills_anywhere_recover_with_at_most_one_frame_lost(killtest_ref):
    kt, ref, base = killtest_ref
    # one render absorbs the kills one after another (cheap); 6 planned so that >= 5 happen
    s = kt.run_killtest(6, seed=1, chain=6, workdir=base, reference=ref)
    assert not s["problems"], s["problems"]
    assert s["n"] >= 5, s["kills"]
    assert s["recovered"] == s["n"]
    assert s["max_recomputed"] <= 1
    assert len(set(s["stages_hit"]) - {"(between jobs)"}) >= 3, s["stages_hit"]
