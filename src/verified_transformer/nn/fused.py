"""The one switch between torch's fused kernels and our explicit formulas.

Every function in :mod:`verified_transformer.nn.functional`, and so every module built on them,
reads this switch when it is called:

* **fused** (the default): hand the core computation to torch's own kernels
  (``torch.softmax``, ``F.layer_norm``, ``F.rms_norm``, ``F.scaled_dot_product_attention``).
* **explicit**: compute the same formula from elementary tensor operations (``exp``, ``sum``,
  ``mean``, ``rsqrt``, ``matmul``, ...), so every step of the formula can be read and checked.

The default is *fused* because a user who runs a layer for real wants the fastest, most
memory-frugal result, and the two paths are tested equal (to rounding) in the test suite:
the fused attention kernel never stores the :math:`L \\times S` weight matrix for the backward pass,
and the fused normalization kernels make one pass over the data instead of several.
The switch is one process-wide setting (not per thread). The book switches to the explicit path
to show and verify the formulas::

    from verified_transformer.nn import fused_kernels

    with fused_kernels(False):  # explicit formulas inside this block
        y = layer(x)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

_fused_enabled = True


def fused_kernels_enabled() -> bool:
    """Return True when torch's fused kernels are used, False for the explicit formulas."""
    return _fused_enabled


def set_fused_kernels(enabled: bool) -> None:
    """Select torch's fused kernels (``True``, the default) or the explicit formulas (``False``)."""
    global _fused_enabled
    if not isinstance(enabled, bool):
        raise TypeError(f"enabled must be a bool, got {type(enabled).__name__}")
    _fused_enabled = enabled


@contextmanager
def fused_kernels(enabled: bool) -> Iterator[None]:
    """Use fused kernels (``True``) or the explicit formulas (``False``) inside a ``with`` block;
    on leaving it, also by an exception, the previous setting is back (as with torch's
    ``torch.nn.attention.sdpa_kernel``). Prefer it to :func:`set_fused_kernels`."""
    previous = _fused_enabled
    set_fused_kernels(enabled)
    try:
        yield
    finally:
        set_fused_kernels(previous)
