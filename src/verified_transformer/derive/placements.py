r"""Where the normalization went after 2020, derived with SymPy.

* Peri-LN (Kim et al. 2025; the pre- and post-norm of Gemma 2/3; CogView's Sandwich-LN):
  :math:`x_{l+1} = x_l + N_{\mathrm{out}}(F(N_{\mathrm{in}}(x_l)))`; OLMo 2's reordered norm
  (Swin V2's res-post-norm): :math:`x_{l+1} = x_l + N(F(x_l))`.
* Pre-LN stream: for :math:`x_L = x_0 + \sum_{l=1}^{L} f_l` with pairwise uncorrelated terms of
  mean 0, :math:`\mathrm{Var}(x_0) = s^2` and :math:`\mathrm{Var}(f_l) = v`,
  :math:`\mathrm{Var}(x_L) = s^2 + L v` (the double sum of covariances, done by SymPy).
* RMSNorm's output: :math:`\mathrm{mean}\big((y/\sqrt{M+\epsilon})^2\big) = M/(M+\epsilon) < 1`
  (:math:`M` the mean square of :math:`y`), so :math:`\mathrm{RMS}(g \odot \mathrm{RMSNorm}(y))
  \le \max_i |g_i|`; with QK-norm, :math:`\lVert \mathrm{RMSNorm}(q) \rVert_2^2 = d\,M/(M+\epsilon)
  \le d` and every attention logit is at most :math:`\max|g_q| \max|g_k| \sqrt d`.
* DyT (Zhu et al. 2025): :math:`\gamma_i \tanh(\alpha x_i) + \beta_i`; its row of Table 1 of
  Ba et al. (2016), recomputed with the six transformations of :mod:`.layernorm`.
* nGPT (Loshchilov et al. 2025): :math:`h \leftarrow \mathrm{Norm}(h + \alpha_A \odot (h_A - h))`,
  :math:`h_A = \mathrm{Norm}(\mathrm{Attn}(h))`, :math:`\mathrm{Norm}(x) = x/\lVert x\rVert_2`.
* Mix-LN (Li et al. 2025): the first :math:`\lfloor \alpha L \rfloor` of :math:`L` layers are
  Post-LN, the others Pre-LN.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

import sympy as sp

from verified_transformer.derive import layernorm as ln
from verified_transformer.derive.exact import Undecided, expand_sums
from verified_transformer.derive.residual import hadamard

# --- Peri-LN and the output norm ------------------------------------------------------------------
# Every placement is written as a sub-layer (x, F, N_in, N_out) -> x_next, so that the variants
# of one placement are the others; a placement without an input norm ignores N_in.


def peri_ln_sublayer(x: Any, f: Callable, n_in: Callable, n_out: Callable) -> Any:
    """Peri-LN sub-layer: ``x + N_out(F(N_in(x)))``; the stream itself is never normalized."""
    return x + n_out(f(n_in(x)))


def output_norm_sublayer(x: Any, f: Callable, n_in: Callable, n_out: Callable) -> Any:
    """OLMo 2's reordered norm: ``x + N_out(F(x))`` (no input norm: ``n_in`` is not used)."""
    return x + n_out(f(x))


def two_sublayers(
    sublayer: Callable, x: Any, sa: Callable, ffn: Callable, norms: Sequence[Callable]
) -> Any:
    """A layer: ``sublayer`` with self-attention (norms 0 and 1), then with the feed-forward
    network (norms 2 and 3): ``norms = (N_1, N_1^out, N_2, N_2^out)``."""
    y = sublayer(x, sa, norms[0], norms[1])
    return sublayer(y, ffn, norms[2], norms[3])


# --- the Pre-LN stream's variance -----------------------------------------------------------------

s2 = sp.Symbol("s^2", positive=True)  # Var(x_0)
v = sp.Symbol("v", positive=True)  # Var(f_l), the same for every branch
L = sp.Symbol("L", integer=True, positive=True)  # number of branches added to the stream
ell, m = sp.symbols("l m", integer=True, positive=True)


def stream_variance(start: sp.Expr = s2, branch: sp.Expr = v, depth: sp.Expr = L) -> sp.Expr:
    """``Var(x_0 + sum_{l=1}^L f_l) = Var(x_0) + 2 sum_l Cov(x_0, f_l) + sum_l sum_m Cov(f_l,
    f_m)`` with ``Cov(x_0, f_l) = 0`` and ``Cov(f_l, f_m) = v delta_lm`` (pairwise uncorrelated),
    the sums done by SymPy for a symbolic depth ``L``."""
    cross = expand_sums(sp.Sum(sp.Integer(0), (ell, 1, depth)))
    inner = expand_sums(sp.Sum(branch * sp.KroneckerDelta(ell, m), (m, 1, depth)))  # over m: v
    return start + 2 * cross + expand_sums(sp.Sum(inner, (ell, 1, depth)))


def stream_variance_growth(start: Any, branch: Any, depth: Any) -> Any:
    """The claim: ``s^2 + L v``, linear in the depth."""
    return start + depth * branch


# --- RMSNorm's output and the QK-norm logit -------------------------------------------------------

n, k = ln.n, ln.k
eps = ln.eps
y = sp.IndexedBase("y", real=True)  # the input of an output norm
g = sp.IndexedBase("g", real=True)  # its gain
slack = sp.IndexedBase("delta", nonnegative=True)  # g_k^2 = G^2 - delta_k, delta_k >= 0
G = sp.Symbol("G", positive=True)  # max_k |g_k|
M = sp.Symbol("M", nonnegative=True)  # mean square of the norm's input


def mean_square(values: sp.IndexedBase = y, size: sp.Expr = n) -> sp.Expr:
    """``M = (1/n) sum_k y_k^2``."""
    return sp.Sum(values[k] ** 2, (k, 1, size)) / size


def rms_output_mean_square(gains: sp.IndexedBase | None = g, size: sp.Expr = n) -> sp.Expr:
    """``(1/n) sum_k (g_k y_k / sqrt(M + eps))^2``: the mean square of ``g (.) RMSNorm(y)``
    (``gains=None``: no gain), symbolic ``n``."""
    scale = sp.sqrt(mean_square(y, size) + eps)
    factor = (lambda t: 1) if gains is None else (lambda t: gains[t])
    return sp.Sum((factor(k) * y[k] / scale) ** 2, (k, 1, size)) / size


def rms_ratio(mean_sq: sp.Expr = M, epsilon: sp.Expr = eps) -> sp.Expr:
    """``M / (M + eps)``: RMSNorm's output mean square without gain (below 1 for eps > 0)."""
    return mean_sq / (mean_sq + epsilon)


def rms_increment_bound(gain_max: Any, size: Any) -> Any:
    """The claim: ``RMS(g (.) RMSNorm(y)) <= max_k |g_k|`` for every ``y`` (``size`` unused)."""
    return gain_max


d = sp.Symbol("d", integer=True, positive=True)  # head dimension
G_q, G_k = sp.symbols("G_q G_k", positive=True)  # max |g_q|, max |g_k|


def qk_logit_bound(q_gain_max: Any, k_gain_max: Any, head_dim: Any) -> Any:
    """The claim: ``|q_hat . k_hat| / sqrt(d) <= max|g_q| max|g_k| sqrt(d)`` under QK-norm."""
    return q_gain_max * k_gain_max * sp.sqrt(head_dim)


def rms_vector(values: Sequence[sp.Expr], epsilon: sp.Expr = eps) -> list[sp.Expr]:
    """RMSNorm (no gain) of an explicit vector, entries ``v_t / sqrt(mean(v^2) + eps)``."""
    return list(ln.rms_norm_of_vector(values, epsilon))


u = sp.IndexedBase("u", real=True)
w = sp.IndexedBase("w", real=True)


def lagrange_identity(size: sp.Expr = d) -> tuple[sp.Expr, sp.Expr]:
    """Lagrange's identity for a symbolic length: ``(gap, s_ij)`` with
    ``gap = |u|^2 |w|^2 - (u . w)^2 - (1/2) sum_i sum_j s_ij`` (the sums done by
    :func:`~.exact.expand_sums`, inner sum first) and ``s_ij = (u_i w_j - u_j w_i)^2``. ``gap`` is
    0 and ``s_ij >= 0``: Cauchy-Schwarz ``(u . w)^2 <= |u|^2 |w|^2``."""
    square = (u[i] * w[j] - u[j] * w[i]) ** 2
    inner = expand_sums(sp.Sum(square, (j, 1, size)))
    double = expand_sums(sp.Sum(inner, (i, 1, size)))
    norms = sp.Sum(u[i] ** 2, (i, 1, size)) * sp.Sum(w[j] ** 2, (j, 1, size))
    dot = sp.Sum(u[i] * w[i], (i, 1, size))
    return sp.expand(expand_sums(norms - dot**2) - double / 2), square


# --- DyT ------------------------------------------------------------------------------------------

x, gamma, beta, i, j = ln.x, ln.gamma, ln.beta, ln.i, ln.j
alpha = sp.Symbol("alpha", positive=True)  # DyT's scalar (0.5 at initialization by default)
HALF = sp.Rational(1, 2)  # the fixed alpha of DyT's row of Table 1


def dyt_entry(index: sp.Expr = i, scale: sp.Expr = alpha) -> sp.Expr:
    """``y_i = gamma_i tanh(alpha x_i) + beta_i`` (Zhu et al. 2025; ``alpha`` one scalar)."""
    return gamma[index] * sp.tanh(scale * x[index]) + beta[index]


def _summed_inputs(xs: list, w: list) -> list[list]:
    """``A = X W^T`` in the polynomial ring of :mod:`.layernorm` (Table 1's N x H inputs)."""
    return [[sum(a * b for a, b in zip(xr, wh, strict=True)) for wh in w] for xr in xs]


def _rational(value: Any) -> sp.Rational:
    return sp.Rational(int(value.numerator), int(value.denominator))


def dyt_is_invariant(
    transformation: str, scale: sp.Expr = HALF, trials: int = 5, seed: int = 0
) -> bool:
    """Whether ``tanh(alpha a')`` equals ``tanh(alpha a)`` for all values, ``a = X W^T`` the summed
    inputs before and ``a'`` after ``transformation`` (one of ``layernorm.TRANSFORMATIONS``),
    ``alpha`` fixed (gain and bias act the same on both sides and are left out).

    Proof: ``a' - a`` is the zero polynomial, so DyT sees equal inputs. Refutation: exact
    rationals at which ``tanh(alpha a'_rh)`` and ``tanh(alpha a_rh)`` differ (evaluated to 30
    digits). Raises :class:`Undecided` otherwise."""
    before = _summed_inputs(ln.X_ROWS, ln.W_ROWS)
    after = _summed_inputs(*ln.TRANSFORMATION_MAPS[transformation](ln.X_ROWS, ln.W_ROWS))
    pairs = [
        (p, q)
        for row_p, row_q in zip(after, before, strict=True)
        for p, q in zip(row_p, row_q, strict=True)
    ]
    if all(p - q == 0 for p, q in pairs):
        return True
    rng = random.Random(seed)
    delta = ln.GENERATORS.index(ln.DELTA)
    for _ in range(trials):
        point = [sp.QQ(rng.randint(-9, 9), rng.randint(1, 4)) for _ in ln.GENERATORS]
        point[delta] = sp.QQ(rng.randint(2, 9), rng.randint(1, 4))
        for p, q in pairs:
            moved, kept = (_rational(f(*point)) for f in (p, q))
            gap = sp.N(sp.tanh(scale * moved) - sp.tanh(scale * kept), 30)
            if abs(gap) > sp.Float("1e-20"):
                return False
    raise Undecided(f"could not decide whether DyT is invariant to {transformation}")


@cache
def dyt_invariance_row(scale: sp.Expr = HALF) -> tuple[bool, ...]:
    """DyT's row of Table 1 (Ba et al. 2016): invariance to each of ``TRANSFORMATIONS``."""
    return tuple(dyt_is_invariant(t, scale) for t in ln.TRANSFORMATIONS)


# --- nGPT -----------------------------------------------------------------------------------------


def unit(values: sp.MatrixBase) -> sp.Matrix:
    """``Norm(v) = v / ||v||_2`` of an explicit vector (the squared norm cancelled first)."""
    return sp.Matrix(values) / sp.sqrt(sp.cancel(sum(e**2 for e in values)))


def ngpt_update(h: Any, branch: Callable, rate: Any, norm: Callable) -> Any:
    """nGPT's step on the hypersphere: ``Norm(h + alpha (.) (h_B - h))``, ``h_B = Norm(B(h))``
    for the branch B (attention or MLP), ``alpha`` per coordinate."""
    target = norm(branch(h))
    return norm(h + hadamard(rate, target - h))


# --- Mix-LN ---------------------------------------------------------------------------------------

POST, PRE = "Post-LN", "Pre-LN"


def mixln_post_count(depth: Any, share: Any) -> Any:
    """The number of Post-LN layers of an ``L``-layer Mix-LN stack: ``floor(alpha L)``."""
    return sp.floor(share * depth)


MIXLN_ORDER = (POST, PRE)  # Post-LN layers first, Pre-LN layers after
Layout = tuple[Callable[[Any, Any], Any], tuple[str, str]]  # (count(L, alpha), (first, rest))
MIXLN_LAYOUT: Layout = (mixln_post_count, MIXLN_ORDER)


def placements(layout: Layout, depth: int, share: sp.Rational) -> list[str]:
    """The placement of layers ``l = 1..L``: ``first`` for ``l <= count(L, alpha)``, else
    ``rest``."""
    count, (first, rest) = layout
    cut = int(count(sp.Integer(depth), share))
    return [first if layer <= cut else rest for layer in range(1, depth + 1)]
