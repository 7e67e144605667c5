"""The numeric checks of :mod:`verified_transformer.claims.softmax`: float64, against our
``verified_transformer.nn`` and torch's, imported only when a check runs."""

from __future__ import annotations

import torch

from verified_transformer.claims import numeric as nu
from verified_transformer.claims.softmax import i, j
from verified_transformer.derive import softmax as sm


def logits() -> nu.Reference:
    """Seeded logits (4 rows of 6, up to about +-9); c = +1000 on rows 1 and 3 and -1000 on rows
    2 and 4 (a column, where exp alone overflows); softmax by ``F.softmax`` on the last axis."""
    return nu.Reference(
        inputs={sm.z: nu.randn(4, 6, seed=2) * 3}, index=i, size=sm.n,
        scalars={sm.c: torch.tensor([[1000.0], [-1000.0]] * 2, dtype=nu.DTYPE)},
        operators=lambda F, nn: {sm.Softmax: lambda v: F.softmax(v, dim=-1)})


def jacobian() -> nu.Reference:
    """The entries dp_i/dz_j (chain 0; the matrix form and the row sums are proved only) at
    seeded logits, n = 5: p by ``F.softmax``, its derivative by autograd's Jacobian of it."""
    return nu.Reference(inputs={sm.z: nu.randn(1, 5, seed=3)}, scalars={}, index=(i, j),
                        size=sm.n, chains=(0, 1), operators=lambda F, nn: {
                            sm.Softmax: lambda v: F.softmax(v, dim=-1)})
