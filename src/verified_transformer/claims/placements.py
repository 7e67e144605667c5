"""Claims about where the normalization went after 2020: Peri-LN and OLMo 2's output norm, the
growth of the Pre-LN stream, the bounds an output norm and QK-norm give, DyT, nGPT and Mix-LN.

The definitions are compared, not proved: numerically with our ``nn.variants`` modules and PyTorch's
kernels, and symbolically by properties that tell the placements apart (an identity path, a
bounded increment, a normalized input), each failed by a different wrong variant. The bounds are
proved (each step an exact SymPy identity or a sign SymPy decides) and shown attained: a bound
below them is violated by an explicit input.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sympy as sp

from verified_transformer.claims.latex import latex
from verified_transformer.claims.ledger import Claim, numeric_check
from verified_transformer.derive import layernorm as ln
from verified_transformer.derive import placements as pl
from verified_transformer.derive.exact import equal, is_zero, matrices_equal

KIM, OLMO, XIONG = "kim2025peri", "olmo2024furious", "xiong2020layer"
eps, i, j, k, n, x = pl.eps, pl.i, pl.j, pl.k, pl.n, pl.x
_numeric = numeric_check("numeric_placements")

# --- Peri-LN and the output norm: the sub-layer (x, F, N_in, N_out) -> next stream ----------------

Sublayer = Callable[[Any, Callable, Callable, Callable], Any]

_V = sp.Matrix(sp.symbols("v1:4", real=True))  # the stream, n = 3
_A = sp.Matrix(3, 3, sp.symbols("a1:10", real=True))  # a linear sub-layer F(t) = A t
_SCALE = sp.Symbol("a", positive=True)


def _rms(epsilon: sp.Expr) -> Callable[[sp.Matrix], sp.Matrix]:
    return lambda t: sp.Matrix(pl.rms_vector(list(t), epsilon))


def _same(t: Any) -> Any:
    return t


def _linear(t: sp.Matrix) -> sp.Matrix:
    return _A * t


def _zero(t: sp.Matrix) -> sp.Matrix:
    return sp.zeros(*t.shape)


def _identity_path(sublayer: Sublayer) -> bool:
    """With F = 0 and RMSNorms (eps > 0) for both norms, the sub-layer returns its input: the
    residual stream passes unnormalized (RMSNorm(0) = 0)."""
    return matrices_equal(sublayer(_V, _zero, _rms(eps), _rms(eps)), _V, sp.cancel)


def _bounded_increment(sublayer: Sublayer) -> bool:
    """With N_in the identity, F(t) = A t and N_out an RMSNorm, the increment (output minus input)
    has mean square ``M/(M+eps)``, M the mean square of A x: it is N_out's output."""
    increment = sublayer(_V, _linear, _same, _rms(eps)) - _V
    target = _A * _V
    mean_sq = sum(e**2 for e in target) / 3
    return equal(sum(e**2 for e in increment) / 3, pl.rms_ratio(mean_sq, eps), sp.cancel)


def _homogeneous(degree: int) -> Callable[[Sublayer], bool]:
    """With N_in an RMSNorm (eps = 0), F(t) = A t and N_out the identity, the increment at
    ``a x`` is ``a^degree`` times the one at x: degree 0 when F reads a normalized stream,
    degree 1 when it reads the stream itself."""

    def check(sublayer: Sublayer) -> bool:
        def increment(t: sp.Matrix) -> sp.Matrix:
            return sublayer(t, _linear, _rms(0), _same) - t

        return matrices_equal(increment(_SCALE * _V), _SCALE**degree * increment(_V), sp.cancel)

    return check


def _peri_holds(sublayer: Sublayer) -> bool:
    """Identity path, a bounded increment and a sub-layer that reads a normalized stream (n = 3,
    symbolic stream, linear F and eps): Peri-LN's three properties."""
    return _identity_path(sublayer) and _bounded_increment(sublayer) and _homogeneous(0)(sublayer)


def _output_holds(sublayer: Sublayer) -> bool:
    """Identity path, a bounded increment and a sub-layer that reads the stream itself."""
    return _identity_path(sublayer) and _bounded_increment(sublayer) and _homogeneous(1)(sublayer)


def _pre_ln(x: Any, f: Callable, n_in: Callable, n_out: Callable) -> Any:
    return x + f(n_in(x))


def _post_ln(x: Any, f: Callable, n_in: Callable, n_out: Callable) -> Any:
    return n_out(x + f(x))


def _norm_after_addition(x: Any, f: Callable, n_in: Callable, n_out: Callable) -> Any:
    return n_out(x + f(n_in(x)))


# --- the Pre-LN stream's variance ----------------------------------------------------------------

Growth = Callable[[Any, Any, Any], Any]  # (s^2, v, L) -> Var(x_L)


def _growth_holds(growth: Growth) -> bool:
    """Equal to :func:`derive.placements.stream_variance` (the covariance double sum) for a
    symbolic L, s^2 and v."""
    return equal(growth(pl.s2, pl.v, pl.L), pl.stream_variance(), sp.expand)


# --- Peri-LN's increment bound --------------------------------------------------------------------

Bound = Callable[[Any, Any], Any]  # (max |g|, n) -> bound on RMS(N_out(y))
_WITNESS_SCALE = sp.Integer(10) ** 6  # a large input: eps / M is negligible
_WITNESS_EPS = sp.Rational(1, 10**5)
_M_POSITIVE = sp.Symbol("M", positive=True)  # a nonzero input, for the supremum


def _rms_output_bounded() -> bool:
    """The proof, for a symbolic width n, gain g with max |g_k| = G (g_k^2 = G^2 - delta_k,
    delta_k >= 0), M >= 0 and eps > 0:
    (1) 1 - M/(M+eps) = eps/(M+eps) > 0;
    (2) G^2 M/(M+eps) - mean_k (g_k y_k / sqrt(M+eps))^2 = mean_k delta_k y_k^2 / (M+eps), a mean
    of terms >= 0; so RMS(N(y))^2 <= G^2 M/(M+eps) < G^2."""
    gap = sp.cancel(1 - pl.rms_ratio())
    if not (equal(gap, eps / (pl.M + eps), sp.cancel) and gap.is_positive):
        return False
    mean_sq = pl.mean_square()
    ratio = pl.rms_ratio(mean_sq)
    output = pl.rms_output_mean_square().replace(
        lambda e: isinstance(e, sp.Pow) and e.base in {pl.g[k]} and e.exp == 2,
        lambda e: pl.G**2 - pl.slack[k],
    )
    if output.has(pl.g):
        return False
    term = pl.slack[k] * pl.y[k] ** 2
    difference = sp.Sum(term, (k, 1, n)) / n / (mean_sq + eps)
    return bool(
        equal(pl.G**2 * ratio - output, difference, sp.cancel, sums=True) and term.is_nonnegative
    )


def _increment_attained(bound: Bound) -> bool:
    """The bound is never below what an explicit input reaches: for n = 1..8, equal gains
    g_k = 1 and y = 10^6 (1, ..., 1), eps = 10^-5, RMS(N(y))^2 = M/(M+eps) exactly (rationals)
    and bound(1, n)^2 >= it; the supremum is 1 (the limit M -> oo, taken by SymPy)."""
    if sp.limit(pl.rms_ratio(_M_POSITIVE * _SCALE**2), _SCALE, sp.oo) != 1:
        return False
    for size in range(1, 9):
        values = [_WITNESS_SCALE] * size
        square = sum(e**2 for e in pl.rms_vector(values, _WITNESS_EPS)) / size
        claimed = sp.nsimplify(bound(sp.Integer(1), sp.Integer(size)))
        if not sp.Rational(square) < 1 or not bool(claimed**2 >= square):
            return False
    return True


def _increment_bound_holds(bound: Bound) -> bool:
    """The proof (:func:`_rms_output_bounded`), the bound attained (:func:`_increment_attained`)
    and not above the proved one (bound(G, n) <= G, symbolic)."""
    return (
        _rms_output_bounded()
        and _increment_attained(bound)
        and bool(sp.simplify(pl.G - bound(pl.G, n)).is_nonnegative)
    )


# --- the QK-norm logit bound ---------------------------------------------------------------------

LogitBound = Callable[[Any, Any, Any], Any]  # (max |g_q|, max |g_k|, d) -> bound on the logit


def _proved_logit_bound() -> sp.Expr | None:
    """The chain, each step checked by SymPy; returns the bound it proves (None if a step fails):
    (1) ||RMSNorm(q)||^2 = d M/(M+eps) for a symbolic d, and its supremum (M -> oo) is d;
    (2) Cauchy-Schwarz |u . w| <= |u| |w| by Lagrange's identity, for a symbolic d;
    (3) |g_q,i g_k,i| <= G_q G_k: G_q G_k - |g_q||g_k| = (G_q - |g_q|) G_k + |g_q| (G_k - |g_k|);
    so, with |sum_i a_i| <= sum_i |a_i| and Cauchy-Schwarz on |RMSNorm(q)| and |RMSNorm(k)|,
    |q_hat . k_hat| / sqrt(d) <= G_q G_k |RMSNorm(q)| |RMSNorm(k)| / sqrt(d) <= G_q G_k d / sqrt(d)
    (the supremum of step 1 taken for both norms)."""
    size = pl.d
    square = sp.Sum((x[k] / sp.sqrt(pl.mean_square(x, size) + eps)) ** 2, (k, 1, size))
    if not equal(square, size * pl.rms_ratio(pl.mean_square(x, size)), sp.cancel, sums=True):
        return None
    sup = sp.limit(size * pl.rms_ratio(_M_POSITIVE * _SCALE**2), _SCALE, sp.oo)
    gap, square = pl.lagrange_identity(size)
    if gap != 0 or not square.is_nonnegative:
        return None
    aq, ak = sp.symbols("b_q b_k", nonnegative=True)  # |g_q,i|, |g_k,i|
    if sp.expand(pl.G_q * pl.G_k - aq * ak - ((pl.G_q - aq) * pl.G_k + aq * (pl.G_k - ak))) != 0:
        return None
    return sp.simplify(pl.G_q * pl.G_k * sp.sqrt(sup) * sp.sqrt(sup) / sp.sqrt(size))


def _aligned_logit(gain: sp.Expr, size: int) -> sp.Expr:
    """The logit of q = k = 10^6 e_1 with equal gains ``gain``, eps = 10^-5, exactly."""
    values = [_WITNESS_SCALE] + [sp.Integer(0)] * (size - 1)
    normed = pl.rms_vector(values, _WITNESS_EPS)
    return gain**2 * sum(e**2 for e in normed) / sp.sqrt(size)


def _logit_bound_holds(bound: LogitBound) -> bool:
    """The proved bound (:func:`_proved_logit_bound`); aligned q = k with equal gains 3/2 attain
    it up to eps (d = 1, 2, 4, 16, 64) and never exceed ``bound``; ``bound`` is not above the
    proved one (symbolic gains and d)."""
    proved = _proved_logit_bound()
    if proved is None:
        return False
    for size in (1, 2, 4, 16, 64):
        gain = sp.Rational(3, 2)
        logit = _aligned_logit(gain, size)
        at_size = proved.xreplace({pl.G_q: gain, pl.G_k: gain, pl.d: size})
        if not bool(logit <= at_size) or not bool(logit / at_size > 1 - sp.Rational(1, 10**9)):
            return False
        if not bool(bound(gain, gain, sp.Integer(size)) >= logit):
            return False
    return bool(sp.simplify(proved - bound(pl.G_q, pl.G_k, pl.d)).is_nonnegative)


# --- DyT -----------------------------------------------------------------------------------------

Entry = Callable[[sp.Expr, sp.Expr], sp.Expr]  # (index, alpha) -> output entry
_ALPHA_I = sp.IndexedBase("alpha")  # a per-feature alpha (wrong)


def _dyt_holds(entry: Entry) -> bool:
    """Affine in gain and bias (dy_i/dbeta_i = 1, y_i - beta_i = gamma_i z_i); z_i depends on x_i
    only (n = 4: dz_i/dx_j = 0 for j != i, a diagonal Jacobian; symbolic n through the sums);
    z_i = 0 at x_i = 0 and dz_i/dx_i = alpha (1 - z_i^2) with one scalar alpha. The last two
    determine z_i = tanh(alpha x_i) (the solution of that initial value problem is unique)."""
    y_i = entry(i, pl.alpha)
    if not equal(sp.diff(y_i, pl.beta[i]), sp.Integer(1)):
        return False
    unit = y_i.xreplace({pl.beta[i]: 0})
    z_i = sp.diff(unit, pl.gamma[i])
    if not equal(unit, pl.gamma[i] * z_i, sp.cancel) or z_i.has(pl.gamma, pl.beta):
        return False
    for row in range(1, 5):
        z_row = z_i.xreplace({i: row})
        for col in range(1, 5):
            if col != row and not is_zero(sp.diff(z_row, x[col]), sp.cancel, sums=True):
                return False
    if not is_zero(z_i.xreplace({x[i]: 0}), sp.cancel, sums=True):
        return False
    slope = sp.diff(z_i, x[i]) - pl.alpha * (1 - z_i**2)
    return is_zero(slope, sp.expand, sums=True)


def _dyt_gain_inside(index: sp.Expr, scale: sp.Expr) -> sp.Expr:
    return sp.tanh(scale * pl.gamma[index] * x[index]) + pl.beta[index]


def _dyt_without_alpha(index: sp.Expr, scale: sp.Expr) -> sp.Expr:
    return pl.gamma[index] * sp.tanh(x[index]) + pl.beta[index]


def _dyt_alpha_per_feature(index: sp.Expr, scale: sp.Expr) -> sp.Expr:
    return pl.gamma[index] * sp.tanh(_ALPHA_I[index] * x[index]) + pl.beta[index]


def _dyt_centered(index: sp.Expr, scale: sp.Expr) -> sp.Expr:
    return pl.gamma[index] * sp.tanh(scale * (x[index] - ln.mean())) + pl.beta[index]


# --- DyT's row of Table 1 ------------------------------------------------------------------------

Row = tuple[bool, ...]


def _row_holds(row: Row) -> bool:
    """Equal to :func:`derive.placements.dyt_invariance_row` (alpha = 1/2): each entry proved by a
    zero polynomial or refuted by exact rationals where the tanh values differ."""
    return tuple(row) == pl.dyt_invariance_row()


def _flipped_row(transformation: str) -> Row:
    entries = list(pl.dyt_invariance_row())
    at = ln.TRANSFORMATIONS.index(transformation)
    entries[at] = not entries[at]
    return tuple(entries)


_LN_ROW = ln.PUBLISHED_TABLE_1["layer norm"]
_RMS_ROW = (True, False, False, True, False, True)  # recomputed in layernorm.invariance_table

# --- nGPT ----------------------------------------------------------------------------------------

Update = Callable[[Any, Callable, Any, Callable], Any]  # (h, branch, alpha, Norm) -> new h
_W = sp.Matrix(sp.symbols("w1:4", real=True))  # what the branch returns, any vector
_H = pl.unit(_V)  # a point of the unit sphere
_RATES = sp.Matrix(sp.symbols("alpha1:4", positive=True))


def _ngpt_holds(update: Update) -> bool:
    """n = 3, h = v/||v|| (symbolic v), the branch returning any w (symbolic), Norm = x/||x||:
    the output has unit norm (symbolic alpha); alpha = 0 gives h, alpha = 1 gives h_B =
    Norm(w); alpha = 1/2 bisects the angle (equal dot products with h and h_B); with Norm left
    out, dy_i/dalpha_j = delta_ij (w - h)_i (alpha acts per coordinate)."""

    def branch(_: Any) -> sp.Matrix:
        return _W

    rate = sp.Symbol("alpha", positive=True)
    out = update(_H, branch, rate, pl.unit)
    if not equal(sum(e**2 for e in out), sp.Integer(1), sp.cancel):
        return False
    target = pl.unit(_W)
    if not matrices_equal(update(_H, branch, sp.Integer(0), pl.unit), _H, sp.cancel):
        return False
    if not matrices_equal(update(_H, branch, sp.Integer(1), pl.unit), target, sp.cancel):
        return False
    half = update(_H, branch, sp.Rational(1, 2), pl.unit)
    if not equal(half.dot(_H), half.dot(target), sp.cancel):
        return False
    linear = sp.Matrix(update(_H, branch, _RATES, _same))
    expected = sp.diag(*(_W - _H))
    return matrices_equal(linear.jacobian(_RATES), expected, sp.cancel)


def _ngpt_no_outer_norm(h: Any, branch: Callable, rate: Any, norm: Callable) -> Any:
    return h + pl.hadamard(rate, norm(branch(h)) - h)


def _ngpt_added(h: Any, branch: Callable, rate: Any, norm: Callable) -> Any:
    return norm(h + pl.hadamard(rate, norm(branch(h))))


def _ngpt_unnormalized_branch(h: Any, branch: Callable, rate: Any, norm: Callable) -> Any:
    return norm(h + pl.hadamard(rate, branch(h) - h))


# --- Mix-LN --------------------------------------------------------------------------------------

_SHARES = (sp.Rational(1, 4), sp.Rational(1, 3), sp.Rational(1, 2), sp.Rational(3, 4))
# The official runs (pixeli99/MixLN README and configs): POST_NUM Post-LN layers of L.
_OFFICIAL_RUNS = ((12, 3), (24, 6))


def _official_rule(layer_index: int, post_num: int) -> str:
    """pixeli99/MixLN modeling_llama.py, norm_type "post_pre": a layer whose 0-based index is
    below POST_NUM is Post-LN, the others Pre-LN."""
    return pl.POST if layer_index < post_num else pl.PRE


def _mixln_holds(layout: pl.Layout) -> bool:
    """For L = 1..64 and alpha in {1/4, 1/3, 1/2, 3/4}: the Post-LN layers come first (a
    prefix), their number m is the largest whose share of the layers does not exceed alpha
    (m <= alpha L < m + 1), and the layout is the official code's rule with POST_NUM = m; at
    alpha = 1/4 the official runs' counts (3 of 12, 6 of 24) come out."""
    for share in _SHARES:
        for depth in range(1, 65):
            got = pl.placements(layout, depth, share)
            count = got.count(pl.POST)
            if got != [pl.POST] * count + [pl.PRE] * (depth - count):
                return False
            if not count <= share * depth < count + 1:
                return False
            if got != [_official_rule(t, count) for t in range(depth)]:
                return False
    quarter = sp.Rational(1, 4)
    return all(
        pl.placements(layout, depth, quarter).count(pl.POST) == post
        for depth, post in _OFFICIAL_RUNS
    )


# --- displays: generated from the formulas the checks consume -------------------------------------

_XL, _XNEXT, _Y, _X = sp.Symbol("x_l"), sp.Symbol("x_{l+1}"), sp.Symbol("y"), sp.Symbol("x")
F_, SA, FFN = sp.Function("F"), sp.Function("SA"), sp.Function("FFN")
N_IN, N_OUT, N_ = sp.Function("N_in"), sp.Function("N_out"), sp.Function("N")
N_1, N_1OUT, N_2, N_2OUT = (sp.Function(s) for s in ("N_1", "N_1out", "N_2", "N_2out"))


def _placement_display(
    out_name: sp.Function, norms: tuple[sp.Function, ...]
) -> Callable[[Sublayer], tuple[str, ...]]:
    def render(sublayer: Sublayer) -> tuple[str, ...]:
        first = sublayer(_X, SA, norms[0], norms[1])
        out = sublayer(_Y, FFN, norms[2], norms[3])
        return (
            rf"x_{{l+1}} = {latex(sublayer(_XL, F_, N_IN, out_name))}",
            rf"y = {latex(first)},\quad \mathrm{{out}} = {latex(out)}",
        )

    return render


def _growth_display(growth: Growth) -> tuple[str, ...]:
    f = sp.IndexedBase("f")
    return (
        rf"x_L = x_0 + {latex(sp.Sum(f[pl.ell], (pl.ell, 1, pl.L)))},\quad "
        rf"\operatorname{{Var}}(x_L) = {latex(growth(pl.s2, pl.v, pl.L))}",
        r"\operatorname{Var}(x_0) = s^2,\ \operatorname{Var}(f_l) = v,\ "
        r"x_0, f_1, \dots, f_L\ \text{pairwise uncorrelated, mean } 0",
    )


_GMAX = sp.Symbol(r"\max_i |g_i|")
_RMS0 = sp.Symbol(r"\mathrm{RMS}(x_0)")


def _increment_display(bound: Bound) -> tuple[str, ...]:
    limit = bound(_GMAX, n)
    entry = pl.g[i] * pl.y[i] / sp.sqrt(pl.M + eps)
    return (
        rf"\mathrm{{RMS}}\left(N_{{\mathrm{{out}}}}(y)\right) \le {latex(limit)}"
        r"\quad\text{for every } y",
        rf"\mathrm{{RMS}}(x_L) \le {latex(_RMS0 + pl.L * limit)}",
        rf"N_{{\mathrm{{out}}}}(y)_i = {latex(entry)},\quad "
        rf"\mathrm{{RMS}}\left(\frac{{y}}{{\sqrt{{M + \epsilon}}}}\right)^2 = "
        rf"{latex(pl.rms_ratio())} < 1",
    )


_D_TIMES_RATIO = sp.Mul(pl.d, pl.rms_ratio(), evaluate=False)
_GQ, _GK = sp.Symbol(r"\max_i |g_{q,i}|"), sp.Symbol(r"\max_j |g_{k,j}|")


def _logit_display(bound: LogitBound) -> tuple[str, ...]:
    return (
        rf"\frac{{|\hat q \cdot \hat k|}}{{\sqrt{{d}}}} \le {latex(bound(_GQ, _GK, pl.d))}",
        r"\hat q = g_q \odot \mathrm{RMSNorm}(q),\quad \hat k = g_k \odot \mathrm{RMSNorm}(k)",
        rf"\lVert \mathrm{{RMSNorm}}(q)\rVert_2^2 = {latex(_D_TIMES_RATIO)} \le d",
    )


def _dyt_display(entry: Entry) -> tuple[str, ...]:
    return (
        rf"\mathrm{{DyT}}(x)_i = {latex(entry(i, pl.alpha))}",
        rf"\frac{{\partial\, \mathrm{{DyT}}(x)_i}}{{\partial x_j}} = "
        rf"{latex(sp.diff(entry(i, pl.alpha), x[j]))}",
    )


def _row_display(row: Row) -> tuple[str, ...]:
    rows = [
        rf"\text{{{t}}} & " + (r"\checkmark" if row[r] else "-")
        for r, t in enumerate(ln.TRANSFORMATIONS)
    ]
    body = r" \\ ".join([r" & \text{DyT}", *rows])
    return (
        r"\begin{array}{l|c}" + body + r"\end{array}",
        rf"\mathrm{{DyT}}(a)_i = {latex(pl.dyt_entry(i).xreplace({x[i]: sp.IndexedBase('a')[i]}))}"
        r",\ \alpha\ \text{fixed},\ a = x W^\top",
    )


_NORM_OF_X = sp.Symbol(r"\lVert x \rVert_2")


def _ngpt_display(update: Update) -> tuple[str, ...]:
    h, rate_a, rate_m = sp.Symbol("h"), sp.Symbol(r"\alpha_A \odot"), sp.Symbol(r"\alpha_M \odot")
    norm, attn, mlp = sp.Function("Norm"), sp.Function("Attn"), sp.Function("MLP")
    h_a, h_m = sp.Symbol("h_A"), sp.Symbol("h_M")
    shown_a = update(h, attn, rate_a, norm).xreplace({norm(attn(h)): h_a})
    shown_m = update(h, mlp, rate_m, norm).xreplace({norm(mlp(h)): h_m})
    return (
        rf"h \leftarrow {latex(shown_a)},\quad h_A = {latex(norm(attn(h)))}",
        rf"h \leftarrow {latex(shown_m)},\quad h_M = {latex(norm(mlp(h)))}",
        rf"\mathrm{{Norm}}(x) = {latex(_X / _NORM_OF_X)}",
    )


def _mixln_display(layout: pl.Layout) -> tuple[str, ...]:
    count, (first, rest) = layout
    cut = latex(count(sp.Symbol("L"), sp.Symbol("alpha")))
    return (
        rf"l \le {cut}:\ \text{{{first}}},\qquad l > {cut}:\ \text{{{rest}}}"
        r"\qquad (l = 1, \dots, L)",
    )


CLAIMS = (
    Claim(
        custom="TODO: not yet an equation",
        id="periln.definition",
        kind="definition",
        render=_placement_display(N_OUT, (N_1, N_1OUT, N_2, N_2OUT)),
        source=KIM,
        scope="n = 3 (RMSNorms, linear F, symbolic entries); layer with d_model = 4",
        proof="checked",
        formula=pl.peri_ln_sublayer,
        symbolic=_peri_holds,
        wrong={
            "Pre-LN (no output norm)": _pre_ln,
            "Post-LN": _post_ln,
            "output norm after the addition": _norm_after_addition,
            "output norm only (OLMo 2)": pl.output_norm_sublayer,
        },
        numeric=_numeric("block_placement", "peri"),
        compared=("torch.nn.MultiheadAttention", "torch.nn.RMSNorm"),
        note="Gemma 2 and 3 wrap every sub-layer in an input and an output RMSNorm this way, and "
        "the Sandwich-LN of CogView ({cite:t}`ding2021cogview`) has the same placement with "
        "LayerNorm. The three properties (identity path, increment of mean square M/(M+eps), "
        "a sub-layer that reads a normalized stream) are failed by Post-LN and the norm after "
        "the addition, by Pre-LN, and by the output norm alone, in that order. Numerically: our "
        'Block(placement="peri") against the formula written with nn.MultiheadAttention and '
        "nn.RMSNorm loaded with its weights.",
    ),
    Claim(
        custom="TODO: not yet an equation",
        id="outputnorm.definition",
        kind="definition",
        render=_placement_display(N_, (N_1, N_1, N_2, N_2)),
        source=OLMO,
        scope="n = 3 (RMSNorms, linear F, symbolic entries); layer with d_model = 4",
        proof="checked",
        formula=pl.output_norm_sublayer,
        symbolic=_output_holds,
        wrong={
            "Pre-LN (norm on the input)": _pre_ln,
            "Post-LN (norm after the addition)": _post_ln,
            "Peri-LN (input norm too)": pl.peri_ln_sublayer,
        },
        numeric=_numeric("block_placement", "output"),
        compared=("torch.nn.MultiheadAttention", "torch.nn.RMSNorm"),
        note="OLMo 2's reordered norm: the output half of Peri-LN, without the input norm; Swin "
        "Transformer V2's res-post-norm is the same placement. Checked as Peri-LN is, except "
        "that the sub-layer reads the stream itself (its increment scales with the stream "
        'before the norm). Numerically: our Block(placement="output").',
    ),
    Claim(
        custom="TODO: not yet an equation",
        id="preln.stream_variance_growth",
        kind="identity",
        render=_growth_display,
        source=KIM,
        origin="derived",
        builds_on=(XIONG,),
        scope="symbolic L, s^2 and v; exact enumeration for L = 1..10",
        formula=pl.stream_variance_growth,
        symbolic=_growth_holds,
        wrong={
            "s^2 + L^2 v (fully correlated increments)": lambda s, var, depth: s + depth**2 * var,
            "s^2 (no growth)": lambda s, var, depth: s,
            "s^2 v^L": lambda s, var, depth: s * var**depth,
        },
        numeric=_numeric("stream_growth"),
        compared=("torch.nn.RMSNorm",),
        note="A Pre-LN branch ends in a sub-layer after a norm, so its scale does not follow the "
        "stream's and the variances add up: the stream grows like L. Numerically each increment "
        "is a sign times an RMSNorm of the stream (uncorrelated, not independent of it). Post-LN "
        "instead renormalizes the stream after every sub-layer: each token then has mean 0 and "
        "mean square sigma^2/(sigma^2+eps) < 1 ({ref}`layernorm.moments "
        "<claim-layernorm-moments>`).",
    ),
    Claim(
        custom="TODO: not yet an equation",
        id="periln.increment_bound",
        kind="bound",
        render=_increment_display,
        source=KIM,
        origin="derived",
        scope="symbolic n, M >= 0 and eps > 0; attained for n = 1..8",
        formula=pl.rms_increment_bound,
        symbolic=_increment_bound_holds,
        wrong={
            "max|g| / sqrt(n)": lambda gain, size: gain / sp.sqrt(size),
            "max|g| / 2": lambda gain, size: gain / 2,
        },
        numeric=_numeric("increment_bound"),
        compared=("torch.nn.RMSNorm",),
        note="Whatever a sub-layer outputs, RMSNorm scales it to mean square M/(M+eps) < 1, so "
        "with an output norm each increment has RMS at most max|g| and the stream grows at most "
        "linearly (triangle inequality for the RMS). Both variants fail on an input of equal "
        "entries 10^6 (and on a large one-hot input numerically); Pre-LN blocks with the same "
        "adversarial weights exceed the stream bound.",
    ),
    Claim(
        custom="TODO: not yet an equation",
        id="qknorm.logit_bound",
        kind="bound",
        render=_logit_display,
        source="henry2020query",
        origin="derived",
        builds_on=("dehghani2023scaling", "wortsman2024small"),
        scope="symbolic d; attained for d = 1, 2, 4, 16, 64",
        formula=pl.qk_logit_bound,
        symbolic=_logit_bound_holds,
        wrong={
            "max|g_q| max|g_k| (without sqrt(d))": lambda gq, gk, size: gq * gk,
            "max|g_q| max|g_k| / sqrt(d)": lambda gq, gk, size: gq * gk / sp.sqrt(size),
        },
        numeric=_numeric("qknorm_logit_bound"),
        compared=("torch.nn.functional.rms_norm",),
        note="Per-head RMSNorm of queries and keys with gains, as in Qwen3 and Gemma 3 (OLMo 2 "
        "normalizes all heads together). Aligned q = k with equal gains attain the bound up to "
        "eps, which rejects both variants. Without QK-norm the largest logit of t x is t^2 times "
        "that of x, so no bound independent of the input holds.",
    ),
    Claim(
        custom="TODO: not yet an equation",
        id="dyt.definition",
        kind="definition",
        render=_dyt_display,
        source="zhu2025transformers",
        scope="symbolic n (diagonal Jacobian checked at n = 4)",
        proof="checked",
        formula=pl.dyt_entry,
        symbolic=_dyt_holds,
        wrong={
            "tanh(x) without alpha": _dyt_without_alpha,
            "gain inside: tanh(alpha gamma_i x_i) + beta_i": _dyt_gain_inside,
            "alpha per feature": _dyt_alpha_per_feature,
            "centered: tanh(alpha (x_i - mu))": _dyt_centered,
        },
        numeric=_numeric("dyt_definition"),
        compared=("torch.tanh",),
        note="alpha is one learnable scalar per layer, 0.5 at initialization in the official "
        "code (alpha_init_value, used for the non-LLM tasks; its LLaMA runs set other values). "
        "DyT computes no statistic over the features: each entry is squashed on its own, so "
        "its Jacobian is diagonal, unlike LayerNorm's.",
    ),
    Claim(
        custom="TODO: not yet an equation",
        id="dyt.invariance_row",
        kind="identity",
        render=_row_display,
        source="zhu2025transformers",
        origin="derived",
        builds_on=("ba2016layer",),
        scope="N = 3 cases, H = 3 units, D = 2 inputs; symbolic entries, alpha = 1/2",
        formula=(False,) * 6,
        symbolic=_row_holds,
        wrong={
            "the LayerNorm row": _LN_ROW,
            "the RMSNorm row": _RMS_ROW,
            "invariant to dataset re-scaling": _flipped_row("dataset re-scaling"),
        },
        numeric=_numeric("dyt_row"),
        compared=("torch.tanh",),
        note="Computed, not assumed: each transformation changes the summed inputs (a nonzero "
        "polynomial), and exact rationals are found where the tanh values differ. With no "
        "statistic to divide by, DyT keeps none of the invariances LayerNorm has; re-scaling "
        "its input by delta acts as multiplying alpha by delta, which training can adjust.",
    ),
    Claim(
        custom="TODO: not yet an equation",
        id="ngpt.update",
        kind="definition",
        render=_ngpt_display,
        source="loshchilov2025ngpt",
        scope="n = 3 (symbolic h on the unit sphere, branch output and alpha); d = 8 numerically",
        proof="checked",
        formula=pl.ngpt_update,
        symbolic=_ngpt_holds,
        wrong={
            "no outer Norm": _ngpt_no_outer_norm,
            "Norm(h + alpha h_A)": _ngpt_added,
            "branch output not normalized": _ngpt_unnormalized_branch,
        },
        numeric=_numeric("ngpt_update"),
        compared=("torch.nn.functional.normalize",),
        ours=False,
        note="nGPT has no LayerNorm: hidden states stay on the unit sphere and each sub-layer "
        "moves them towards its normalized output by per-coordinate rates alpha (0.05 at "
        "initialization in the official code). We have no nGPT module: the numeric check "
        "transcribes the official code's step.",
    ),
    Claim(
        custom="TODO: not yet an equation",
        id="mixln.layout",
        kind="definition",
        render=_mixln_display,
        source="li2025mixln",
        scope="L = 1..64, alpha = 1/4, 1/3, 1/2, 3/4; L = 10 blocks",
        proof="checked",
        formula=pl.MIXLN_LAYOUT,
        symbolic=_mixln_holds,
        wrong={
            "ceil(alpha L) Post-LN layers": (
                lambda depth, share: sp.ceiling(share * depth),
                pl.MIXLN_ORDER,
            ),
            "Pre-LN first": (pl.mixln_post_count, (pl.PRE, pl.POST)),
        },
        numeric=_numeric("mixln_layout"),
        compared=("torch.nn.TransformerEncoderLayer",),
        note="Checked against the official code (pixeli99/MixLN, norm_type post_pre: the layers "
        "with 0-based index below POST_NUM are Post-LN). The code takes the number of Post-LN "
        "layers, not alpha; alpha = 0.25 is inferred from the README's runs (3 of 12 layers, "
        "6 of 24), not read in the paper, and floor(alpha L) is our reading for other L.",
    ),
)
