"""The numeric checks of :mod:`verified_transformer.claims.layernorm`: float64, against our
``verified_transformer.nn`` and torch's, imported only when a check runs.

Most claims are compared by :func:`~verified_transformer.claims.numeric.chains_agree` (each ``LN``
and ``RMSNorm`` by ``F.layer_norm`` / ``F.rms_norm``, which the module with the same weights must
match); the moments' and the Jacobian's by :func:`measured`, where xhat or J is what the
implementation computes (its output, autograd's Jacobian); Table 1 by its own recomputation.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import sympy as sp
import torch
from torch.autograd.functional import jacobian as autograd_jacobian

from verified_transformer.claims.layernorm import DEFINITION, J, V, XHAT, eps, i, j, n, x
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


def _layer_norm(F: ModuleType, nn: ModuleType, gain: torch.Tensor, bias: torch.Tensor
                ) -> Callable[[torch.Tensor, float], torch.Tensor]:
    """``F.layer_norm`` with gain and bias; ``nn.LayerNorm`` with them loaded must agree (NaN
    otherwise, so the comparison fails)."""

    def f(v: torch.Tensor, epsilon: float) -> torch.Tensor:
        module = nn.LayerNorm(WIDTH, eps=epsilon, dtype=DTYPE)
        with torch.no_grad():
            module.weight.copy_(gain)
            module.bias.copy_(bias)
        out = F.layer_norm(v, (WIDTH,), gain, bias, epsilon)
        return out if close(out, module(v)) else out * float("nan")

    return f


def _rms_norm(F: ModuleType, nn: ModuleType, gain: torch.Tensor, default: bool = False
              ) -> Callable[[torch.Tensor, float], torch.Tensor]:
    """``F.rms_norm`` with a gain (``default``: eps=None, torch.finfo(float64).eps), and
    ``nn.RMSNorm`` with it loaded."""

    def f(v: torch.Tensor, epsilon: float) -> torch.Tensor:
        chosen = None if default else epsilon
        module = nn.RMSNorm(WIDTH, eps=chosen, dtype=DTYPE)
        with torch.no_grad():
            module.weight.copy_(gain)
        out = F.rms_norm(v, (WIDTH,), gain, chosen)
        return out if close(out, module(v)) else out * float("nan")

    return f


def rows(seed: int, spread: float = 1.0, shift: float = 0.0, gain: int | None = None,
         bias: int | None = None, scalars: dict | None = None, default: bool = False,
         rows_: torch.Tensor | None = None) -> Reference:
    """Three seeded rows of width 6 (``randn * spread + shift``), a seeded gain and bias (None: 1
    and 0), eps = 1e-5 unless ``scalars`` or a condition sets it; LN and RMSNorm by the functional
    and the module (:func:`_layer_norm`, :func:`_rms_norm`)."""
    xs = randn(3, WIDTH, seed=seed) * spread + shift if rows_ is None else rows_
    weight = torch.ones(WIDTH, dtype=DTYPE) if gain is None else randn(WIDTH, seed=gain)
    offset = torch.zeros(WIDTH, dtype=DTYPE) if bias is None else randn(WIDTH, seed=bias)
    return Reference(
        inputs={x: xs, ln.gamma: weight, ln.beta: offset}, scalars={eps: 1e-5} | (scalars or {}),
        index=i, size=n, operators=lambda F, nn: {
            ln.LN: _layer_norm(F, nn, weight, offset),
            ln.RMSNorm: _rms_norm(F, nn, weight, default),
        })


def norms() -> Reference:
    """Seeded rows of width 6, a seeded gain (no bias), a = 3.5, c = 100, eps = 1e-5 unless a
    condition sets it; LN and RMSNorm by ``F.layer_norm`` and ``F.rms_norm``."""
    gain = randn(WIDTH, seed=45)
    return Reference(
        inputs={x: randn(3, WIDTH, seed=44) + 1}, scalars={eps: 1e-5, ln.a: 3.5, ln.c: 100.0},
        index=i, size=n, operators=lambda F, nn: {
            ln.LN: lambda v, e: F.layer_norm(v, (WIDTH,), gain, None, e),
            ln.RMSNorm: lambda v, e: F.rms_norm(v, (WIDTH,), gain, e),
        })


def definition(chains: tuple) -> bool:
    """Against F.layer_norm and nn.LayerNorm with gain and bias (eps = 1e-5), on three rows and a
    small one, where epsilon matters; mu and sigma^2 written out (sigma^2 first)."""
    xs = randn(3, WIDTH, seed=40) * 2 + 1
    reference = rows(0, gain=41, bias=42, rows_=torch.cat([xs, 1e-3 * xs[:1]]))
    return chains_agree(chains, DEFINITION[::-1], reference)


def rms_definition(chains: tuple) -> bool:
    """Against F.rms_norm and nn.RMSNorm with a gain, at eps = 1e-6 and at the default eps (None:
    torch.finfo(float64).eps)."""
    small = rows(51, gain=52, scalars={eps: 1e-6})
    default = rows(51, gain=52, scalars={eps: torch.finfo(DTYPE).eps}, default=True)
    return chains_agree(chains, (), small) and chains_agree(chains, (), default)


def _padded(t: torch.Tensor) -> object:
    """A leading zero along each dimension, so that the 1-based indices of the formulas apply."""
    import numpy as np

    return np.pad(t.detach().numpy(), [(1, 0)] * t.dim())


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
                    for v in directions:
                        arrays = [_padded(t) for t in (row, value, value, v)]
                        values = [[grid(s, arrays) for s in chain] for chain in sides]
                        if not all(close(*torch.broadcast_tensors(a, b))
                                   for chain in values for a, b in zip(chain, chain[1:])):
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
            row = tuple(
                close(f(x2 @ w2.T, w2), base, atol=1e-9)
                for x2, w2 in (moves[t] for t in ln.TRANSFORMATIONS)
            )
            if row != table[method]:
                return False
        return True

    return for_each_implementation(holds)
