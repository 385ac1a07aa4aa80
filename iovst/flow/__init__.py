"""Optical flow and what is derived from it: estimation (RAFT / DIS), warping, reliability masks,
closest-first long-term weights, and the chunk-file accessors."""
