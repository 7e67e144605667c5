"""The numeric checks of :mod:`verified_transformer.claims.layernorm`: float64, against our
``verified_transformer.nn`` and torch's, imported only when a check runs.

The claims are compared by :func:`~verified_transformer.claims.numeric.chains_agree` (``LN``
and ``RMSNorm`` by ``F.layer_norm`` / ``F.rms_norm``, which the module with the same weights must
match; the Jacobians by autograd's); Table 1 by its own recomputation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from types import ModuleType

import sympy as sp
import torch

from verified_transformer.claims.layernorm import XHAT, J, V, eps, i, j, n, x
from verified_transformer.claims.numeric import (
    DTYPE,
    Reference,
    close,
    for_each_implementation,
    invariances,
    randn,
)
from verified_transformer.derive import layernorm as ln
from verified_transformer.derive.operators import vector

WIDTH = 6  # n for the numeric checks
XHAT_IS_LN = ((XHAT[i], ln.LN(vector(x), i)),)  # xhat: LN(x) as each implementation computes it


def rows(seed: int, spread: float = 1.0, shift: float = 0.0, gain: int | None = None,
         bias: int | None = None, scalars: dict | None = None, small: bool = False,
         default: bool = False, norm: str = "both", width: int = WIDTH, count: int = 3
         ) -> Reference:
    """``count`` seeded rows (``randn * spread + shift``; ``small``: and a row 1000 times smaller,
    where epsilon matters), a seeded gain and bias (None: 1 and 0), eps = 1e-5 unless
    ``scalars`` or a condition sets it. LN and RMSNorm by F.layer_norm and F.rms_norm
    (``default``: eps=None, torch.finfo(float64).eps); ``norm="both"``: NaN where nn.LayerNorm
    or nn.RMSNorm with the same weights disagrees (so that the comparison fails); ``"module"``:
    by that module alone."""
    xs = randn(count, width, seed=seed) * spread + shift
    xs = torch.cat([xs, 1e-3 * xs[:1]]) if small else xs
    weight = torch.ones(width, dtype=DTYPE) if gain is None else randn(width, seed=gain)
    offset = torch.zeros(width, dtype=DTYPE) if bias is None else randn(width, seed=bias)

    def operators(F: ModuleType, nn: ModuleType) -> dict:
        def implemented(functional: Callable, module: type, *weights: torch.Tensor) -> Callable:
            def f(v: torch.Tensor, e: float) -> torch.Tensor:
                e = None if default else e
                out = functional(v, (width,), *weights, e)
                if norm == "functional":
                    return out
                twin = module(width, eps=e, dtype=DTYPE)
                with torch.no_grad():
                    for parameter, value in zip(twin.parameters(), weights, strict=True):
                        parameter.copy_(value)
                if norm == "module":
                    return twin(v)
                return out if close(out, twin(v)) else out * float("nan")
            return f

        return {ln.LN: implemented(F.layer_norm, nn.LayerNorm, weight, offset),
                ln.RMSNorm: implemented(F.rms_norm, nn.RMSNorm, weight)}

    return Reference(inputs={x: xs, ln.gamma: weight, ln.beta: offset},
                     scalars={eps: 1e-5} | (scalars or {}), index=i, size=n, operators=operators)


def definition() -> Reference:
    """With gain and bias (eps = 1e-5), on a small row too."""
    return rows(40, 2.0, 1.0, 41, 42, small=True)


def norms() -> Reference:
    """Seeded rows, a seeded gain (no bias), a = 3.5, c = 100, eps = 1e-5 unless a condition sets
    it; LN and RMSNorm by ``F.layer_norm`` and ``F.rms_norm``."""
    return rows(44, 1.0, 1.0, 45, scalars={ln.a: 3.5, ln.c: 100.0}, norm="functional")


def rms_definition() -> tuple[Reference, Reference]:
    """At eps = 1e-6 and at the default eps (None: torch.finfo(float64).eps)."""
    return rows(51, gain=52, scalars={eps: 1e-6}), rows(
        51, gain=52, scalars={eps: torch.finfo(DTYPE).eps}, default=True)


def moments() -> Reference:
    """xhat is LN(x) as each implementation computes it (gain 1, bias 0, eps = 0.5, three rows of
    width 8); the where pair that defines it is compared as one more chain."""
    return replace(rows(43, 1.0, 2.0, scalars={eps: 0.5}, width=8), defines=XHAT_IS_LN)


def jacobian(epsilon: float, seed: int, scale: float = 1.0) -> tuple[Reference, ...]:
    """J is autograd's Jacobian of xhat = LN(x) (no affine; by F.layer_norm, then by
    nn.LayerNorm) at a seeded row (randn * scale, n = 6), every entry i, j; the claim's own J
    and xhat are compared as chains, and v runs over a basis orthogonal to 1 and x."""
    defines = ((J[i, j], sp.Derivative(XHAT[i], x[j])), *XHAT_IS_LN)
    refs = [rows(seed, scale, scalars={eps: epsilon}, norm=norm, count=1)
            for norm in ("functional", "module")]
    row = refs[0].inputs[x][0]
    v = torch.linalg.qr(torch.stack([torch.ones_like(row), row], 1), "complete").Q[:, 2:].T
    return tuple(replace(r, index=(i, j), defines=defines, inputs=r.inputs | {V: v})
                 for r in refs)


def table(table: dict[str, tuple[bool, ...]]) -> bool:
    """The same 24 entries in float64 (numeric.invariances): LayerNorm and RMSNorm from our code
    and torch's (eps = 0), batch norm (training statistics) and weight norm written out."""

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        return all(invariances(f) == table[method] for method, f in {
            "batch norm": lambda a, _: (a - a.mean(0)) / a.var(0, unbiased=False).sqrt(),
            "weight norm": lambda a, wm: a / wm.norm(dim=1),
            "layer norm": lambda a, _: F.layer_norm(a, (a.shape[-1],), eps=0.0),
            "RMS norm": lambda a, _: F.rms_norm(a, (a.shape[-1],), eps=0.0)}.items())

    return for_each_implementation(holds)
