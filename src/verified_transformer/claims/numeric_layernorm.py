"""The numeric checks of :mod:`verified_transformer.claims.layernorm`: float64, against our
``verified_transformer.nn`` and torch's, imported only when a check runs.

Most claims are compared by :func:`~verified_transformer.claims.numeric.chains_agree` (``LN``
and ``RMSNorm`` by ``F.layer_norm`` / ``F.rms_norm``, which the module with the same weights must
match); the moments' and the Jacobian's by :func:`measured`, where xhat or J is what the
implementation computes (its output, autograd's Jacobian); Table 1 by its own recomputation.
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

WIDTH = 6  # n for the numeric checks


def _agreeing(out: torch.Tensor, module: torch.nn.Module, v: torch.Tensor, *weights: torch.Tensor
              ) -> torch.Tensor:
    """The functional's ``out``, or NaN (so that the comparison fails) where the module, with the
    same weights loaded, disagrees."""
    with torch.no_grad():
        for parameter, value in zip(module.parameters(), weights, strict=True):
            parameter.copy_(value)
    return out if close(out, module(v)) else out * float("nan")


def rows(seed: int, spread: float = 1.0, shift: float = 0.0, gain: int | None = None,
         bias: int | None = None, scalars: dict | None = None, small: bool = False,
         default: bool = False, modules: bool = True) -> Reference:
    """Three seeded rows of width 6 (``randn * spread + shift``; ``small``: and a row 1000 times
    smaller, where epsilon matters), a seeded gain and bias (None: 1 and 0), eps = 1e-5 unless
    ``scalars`` or a condition sets it. LN and RMSNorm by F.layer_norm and F.rms_norm
    (``default``: eps=None, torch.finfo(float64).eps); with ``modules``, nn.LayerNorm and
    nn.RMSNorm with the same weights must agree."""
    xs = randn(3, WIDTH, seed=seed) * spread + shift
    xs = torch.cat([xs, 1e-3 * xs[:1]]) if small else xs
    weight = torch.ones(WIDTH, dtype=DTYPE) if gain is None else randn(WIDTH, seed=gain)
    offset = torch.zeros(WIDTH, dtype=DTYPE) if bias is None else randn(WIDTH, seed=bias)

    def operators(F: ModuleType, nn: ModuleType) -> dict:
        def layer(v: torch.Tensor, e: float) -> torch.Tensor:
            out = F.layer_norm(v, (WIDTH,), weight, offset, e)
            module = nn.LayerNorm(WIDTH, eps=e, dtype=DTYPE)
            return _agreeing(out, module, v, weight, offset) if modules else out

        def rms(v: torch.Tensor, e: float) -> torch.Tensor:
            e = None if default else e
            out = F.rms_norm(v, (WIDTH,), weight, e)
            module = nn.RMSNorm(WIDTH, eps=e, dtype=DTYPE)
            return _agreeing(out, module, v, weight) if modules else out

        return {ln.LN: layer, ln.RMSNorm: rms}

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


def measured(where: tuple, given: sp.IndexedBase, epsilon: float, seed: int, width: int = WIDTH,
             count: int = 1, scale: float = 1.0, shift: float = 0.0) -> Callable[[tuple], bool]:
    """``check(chains)``: every two neighbours of every chain, and each where pair that defines
    ``given`` or states a condition (a sum), agree in float64 on ``count`` seeded rows, where
    ``given`` is each implementation's: the output of F.layer_norm and of nn.LayerNorm (no affine)
    as xhat, autograd's Jacobian of each as J; v runs over a basis orthogonal to 1 and x. The other
    where pairs are substituted; each side, written out (doit), is compiled to Python (lambdify
    writes sums as loops) and evaluated at every index i, j in 1..width."""
    kept = tuple(p for p in where if isinstance(p[0], sp.Sum) or getattr(p[0], "base", 0) == given)
    rest = tuple(p for p in where if p not in kept)

    def compiled(e: sp.Basic) -> tuple[Callable, set]:
        e = substitute(rest, substitute(rest, sp.sympify(e)).doit())
        return sp.lambdify([x, XHAT, J, V, i, j, n, eps], e, modules="math"), e.free_symbols

    def grid(side: tuple[Callable, set], arrays: list) -> torch.Tensor:
        f, free = side
        rs, cs = (range(1, width + 1) if s in free else [1] for s in (i, j))
        return torch.tensor([[float(f(*arrays, r, q, width, epsilon)) for q in cs] for r in rs],
                            dtype=DTYPE)

    def check(chains: tuple) -> bool:
        sides = [[compiled(e) for e in chain] for chain in (*chains, *kept)]
        along = any(sp.sympify(e).has(V) for chain in (*chains, *kept) for e in chain)

        def holds(F: ModuleType, nn: ModuleType) -> bool:
            module = nn.LayerNorm(width, eps=epsilon, elementwise_affine=False, dtype=DTYPE)
            for row in randn(count, width, seed=seed) * scale + shift:
                basis = torch.linalg.qr(torch.stack([torch.ones_like(row), row], 1), "complete")
                directions = basis.Q[:, 2:].T if along else torch.zeros(1, width, dtype=DTYPE)
                for f in (lambda v: F.layer_norm(v, (width,), eps=epsilon), module):
                    value = autograd_jacobian(f, row) if given == J else f(row)
                    for v in directions:  # 1-based: a leading zero along each dimension
                        arrays = [np.pad(t.detach().numpy(), [(1, 0)] * t.dim())
                                  for t in (row, value, value, v)]
                        values = [[grid(s, arrays) for s in chain] for chain in sides]
                        if not all(close(*torch.broadcast_tensors(a, b)) for chain in values
                                   for a, b in zip(chain, chain[1:], strict=False)):
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
        for method, f in methods.items():
            base = f(xs @ w.T, w)
            row = tuple(close(f(x2 @ w2.T, w2), base, atol=1e-9)
                        for x2, w2 in (moves[t] for t in ln.TRANSFORMATIONS))
            if row != table[method]:
                return False
        return True

    return for_each_implementation(holds)
