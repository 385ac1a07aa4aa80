"""The results layout (iovst.layout): rule patterns, job files, the default target's lists."""

from __future__ import annotations

from iovst import config
from iovst.layout import Layout


def _cfg(**over) -> dict:
    base = {"videos": {"v": "v.mp4"}, "styles": {"a": {"images": ["a.png"]}, "b": {"images": ["b.png"]}}}
    return config.validate(config.deep_merge(base, over))


def test_patterns_and_files_are_the_same_paths():
    L = Layout("res")
    assert L.flow("{video}", "{k}") == "res/{video}/flow/chunk_{k}.h5"
    assert L.flow("v", 7) == "res/v/flow/chunk_0007.h5"
    assert L.round("v", "a", 2, 13) == "res/v/a/r2/chunk_0013.h5"
    assert L.log("{video}", "flow", "chunk_{k}") == "res/logs/{video}/flow/chunk_{k}.log"
    assert L.benchmark("{video}", "flow", "chunk_{k}") == "res/logs/{video}/flow/chunk_{k}.benchmark.tsv"
    assert L.encoded("v", "a", side_by_side=True) == "res/v/a/v_a_side_by_side.mp4"


def test_artifacts_follow_the_config():
    L = Layout("res")
    full = L.artifacts(_cfg(multipass={"passes": 2}), "v", 3)
    # meta, frames; flow, masks, longterm: 3 each; cuts.json; 2 styles x 3 rounds x 3 chunks
    assert len(full) == 2 + 3 * 3 + 1 + 2 * 3 * 3 and len(set(full)) == len(full)
    assert L.longterm("v", 2) in full and L.round("v", "b", 2, 2) in full and L.cuts("v") in full
    plain = L.artifacts(_cfg(multipass={"passes": 0}, flow={"preview": False}, metrics=False), "v", 3)
    assert plain == ["res/v/meta.json", "res/v/frames"] + [L.round("v", s, 0, k) for s in "ab" for k in range(3)]
    # the metrics (on by default) read the flow and masks even without multipass
    measured = L.artifacts(_cfg(multipass={"passes": 0}, flow={"preview": False}), "v", 3)
    assert L.masks("v", 2) in measured and L.longterm("v", 0) not in measured
    targets = L.targets(_cfg(multipass={"passes": 1}, encode={"previews": True, "side_by_side": False}), "v")
    assert L.preview("v", "b", 1) in targets and L.encoded("v", "a") in targets
    assert L.encoded("v", "a", side_by_side=True) not in targets
    assert (
        L.metrics("v", "b", "thumbnails") == "res/v/b/metrics/thumbnails.png" and L.metrics("v", "b", "json") in targets
    )
    assert not [t for t in L.targets(_cfg(metrics=False), "v") if "/metrics/" in t]


def test_existing_globs_under_any_root(tmp_path):
    root = tmp_path / "odd [root]*"
    L = Layout(str(root))
    for k in (1, 0):
        p = root / "v" / "a" / "r1" / f"chunk_{k:04d}.h5"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.touch()
    assert L.existing("round", "v", "a", 1, "*") == [root / "v/a/r1/chunk_0000.h5", root / "v/a/r1/chunk_0001.h5"]
    assert L.existing("round_dir", "v", "a", "*") == [root / "v/a/r1"]
    assert Layout.of_run_dir(root / "v" / "a") == (L, "v", "a")
