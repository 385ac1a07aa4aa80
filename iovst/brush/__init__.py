"""Parameterized brushstrokes (Kotovenko et al., CVPR 2021), coherent across video frames.

Modules: :mod:`~iovst.brush.strokes` (parameter container), :mod:`~iovst.brush.init` (SLIC
initialisation), :mod:`~iovst.brush.render` (differentiable renderers), :mod:`~iovst.brush.losses`
(stroke regularisers), :mod:`~iovst.brush.paint` (per-frame optimisation + pixel stage,
:func:`~iovst.brush.paint.paint_frame`) and :mod:`~iovst.brush.video` (advect strokes by the flow,
drop and reseed).
"""
