#!/usr/bin/env bash
# Run by snakemake inside the freshly created env of iovst.yaml, from snakemake's working directory
# (the repository root): installs this checkout's iovst package (editable: later edits are seen).
set -euo pipefail
if ! grep -qs '^name = "iovst"' pyproject.toml; then
    echo "iovst.post-deploy.sh: error: run snakemake from the iovst repository root ('$PWD' has no iovst pyproject.toml)" >&2
    exit 1
fi
python -m pip install --no-deps --no-build-isolation -e .
