"""The numeric checks of :mod:`verified_transformer.claims.layernorm`: float64, against our
``verified_transformer.nn`` and torch's, imported only when a check runs."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import sympy as sp
import torch
from torch.autograd.functional import jacobian as autograd_jacobian

from verified_transformer.claims.layernorm import (
    EffectiveEps,
    Eigenvalues,
    Entry,
    Gain,
    JacobianFormula,
    Ratio,
    Transform,
    eps,
    n,
    x,
)
from verified_transformer.claims.numeric import (
    DTYPE,
    Reference,
    close,
    evaluate,
    for_each_implementation,
    randn,
    table_1_moves,
)
from verified_transformer.derive import layernorm as ln

WIDTH = 6  # n for the numeric checks


def _values(
    entry: Entry, rows: torch.Tensor, epsilon: float, **arrays: torch.Tensor
) -> torch.Tensor:
    """A symbolic-n entry formula evaluated on each row (n = row length)."""
    exprs = [entry(sp.Integer(t), eps) for t in range(1, rows.shape[-1] + 1)]
    bases = {getattr(ln, name): v.tolist() for name, v in arrays.items()}
    return torch.stack(
        [
            evaluate(exprs, {n: rows.shape[-1]}, {x: row.tolist(), **bases}, {eps: epsilon})
            for row in rows
        ]
    )


def _transformed(transform: Transform, rows: torch.Tensor, scalars: dict) -> torch.Tensor:
    """Apply a per-entry transform of x (which may use the symbolic mean) to numeric rows."""
    exprs = [transform(x[t]) for t in range(1, rows.shape[-1] + 1)]
    return torch.stack(
        [evaluate(exprs, {n: rows.shape[-1]}, {x: row.tolist()}, scalars) for row in rows]
    )


def definition(entry: Entry) -> bool:
    """The formula with gain and bias against F.layer_norm and nn.LayerNorm (eps = 1e-5)."""
    rows, gain, bias = (
        randn(3, WIDTH, seed=40) * 2 + 1,
        randn(WIDTH, seed=41),
        randn(WIDTH, seed=42),
    )
    rows = torch.cat([rows, 1e-3 * rows[:1]])  # a small row, where epsilon matters
    expected = _values(lambda t, e: ln.unabbreviate(entry(t, e)), rows, 1e-5, gamma=gain, beta=bias)

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        module = nn.LayerNorm(WIDTH, dtype=DTYPE)
        with torch.no_grad():
            module.weight.copy_(gain)
            module.bias.copy_(bias)
        functional = F.layer_norm(rows, (WIDTH,), gain, bias, 1e-5)
        return close(functional, expected) and close(module(rows), expected)

    return for_each_implementation(holds)


def moments(entry: Entry) -> bool:
    rows, epsilon = randn(3, 8, seed=43) + 2, 0.5
    var = rows.var(-1, unbiased=False, keepdim=True)
    claimed = ln.normalized_moments(sp.Float(epsilon, 30))
    expected_mean = torch.tensor(
        [
            float(ln.unabbreviate(claimed[0]).xreplace({ln.sigma2: v}))
            for v in var.flatten().tolist()
        ],
        dtype=DTYPE,
    )
    expected_var = torch.tensor(
        [float(claimed[1].xreplace({ln.sigma2: v})) for v in var.flatten().tolist()], dtype=DTYPE
    )
    candidate = _values(lambda t, e: ln.unabbreviate(entry(t, e)), rows, epsilon)

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        y = F.layer_norm(rows, (8,), eps=epsilon)
        return (
            close(y, candidate)
            and close(y.mean(-1), expected_mean)
            and close((y**2).mean(-1), expected_var)
        )

    return for_each_implementation(holds)


def norms() -> Reference:
    """Seeded rows of width 6, a seeded gain (no bias), a = 3.5, c = 100, eps = 1e-5 unless a
    condition sets it; LN and RMSNorm by ``F.layer_norm`` and ``F.rms_norm``."""
    gain = randn(WIDTH, seed=45)
    return Reference(
        inputs={x: randn(3, WIDTH, seed=44) + 1}, scalars={eps: 1e-5, ln.a: 3.5, ln.c: 100.0}, index=ln.i,
        size=n, operators=lambda F, nn: {
            ln.LN: lambda v, e: F.layer_norm(v, (WIDTH,), gain, None, e),
            ln.RMSNorm: lambda v, e: F.rms_norm(v, (WIDTH,), gain, e),
        })


def scale_with_eps(effective: EffectiveEps) -> bool:
    """``LN_eps(a x) = LN_eps'(x)`` with F.layer_norm and nn.LayerNorm (gain and bias), ours and
    torch's, at a = 0.01 and eps = 1e-5 (where eps matters)."""
    rows, gain, bias = randn(3, WIDTH, seed=57) + 1, randn(WIDTH, seed=58), randn(WIDTH, seed=59)
    scale, epsilon = 0.01, 1e-5
    moved_eps = float(effective(sp.Float(scale, 30), sp.Float(epsilon, 30)))

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        module = nn.LayerNorm(WIDTH, eps=moved_eps, dtype=DTYPE)
        with torch.no_grad():
            module.weight.copy_(gain)
            module.bias.copy_(bias)
        scaled = F.layer_norm(scale * rows, (WIDTH,), gain, bias, epsilon)
        return close(scaled, F.layer_norm(rows, (WIDTH,), gain, bias, moved_eps)) and close(
            scaled, module(rows)
        )

    return for_each_implementation(holds)


def _jacobian_matrix(formula: JacobianFormula, row: torch.Tensor, epsilon: float) -> torch.Tensor:
    """The closed form evaluated at numbers: xhat and sqrt(var + eps) computed from ``row``."""
    size = row.shape[0]
    scale = (row.var(unbiased=False) + epsilon).sqrt()
    xhat = [sp.Float(v, 30) for v in ((row - row.mean()) / scale).tolist()]
    return torch.tensor(
        [
            [
                float(
                    formula(
                        sp.Integer(int(r == c)),
                        xhat[r],
                        xhat[c],
                        sp.Float(scale.item(), 30),
                        sp.Integer(size),
                    )
                )
                for c in range(size)
            ]
            for r in range(size)
        ],
        dtype=DTYPE,
    )


def jacobian(formula: JacobianFormula) -> bool:
    """Against torch.autograd.functional.jacobian of F.layer_norm and nn.LayerNorm, ours and
    torch's (eps = 1e-5, no affine)."""
    row = randn(WIDTH, seed=46) * 0.3
    candidate = _jacobian_matrix(formula, row, 1e-5)

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        module = nn.LayerNorm(WIDTH, elementwise_affine=False, dtype=DTYPE)
        functional = autograd_jacobian(lambda v: F.layer_norm(v, (WIDTH,), eps=1e-5), row)
        return close(functional, candidate) and close(autograd_jacobian(module, row), candidate)

    return for_each_implementation(holds)


def nullspace(formula: JacobianFormula) -> bool:
    row = randn(WIDTH, seed=47)
    candidate = _jacobian_matrix(formula, row, 0.0)
    ones = torch.ones(WIDTH, dtype=DTYPE)
    zero = torch.zeros(WIDTH, dtype=DTYPE)

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        jac = autograd_jacobian(lambda v: F.layer_norm(v, (WIDTH,), eps=0.0), row)
        xhat = F.layer_norm(row, (WIDTH,), eps=0.0)
        return close(jac, candidate) and close(jac @ ones, zero) and close(jac @ xhat, zero)

    return for_each_implementation(holds)


def spectrum(eigenvalues: Eigenvalues) -> bool:
    """Eigenvalues of ``sqrt(var + eps)`` times autograd's Jacobian of F.layer_norm and
    nn.LayerNorm, ours and torch's (n = 6, eps = 0.5 so that eps / (var + eps) is far from 0 and
    1), and the eigenvectors 1 and xhat."""
    row, epsilon = randn(WIDTH, seed=55), 0.5
    variance = row.var(unbiased=False)
    scale = (variance + epsilon).sqrt()
    xhat = (row - row.mean()) / scale
    values = [float(v) for v in eigenvalues(sp.Float(variance.item(), 30), sp.Float(epsilon, 30))]
    expected = torch.tensor(sorted(values[:2] + [values[2]] * (WIDTH - 2)), dtype=DTYPE)
    ones = torch.ones(WIDTH, dtype=DTYPE)

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        module = nn.LayerNorm(WIDTH, eps=epsilon, elementwise_affine=False, dtype=DTYPE)
        ok = True
        for f in (lambda v: F.layer_norm(v, (WIDTH,), eps=epsilon), module):
            scaled = scale * autograd_jacobian(f, row)
            ok = (
                ok
                and close(scaled, scaled.T)
                and close(torch.linalg.eigvalsh(scaled), expected)
                and close(scaled @ ones, values[0] * ones)
                and close(scaled @ xhat, values[1] * xhat)
            )
        return ok

    return for_each_implementation(holds)


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


def rms_definition(entry: Entry) -> bool:
    """Against F.rms_norm and nn.RMSNorm with a gain, at eps = 1e-6 and at the default eps
    (None: torch.finfo(float64).eps)."""
    rows, gain = randn(3, WIDTH, seed=51), randn(WIDTH, seed=52)
    ok = True
    for epsilon in (1e-6, None):
        value = torch.finfo(DTYPE).eps if epsilon is None else epsilon
        expected = _values(entry, rows, value, gamma=gain)

        def holds(
            F: ModuleType,
            nn: ModuleType,
            epsilon: float | None = epsilon,
            expected: torch.Tensor = expected,
        ) -> bool:
            module = nn.RMSNorm(WIDTH, eps=epsilon, dtype=DTYPE)
            with torch.no_grad():
                module.weight.copy_(gain)
            functional = F.rms_norm(rows, (WIDTH,), gain, epsilon)
            return close(functional, expected) and close(module(rows), expected)

        ok = for_each_implementation(holds) and ok
    return ok


def centered(center: Transform) -> bool:
    rows, gain = randn(3, WIDTH, seed=53) + 3, randn(WIDTH, seed=54)
    centered = _transformed(center, rows, {})

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        layer = F.layer_norm(centered, (WIDTH,), gain, None, 1e-5)
        return close(layer, F.rms_norm(centered, (WIDTH,), gain, 1e-5))

    return for_each_implementation(holds)


def unbiased_ratio(ratio: Ratio) -> bool:
    """A LayerNorm written with ``x.std()`` (unbiased, eps = 0) equals ``ratio(n)`` times
    F.layer_norm and nn.LayerNorm (eps = 0), ours and torch's."""
    rows = randn(3, WIDTH, seed=55) * 2 + 1
    home_made = (rows - rows.mean(-1, keepdim=True)) / rows.std(-1, keepdim=True)
    factor = float(ratio(sp.Integer(WIDTH)))

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        module = nn.LayerNorm(WIDTH, eps=0.0, elementwise_affine=False, dtype=DTYPE)
        return close(home_made, factor * F.layer_norm(rows, (WIDTH,), eps=0.0)) and close(
            home_made, factor * module(rows)
        )

    return for_each_implementation(holds)


def scale_norm(gain: Gain) -> bool:
    """``g x / ||x||_2`` against F.rms_norm and nn.RMSNorm (eps = 0) with every weight
    ``gain(g, n)``, ours and torch's."""
    rows, g = randn(3, WIDTH, seed=56), 1.7
    scale_norm = g * rows / torch.linalg.vector_norm(rows, dim=-1, keepdim=True)
    weight = torch.full((WIDTH,), float(gain(sp.Float(g), sp.Integer(WIDTH))), dtype=DTYPE)

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        module = nn.RMSNorm(WIDTH, eps=0.0, dtype=DTYPE)
        with torch.no_grad():
            module.weight.copy_(weight)
        functional = F.rms_norm(rows, (WIDTH,), weight, 0.0)
        return close(functional, scale_norm) and close(module(rows), scale_norm)

    return for_each_implementation(holds)
