"""The numeric checks of :mod:`verified_transformer.claims.softmax`: float64, against our
``verified_transformer.nn`` and torch's, imported only when a check runs."""

from __future__ import annotations

import sympy as sp
import torch
from torch.autograd.functional import jacobian as autograd_jacobian

from verified_transformer.claims import numeric as nu
from verified_transformer.claims.softmax import P, i, j
from verified_transformer.derive import softmax as sm


def logits() -> nu.Reference:
    """Seeded logits (4 rows of 6, up to about +-9); c = +1000 on rows 1 and 3 and -1000 on rows
    2 and 4 (a column, where exp alone overflows); softmax by ``F.softmax`` on the last axis."""
    return nu.Reference(
        inputs={sm.z: nu.randn(4, 6, seed=2) * 3}, index=i, size=sm.n,
        scalars={sm.c: torch.tensor([[1000.0], [-1000.0]] * 2, dtype=nu.DTYPE)},
        operators=lambda F, nn: {sm.Softmax: lambda v: F.softmax(v, dim=-1)})


def jacobian(formula: tuple) -> bool:
    """The entry dp_i/dz_j (chain 0) at p = softmax(z), n = 5, against autograd Jacobians of our
    softmax and torch's (an autograd check: the chains' derivatives are not evaluated)."""
    z = nu.randn(5, seed=3)
    p = {P[t + 1]: sp.Float(v, 30) for t, v in enumerate(torch.softmax(z, dim=0).tolist())}
    candidate = nu.to_tensor(sp.Matrix(5, 5, lambda r, s: formula[0][-1].subs(
        {i: r + 1, j: s + 1}).xreplace(p)))
    return nu.for_each_implementation(lambda F, nn: nu.close(
        autograd_jacobian(lambda v: F.softmax(v, dim=0), z), candidate))
