"""Parameterized brushstrokes (Kotovenko et al., CVPR 2021), coherent across video frames.

Modules: :mod:`~iovst.style.brush.strokes` (parameter container), :mod:`~iovst.style.brush.init` (SLIC
initialisation), :mod:`~iovst.style.brush.render` (differentiable renderers), :mod:`~iovst.style.brush.losses`
(stroke regularisers), :mod:`~iovst.style.brush.paint` (per-frame optimisation + pixel stage,
:func:`~iovst.style.brush.paint.paint_frame`) and :mod:`~iovst.style.brush.video` (advect strokes by the flow,
drop and reseed).
"""
