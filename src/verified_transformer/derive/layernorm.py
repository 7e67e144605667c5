r"""LayerNorm and RMSNorm, derived for a symbolic width ``n``; Table 1 of Ba et al. recomputed.

* :math:`\mu = \frac1n\sum_k x_k`, :math:`\sigma^2 = \frac1n\sum_k (x_k-\mu)^2` (biased),
  :math:`\hat x_i = (x_i-\mu)/\sqrt{\sigma^2+\epsilon}`, :math:`y_i = \gamma_i\hat x_i + \beta_i`.
* Jacobian of :math:`\hat x`:
  :math:`J = \frac{1}{\sqrt{\sigma^2+\epsilon}}\left(I - \tfrac1n\mathbf{1}\mathbf{1}^\top
  - \tfrac1n\hat x\hat x^\top\right)`.
* RMSNorm: :math:`y_i = \gamma_i x_i/\sqrt{\frac1n\sum_k x_k^2 + \epsilon}`; ScaleNorm
  :math:`g\,x/\lVert x\rVert` is RMSNorm with :math:`\gamma_i = g/\sqrt n`, :math:`\epsilon = 0`.
* The unbiased standard deviation :math:`s` (divisor :math:`n-1`) gives
  :math:`(x_i-\mu)/s = \sqrt{(n-1)/n}\,(x_i-\mu)/\sigma`.
* Scaling with :math:`\epsilon > 0`: for :math:`a > 0`,
  :math:`\mathrm{LN}_\epsilon(a x) = \mathrm{LN}_{\epsilon/a^2}(x)`.
* With :math:`\sigma_\epsilon = \sqrt{\sigma^2+\epsilon}`, :math:`\sigma_\epsilon J` has
  eigenvalue 0 on :math:`\mathbf{1}`, :math:`\epsilon/(\sigma^2+\epsilon)` on :math:`\hat x` and 1
  on the :math:`n-2` directions orthogonal to both.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from functools import cache

import sympy as sp

from verified_transformer.derive.exact import Undecided, expand_sums

n = sp.Symbol("n", integer=True, positive=True)
i, j, k = sp.symbols("i j k", integer=True, positive=True)
x = sp.IndexedBase("x")
gamma = sp.IndexedBase("gamma")
beta = sp.IndexedBase("beta")
eps = sp.Symbol("epsilon", positive=True)
a, c = sp.Symbol("a", positive=True), sp.Symbol("c", real=True)
g = sp.Symbol("g", real=True)  # ScaleNorm's single gain

Entry = Callable[[sp.Expr], sp.Expr]  # index -> expression of that output component


# Two forms of each formula: ``*_abbreviated`` keeps the symbols mu and sigma^2 (as the book
# displays it); the plain name writes them out as sums over a symbolic n (what the checks run on).
# ``*_of_vector`` takes an explicit list of entries instead of a symbolic n.
mu = sp.Symbol("mu", real=True)  # abbreviation of the mean, as the book writes it
sigma2 = sp.Symbol("sigma^2", nonnegative=True)  # abbreviation of the biased variance


def mean(values: sp.IndexedBase = x, size: sp.Expr = n) -> sp.Expr:
    """``mu = (1/n) sum_k x_k``, written out (the right-hand side that ``mu`` abbreviates)."""
    return sp.Sum(values[k], (k, 1, size)) / size


def variance_abbreviated(values: sp.IndexedBase = x, size: sp.Expr = n) -> sp.Expr:
    """``sigma^2 = (1/n) sum_k (x_k - mu)^2``, written with ``mu`` (biased: divisor n)."""
    return sp.Sum((values[k] - mu) ** 2, (k, 1, size)) / size


def normalized_abbreviated(index: sp.Expr = i, epsilon: sp.Expr = eps) -> sp.Expr:
    """``xhat_i = (x_i - mu) / sqrt(sigma^2 + epsilon)`` with ``mu`` and ``sigma^2`` abbreviated."""
    return (x[index] - mu) / sp.sqrt(sigma2 + epsilon)


def layer_norm_abbreviated(index: sp.Expr = i, epsilon: sp.Expr = eps) -> sp.Expr:
    """``y_i = gamma_i (x_i - mu) / sqrt(sigma^2 + epsilon) + beta_i``, abbreviated (what the book
    displays); :func:`unabbreviate` writes ``mu`` and ``sigma^2`` out."""
    return gamma[index] * normalized_abbreviated(index, epsilon) + beta[index]


def unabbreviate(expr: sp.Expr) -> sp.Expr:
    """Replace ``sigma^2`` and ``mu`` by their definitions (:func:`variance_abbreviated`,
    :func:`mean`)."""
    return expr.xreplace({sigma2: variance_abbreviated()}).xreplace({mu: mean()})


def normalized_moments(epsilon: sp.Expr = eps) -> tuple[sp.Expr, sp.Expr]:
    """Mean and mean square of ``xhat`` over its n entries: ``(0, sigma^2 / (sigma^2 + eps))``
    (abbreviated; the output variance is just below 1 for eps > 0)."""
    return sp.Integer(0), sigma2 / (sigma2 + epsilon)


def variance(values: sp.IndexedBase = x, size: sp.Expr = n) -> sp.Expr:
    """Biased variance ``(1/n) sum_k (x_k - mu)^2`` (what LayerNorm uses), ``mu`` written out."""
    return variance_abbreviated(values, size).xreplace({mu: mean(values, size)})


def sigma(epsilon: sp.Expr = eps) -> sp.Expr:
    """``sqrt(sigma^2 + epsilon)``: epsilon inside the square root."""
    return sp.sqrt(variance() + epsilon)


def normalized(index: sp.Expr = i, epsilon: sp.Expr = eps) -> sp.Expr:
    """``xhat_i = (x_i - mu) / sqrt(sigma^2 + epsilon)``, written out."""
    return unabbreviate(normalized_abbreviated(index, epsilon))


def layer_norm_entry(index: sp.Expr = i, epsilon: sp.Expr = eps) -> sp.Expr:
    """``y_i = gamma_i xhat_i + beta_i`` (Ba et al. 2016, eq. 4, with PyTorch's epsilon), written
    out: :func:`layer_norm_abbreviated` unabbreviated."""
    return unabbreviate(layer_norm_abbreviated(index, epsilon))


def rms_norm_entry(index: sp.Expr = i, epsilon: sp.Expr = eps) -> sp.Expr:
    """``y_i = gamma_i x_i / sqrt((1/n) sum_k x_k^2 + epsilon)`` (Zhang & Sennrich 2019)."""
    return gamma[index] * x[index] / sp.sqrt(sp.Sum(x[k] ** 2, (k, 1, n)) / n + epsilon)


def scale_norm_entry(index: sp.Expr = i, gain: sp.Expr = g) -> sp.Expr:
    """``g x_i / ||x||`` (Nguyen & Salazar 2019, no epsilon)."""
    return gain * x[index] / sp.sqrt(sp.Sum(x[k] ** 2, (k, 1, n)))


def scale_norm_gain(gain: sp.Expr, size: sp.Expr) -> sp.Expr:
    """The RMSNorm gain ``gamma_i = g / sqrt(n)`` that turns RMSNorm into ScaleNorm."""
    return gain / sp.sqrt(size)


s2 = sp.Symbol("s^2", nonnegative=True)  # abbreviation of the unbiased variance


def unbiased_variance_abbreviated(values: sp.IndexedBase = x, size: sp.Expr = n) -> sp.Expr:
    """``s^2 = (1/(n-1)) sum_k (x_k - mu)^2`` (unbiased: what ``x.var()`` and ``x.std()`` use)."""
    return sp.Sum((values[k] - mu) ** 2, (k, 1, size)) / (size - 1)


def unbiased_normalized(index: sp.Expr = i, epsilon: sp.Expr = eps) -> sp.Expr:
    """``(x_i - mu) / sqrt(s^2 + epsilon)`` with the unbiased ``s^2`` (what ``x.std()`` gives; a
    common home-made LayerNorm), written out."""
    entry = (x[index] - mu) / sp.sqrt(s2 + epsilon)
    return unabbreviate(entry.xreplace({s2: unbiased_variance_abbreviated()}))


def unbiased_ratio(size: sp.Expr) -> sp.Expr:
    """``sqrt((n-1)/n)``: the unbiased normalization divided by the biased one (epsilon = 0)."""
    return sp.sqrt((size - 1) / size)


def substitute_inputs(expr: sp.Expr, transform: Callable[[sp.Indexed], sp.Expr]) -> sp.Expr:
    """Replace every input ``x[.]`` in ``expr`` by ``transform(x[.])`` (e.g. ``a x_k + c``)."""
    return expr.replace(lambda e: isinstance(e, sp.Indexed) and e.base == x, transform)


@cache
def jacobian_entry(epsilon: sp.Expr = eps) -> sp.Expr:
    """``d xhat_i / d x_j``: :func:`normalized` differentiated (symbolic ``n``), sums expanded."""
    return expand_sums(sp.diff(normalized(i, epsilon), x[j]))


def jacobian_closed_form(
    delta: sp.Expr, xhat_i: sp.Expr, xhat_j: sp.Expr, scale: sp.Expr, size: sp.Expr
) -> sp.Expr:
    """``(delta_ij - 1/n - xhat_i xhat_j / n) / sqrt(sigma^2 + epsilon)``."""
    return (delta - 1 / size - xhat_i * xhat_j / size) / scale


def scaled_epsilon(scale: sp.Expr, epsilon: sp.Expr) -> sp.Expr:
    """The epsilon that makes ``LN_eps(a x) = LN_{eps'}(x)`` for ``a > 0``: ``eps / a^2``."""
    return epsilon / scale**2


def jacobian_eigenvalues(variance: sp.Expr, epsilon: sp.Expr) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """Eigenvalues of ``sqrt(sigma^2 + eps) J`` along ``1``, along ``xhat`` and on the ``n - 2``
    directions orthogonal to both: ``(0, eps / (sigma^2 + eps), 1)``."""
    return sp.Integer(0), epsilon / (variance + epsilon), sp.Integer(1)


# --- explicit vectors --------------------------------------------------------------------------


def layer_norm_of_vector(values: Sequence[sp.Expr], epsilon: sp.Expr = eps) -> sp.Matrix:
    """LayerNorm (no gain/bias) of an explicit vector; the variance is pulled apart by
    ``factor_terms`` so a common positive factor leaves the square root (exact)."""
    size = len(values)
    if size == 0:
        raise ValueError("values: expected at least one entry, got none")
    mu = sp.Add(*values) / size
    var = sp.factor_terms(sp.expand(sp.Add(*[(v - mu) ** 2 for v in values]) / size))
    return sp.Matrix([(v - mu) / sp.sqrt(var + epsilon) for v in values])


def layer_norm_ratios_of_vector(values: Sequence[sp.Expr]) -> list[tuple[sp.Expr, sp.Expr]]:
    """LayerNorm (eps = 0) of an explicit vector as pairs ``(x_i - mu, sigma^2)``, entry
    ``p / sqrt(u)``; compare such pairs with :func:`~.exact.sqrt_ratios_equal`."""
    values = list(values)
    if not values:
        raise ValueError("values: expected at least one entry, got none")
    mu = sp.Add(*values) / len(values)
    var = sp.expand(sp.Add(*[(v - mu) ** 2 for v in values]) / len(values))
    return [(sp.expand(v - mu), var) for v in values]


def rms_norm_of_vector(values: Sequence[sp.Expr], epsilon: sp.Expr = eps) -> sp.Matrix:
    """RMSNorm (no gain) of an explicit vector."""
    size = len(values)
    if size == 0:
        raise ValueError("values: expected at least one entry, got none")
    mean_square = sp.factor_terms(sp.expand(sp.Add(*[v**2 for v in values]) / size))
    return sp.Matrix([v / sp.sqrt(mean_square + epsilon) for v in values])


# --- Table 1 of Ba, Kiros & Hinton (2016) ------------------------------------------------------

TRANSFORMATIONS = (
    "weight matrix re-scaling",
    "weight matrix re-centering",
    "weight vector re-scaling",
    "dataset re-scaling",
    "dataset re-centering",
    "single training case re-scaling",
)
# Table 1 of Ba, Kiros & Hinton (2016) typed in as data ("Invariant" -> True, "No" -> False).
PUBLISHED_TABLE_1 = {
    "batch norm": (True, False, True, True, True, False),
    "weight norm": (True, False, True, False, False, False),
    "layer norm": (True, True, False, True, False, True),
}
CASES, UNITS, INPUTS = 3, 3, 2  # training cases N, hidden units H, input features D

# Exact polynomial arithmetic over the rationals (SymPy's sparse polynomial ring) keeps the 24
# recomputations fast: inputs x_rt, weights w_ht, the scale delta > 0 and the shift gamma_t.
_NAMES = (
    [f"x_{r}{t}" for r in range(1, CASES + 1) for t in range(1, INPUTS + 1)]
    + [f"w_{h}{t}" for h in range(1, UNITS + 1) for t in range(1, INPUTS + 1)]
    + ["delta"]
    + [f"gamma_{t}" for t in range(1, INPUTS + 1)]
)
RING, *GENERATORS = sp.ring(_NAMES, sp.QQ)
X_ROWS = [GENERATORS[r * INPUTS : (r + 1) * INPUTS] for r in range(CASES)]
W_ROWS = [
    GENERATORS[CASES * INPUTS + h * INPUTS : CASES * INPUTS + (h + 1) * INPUTS]
    for h in range(UNITS)
]
DELTA = GENERATORS[(CASES + UNITS) * INPUTS]
SHIFT = GENERATORS[(CASES + UNITS) * INPUTS + 1 :]

Rows = list[list]  # a matrix as a list of rows of polynomials
Ratio = tuple  # (p, u): the normalized value p / sqrt(u), both polynomials


def _summed_inputs(xs: Rows, w: Rows) -> Rows:
    """``A = X W^T``: ``a_rh = sum_t x_rt w_ht``."""
    return [[sum(xr[t] * wh[t] for t in range(INPUTS)) for wh in w] for xr in xs]


def _centered(values: list) -> list[Ratio]:
    """``(v - mu, biased variance)`` for each entry (batch norm and layer norm, eps = 0)."""
    mu = sum(values) / len(values)
    var = sum((v - mu) ** 2 for v in values) / len(values)
    return [(v - mu, var) for v in values]


def _rms(values: list) -> list[Ratio]:
    """``(v, mean square)`` for each entry (RMSNorm, eps = 0)."""
    mean_square = sum(v**2 for v in values) / len(values)
    return [(v, mean_square) for v in values]


def _per_unit(xs: Rows, w: Rows) -> list[Ratio]:
    a = _summed_inputs(xs, w)
    columns = [_centered([a[r][h] for r in range(CASES)]) for h in range(UNITS)]
    return [columns[h][r] for r in range(CASES) for h in range(UNITS)]


def _per_case(f: Callable[[list], list[Ratio]]) -> Callable[[Rows, Rows], list[Ratio]]:
    return lambda xs, w: [e for row in _summed_inputs(xs, w) for e in f(row)]


def _weight_norm(xs: Rows, w: Rows) -> list[Ratio]:
    a = _summed_inputs(xs, w)
    return [(a[r][h], sum(v**2 for v in w[h])) for r in range(CASES) for h in range(UNITS)]


# Each method maps (X, W) to the N x H normalized summed inputs p/sqrt(u), row by row; gains 1,
# biases 0, eps 0. Batch norm normalizes each unit over the N cases; layer norm and RMSNorm each
# case over the H units; weight norm divides w_h . x by ||w_h||.
NORMALIZERS: dict[str, Callable[[Rows, Rows], list[Ratio]]] = {
    "batch norm": _per_unit,
    "weight norm": _weight_norm,
    "layer norm": _per_case(_centered),
    "RMS norm": _per_case(_rms),
}


def _scale_first(m: Rows) -> Rows:
    return [[DELTA * v for v in m[0]], *m[1:]]


# The six transformations of Table 1 as (X, W) -> (X', W'), with delta > 0.
TRANSFORMATION_MAPS: dict[str, Callable[[Rows, Rows], tuple[Rows, Rows]]] = {
    "weight matrix re-scaling": lambda xs, w: (xs, [[DELTA * v for v in r] for r in w]),
    "weight matrix re-centering": lambda xs, w: (
        xs,
        [[v + SHIFT[t] for t, v in enumerate(r)] for r in w],
    ),
    "weight vector re-scaling": lambda xs, w: (xs, _scale_first(w)),
    "dataset re-scaling": lambda xs, w: ([[DELTA * v for v in r] for r in xs], w),
    "dataset re-centering": lambda xs, w: (
        [[v + SHIFT[t] for t, v in enumerate(r)] for r in xs],
        w,
    ),
    "single training case re-scaling": lambda xs, w: (_scale_first(xs), w),
}


def _positive_in_delta(r: sp.polys.rings.PolyElement) -> bool:
    """``r`` is a polynomial in delta alone with positive coefficients (so r > 0 for delta > 0)."""
    others = [g for g in GENERATORS if g != DELTA]
    return all(r.degree(g) <= 0 for g in others) and all(v > 0 for v in r.coeffs())


def ratios_equal(new: Ratio, old: Ratio, trials: int = 3, seed: int = 0) -> bool:
    """Exact test of ``p'/sqrt(u') == p/sqrt(u)`` for all values of the symbols.

    Proof: ``p' = r p`` and ``u' = r^2 u`` with ``r`` a positive polynomial in delta alone.
    Refutation: exact rationals at which the two sides differ (same sign and
    ``p'^2 u == p^2 u'`` is what equality means there). Raises :class:`Undecided` otherwise.
    """
    (p_new, u_new), (p_old, u_old) = new, old
    if p_old != 0:
        r, remainder = p_new.div(p_old)
        if remainder == 0 and _positive_in_delta(r) and u_new == r**2 * u_old:
            return True
    rng = random.Random(seed)
    for _ in range(trials):
        point = [sp.QQ(rng.randint(-30, 30), rng.randint(1, 7)) for _ in GENERATORS]
        point[GENERATORS.index(DELTA)] = sp.QQ(rng.randint(2, 30), rng.randint(1, 7))
        pn, un, po, uo = (f(*point) for f in (p_new, u_new, p_old, u_old))
        if un <= 0 or uo <= 0:
            continue
        if (pn > 0) != (po > 0) or (pn < 0) != (po < 0) or pn**2 * uo != po**2 * un:
            return False
    raise Undecided(f"could not decide {new} == {old}")


def is_invariant(method: str, transformation: str) -> bool:
    """Whether the normalized summed inputs are unchanged, for all values of the symbols."""
    f = NORMALIZERS[method]
    after = f(*TRANSFORMATION_MAPS[transformation](X_ROWS, W_ROWS))
    return all(ratios_equal(p, q) for p, q in zip(after, f(X_ROWS, W_ROWS), strict=True))


@cache
def invariance_table() -> dict[str, tuple[bool, ...]]:
    """Table 1 recomputed: method -> invariance under each of :data:`TRANSFORMATIONS`."""
    return {m: tuple(is_invariant(m, t) for t in TRANSFORMATIONS) for m in NORMALIZERS}


# --- the operators, for the claims' equations (derive.operators) ---------------------------------

from verified_transformer.derive.operators import EntryOf  # noqa: E402


class LN(EntryOf):
    """``LN(v, i, epsilon)``: :func:`layer_norm_entry` of the vector v (gain and bias kept)."""

    head, defaults = r"\mathrm{LN}", (eps,)

    @classmethod
    def entry(cls, values, index, epsilon=eps):  # noqa: ANN001, ANN206
        return substitute_inputs(layer_norm_entry(index, epsilon), lambda e: values(e.indices[0]))


class RMSNorm(EntryOf):
    """``RMSNorm(v, i, epsilon)``: :func:`rms_norm_entry` of the vector v."""

    head, defaults = r"\mathrm{RMSNorm}", (eps,)

    @classmethod
    def entry(cls, values, index, epsilon=eps):  # noqa: ANN001, ANN206
        return substitute_inputs(rms_norm_entry(index, epsilon), lambda e: values(e.indices[0]))


# The abbreviations of the Jacobian's claims: xhat_k, sigma_eps = sqrt(sigma^2 + epsilon), J_ij.
XHAT, J = sp.IndexedBase("xhat"), sp.IndexedBase("J")
SIGMA_EPS = sp.Symbol("sigma_eps", positive=True)


class MatrixOf(sp.Function):
    r"""``MatrixOf(entry, i, j)``: the n x n matrix whose entry (i, j) is ``entry``; ``doit`` is
    that entry, so an equation between two is proved entry by entry for symbolic i and j. Printed
    as the matrix: ``J`` for the entry ``J_ij``, and
    :math:`\frac{1}{\sigma_\epsilon}(p I + q \mathbf{1}\mathbf{1}^\top + r \hat x\hat x^\top)`
    for ``(p delta_ij + q + r xhat_i xhat_j) / sigma_eps`` (p, q, r read off the entry)."""

    def doit(self, **hints):  # noqa: ANN003, ANN201
        return self.args[0].doit(**hints)

    def _latex(self, printer):  # noqa: ANN001, ANN202
        entry, row, col = self.args
        if isinstance(entry, sp.Indexed) and entry.indices == (row, col):
            return printer._print(entry.base)
        delta, outer = sp.KroneckerDelta(row, col), XHAT[row] * XHAT[col]
        scaled = sp.expand(entry * SIGMA_EPS)
        p, r = scaled.coeff(delta), scaled.coeff(outer)
        q = sp.expand(scaled - p * delta - r * outer)
        if any(e.has(row, col, SIGMA_EPS) for e in (p, q, r)):
            raise ValueError(f"entry: {entry} is not (p delta_ij + q + r xhat_i xhat_j)/sigma_eps")
        inside = (p * sp.Symbol("I") + q * sp.Symbol(r"\mathbf{1}\mathbf{1}^\top")
                  + r * sp.Symbol(r"\hat x\hat x^\top"))
        return rf"\frac{{1}}{{\sigma_\epsilon}}\left({printer._print(inside)}\right)"
