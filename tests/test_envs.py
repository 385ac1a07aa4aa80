"""The conda environment files: valid YAML, conda-forge only, every runtime dependency of
pyproject.toml under its conda-forge name, and the rules' env installs the package itself."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

ROOT = Path(__file__).resolve().parents[1]
ENV_FILES = [ROOT / "environment.yml", ROOT / "workflow" / "envs" / "iovst.yaml"]
#: pip name -> conda-forge name, where they differ
CONDA_NAME = {"torch": "pytorch", "opencv-python-headless": "py-opencv", "matplotlib": "matplotlib-base"}


def _name(spec: str) -> str:
    """Package name of a conda or pip spec (``"av >=11,<19"`` -> ``"av"``)."""
    return re.split(r"[\s<>=!\[;]", spec.strip(), maxsplit=1)[0].lower()


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_conda_env_is_conda_forge_only_and_has_every_runtime_dependency(path):
    env = yaml.safe_load(path.read_text())
    assert env["channels"] == ["conda-forge"]
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    assert not any("::" in d for d in conda), "a channel named per package"
    names = {_name(d) for d in conda}
    runtime = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for req in runtime:
        pip_name = _name(req)
        assert CONDA_NAME.get(pip_name, pip_name) in names, f"{path.name} lacks {pip_name}"
    assert "pytorch >=2.1 cuda*" in conda and any(d.startswith("cuda-version") for d in conda)
    assert not {"pytorch-cuda", "tqdm"} & names
    # iovst itself never through a pip `-e` entry (relative to a copy of the file, and it would pull
    # opencv-python-headless from PyPI next to py-opencv)
    pip = [p for d in env["dependencies"] if isinstance(d, dict) for p in d.get("pip", [])]
    assert not [p for p in pip if p.startswith("-e")]


def test_rules_env_installs_iovst_by_post_deploy_script():
    # snakemake runs <env>.post-deploy.sh, next to the env file, inside the new env
    script = (ROOT / "workflow" / "envs" / "iovst.post-deploy.sh").read_text()
    assert "pip install --no-deps --no-build-isolation -e ." in script
    for smk in (ROOT / "workflow" / "rules").glob("*.smk"):
        envs = re.findall(r'conda:\s*"([^"]+)"', smk.read_text())
        assert all((smk.parent / e).resolve() == ROOT / "workflow" / "envs" / "iovst.yaml" for e in envs), smk
