"""The numeric checks of :mod:`verified_transformer.claims.layernorm`: float64, against our
``verified_transformer.nn`` and torch's, imported only when a check runs.

Most claims are compared by :func:`~verified_transformer.claims.numeric.chains_agree` (``LN``
and ``RMSNorm`` by ``F.layer_norm`` / ``F.rms_norm``, which the module with the same weights must
match); the Jacobian's by :func:`jacobian` (autograd's); Table 1 by its own recomputation.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import numpy as np
import sympy as sp
import torch
from torch.autograd.functional import jacobian as autograd_jacobian

from verified_transformer.claims.layernorm import STATS, XHAT, J, V, eps, i, j, n, x
from verified_transformer.claims.ledger import substitute
from verified_transformer.claims.numeric import (
    DTYPE,
    Reference,
    chains_agree,
    close,
    for_each_implementation,
    randn,
    table_1_moves,
)
from verified_transformer.derive import layernorm as ln
from verified_transformer.derive.operators import vector

WIDTH = 6  # n for the numeric checks


def rows(seed: int, spread: float = 1.0, shift: float = 0.0, gain: int | None = None,
         bias: int | None = None, scalars: dict | None = None, small: bool = False,
         default: bool = False, modules: bool = True, width: int = WIDTH) -> Reference:
    """Three seeded rows (``randn * spread + shift``; ``small``: and a row 1000 times smaller,
    where epsilon matters), a seeded gain and bias (None: 1 and 0), eps = 1e-5 unless
    ``scalars`` or a condition sets it. LN and RMSNorm by F.layer_norm and F.rms_norm
    (``default``: eps=None, torch.finfo(float64).eps); with ``modules``, where nn.LayerNorm or
    nn.RMSNorm with the same weights disagrees, NaN (so that the comparison fails)."""
    xs = randn(3, width, seed=seed) * spread + shift
    xs = torch.cat([xs, 1e-3 * xs[:1]]) if small else xs
    weight = torch.ones(width, dtype=DTYPE) if gain is None else randn(width, seed=gain)
    offset = torch.zeros(width, dtype=DTYPE) if bias is None else randn(width, seed=bias)

    def operators(F: ModuleType, nn: ModuleType) -> dict:
        def norm(functional: Callable, module: type, *weights: torch.Tensor) -> Callable:
            def f(v: torch.Tensor, e: float) -> torch.Tensor:
                e = None if default else e
                out = functional(v, (width,), *weights, e)
                if not modules:
                    return out
                twin = module(width, eps=e, dtype=DTYPE)
                with torch.no_grad():
                    for parameter, value in zip(twin.parameters(), weights, strict=True):
                        parameter.copy_(value)
                return out if close(out, twin(v)) else out * float("nan")
            return f

        return {ln.LN: norm(F.layer_norm, nn.LayerNorm, weight, offset),
                ln.RMSNorm: norm(F.rms_norm, nn.RMSNorm, weight)}

    return Reference(inputs={x: xs, ln.gamma: weight, ln.beta: offset},
                     scalars={eps: 1e-5} | (scalars or {}), index=i, size=n, operators=operators)


def norms() -> Reference:
    """Seeded rows, a seeded gain (no bias), a = 3.5, c = 100, eps = 1e-5 unless a condition sets
    it; LN and RMSNorm by ``F.layer_norm`` and ``F.rms_norm``."""
    return rows(44, 1.0, 1.0, 45, scalars={ln.a: 3.5, ln.c: 100.0}, modules=False)


def definition(chains: tuple) -> bool:
    """With gain and bias (eps = 1e-5), on a small row too; the where pairs in the order that
    writes them out in one pass (sigma^2, then mu)."""
    return chains_agree(chains, STATS, rows(40, 2.0, 1.0, 41, 42, small=True))


def rms_definition(chains: tuple) -> bool:
    """At eps = 1e-6 and at the default eps (None: torch.finfo(float64).eps)."""
    return chains_agree(chains, (), rows(51, gain=52, scalars={eps: 1e-6})) and chains_agree(
        chains, (), rows(51, gain=52, scalars={eps: torch.finfo(DTYPE).eps}, default=True))


def moments(chains: tuple) -> bool:
    """xhat is LN(x) as each implementation computes it (gain 1, bias 0, eps = 0.5, three rows of
    width 8), and the where pair that defines it is compared as one more chain."""
    xhat = ln.LN(vector(x), i)
    return chains_agree((*chains, (xhat, ln.normalized_abbreviated(i, eps))),
                        ((XHAT[i], xhat), *STATS), rows(43, 1.0, 2.0, scalars={eps: 0.5}, width=8))


def jacobian(where: tuple, epsilon: float, seed: int, scale: float = 1.0
             ) -> Callable[[tuple], bool]:
    """``check(chains)``: every two neighbours of every chain, and each where pair that defines
    J or states a condition (a sum), agree in float64 on a seeded row of width 6 (randn * scale),
    J being autograd's Jacobian of F.layer_norm and of nn.LayerNorm (no affine), v running over a
    basis orthogonal to 1 and x. (Two free indices and autograd: more than chains_agree
    evaluates.) The other where pairs are substituted; each side, written out (doit), is compiled
    by lambdify (sums as loops) and evaluated at every index i, j in 1..6."""
    kept = tuple(p for p in where if isinstance(p[0], sp.Sum) or getattr(p[0], "base", 0) == J)
    rest = tuple(p for p in where if p not in kept)
    row = randn(1, WIDTH, seed=seed)[0] * scale
    orthogonal = torch.linalg.qr(torch.stack([torch.ones_like(row), row], 1), "complete").Q[:, 2:]

    def compiled(e: sp.Basic) -> Callable[..., torch.Tensor]:
        e = substitute(rest, substitute(rest, sp.sympify(e)).doit())
        f = sp.lambdify([x, J, V, i, j, n, eps], e, modules="math")
        rs, cs = (range(1, WIDTH + 1) if s in e.free_symbols else [1] for s in (i, j))
        return lambda *arrays: torch.tensor(
            [[float(f(*arrays, r, q, WIDTH, epsilon)) for q in cs] for r in rs], dtype=DTYPE)

    def check(chains: tuple) -> bool:
        sides = [[compiled(e) for e in chain] for chain in (*chains, *kept)]
        along = any(sp.sympify(e).has(V) for chain in (*chains, *kept) for e in chain)
        directions = orthogonal.T if along else torch.zeros(1, WIDTH, dtype=DTYPE)

        def holds(F: ModuleType, nn: ModuleType) -> bool:
            module = nn.LayerNorm(WIDTH, eps=epsilon, elementwise_affine=False, dtype=DTYPE)
            for f in (lambda v: F.layer_norm(v, (WIDTH,), eps=epsilon), module):
                for v in directions:  # 1-based: a leading zero along each dimension
                    arrays = [np.pad(t.detach().numpy(), [(1, 0)] * t.dim())
                              for t in (row, autograd_jacobian(f, row), v)]
                    if not all(close(*torch.broadcast_tensors(a(*arrays), b(*arrays)))
                               for chain in sides for a, b in zip(chain, chain[1:], strict=False)):
                        return False
            return True

        return for_each_implementation(holds)

    return check


def table(table: dict[str, tuple[bool, ...]]) -> bool:
    """The same 24 entries in float64: LayerNorm and RMSNorm from our code and torch's (eps = 0),
    batch norm (training statistics) and weight norm written out."""
    xs, w, moves = table_1_moves()
    units = w.shape[0]

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        methods = {
            "batch norm": lambda a, _: (a - a.mean(0)) / a.var(0, unbiased=False).sqrt(),
            "weight norm": lambda a, wm: a / wm.norm(dim=1),
            "layer norm": lambda a, _: F.layer_norm(a, (units,), eps=0.0),
            "RMS norm": lambda a, _: F.rms_norm(a, (units,), eps=0.0),
        }
        return all(tuple(close(f(x2 @ w2.T, w2), f(xs @ w.T, w), atol=1e-9)
                         for x2, w2 in map(moves.get, ln.TRANSFORMATIONS)) == table[method]
                   for method, f in methods.items())

    return for_each_implementation(holds)
