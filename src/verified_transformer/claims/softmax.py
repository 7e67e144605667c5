"""Claims about softmax: normalization, shift invariance, Jacobian."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import sympy as sp
import torch
from torch.autograd.functional import jacobian as autograd_jacobian

from verified_transformer.claims.ledger import Claim
from verified_transformer.claims.numeric import close, for_each_implementation, randn
from verified_transformer.derive import softmax as sm
from verified_transformer.derive.exact import equal, is_zero

Entry = Callable[[sp.Expr], sp.Expr]


def _evaluate(entry: Entry, logits: torch.Tensor) -> torch.Tensor:
    """Evaluate a symbolic-n softmax component formula at the rows of ``logits``."""
    size = logits.shape[-1]
    exprs = [entry(sp.Integer(t)).subs(sm.n, size).doit() for t in range(1, size + 1)]
    rows = []
    for row in logits.tolist():
        values = {sm.z[t + 1]: sp.Float(v, 30) for t, v in enumerate(row)}
        rows.append([float(e.xreplace(values).evalf(30)) for e in exprs])
    return torch.tensor(rows, dtype=logits.dtype)


def _sums_to_one(entry: Entry) -> bool:
    """``sum_{k=1}^{n} p_k = 1`` for a symbolic ``n``."""
    return equal(sp.Sum(entry(sm.k), (sm.k, 1, sm.n)), sp.Integer(1), sums=True)


def _sums_to_one_numeric(entry: Entry) -> bool:
    z = randn(3, 5, seed=1) * 3
    expected = _evaluate(entry, z)

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        p = F.softmax(z, dim=-1)
        return close(p, expected) and close(p.sum(-1), torch.ones(3, dtype=z.dtype))

    return close(expected.sum(-1), torch.ones(3, dtype=z.dtype)) and for_each_implementation(holds)


def _shift_invariant(transform: Callable[[sp.Expr], sp.Expr]) -> bool:
    """``softmax(T(z)) = softmax(z)`` for a symbolic ``n``, where ``T`` acts on each logit."""
    entry = sm.softmax_entry(sm.i)
    return equal(sm.substitute_logits(entry, transform), entry, sums=True)


def _shift_numeric(transform: Callable[[sp.Expr], sp.Expr]) -> bool:
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


def _jacobian_holds(formula: Callable[[Entry, sp.Expr, sp.Expr], sp.Expr]) -> bool:
    """The candidate equals the differentiated softmax, and its rows sum to zero (symbolic n)."""
    matches = equal(sm.jacobian_entry(), formula(sm.softmax_entry, sm.i, sm.j), sums=True)
    rows_vanish = is_zero(sp.Sum(formula(sm.softmax_entry, sm.i, sm.k), (sm.k, 1, sm.n)), sums=True)
    return matches and rows_vanish


def _jacobian_numeric(formula: Callable[[Entry, sp.Expr, sp.Expr], sp.Expr]) -> bool:
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


def _correct_jacobian(p: Entry, r: sp.Expr, s: sp.Expr) -> sp.Expr:
    return p(r) * (sp.KroneckerDelta(r, s) - p(s))


CLAIMS = (
    Claim(
        id="softmax.sums_to_one",
        statement=r"\sum_{k=1}^{n} \operatorname{softmax}(z)_k = 1,\quad "
        r"\operatorname{softmax}(z)_i = \frac{e^{z_i}}{\sum_{k=1}^{n} e^{z_k}}",
        source="vaswani2017attention",
        scope="symbolic n",
        formula=sm.softmax_entry,
        symbolic=_sums_to_one,
        wrong={
            "exp(z_i) without the normalizing sum": lambda t: sp.exp(sm.z[t]),
            "exp(z_i) / (1 + sum_k exp(z_k))": lambda t: (
                sp.exp(sm.z[t]) / (1 + sp.Sum(sp.exp(sm.z[sm.k]), (sm.k, 1, sm.n)))
            ),
        },
        numeric=_sums_to_one_numeric,
        note="The sum over a symbolic n is reduced to 1; numerically, the formula at n = 5 equals "
        "our softmax and torch's.",
    ),
    Claim(
        id="softmax.shift_invariance",
        statement=r"\operatorname{softmax}(z + c\mathbf{1}) = \operatorname{softmax}(z)",
        source="vaswani2017attention",
        scope="symbolic n",
        formula=lambda logit: logit + sm.c,
        symbolic=_shift_invariant,
        wrong={
            "scaling z -> c z": lambda logit: sm.c * logit,
            "shifting only z_1": lambda logit: (
                logit + sm.c * sp.KroneckerDelta(logit.indices[0], 1)
            ),
        },
        numeric=_shift_numeric,
        note="Numerically with c = +-1000, where exp alone overflows: our softmax subtracts the "
        "maximum, which this invariance makes exact.",
    ),
    Claim(
        id="softmax.jacobian",
        statement=r"\frac{\partial p_i}{\partial z_j} = p_i(\delta_{ij} - p_j),\ "
        r"J = \operatorname{diag}(p) - pp^\top,\ J\mathbf{1} = 0",
        source="vaswani2017attention",
        scope="symbolic n",
        formula=_correct_jacobian,
        symbolic=_jacobian_holds,
        wrong={
            "diag(p) alone": lambda p, r, s: p(r) * sp.KroneckerDelta(r, s),
            "delta_ij - p_j (factor p_i missing)": lambda p, r, s: sp.KroneckerDelta(r, s) - p(s),
        },
        numeric=_jacobian_numeric,
        note="Differentiated with sympy.diff for a symbolic n; compared with "
        "torch.autograd.functional.jacobian of our softmax and torch's.",
    ),
)
