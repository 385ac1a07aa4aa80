"""Artifacts on disk: atomic writes, HDF5 chunk files, the per-frame cache, meta.json."""
