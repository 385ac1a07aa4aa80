"""Video in and out: probe, ffmpeg calls, lossless frames, extract, encode, flow preview."""
