"""Claims about LayerNorm and RMSNorm, and Table 1 of Ba, Kiros & Hinton (2016)."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import sympy as sp
import torch
from torch.autograd.functional import jacobian as autograd_jacobian

from verified_transformer.claims.ledger import Claim
from verified_transformer.claims.numeric import (
    DTYPE,
    close,
    evaluate,
    for_each_implementation,
    randn,
)
from verified_transformer.derive import layernorm as ln
from verified_transformer.derive.exact import equal, expand_sums, is_zero

BA = "ba2016layer"
ZHANG = "zhang2019root"
WIDTH = 6  # n for the numeric checks

Entry = Callable[..., sp.Expr]  # (index, epsilon) -> expression of that output component
Transform = Callable[[sp.Indexed], sp.Expr]
i, k, n, x, eps = ln.i, ln.k, ln.n, ln.x, ln.eps


def _scale_free(expr: sp.Expr) -> sp.Expr:
    """Pull common factors out of every sum (so ``sqrt(a^2 u) = a sqrt(u)``), then cancel."""
    return sp.cancel(sp.factor_terms(expr))


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


# --- definition --------------------------------------------------------------------------------


def _reference_layer_norm(index: sp.Expr) -> sp.Expr:
    """Ba et al. (2016), eqs. 3-4, with PyTorch's epsilon added to the biased variance."""
    mu = sp.Sum(x[k], (k, 1, n)) / n
    var = sp.Sum((x[k] - mu) ** 2, (k, 1, n)) / n
    return ln.gamma[index] * (x[index] - mu) / sp.sqrt(var + eps) + ln.beta[index]


def _unbiased_layer_norm(index: sp.Expr, epsilon: sp.Expr = eps) -> sp.Expr:
    var = sp.Sum((x[k] - ln.mean()) ** 2, (k, 1, n)) / (n - 1)
    return ln.gamma[index] * (x[index] - ln.mean()) / sp.sqrt(var + epsilon) + ln.beta[index]


def _eps_outside_layer_norm(index: sp.Expr, epsilon: sp.Expr = eps) -> sp.Expr:
    return (
        ln.gamma[index] * (x[index] - ln.mean()) / (sp.sqrt(ln.variance()) + epsilon)
        + (ln.beta[index])
    )


def _definition_holds(entry: Entry) -> bool:
    return equal(entry(i, eps), _reference_layer_norm(i), sp.cancel, sums=True)


def _definition_numeric(entry: Entry) -> bool:
    """The formula with gain and bias against F.layer_norm and nn.LayerNorm (eps = 1e-5)."""
    rows, gain, bias = (
        randn(3, WIDTH, seed=40) * 2 + 1,
        randn(WIDTH, seed=41),
        randn(WIDTH, seed=42),
    )
    expected = _values(entry, rows, 1e-5, gamma=gain, beta=bias)

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        module = nn.LayerNorm(WIDTH, dtype=DTYPE)
        with torch.no_grad():
            module.weight.copy_(gain)
            module.bias.copy_(bias)
        functional = F.layer_norm(rows, (WIDTH,), gain, bias, 1e-5)
        return close(functional, expected) and close(module(rows), expected)

    return for_each_implementation(holds)


# --- moments -----------------------------------------------------------------------------------


def _moments_hold(entry: Entry) -> bool:
    """Mean of the normalized entries 0, biased variance sigma^2/(sigma^2+eps) (symbolic n)."""
    mean = sp.Sum(entry(k, eps), (k, 1, n)) / n
    second = sp.Sum(entry(k, eps) ** 2, (k, 1, n)) / n
    var = ln.variance()
    return is_zero(mean, sp.cancel, sums=True) and equal(
        second, var / (var + eps), sp.cancel, sums=True
    )


def _moments_numeric(entry: Entry) -> bool:
    rows, epsilon = randn(3, 8, seed=43) + 2, 0.5
    var = rows.var(-1, unbiased=False, keepdim=True)
    expected_var = (var / (var + epsilon)).squeeze(-1)
    candidate = _values(entry, rows, epsilon)

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        y = F.layer_norm(rows, (8,), eps=epsilon)
        return (
            close(y, candidate)
            and close(y.mean(-1), torch.zeros(3, dtype=DTYPE))
            and close(y.var(-1, unbiased=False), expected_var)
        )

    return for_each_implementation(holds)


def _normalized_eps_outside(index: sp.Expr, epsilon: sp.Expr = eps) -> sp.Expr:
    return (x[index] - ln.mean()) / (sp.sqrt(ln.variance()) + epsilon)


def _not_centered(index: sp.Expr, epsilon: sp.Expr = eps) -> sp.Expr:
    return x[index] / sp.sqrt(ln.variance() + epsilon)


# --- invariances -------------------------------------------------------------------------------


def _invariant(
    norm: Entry, epsilon: sp.Expr, simplifier: Callable[[sp.Expr], sp.Expr] = sp.cancel
) -> Callable[[Transform], bool]:
    """Check ``norm(T(x)) == norm(x)`` for a transform T of every input (symbolic n)."""

    def check(transform: Transform) -> bool:
        entry = norm(i, epsilon)
        moved = ln.substitute_inputs(entry, transform)
        return equal(moved, entry, simplifier, sums=True)

    return check


def _invariance_numeric(
    functional: str, transform_values: dict, epsilon: float
) -> Callable[[Transform], bool]:
    """Our and torch's norm at T(x) equal it at x (T evaluated numerically)."""

    def numeric(transform: Transform) -> bool:
        rows = randn(3, WIDTH, seed=44) + 1
        moved = _transformed(transform, rows, transform_values)
        gain = randn(WIDTH, seed=45)

        def holds(F: ModuleType, nn: ModuleType) -> bool:
            if functional == "layer_norm":
                f = lambda v: F.layer_norm(v, (WIDTH,), gain, None, epsilon)  # noqa: E731
            else:
                f = lambda v: F.rms_norm(v, (WIDTH,), gain, epsilon)  # noqa: E731
            return close(f(moved), f(rows))

        return for_each_implementation(holds)

    return numeric


# --- scaling with epsilon ---------------------------------------------------------------------

EffectiveEps = Callable[[sp.Expr, sp.Expr], sp.Expr]  # (a, eps) -> eps'


def _scale_with_eps_holds(effective: EffectiveEps) -> bool:
    """``xhat_i(a x)`` at eps equals ``xhat_i(x)`` at ``effective(a, eps)`` (symbolic n, a > 0)."""
    moved = ln.substitute_inputs(ln.normalized(i, eps), lambda xk: a * xk)
    return equal(moved, ln.normalized(i, effective(a, eps)), _scale_free, sums=True)


def _scale_with_eps_numeric(effective: EffectiveEps) -> bool:
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


# --- Jacobian ----------------------------------------------------------------------------------

JacobianFormula = Callable[[sp.Expr, sp.Expr, sp.Expr, sp.Expr, sp.Expr], sp.Expr]


def _jacobian_at(formula: JacobianFormula, row: sp.Expr, col: sp.Expr, epsilon: sp.Expr) -> sp.Expr:
    return formula(
        sp.KroneckerDelta(row, col),
        ln.normalized(row, epsilon),
        ln.normalized(col, epsilon),
        ln.sigma(epsilon),
        n,
    )


def _jacobian_holds(formula: JacobianFormula) -> bool:
    """Closed form equals sympy.diff of xhat_i with respect to x_j (symbolic n, eps > 0)."""
    return equal(ln.jacobian_entry(), _jacobian_at(formula, i, ln.j, eps), sp.cancel, sums=True)


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


def _jacobian_numeric(formula: JacobianFormula) -> bool:
    """Against torch.autograd.functional.jacobian of F.layer_norm and nn.LayerNorm, ours and
    torch's (eps = 1e-5, no affine)."""
    row = randn(WIDTH, seed=46) * 0.3
    candidate = _jacobian_matrix(formula, row, 1e-5)

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        module = nn.LayerNorm(WIDTH, elementwise_affine=False, dtype=DTYPE)
        functional = autograd_jacobian(lambda v: F.layer_norm(v, (WIDTH,), eps=1e-5), row)
        return close(functional, candidate) and close(autograd_jacobian(module, row), candidate)

    return for_each_implementation(holds)


def _nullspace_holds(formula: JacobianFormula) -> bool:
    """``J 1 = 0`` (any eps) and ``J xhat = 0`` at eps = 0, for a symbolic n."""
    ones = sp.Sum(_jacobian_at(formula, i, k, eps), (k, 1, n))
    at_zero = sp.Sum(_jacobian_at(formula, i, k, 0) * ln.normalized(k, 0), (k, 1, n))
    return is_zero(ones, sp.cancel, sums=True) and is_zero(at_zero, sp.cancel, sums=True)


def _nullspace_numeric(formula: JacobianFormula) -> bool:
    row = randn(WIDTH, seed=47)
    candidate = _jacobian_matrix(formula, row, 0.0)
    ones = torch.ones(WIDTH, dtype=DTYPE)
    zero = torch.zeros(WIDTH, dtype=DTYPE)

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        jac = autograd_jacobian(lambda v: F.layer_norm(v, (WIDTH,), eps=0.0), row)
        xhat = F.layer_norm(row, (WIDTH,), eps=0.0)
        return close(jac, candidate) and close(jac @ ones, zero) and close(jac @ xhat, zero)

    return for_each_implementation(holds)


def _jacobian_without_outer(
    delta: sp.Expr, xi: sp.Expr, xj: sp.Expr, scale: sp.Expr, size: sp.Expr
) -> sp.Expr:
    return (delta - 1 / size) / scale


def _jacobian_without_mean(
    delta: sp.Expr, xi: sp.Expr, xj: sp.Expr, scale: sp.Expr, size: sp.Expr
) -> sp.Expr:
    return (delta - xi * xj / size) / scale


# --- spectrum of the Jacobian ------------------------------------------------------------------

Eigenvalues = Callable[[sp.Expr, sp.Expr], tuple[sp.Expr, sp.Expr, sp.Expr]]
_m = sp.Symbol("m", integer=True, positive=True)
_v = sp.IndexedBase("v")  # a direction orthogonal to 1 and to xhat


def _scaled_jacobian(row: sp.Expr, col: sp.Expr) -> sp.Expr:
    """``sigma_eps J_row,col`` from the closed form of ``layernorm.jacobian``."""
    return ln.sigma(eps) * _jacobian_at(ln.jacobian_closed_form, row, col, eps)


def _spectrum_holds(eigenvalues: Eigenvalues) -> bool:
    """Symbolic n: ``sigma_eps J 1 = l_1 1``, ``sigma_eps J xhat = l_2 xhat``, ``sigma_eps J v =
    l_3 v`` for every v with ``sum v = 0`` and ``sum (x - mu) v = 0``, and the trace is
    ``l_1 + l_2 + (n - 2) l_3`` (so l_3 has multiplicity n - 2)."""
    on_ones, on_xhat, elsewhere = eigenvalues(ln.variance(), eps)
    ones = sp.Sum(_scaled_jacobian(i, _m), (_m, 1, n))
    along = sp.Sum(_scaled_jacobian(i, _m) * ln.normalized(_m), (_m, 1, n))
    rest = expand_sums(sp.Sum(_scaled_jacobian(i, _m) * _v[_m], (_m, 1, n))).xreplace(
        {sp.Sum(_v[k], (k, 1, n)): 0, sp.Sum(x[k] * _v[k], (k, 1, n)): 0}  # v orthogonal
    )
    trace = sp.Sum(_scaled_jacobian(_m, _m), (_m, 1, n))
    return (
        equal(ones, on_ones, sp.cancel, sums=True)
        and equal(along, on_xhat * ln.normalized(i), sp.cancel, sums=True)
        and equal(rest, elsewhere * _v[i], sp.cancel, sums=True)
        and equal(trace, on_ones + on_xhat + (n - 2) * elsewhere, sp.cancel, sums=True)
    )


def _spectrum_numeric(eigenvalues: Eigenvalues) -> bool:
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


# --- Table 1 -----------------------------------------------------------------------------------

RMS_ROW = (True, False, False, True, False, True)  # our entry for RMSNorm (not in Ba et al.)


def _table_holds(table: dict[str, tuple[bool, ...]]) -> bool:
    """Every entry of ``table`` equals the recomputed invariance (all four methods present)."""
    return table == ln.invariance_table()


def _table_numeric(table: dict[str, tuple[bool, ...]]) -> bool:
    """The same 24 entries in float64: LayerNorm and RMSNorm from our code and torch's (eps = 0),
    batch norm (training statistics) and weight norm written out."""
    cases, units, inputs = 6, 5, 4
    xs, w = randn(cases, inputs, seed=48) + 0.5, randn(units, inputs, seed=49)
    delta, shift = 2.5, randn(inputs, seed=50)
    scaled_first = lambda m: torch.cat([delta * m[:1], m[1:]])  # noqa: E731
    moves = {
        "weight matrix re-scaling": (xs, delta * w),
        "weight matrix re-centering": (xs, w + shift),
        "weight vector re-scaling": (xs, scaled_first(w)),
        "dataset re-scaling": (delta * xs, w),
        "dataset re-centering": (xs + shift, w),
        "single training case re-scaling": (scaled_first(xs), w),
    }

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


def _flipped(method: str, transformation: str) -> dict[str, tuple[bool, ...]]:
    table = dict(ln.PUBLISHED_TABLE_1) | {"RMS norm": RMS_ROW}
    t = ln.TRANSFORMATIONS.index(transformation)
    row = list(table[method])
    row[t] = not row[t]
    return table | {method: tuple(row)}


# --- RMSNorm -----------------------------------------------------------------------------------


def _reference_rms_norm(index: sp.Expr) -> sp.Expr:
    """Zhang & Sennrich (2019), eq. 4, with PyTorch's epsilon inside the root."""
    return ln.gamma[index] * x[index] / sp.sqrt(sp.Sum(x[k] ** 2, (k, 1, n)) / n + eps)


def _rms_definition_holds(entry: Entry) -> bool:
    return equal(entry(i, eps), _reference_rms_norm(i), sp.cancel, sums=True)


def _rms_definition_numeric(entry: Entry) -> bool:
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


def _centered_equal(center: Transform) -> bool:
    """LayerNorm (beta = 0) and RMSNorm agree on ``center(x)`` (symbolic n, same eps and gain)."""
    layer = ln.substitute_inputs(ln.gamma[i] * ln.normalized(i, eps), center)
    rms = ln.substitute_inputs(ln.rms_norm_entry(i, eps), center)
    return equal(layer, rms, sp.cancel, sums=True)


def _centered_numeric(center: Transform) -> bool:
    rows, gain = randn(3, WIDTH, seed=53) + 3, randn(WIDTH, seed=54)
    centered = _transformed(center, rows, {})

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        layer = F.layer_norm(centered, (WIDTH,), gain, None, 1e-5)
        return close(layer, F.rms_norm(centered, (WIDTH,), gain, 1e-5))

    return for_each_implementation(holds)


# --- unbiased standard deviation ----------------------------------------------------------------

Ratio = Callable[[sp.Expr], sp.Expr]  # n -> factor
_m = sp.Symbol("m", integer=True, positive=True)  # n = m + 1 >= 2, so n - 1 > 0


def _unbiased_ratio_holds(ratio: Ratio) -> bool:
    """``(x_i - mu)/s == ratio(n) (x_i - mu)/sigma`` at eps = 0, for symbolic ``n = m + 1 >= 2``."""
    at_least_two = {n: _m + 1}
    unbiased = ln.unbiased_normalized(i, 0).xreplace(at_least_two)
    scaled = (ratio(n) * ln.normalized(i, 0)).xreplace(at_least_two)
    return equal(unbiased, scaled, _scale_free, sums=True)


def _unbiased_ratio_numeric(ratio: Ratio) -> bool:
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


# --- ScaleNorm ---------------------------------------------------------------------------------

Gain = Callable[[sp.Expr, sp.Expr], sp.Expr]  # (g, n) -> gamma_i


def _scale_norm_holds(gain: Gain) -> bool:
    """``g x_i / ||x||`` equals RMSNorm's entry with ``gamma_i = gain(g, n)``, eps = 0
    (symbolic n)."""
    rms = ln.rms_norm_entry(i, 0).xreplace({ln.gamma[i]: gain(ln.g, n)})
    return equal(ln.scale_norm_entry(i), rms, _scale_free, sums=True)


def _scale_norm_numeric(gain: Gain) -> bool:
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


a, c = ln.a, ln.c

CLAIMS = (
    Claim(
        id="layernorm.definition",
        statement=r"y_i = \gamma_i\frac{x_i-\mu}{\sqrt{\sigma^2+\epsilon}}+\beta_i,\ "
        r"\mu=\frac1n\sum_k x_k,\ \sigma^2=\frac1n\sum_k(x_k-\mu)^2",
        source=BA,
        scope="symbolic n",
        formula=ln.layer_norm_entry,
        symbolic=_definition_holds,
        wrong={
            "unbiased variance 1/(n-1)": _unbiased_layer_norm,
            "epsilon outside the square root": _eps_outside_layer_norm,
        },
        numeric=_definition_numeric,
        note="Biased variance, epsilon inside the root, as nn.LayerNorm computes it (Ba et al. "
        "write no epsilon).",
    ),
    Claim(
        id="layernorm.unbiased_ratio",
        statement=r"\frac{x_i-\mu}{s} = \sqrt{\tfrac{n-1}{n}}\,\frac{x_i-\mu}{\sigma},\ "
        r"s^2=\frac{1}{n-1}\sum_k(x_k-\mu)^2,\ \sigma^2=\frac1n\sum_k(x_k-\mu)^2\ "
        r"(\epsilon = 0)",
        source=BA,
        scope="symbolic n >= 2, eps = 0",
        formula=ln.unbiased_ratio,
        symbolic=_unbiased_ratio_holds,
        wrong={
            "inverted sqrt(n/(n-1))": lambda size: sp.sqrt(size / (size - 1)),
            "no square root (n-1)/n": lambda size: (size - 1) / size,
        },
        numeric=_unbiased_ratio_numeric,
        note="A home-made LayerNorm on x.std() (unbiased) is nn.LayerNorm times sqrt((n-1)/n) "
        "(numerically at n = 6, eps = 0); Ba et al. define the biased one.",
    ),
    Claim(
        id="layernorm.moments",
        statement=r"\frac1n\sum_i \hat x_i = 0,\quad \frac1n\sum_i \hat x_i^2 = "
        r"\frac{\sigma^2}{\sigma^2+\epsilon}",
        source=BA,
        scope="symbolic n",
        formula=ln.normalized,
        symbolic=_moments_hold,
        wrong={
            "unbiased variance 1/(n-1)": ln.unbiased_normalized,
            "epsilon outside the square root": _normalized_eps_outside,
            "not centered": _not_centered,
        },
        numeric=_moments_numeric,
        note="The output variance is slightly below 1 for eps > 0 (numerically at eps = 0.5).",
    ),
    Claim(
        id="layernorm.shift_invariance",
        statement=r"\mathrm{LN}(x + c\mathbf{1}) = \mathrm{LN}(x)",
        source=BA,
        scope="symbolic n",
        formula=lambda xk: xk + c,
        symbolic=_invariant(ln.layer_norm_entry, eps),
        wrong={
            "scaling x -> c x (eps > 0)": lambda xk: c * xk,
            "shifting only x_1": lambda xk: xk + c * sp.KroneckerDelta(xk.indices[0], 1),
        },
        numeric=_invariance_numeric("layer_norm", {c: 100.0}, 1e-5),
    ),
    Claim(
        id="layernorm.scale_invariance",
        statement=r"\mathrm{LN}(a x) = \mathrm{LN}(x)\quad (a > 0,\ \epsilon = 0)",
        source=BA,
        scope="symbolic n, eps = 0",
        formula=lambda xk: a * xk,
        symbolic=_invariant(ln.layer_norm_entry, 0, _scale_free),
        wrong={
            "negative scale x -> -a x": lambda xk: -a * xk,
            "scaling only x_1": lambda xk: xk * a ** sp.KroneckerDelta(xk.indices[0], 1),
        },
        numeric=_invariance_numeric("layer_norm", {a: 3.5}, 0.0),
        note="Exact only at eps = 0; with eps > 0 small inputs are not scale invariant.",
    ),
    Claim(
        id="layernorm.scale_with_eps",
        statement=r"\mathrm{LN}_\epsilon(a x) = \mathrm{LN}_{\epsilon/a^2}(x)\quad (a > 0)",
        source=BA,
        scope="symbolic n, symbolic a > 0 and eps > 0",
        formula=ln.scaled_epsilon,
        symbolic=_scale_with_eps_holds,
        wrong={
            "eps / a": lambda scale, epsilon: epsilon / scale,
            "eps unchanged (exact invariance)": lambda scale, epsilon: epsilon,
            "eps a^2": lambda scale, epsilon: epsilon * scale**2,
        },
        numeric=_scale_with_eps_numeric,
        note="Scaling the input by a acts like dividing eps by a^2: a tiny input is normalized as "
        "if eps were large (numerically at a = 0.01, eps = 1e-5, with gain and bias).",
    ),
    Claim(
        id="layernorm.jacobian",
        statement=r"\frac{\partial \hat x}{\partial x} = \frac{1}{\sqrt{\sigma^2+\epsilon}}"
        r"\left(I - \frac1n\mathbf{1}\mathbf{1}^\top - \frac1n\hat x\hat x^\top\right)",
        source=BA,
        scope="symbolic n",
        formula=ln.jacobian_closed_form,
        symbolic=_jacobian_holds,
        wrong={
            "missing -xhat xhat^T / n": _jacobian_without_outer,
            "missing -1 1^T / n": _jacobian_without_mean,
        },
        numeric=_jacobian_numeric,
        note="sympy.diff through the sums; numerically against torch.autograd.functional.jacobian.",
    ),
    Claim(
        id="layernorm.jacobian_nullspace",
        statement=r"J\mathbf{1} = 0;\quad J\hat x = 0 \text{ at } \epsilon = 0",
        source=BA,
        scope="symbolic n",
        formula=ln.jacobian_closed_form,
        symbolic=_nullspace_holds,
        wrong={
            "missing -xhat xhat^T / n": _jacobian_without_outer,
            "missing -1 1^T / n": _jacobian_without_mean,
        },
        numeric=_nullspace_numeric,
        note="Shifting x along 1, or scaling it along xhat, does not change LN(x) to first order.",
    ),
    Claim(
        id="layernorm.jacobian_spectrum",
        statement=r"\sigma_\epsilon J:\ \text{eigenvalue } 0 \text{ on } \mathbf{1},\ "
        r"\tfrac{\epsilon}{\sigma^2+\epsilon} \text{ on } \hat x,\ 1 \text{ on the } n-2 "
        r"\text{ directions orthogonal to both}\ (\sigma_\epsilon = \sqrt{\sigma^2+\epsilon},\ "
        r"\hat x = (x-\mu)/\sigma_\epsilon)",
        source=BA,
        scope="symbolic n (from the closed form of layernorm.jacobian); numerically n = 6",
        formula=ln.jacobian_eigenvalues,
        symbolic=_spectrum_holds,
        wrong={
            "eigenvalue 1 along xhat": lambda var, epsilon: (sp.Integer(0), sp.Integer(1), 1),
            "eigenvalue 0 along xhat (eps factor missing)": lambda var, epsilon: (0, 0, 1),
            "eigenvalue sigma^2/(sigma^2+eps) along xhat": lambda var, epsilon: (
                0,
                var / (var + epsilon),
                1,
            ),
        },
        numeric=_spectrum_numeric,
        note="The derivation is ours (Ba et al. give no Jacobian). J is symmetric; 1 and xhat "
        "are orthogonal, so the rest is n - 2 dimensional (the trace confirms the count).",
    ),
    Claim(
        id="layernorm.invariance_table",
        statement=r"\text{Table 1 of Ba et al.: invariance of batch, weight, layer norm (and "
        r"RMSNorm) under six re-scalings and re-centerings}",
        source=BA,
        scope="N = 3 cases, H = 3 units, D = 2 inputs; symbolic entries",
        formula=dict(ln.PUBLISHED_TABLE_1) | {"RMS norm": RMS_ROW},
        symbolic=_table_holds,
        wrong={
            "layer norm invariant to dataset re-centering": _flipped(
                "layer norm", "dataset re-centering"
            ),
            "batch norm invariant to single-case re-scaling": _flipped(
                "batch norm", "single training case re-scaling"
            ),
            "RMSNorm invariant to weight matrix re-centering": _flipped(
                "RMS norm", "weight matrix re-centering"
            ),
        },
        numeric=_table_numeric,
        note="The published table is typed in as data and compared entry by entry; the RMSNorm "
        "row is ours.",
    ),
    Claim(
        id="rmsnorm.definition",
        statement=r"y_i = \gamma_i\frac{x_i}{\sqrt{\frac1n\sum_k x_k^2+\epsilon}}",
        source=ZHANG,
        scope="symbolic n",
        formula=ln.rms_norm_entry,
        symbolic=_rms_definition_holds,
        wrong={
            "epsilon outside the square root": lambda index, epsilon=eps: (
                ln.gamma[index] * x[index] / (sp.sqrt(sp.Sum(x[k] ** 2, (k, 1, n)) / n) + epsilon)
            ),
            "sum instead of mean": lambda index, epsilon=eps: (
                ln.gamma[index] * x[index] / sp.sqrt(sp.Sum(x[k] ** 2, (k, 1, n)) + epsilon)
            ),
        },
        numeric=_rms_definition_numeric,
        note="PyTorch's default eps=None means torch.finfo(dtype).eps.",
    ),
    Claim(
        id="rmsnorm.scale_invariance",
        statement=r"\mathrm{RMSNorm}(a x) = \mathrm{RMSNorm}(x)\quad (a > 0,\ \epsilon = 0),"
        r"\ \text{but not shift invariant}",
        source=ZHANG,
        scope="symbolic n, eps = 0",
        formula=lambda xk: a * xk,
        symbolic=_invariant(ln.rms_norm_entry, 0, _scale_free),
        wrong={
            "shift x -> x + c": lambda xk: xk + c,
            "negative scale x -> -a x": lambda xk: -a * xk,
        },
        numeric=_invariance_numeric("rms_norm", {a: 3.5}, 0.0),
    ),
    Claim(
        id="rmsnorm.equals_layernorm_when_centered",
        statement=r"\textstyle\sum_k x_k = 0 \implies \mathrm{LN}_{\gamma,0}(x) = "
        r"\mathrm{RMSNorm}_\gamma(x)",
        source=ZHANG,
        scope="symbolic n",
        formula=lambda xk: xk - ln.mean(),
        symbolic=_centered_equal,
        wrong={
            "no centering": lambda xk: xk,
            "subtracting x_1 instead of the mean": lambda xk: xk - x[1],
        },
        numeric=_centered_numeric,
    ),
    Claim(
        id="scalenorm.is_scaled_rmsnorm",
        statement=r"g\,\frac{x}{\lVert x\rVert_2} = \mathrm{RMSNorm}_\gamma(x)\ \text{with}\ "
        r"\gamma_i = \frac{g}{\sqrt n},\ \epsilon = 0",
        source="nguyen2019transformers",
        scope="symbolic n, eps = 0",
        formula=ln.scale_norm_gain,
        symbolic=_scale_norm_holds,
        wrong={
            "gamma_i = g (missing 1/sqrt(n))": lambda gain, size: gain,
            "gamma_i = g sqrt(n)": lambda gain, size: gain * sp.sqrt(size),
        },
        numeric=_scale_norm_numeric,
        note="ScaleNorm's single gain g is RMSNorm's per-feature gain with all n entries equal "
        "to g/sqrt(n) (numerically at n = 6, g = 1.7).",
    ),
)
