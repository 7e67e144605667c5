"""Claims about LayerNorm and RMSNorm, and Table 1 of Ba, Kiros & Hinton (2016).

The two definitions are compared, not proved: numerically with PyTorch's kernels and our code,
and symbolically by properties derived another way that together determine the formula (the
moments of the output and its covariance with the input: Cauchy-Schwarz then forces the
normalized output to be the centered input over ``sqrt(sigma^2 + epsilon)``).
"""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp

from verified_transformer.claims.formula import Point, Vocabulary, entry_reader, scalar_reader
from verified_transformer.claims.latex import latex
from verified_transformer.claims.ledger import Claim, numeric_check, numeric_reference
from verified_transformer.derive import layernorm as ln
from verified_transformer.derive import mistakes
from verified_transformer.derive.exact import equal, expand_sums, is_zero
from verified_transformer.derive.operators import vector

BA = "ba2016layer"
ZHANG = "zhang2019root"

Entry = Callable[..., sp.Expr]  # (index, epsilon) -> expression of that output component
Transform = Callable[[sp.Indexed], sp.Expr]
i, k, n, x, eps = ln.i, ln.k, ln.n, ln.x, ln.eps
_numeric = numeric_check("numeric_layernorm")
_reference = numeric_reference("numeric_layernorm")
LN, RMS = ln.LN, ln.RMSNorm


def _scale_free(expr: sp.Expr) -> sp.Expr:
    """Pull common factors out of every sum (so ``sqrt(a^2 u) = a sqrt(u)``), then cancel."""
    return sp.cancel(sp.factor_terms(expr))


# --- definition --------------------------------------------------------------------------------

# The wrong variants of the definitions: named mistakes, defined once in derive.mistakes.
LN_MISTAKES = (mistakes.UNBIASED, mistakes.EPS_OUTSIDE, mistakes.SIGN_FLIPPED,
               mistakes.NOT_CENTERED, mistakes.GAIN_ON_BIAS)
RMS_MISTAKES = (mistakes.RMS_EPS_OUTSIDE, mistakes.RMS_SUM, mistakes.RMS_SIGN_FLIPPED,
                mistakes.RMS_CENTERED)


def _wrong(chosen: tuple[mistakes.Mistake, ...]) -> dict[str, Entry]:
    return {m.name: m.entry for m in chosen}


# Moments of the data computed another way than the definition under test: the second moment
# minus the squared mean (not the mean of squared deviations).
_MEAN = sp.Sum(x[k], (k, 1, n)) / n
_SECOND = sp.Sum(x[k] ** 2, (k, 1, n)) / n
_VARIANCE_OTHER_WAY = _SECOND - _MEAN**2


def _normalized_properties(z: Callable[[sp.Expr], sp.Expr], center: sp.Expr, var: sp.Expr) -> bool:
    """``(1/n) sum z_k = 0``-type properties: with ``m = center`` and ``V = var``,
    mean of z is ``0`` when centered, mean of z^2 is ``V/(V+eps)`` and mean of (x - m) z is
    ``V/sqrt(V+eps)``. By Cauchy-Schwarz the last two force ``z_k = (x_k - m)/sqrt(V+eps)``."""
    square = sp.Sum(z(k) ** 2, (k, 1, n)) / n
    covariance = sp.Sum((x[k] - center) * z(k), (k, 1, n)) / n
    return equal(square, var / (var + eps), sp.cancel, sums=True) and equal(
        covariance, var / sp.sqrt(var + eps), sp.cancel, sums=True
    )


def _definition_holds(entry: Entry) -> bool:
    """Affine in gain and bias (``dy_i/dbeta_i = 1``, ``y_i - beta_i`` proportional to
    ``gamma_i``), and the normalized part has mean 0, mean square ``V/(V+eps)`` and covariance
    ``V/sqrt(V+eps)`` with x, V = E[x^2] - E[x]^2 (symbolic n)."""
    y = ln.unabbreviate(entry(i, eps))
    if not equal(sp.diff(y, ln.beta[i]), sp.Integer(1)):
        return False
    unit = y.xreplace({ln.beta[i]: 0})
    z_i = sp.diff(unit, ln.gamma[i])
    if not equal(unit, ln.gamma[i] * z_i, sp.cancel, sums=True) or z_i.has(ln.gamma, ln.beta):
        return False

    def z(t: sp.Expr) -> sp.Expr:
        return z_i.xreplace({i: t})

    centered = is_zero(sp.Sum(z(k), (k, 1, n)) / n, sp.cancel, sums=True)
    return centered and _normalized_properties(z, _MEAN, _VARIANCE_OTHER_WAY)


# --- moments -----------------------------------------------------------------------------------


def _moments_hold(entry: Entry) -> bool:
    """Mean and mean square of the normalized entries equal :func:`derive.layernorm.
    normalized_moments` (symbolic n)."""
    first, second = (ln.unabbreviate(m) for m in ln.normalized_moments(eps))
    mean = sp.Sum(ln.unabbreviate(entry(k, eps)), (k, 1, n)) / n
    square = sp.Sum(ln.unabbreviate(entry(k, eps)) ** 2, (k, 1, n)) / n
    return equal(mean, first, sp.cancel, sums=True) and equal(square, second, sp.cancel, sums=True)


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


# --- scaling with epsilon ---------------------------------------------------------------------

EffectiveEps = Callable[[sp.Expr, sp.Expr], sp.Expr]  # (a, eps) -> eps'


def _scale_with_eps_holds(effective: EffectiveEps) -> bool:
    """``xhat_i(a x)`` at eps equals ``xhat_i(x)`` at ``effective(a, eps)`` (symbolic n, a > 0)."""
    moved = ln.substitute_inputs(ln.normalized(i, eps), lambda xk: a * xk)
    return equal(moved, ln.normalized(i, effective(a, eps)), _scale_free, sums=True)


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


def _nullspace_holds(formula: JacobianFormula) -> bool:
    """``J 1 = 0`` (any eps) and ``J xhat = 0`` at eps = 0, for a symbolic n."""
    ones = sp.Sum(_jacobian_at(formula, i, k, eps), (k, 1, n))
    at_zero = sp.Sum(_jacobian_at(formula, i, k, 0) * ln.normalized(k, 0), (k, 1, n))
    return is_zero(ones, sp.cancel, sums=True) and is_zero(at_zero, sp.cancel, sums=True)


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


def _spectrum_holds(eigenvalues: Eigenvalues) -> bool:
    """Symbolic n, from :func:`derive.layernorm.scaled_jacobian_actions`: ``sigma_eps J 1 =
    l_1 1``, ``sigma_eps J xhat = l_2 xhat``, ``sigma_eps J v = l_3 v`` for every v orthogonal to
    1 and xhat, and the trace is ``l_1 + l_2 + (n - 2) l_3`` (so l_3 has multiplicity n - 2)."""
    on_ones, on_xhat, elsewhere = eigenvalues(ln.variance(), eps)
    ones, along, rest, trace = ln.scaled_jacobian_actions()
    return (
        equal(ones, on_ones, sp.cancel, sums=True)
        and equal(along, on_xhat * ln.normalized(i), sp.cancel, sums=True)
        and equal(rest, elsewhere * ln.ORTHOGONAL_DIRECTION[i], sp.cancel, sums=True)
        and equal(trace, on_ones + on_xhat + (n - 2) * elsewhere, sp.cancel, sums=True)
    )


# --- Table 1 -----------------------------------------------------------------------------------

RMS_ROW = (True, False, False, True, False, True)  # our entry for RMSNorm (not in Ba et al.)


def _table_holds(table: dict[str, tuple[bool, ...]]) -> bool:
    """Every entry of ``table`` equals the recomputed invariance (all four methods present)."""
    return table == ln.invariance_table()


def _flipped(method: str, transformation: str) -> dict[str, tuple[bool, ...]]:
    table = dict(ln.PUBLISHED_TABLE_1) | {"RMS norm": RMS_ROW}
    t = ln.TRANSFORMATIONS.index(transformation)
    row = list(table[method])
    row[t] = not row[t]
    return table | {method: tuple(row)}


# --- RMSNorm -----------------------------------------------------------------------------------


def _rms_definition_holds(entry: Entry) -> bool:
    """Proportional to ``gamma_i`` with no bias, and ``z = y / gamma`` has mean square
    ``M/(M+eps)`` and ``(1/n) sum x_k z_k = M/sqrt(M+eps)``, with the mean square computed
    another way, ``M = E[(x - mu)^2] + mu^2`` (symbolic n); by Cauchy-Schwarz these force
    ``z = x / sqrt(M + eps)``."""
    y = entry(i, eps)
    z_i = sp.diff(y, ln.gamma[i])
    if not equal(y, ln.gamma[i] * z_i, sp.cancel, sums=True) or z_i.has(ln.gamma, ln.beta):
        return False
    mean_square = sp.Sum((x[k] - _MEAN) ** 2, (k, 1, n)) / n + _MEAN**2
    return _normalized_properties(lambda t: z_i.xreplace({i: t}), 0, mean_square)


def _centered_equal(center: Transform) -> bool:
    """LayerNorm (beta = 0) and RMSNorm agree on ``center(x)`` (symbolic n, same eps and gain)."""
    layer = ln.substitute_inputs(ln.gamma[i] * ln.normalized(i, eps), center)
    rms = ln.substitute_inputs(ln.rms_norm_entry(i, eps), center)
    return equal(layer, rms, sp.cancel, sums=True)


# --- unbiased standard deviation ----------------------------------------------------------------

Ratio = Callable[[sp.Expr], sp.Expr]  # n -> factor
_m = sp.Symbol("m", integer=True, positive=True)  # n = m + 1 >= 2, so n - 1 > 0


def _unbiased_ratio_holds(ratio: Ratio) -> bool:
    """``(x_i - mu)/s == ratio(n) (x_i - mu)/sigma`` at eps = 0, for symbolic ``n = m + 1 >= 2``."""
    at_least_two = {n: _m + 1}
    unbiased = ln.unbiased_normalized(i, 0).xreplace(at_least_two)
    scaled = (ratio(n) * ln.normalized(i, 0)).xreplace(at_least_two)
    return equal(unbiased, scaled, _scale_free, sums=True)


# --- ScaleNorm ---------------------------------------------------------------------------------

Gain = Callable[[sp.Expr, sp.Expr], sp.Expr]  # (g, n) -> gamma_i


def _scale_norm_holds(gain: Gain) -> bool:
    """``g x_i / ||x||`` equals RMSNorm's entry with ``gamma_i = gain(g, n)``, eps = 0
    (symbolic n)."""
    rms = ln.rms_norm_entry(i, 0).xreplace({ln.gamma[i]: gain(ln.g, n)})
    return equal(ln.scale_norm_entry(i), rms, _scale_free, sums=True)


# --- displays: generated from the formulas the checks consume -------------------------------------

a, c = ln.a, ln.c
XHAT = sp.IndexedBase("xhat")
SIGMA_EPS = sp.Symbol("sigma_eps", positive=True)
ONE = sp.Symbol(r"\mathbf{1}")


def _layer_norm_display(entry: Entry) -> tuple[str, ...]:
    return (
        f"y_i = {latex(entry(i, eps))}",
        f"{latex(ln.mu)} = {latex(ln.mean())}",
        f"{latex(ln.sigma2)} = {latex(ln.variance_abbreviated())}",
    )


def _moments_display(entry: Entry) -> tuple[str, ...]:
    first, second = ln.normalized_moments(eps)
    hat = XHAT[k]
    return (
        rf"{latex(sp.Sum(hat, (k, 1, n)) / n)} = {latex(first)},\quad "
        rf"{latex(sp.Sum(hat**2, (k, 1, n)) / n)} = {latex(second)}",
        rf"\hat x_i = {latex(entry(i, eps))}",
    )


def _invariance_display(name: str, epsilon: sp.Expr) -> Callable[[Transform], tuple[str, ...]]:
    def render(transform: Transform) -> tuple[str, ...]:
        condition = r"\epsilon = 0" if epsilon == 0 else ""
        tail = rf"\quad ({condition})" if condition else ""
        return (
            rf"\mathrm{{{name}}}(x') = \mathrm{{{name}}}(x)\quad\text{{for }} "
            rf"x'_k = {latex(transform(x[k]))}{tail}",
        )

    return render


def _scale_with_eps_display(effective: EffectiveEps) -> tuple[str, ...]:
    return (
        rf"\mathrm{{LN}}_\epsilon(a x) = \mathrm{{LN}}_{{{latex(effective(a, eps))}}}(x)"
        r"\quad (a > 0)",
    )


def _jacobian_parts(formula: JacobianFormula) -> tuple[sp.Expr, sp.Expr, sp.Expr, sp.Expr]:
    """``formula`` = (p delta_ij + q + r xhat_i xhat_j) / s: the coefficients p, q, r and the rest
    (0 for a formula of that shape), read off the formula itself."""
    delta, u, w = sp.Symbol("delta"), sp.Symbol("u"), sp.Symbol("w")
    scaled = sp.expand(formula(delta, u, w, SIGMA_EPS, n) * SIGMA_EPS)
    p = scaled.coeff(delta)
    r = scaled.coeff(u * w)
    q = sp.expand(scaled - p * delta - r * u * w)
    rest = sp.Integer(0) if not q.has(delta, u, w) else q
    return p, q, r, rest


def _jacobian_matrix_display(formula: JacobianFormula) -> str:
    p, q, r, rest = _jacobian_parts(formula)
    if rest != 0:
        entry = formula(sp.KroneckerDelta(i, ln.j), XHAT[i], XHAT[ln.j], SIGMA_EPS, n)
        return rf"J_{{ij}} = {latex(entry)}"
    identity, ones, outer = sp.Symbol("I"), sp.Symbol(r"\mathbf{1}\mathbf{1}^\top"), sp.Symbol(
        r"\hat x\hat x^\top"
    )
    inner = latex(sp.Add(p * identity, q * ones, r * outer, evaluate=True))
    return rf"J = \frac{{1}}{{\sigma_\epsilon}}\left({inner}\right)"


def _jacobian_display(formula: JacobianFormula) -> tuple[str, ...]:
    entry = formula(sp.KroneckerDelta(i, ln.j), XHAT[i], XHAT[ln.j], SIGMA_EPS, n)
    return (
        rf"\frac{{\partial \hat x_i}}{{\partial x_j}} = {latex(entry)}",
        _jacobian_matrix_display(formula),
        rf"\sigma_\epsilon = \sqrt{{\sigma^2 + \epsilon}},\quad \hat x_i = "
        rf"{latex(ln.normalized_abbreviated(i, eps))}",
    )


def _nullspace_display(formula: JacobianFormula) -> tuple[str, ...]:
    """``J 1`` and ``J xhat`` (at eps = 0) as computed from ``formula`` itself (symbolic n)."""
    ones = sp.Sum(_jacobian_at(formula, i, k, eps), (k, 1, n))
    along = sp.Sum(_jacobian_at(formula, i, k, 0) * ln.normalized(k, 0), (k, 1, n))
    on_ones, on_xhat = (sp.cancel(expand_sums(e)) for e in (ones, along))
    return (
        _jacobian_matrix_display(formula),
        rf"(J\mathbf{{1}})_i = {latex(on_ones)},\quad (J\hat x)_i = {latex(on_xhat)}"
        r"\ \text{at}\ \epsilon = 0",
    )


def _spectrum_display(eigenvalues: Eigenvalues) -> tuple[str, ...]:
    on_ones, on_xhat, elsewhere = eigenvalues(ln.sigma2, eps)

    def times(value: sp.Expr, vector: str) -> str:
        value = sp.sympify(value)
        if value == 0:
            return "0"
        return vector if value == 1 else rf"{latex(value)}\,{vector}"

    ones, hat = r"\mathbf{1}", r"\hat x"
    return (
        rf"\sigma_\epsilon J\mathbf{{1}} = {times(on_ones, ones)}",
        rf"\sigma_\epsilon J\hat x = {times(on_xhat, hat)}",
        rf"\sigma_\epsilon J v = {times(elsewhere, 'v')}\quad"
        r"\text{for } v \perp \mathbf{1},\ v \perp \hat x",
    )


_SHORT = {"batch norm": "BN", "weight norm": "WN", "layer norm": "LN", "RMS norm": "RMS"}


def _table_display(table: dict[str, tuple[bool, ...]]) -> tuple[str, ...]:
    """Table 1 transposed (a row per transformation, a column per method) so that it fits the
    text column; a check mark marks an invariance."""
    methods = list(table)
    head = " & ".join(rf"\text{{{_SHORT.get(m, m)}}}" for m in methods)
    rows = [
        rf"\text{{{t}}} & "
        + " & ".join(r"\checkmark" if table[m][r] else "-" for m in methods)
        for r, t in enumerate(ln.TRANSFORMATIONS)
    ]
    body = r" \\ ".join([" & " + head] + rows)
    legend = r",\ ".join(rf"\text{{{_SHORT.get(m, m)} = {m}}}" for m in methods)
    return (r"\begin{array}{l|" + "c" * len(methods) + "}" + body + r"\end{array}", legend)


def _rms_display(entry: Entry) -> tuple[str, ...]:
    return (rf"\mathrm{{RMSNorm}}(x)_i = {latex(entry(i, eps))}",)


def _centered_display(center: Transform) -> tuple[str, ...]:
    return (
        rf"\mathrm{{LN}}_{{\gamma,0}}(x') = \mathrm{{RMSNorm}}_\gamma(x')\quad\text{{for }} "
        rf"x'_k = {latex(center(x[k]))}",
    )


def _unbiased_display(ratio: Ratio) -> tuple[str, ...]:
    return (
        rf"\frac{{x_i - \mu}}{{s}} = {latex(ratio(n))}\,\frac{{x_i - \mu}}{{\sigma}}"
        r"\quad (\epsilon = 0)",
        rf"{latex(ln.s2)} = {latex(ln.unbiased_variance_abbreviated())},\quad "
        rf"{latex(ln.sigma2)} = {latex(ln.variance_abbreviated())}",
    )


def _scale_norm_display(gain: Gain) -> tuple[str, ...]:
    return (
        rf"{latex(ln.scale_norm_entry(i))} = \mathrm{{RMSNorm}}_\gamma(x)_i\quad\text{{with }} "
        rf"\gamma_i = {latex(gain(ln.g, n))},\ \epsilon = 0",
    )


# --- what check_formula accepts ------------------------------------------------------------------

_NAMES = {
    "mu": ln.mean(),
    "sigma": sp.sqrt(ln.variance()),
    "sigma^2": ln.variance(),
    "varepsilon": eps,
    "epsilon": eps,
    "eps": eps,
    "n": n,
}
_LN_VOCABULARY = Vocabulary(
    names=_NAMES,
    families={"x": x, "gamma": ln.gamma, "beta": ln.beta},
    indices={"i": i, "k": k, "j": ln.j},
    allowed=frozenset({n, i, k, ln.j, eps, ln.mu, ln.sigma2}),
)
_RMS_VOCABULARY = Vocabulary(
    names={"varepsilon": eps, "epsilon": eps, "eps": eps, "n": n},
    families={"x": x, "gamma": ln.gamma},
    indices={"i": i, "k": k, "j": ln.j},
    allowed=frozenset({n, i, k, ln.j, eps}),
)


def _point(size: int, xs: list, gains: list, biases: list, epsilon: sp.Rational) -> Point:
    values = {x[t + 1]: sp.nsimplify(v) for t, v in enumerate(xs)}
    values |= {ln.gamma[t + 1]: sp.nsimplify(v) for t, v in enumerate(gains)}
    values |= {ln.beta[t + 1]: sp.nsimplify(v) for t, v in enumerate(biases)}
    values[eps] = epsilon
    arguments = tuple([float(v) for v in vs] for vs in (xs, gains, biases)) + (float(epsilon),)
    fmt = lambda vs: "(" + ", ".join(str(sp.nsimplify(v)) for v in vs) + ")"  # noqa: E731
    text = (
        f"n = {size}, x = {fmt(xs)}, gamma = {fmt(gains)}, beta = {fmt(biases)}, "
        f"epsilon = {epsilon}"
    )
    return Point(text, size, values, arguments)


_LN_POINTS = (
    _point(3, [1, 2, 4], [1, 1, 1], [0, 0, 0], sp.Rational(1, 2)),
    _point(4, [-1, 0.5, 3, 2], [2, -1, 0.5, 3], [1, 0, -2, 0.25], sp.Rational(1, 10)),
    _point(4, [0.01, -0.02, 0.03, 0.0], [1, 1, 1, 1], [0, 0, 0, 0], sp.Rational(1, 100000)),
)


def _rms_point(point: Point) -> Point:
    text = point.text.split(", beta")[0] + f", epsilon = {point.values[eps]}"
    arguments = (point.arguments[0], point.arguments[1], point.arguments[3])
    return Point(text, point.size, point.values, arguments)


_LN_READER = entry_reader(
    takes="y_i, the i-th output: a SymPy expression or LaTeX in x_i, sums over x_k (k = 1..n), "
    "n, mu, sigma, epsilon, gamma_i, beta_i; or a Python function f(x, gamma, beta, eps) of "
    "1-D float64 tensors",
    vocabulary=_LN_VOCABULARY,
    build=lambda expr: (lambda index, epsilon=eps: expr.xreplace({i: index, eps: epsilon})),
    expression=lambda entry, t: ln.unabbreviate(entry(t, eps)),
    index=i,
    size=n,
    points=_LN_POINTS,
    output="y",
    names={m.name: m.noun for m in LN_MISTAKES},
)
_RMS_READER = entry_reader(
    takes="the i-th output: a SymPy expression or LaTeX in x_i, sums over x_k (k = 1..n), n, "
    "epsilon, gamma_i; or a Python function f(x, gamma, eps) of 1-D float64 tensors",
    vocabulary=_RMS_VOCABULARY,
    build=lambda expr: (lambda index, epsilon=eps: expr.xreplace({i: index, eps: epsilon})),
    expression=lambda entry, t: entry(t, eps),
    index=i,
    size=n,
    points=tuple(_rms_point(p) for p in _LN_POINTS),
    output="y",
    names={m.name: m.noun for m in RMS_MISTAKES},
)

_EIGEN_READER = scalar_reader(
    takes="the eigenvalue of sigma_eps J along xhat, as a SymPy expression or LaTeX in sigma "
    "(or sigma^2) and epsilon",
    vocabulary=Vocabulary(
        names={"sigma": sp.sqrt(ln.sigma2), "sigma^2": ln.sigma2, "varepsilon": eps,
               "epsilon": eps, "eps": eps},
        families={},
        indices={},
        allowed=frozenset({ln.sigma2, eps}),
    ),
    build=lambda expr: (
        lambda var, epsilon: (sp.Integer(0), expr.xreplace({ln.sigma2: var, eps: epsilon}), 1)
    ),
    expression=lambda eigenvalues: eigenvalues(ln.sigma2, eps)[1],
    points=[("sigma^2 = 1, epsilon = 1/2", {ln.sigma2: 1, eps: sp.Rational(1, 2)}),
            ("sigma^2 = 3, epsilon = 1/10", {ln.sigma2: 3, eps: sp.Rational(1, 10)})],
    output="the eigenvalue along xhat",
    names={
        "eigenvalue 1 along xhat": "eigenvalue 1 along xhat (as if xhat were just another "
        "direction)",
        "eigenvalue 0 along xhat (eps factor missing)": "eigenvalue 0 along xhat (exact only at "
        "epsilon = 0)",
        "eigenvalue sigma^2/(sigma^2+eps) along xhat": "sigma^2/(sigma^2 + epsilon), the "
        "complement of the right eigenvalue",
    },
)
LN_TORCH = ("torch.nn.functional.layer_norm", "torch.nn.LayerNorm")
JACOBIAN_TORCH = ("torch.autograd.functional.jacobian of torch.nn.functional.layer_norm",)
RMS_TORCH = ("torch.nn.functional.rms_norm", "torch.nn.RMSNorm")


CLAIMS = (
    Claim(
        custom="TODO: not yet an equation",
        id="layernorm.definition",
        kind="definition",
        render=_layer_norm_display,
        source=BA,
        scope="symbolic n",
        proof="checked",
        formula=ln.layer_norm_abbreviated,
        symbolic=_definition_holds,
        wrong=_wrong(LN_MISTAKES),
        numeric=_numeric("definition"),
        compared=LN_TORCH,
        reader=_LN_READER,
        note="Biased variance, epsilon inside the root, as nn.LayerNorm computes it (Ba et al. "
        "write no epsilon). The properties (mean 0, mean square V/(V+eps), covariance "
        "V/sqrt(V+eps) with x, V = E[x^2] - E[x]^2) determine the normalized part; the variants "
        "fail different ones: the mean (not centered), the mean square (unbiased, epsilon "
        "outside), the covariance only (sign flipped), the affine part (gain on the bias).",
    ),
    Claim(
        custom="TODO: not yet an equation",
        id="layernorm.unbiased_ratio",
        kind="identity",
        render=_unbiased_display,
        source=BA,
        origin="derived",
        scope="symbolic n >= 2, eps = 0",
        formula=ln.unbiased_ratio,
        symbolic=_unbiased_ratio_holds,
        wrong={
            "inverted sqrt(n/(n-1))": lambda size: sp.sqrt(size / (size - 1)),
            "no square root (n-1)/n": lambda size: (size - 1) / size,
        },
        numeric=_numeric("unbiased_ratio"),
        compared=LN_TORCH,
        note="A home-made LayerNorm on x.std() (unbiased) is nn.LayerNorm times sqrt((n-1)/n) "
        "(numerically at n = 6, eps = 0); Ba et al. define the biased one. The two variants err "
        "on both sides of the ratio (too large, too small).",
    ),
    Claim(
        custom="TODO: not yet an equation",
        id="layernorm.moments",
        kind="identity",
        render=_moments_display,
        source=BA,
        origin="derived",
        scope="symbolic n",
        formula=ln.normalized_abbreviated,
        symbolic=_moments_hold,
        wrong={
            m.name: mistakes.without_affine(m)
            for m in (mistakes.UNBIASED, mistakes.EPS_OUTSIDE, mistakes.NOT_CENTERED)
        },
        numeric=_numeric("moments"),
        compared=("torch.nn.functional.layer_norm",),
        note="The output variance is slightly below 1 for eps > 0 (numerically at eps = 0.5).",
    ),
    Claim(
        id="layernorm.shift_invariance",
        kind="identity",
        source=BA,
        scope="symbolic n",
        formula=((LN(vector(lambda t: x[t] + c), i), LN(vector(x), i)),),
        wrong={
            "scaling x -> c x (eps > 0)": (LN(vector(lambda t: c * x[t]), i), LN(vector(x), i)),
            "shifting only x_1": (LN(vector(lambda t: x[t] + c * sp.KroneckerDelta(t, 1)), i),
                                  LN(vector(x), i)),
        },
        numeric=_reference("norms"),
        compared=("torch.nn.functional.layer_norm",),
    ),
    Claim(
        id="layernorm.scale_invariance",
        kind="identity",
        source=BA,
        scope="symbolic n, eps = 0",
        formula=((LN(vector(lambda t: a * x[t]), i), LN(vector(x), i)),),
        where=((eps, 0),),
        simplify=_scale_free,
        wrong={
            "negative scale x -> -a x": (LN(vector(lambda t: -a * x[t]), i), LN(vector(x), i)),
            "scaling only x_1": (LN(vector(lambda t: x[t] * a ** sp.KroneckerDelta(t, 1)), i),
                                 LN(vector(x), i)),
        },
        numeric=_reference("norms"),
        compared=("torch.nn.functional.layer_norm",),
        note="Exact only at eps = 0; with eps > 0 small inputs are not scale invariant.",
    ),
    Claim(
        custom="TODO: not yet an equation",
        id="layernorm.scale_with_eps",
        kind="identity",
        render=_scale_with_eps_display,
        source=BA,
        origin="derived",
        scope="symbolic n, symbolic a > 0 and eps > 0",
        formula=ln.scaled_epsilon,
        symbolic=_scale_with_eps_holds,
        wrong={
            "eps / a": lambda scale, epsilon: epsilon / scale,
            "eps unchanged (exact invariance)": lambda scale, epsilon: epsilon,
            "eps a^2": lambda scale, epsilon: epsilon * scale**2,
        },
        numeric=_numeric("scale_with_eps"),
        compared=LN_TORCH,
        note="Scaling the input by a acts like dividing eps by a^2: a tiny input is normalized as "
        "if eps were large (numerically at a = 0.01, eps = 1e-5, with gain and bias).",
    ),
    Claim(
        custom="TODO: not yet an equation",
        id="layernorm.jacobian",
        kind="identity",
        render=_jacobian_display,
        source=BA,
        origin="derived",
        scope="symbolic n",
        formula=ln.jacobian_closed_form,
        symbolic=_jacobian_holds,
        wrong={
            "missing -xhat xhat^T / n": _jacobian_without_outer,
            "missing -1 1^T / n": _jacobian_without_mean,
            "+xhat xhat^T / n (sign flipped)": lambda d, xi, xj, scale, size: (
                (d - 1 / size + xi * xj / size) / scale
            ),
        },
        numeric=_numeric("jacobian"),
        compared=JACOBIAN_TORCH,
        note="Derived here: sympy.diff of the LayerNorm of Ba et al. through the sums (they "
        "give no Jacobian); numerically against torch.autograd.functional.jacobian.",
    ),
    Claim(
        custom="TODO: not yet an equation",
        id="layernorm.jacobian_nullspace",
        kind="identity",
        render=_nullspace_display,
        source=BA,
        origin="derived",
        scope="symbolic n",
        formula=ln.jacobian_closed_form,
        symbolic=_nullspace_holds,
        wrong={
            "missing -xhat xhat^T / n": _jacobian_without_outer,
            "missing -1 1^T / n": _jacobian_without_mean,
        },
        numeric=_numeric("nullspace"),
        compared=JACOBIAN_TORCH,
        note="Shifting x along 1, or scaling it along xhat, does not change LN(x) to first order.",
    ),
    Claim(
        custom="TODO: not yet an equation",
        id="layernorm.jacobian_spectrum",
        kind="identity",
        render=_spectrum_display,
        source=BA,
        origin="derived",
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
            "eigenvalue 1 along 1": lambda var, epsilon: (1, epsilon / (var + epsilon), 1),
            "eigenvalue 1/2 elsewhere": lambda var, epsilon: (
                0,
                epsilon / (var + epsilon),
                sp.Rational(1, 2),
            ),
        },
        numeric=_numeric("spectrum"),
        compared=JACOBIAN_TORCH,
        reader=_EIGEN_READER,
        note="Derived here (Ba et al. give no Jacobian). J is symmetric; 1 and xhat are "
        "orthogonal, so the rest is n - 2 dimensional (the trace confirms the count).",
    ),
    Claim(
        custom="TODO: not yet an equation",
        id="layernorm.invariance_table",
        kind="identity",
        render=_table_display,
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
            "layer norm not invariant to weight matrix re-scaling": _flipped(
                "layer norm", "weight matrix re-scaling"
            ),
            "weight norm not invariant to weight vector re-scaling": _flipped(
                "weight norm", "weight vector re-scaling"
            ),
        },
        numeric=_numeric("table"),
        compared=("torch.nn.functional.layer_norm", "torch.nn.functional.rms_norm"),
        note="The published table is typed in as data and compared entry by entry with the "
        "recomputed one; the RMSNorm row is ours. Variants flip entries both ways.",
    ),
    Claim(
        custom="TODO: not yet an equation",
        id="rmsnorm.definition",
        kind="definition",
        render=_rms_display,
        source=ZHANG,
        scope="symbolic n",
        proof="checked",
        formula=ln.rms_norm_entry,
        symbolic=_rms_definition_holds,
        wrong=_wrong(RMS_MISTAKES),
        numeric=_numeric("rms_definition"),
        compared=RMS_TORCH,
        reader=_RMS_READER,
        note="PyTorch's default eps=None means torch.finfo(dtype).eps. The properties (mean "
        "square M/(M+eps), covariance M/sqrt(M+eps) with x, M = E[(x-mu)^2] + mu^2) determine "
        "the formula.",
    ),
    Claim(
        id="rmsnorm.scale_invariance",
        kind="identity",
        source=ZHANG,
        scope="symbolic n, eps = 0",
        formula=((RMS(vector(lambda t: a * x[t]), i), RMS(vector(x), i)),),
        where=((eps, 0),),
        simplify=_scale_free,
        wrong={
            "shift x -> x + c": (RMS(vector(lambda t: x[t] + c), i), RMS(vector(x), i)),
            "negative scale x -> -a x": (RMS(vector(lambda t: -a * x[t]), i), RMS(vector(x), i)),
        },
        numeric=_reference("norms"),
        compared=("torch.nn.functional.rms_norm",),
        note="RMSNorm is not shift invariant (the first wrong variant).",
    ),
    Claim(
        custom="TODO: not yet an equation",
        id="rmsnorm.equals_layernorm_when_centered",
        kind="identity",
        render=_centered_display,
        source=ZHANG,
        scope="symbolic n",
        formula=lambda xk: xk - ln.mean(),
        symbolic=_centered_equal,
        wrong={
            "no centering": lambda xk: xk,
            "subtracting x_1 instead of the mean": lambda xk: xk - x[1],
        },
        numeric=_numeric("centered"),
        compared=("torch.nn.functional.layer_norm", "torch.nn.functional.rms_norm"),
    ),
    Claim(
        custom="TODO: not yet an equation",
        id="scalenorm.is_scaled_rmsnorm",
        kind="identity",
        render=_scale_norm_display,
        source="nguyen2019transformers",
        origin="derived",
        builds_on=(ZHANG,),
        scope="symbolic n, eps = 0",
        formula=ln.scale_norm_gain,
        symbolic=_scale_norm_holds,
        wrong={
            "gamma_i = g (missing 1/sqrt(n))": lambda gain, size: gain,
            "gamma_i = g sqrt(n)": lambda gain, size: gain * sp.sqrt(size),
            "gamma_i = g / n": lambda gain, size: gain / size,
        },
        numeric=_numeric("scale_norm"),
        compared=RMS_TORCH,
        note="ScaleNorm's single gain g is RMSNorm's per-feature gain with all n entries equal "
        "to g/sqrt(n) (numerically at n = 6, g = 1.7).",
    ),
)
