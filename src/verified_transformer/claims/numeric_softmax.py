"""The numeric checks of :mod:`verified_transformer.claims.softmax`: float64, against our
``verified_transformer.nn`` and torch's, imported only when a check runs."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import sympy as sp
import torch
from torch.autograd.functional import jacobian as autograd_jacobian

from verified_transformer.claims.numeric import close, for_each_implementation, randn
from verified_transformer.claims.softmax import (
    Entry,
)
from verified_transformer.derive import softmax as sm


def _evaluate(entry: Entry, logits: torch.Tensor) -> torch.Tensor:
    """Evaluate a symbolic-n softmax component formula at the rows of ``logits``."""
    size = logits.shape[-1]
    exprs = [entry(sp.Integer(t)).subs(sm.n, size).doit() for t in range(1, size + 1)]
    rows = []
    for row in logits.tolist():
        values = {sm.z[t + 1]: sp.Float(v, 30) for t, v in enumerate(row)}
        rows.append([float(e.xreplace(values).evalf(30)) for e in exprs])
    return torch.tensor(rows, dtype=logits.dtype)


def sums_to_one(entry: Entry) -> bool:
    z = randn(3, 5, seed=1) * 3
    expected = _evaluate(entry, z)

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        p = F.softmax(z, dim=-1)
        return close(p, expected) and close(p.sum(-1), torch.ones(3, dtype=z.dtype))

    return close(expected.sum(-1), torch.ones(3, dtype=z.dtype)) and for_each_implementation(holds)


def shift(transform: Callable[[sp.Expr], sp.Expr]) -> bool:
    """Our softmax and torch's at ``T(z)`` with ``c = +-1000`` (exp alone would overflow)."""
    z = randn(4, 6, seed=2)
    ok = True
    for shift in (1000.0, -1000.0):
        moved = [
            [
                float(transform(sm.z[t + 1]).subs({sm.z[t + 1]: v, sm.c: shift}))
                for t, v in enumerate(row)
            ]
            for row in z.tolist()
        ]
        moved_t = torch.tensor(moved, dtype=z.dtype)

        def holds(F: ModuleType, nn: ModuleType, moved_t: torch.Tensor = moved_t) -> bool:
            return close(F.softmax(moved_t, dim=-1), F.softmax(z, dim=-1))

        ok = ok and for_each_implementation(holds)
    return ok


def jacobian(formula: Callable[[Entry, sp.Expr, sp.Expr], sp.Expr]) -> bool:
    """Candidate at p = softmax(z) against autograd Jacobians of our softmax and torch's."""
    z = randn(5, seed=3)
    p = torch.softmax(z, dim=0).tolist()

    def p_at(t: sp.Expr) -> sp.Expr:
        return sp.Float(p[int(t) - 1], 30)

    candidate = torch.tensor(
        [
            [float(formula(p_at, sp.Integer(r), sp.Integer(s))) for s in range(1, 6)]
            for r in range(1, 6)
        ],
        dtype=z.dtype,
    )

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        return close(autograd_jacobian(lambda v: F.softmax(v, dim=0), z), candidate)

    return for_each_implementation(holds)


def definition(entry: Entry) -> bool:
    """The formula at n = 5 (logits up to +-9) equals F.softmax, ours and torch's."""
    z = randn(3, 5, seed=4) * 3
    expected = _evaluate(entry, z)

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        return close(F.softmax(z, dim=-1), expected)

    return for_each_implementation(holds)
