r"""Where the normalization went after 2020, derived with SymPy.

* Peri-LN (Kim et al. 2025; the pre- and post-norm of Gemma 2/3; CogView's Sandwich-LN):
  :math:`x_{l+1} = x_l + N_{\mathrm{out}}(F(N_{\mathrm{in}}(x_l)))`; OLMo 2's reordered norm
  (Swin V2's res-post-norm): :math:`x_{l+1} = x_l + N(F(x_l))`.
* Pre-LN stream: :class:`Var` of a sum is the double sum of covariances (:class:`Cov`), so with
  :math:`\mathrm{Var}(x_0) = s^2` and :math:`\mathrm{Cov}(f_l, f_m) = v \delta_{lm}` (uncorrelated
  with :math:`x_0`), :math:`\mathrm{Var}(x_0 + \sum_{l=1}^{L} f_l) = s^2 + L v`.
* RMSNorm's output: :math:`\mathrm{mean}\big((y/\sqrt{M+\epsilon})^2\big) = M/(M+\epsilon) < 1`
  (:math:`M` the mean square of :math:`y`), so :math:`\mathrm{RMS}(g \odot \mathrm{RMSNorm}(y))
  \le \max_i |g_i|` (:func:`rms_output_bounded`); with QK-norm, :math:`\lVert \mathrm{RMSNorm}(q)
  \rVert_2^2 = d\,M/(M+\epsilon) \le d` and every attention logit is at most
  :math:`\max|g_q| \max|g_k| \sqrt d` (:func:`proved_logit_bound`).
* DyT (Zhu et al. 2025): :class:`DyT`, :math:`\gamma_i \tanh(\alpha x_i) + \beta_i`; its row of
  Table 1 of Ba et al. (2016), recomputed with the six transformations of :mod:`.layernorm`.
* nGPT (Loshchilov et al. 2025): :math:`h \leftarrow \mathrm{Norm}(h + \alpha_A \odot (h_A - h))`,
  :math:`h_A = \mathrm{Norm}(\mathrm{Attn}(h))`, :math:`\mathrm{Norm}(x) = x/\lVert x\rVert_2`.
* Mix-LN (Li et al. 2025): the first :math:`\lfloor \alpha L \rfloor` of :math:`L` layers are
  Post-LN, the others Pre-LN (:func:`layer_placements` reads such a rule layer by layer).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

import sympy as sp

from verified_transformer.derive import layernorm as ln
from verified_transformer.derive.exact import Undecided, equal, expand_sums
from verified_transformer.derive.operators import EntryOf

# --- notation: functions printed as the book writes them, and formulas as callables ------------


def printed_function(name: str, template: str) -> type[sp.Function]:
    """An unevaluated SymPy function printed by ``template`` (``{0}``, ``{1}``: its arguments,
    a sum in parentheses); ``call`` gives it a Python meaning by its ``name``."""

    def _latex(self: sp.Function, printer: Any, exp: str | None = None) -> str:
        args = [printer._print(a) for a in self.args]
        args = [rf"\left({a}\right)" if isinstance(e, sp.Add) else a
                for a, e in zip(args, self.args, strict=True)]
        tex = template.format(*args)
        return rf"{tex}^{{{exp}}}" if exp is not None else tex

    return type(name, (sp.Function,), {"_latex": _latex})


RMS = printed_function("RMS", r"\mathrm{{RMS}}\left({0}\right)")
L2 = printed_function("L2", r"\lVert {0} \rVert_2")
Hadamard = printed_function("Hadamard", r"{0} \odot {1}")
Entry = printed_function("Entry", r"{0}_{1}")


def call(expr: sp.Expr, values: dict, functions: dict[str, Callable]) -> Any:
    """``expr`` evaluated with its symbols bound to ``values`` (SymPy matrices or tensors) and its
    functions, by name, to Python ``functions``."""
    return sp.lambdify(list(values), expr, modules=[functions], dummify=True)(*values.values())


# --- Peri-LN and the output norm ------------------------------------------------------------------


def peri_ln_sublayer(x: Any, f: Callable, n_in: Callable, n_out: Callable) -> Any:
    """Peri-LN sub-layer: ``x + N_out(F(N_in(x)))``; the stream itself is never normalized."""
    return x + n_out(f(n_in(x)))


def output_norm_sublayer(x: Any, f: Callable, n_in: Callable, n_out: Callable) -> Any:
    """OLMo 2's reordered norm: ``x + N_out(F(x))`` (no input norm: ``n_in`` is not used)."""
    return x + n_out(f(x))


# --- the Pre-LN stream's variance -----------------------------------------------------------------

s2 = sp.Symbol("s^2", positive=True)  # Var(x_0)
v = sp.Symbol("v", positive=True)  # Var(f_l), the same for every branch
L = sp.Symbol("L", integer=True, positive=True)  # number of branches added to the stream
ell, m = sp.symbols("l m", integer=True, positive=True)


class Cov(sp.Function):
    """``Cov(a, b)``, unevaluated; symmetric (arguments sorted), ``Cov(a, a) = Var(a)``."""

    @classmethod
    def eval(cls, a: sp.Expr, b: sp.Expr) -> sp.Expr | None:
        if a == b:
            return Var(a)
        if sp.default_sort_key(a) > sp.default_sort_key(b):
            return cls(b, a)
        return None

    def _latex(self, printer: Any) -> str:
        return rf"\operatorname{{Cov}}\left({printer._print(self.args[0])}, " \
               rf"{printer._print(self.args[1])}\right)"


class Var(sp.Function):
    """``Var(a)``; ``doit`` writes the variance of a sum as the double sum of the covariances of
    its terms (bilinearity), a ``Sum`` term summed over its range (its index renamed ``m`` where
    the other factor uses it)."""

    def doit(self, **hints: Any) -> sp.Expr:
        terms = sp.Add.make_args(self.args[0].doit(**hints))
        if len(terms) == 1 and not isinstance(terms[0], sp.Sum):
            return self.func(terms[0])
        return sp.Add(*[_covariance(a, b) for a in terms for b in terms])

    def _latex(self, printer: Any, exp: str | None = None) -> str:
        head = r"\operatorname{Var}" + (f"^{{{exp}}}" if exp else "")
        return rf"{head}\left({printer._print(self.args[0])}\right)"


def _covariance(a: sp.Expr, b: sp.Expr) -> sp.Expr:
    if isinstance(a, sp.Sum):
        (t, low, high), = a.limits
        return sp.Sum(_covariance(a.function, b), (t, low, high))
    if isinstance(b, sp.Sum):
        (t, low, high), = b.limits
        if a.has(t):
            b = sp.Sum(b.function.xreplace({t: m}), (m, low, high))
            (t, low, high), = b.limits
        return sp.Sum(_covariance(a, b.function), (t, low, high))
    return Cov(a, b)


# --- RMSNorm's output and the QK-norm logit -------------------------------------------------------

n, k = ln.n, ln.k
eps = ln.eps
y = sp.IndexedBase("y", real=True)  # the input of an output norm
g = sp.IndexedBase("g", real=True)  # its gain
slack = sp.IndexedBase("delta", nonnegative=True)  # g_k^2 = G^2 - delta_k, delta_k >= 0
G = sp.Symbol(r"\max_i |g_i|", positive=True)  # max_k |g_k|
M = sp.Symbol("M", nonnegative=True)  # mean square of the norm's input
d = sp.Symbol("d", integer=True, positive=True)  # head dimension
G_q = sp.Symbol(r"\max_i |g_{q,i}|", positive=True)
G_k = sp.Symbol(r"\max_j |g_{k,j}|", positive=True)
_M_POSITIVE = sp.Symbol("M", positive=True)  # a nonzero input, for the supremum
_SCALE = sp.Symbol("a", positive=True)


def mean_square(values: sp.IndexedBase = y, size: sp.Expr = n) -> sp.Expr:
    """``M = (1/n) sum_k y_k^2``."""
    return sp.Sum(values[k] ** 2, (k, 1, size)) / size


def rms_ratio(mean_sq: sp.Expr = M, epsilon: sp.Expr = eps) -> sp.Expr:
    """``M / (M + eps)``: RMSNorm's output mean square without gain (below 1 for eps > 0)."""
    return mean_sq / (mean_sq + epsilon)


def rms_vector(values: Sequence[sp.Expr], epsilon: sp.Expr = eps) -> list[sp.Expr]:
    """RMSNorm (no gain) of an explicit vector, entries ``v_t / sqrt(mean(v^2) + eps)``."""
    return list(ln.rms_norm_of_vector(values, epsilon))


def supremum_of_ratio(factor: sp.Expr = 1) -> sp.Expr:
    """``lim_{a -> oo} factor M a^2 / (M a^2 + eps)`` for ``M > 0`` (an input scaled up)."""
    return sp.limit(factor * rms_ratio(_M_POSITIVE * _SCALE**2), _SCALE, sp.oo)


@cache
def rms_output_bounded() -> bool:
    """The proof, for a symbolic width n, gain g with max |g_k| = G (g_k^2 = G^2 - delta_k,
    delta_k >= 0), M >= 0 and eps > 0:
    (1) 1 - M/(M+eps) = eps/(M+eps) > 0;
    (2) G^2 M/(M+eps) - mean_k (g_k y_k / sqrt(M+eps))^2 = mean_k delta_k y_k^2 / (M+eps), a mean
    of terms >= 0; so RMS(N(y))^2 <= G^2 M/(M+eps) < G^2, and the supremum (M -> oo) is G^2."""
    gap = sp.cancel(1 - rms_ratio())
    if not (equal(gap, eps / (M + eps), sp.cancel) and gap.is_positive):
        return False
    output = sp.Sum((g[k] * y[k] / sp.sqrt(mean_square() + eps)) ** 2, (k, 1, n)) / n
    output = output.replace(
        lambda e: isinstance(e, sp.Pow) and e.base == g[k] and e.exp == 2,
        lambda e: G**2 - slack[k],
    )
    term = slack[k] * y[k] ** 2
    difference = sp.Sum(term, (k, 1, n)) / n / (mean_square() + eps)
    return bool(
        not output.has(g) and term.is_nonnegative and supremum_of_ratio() == 1
        and equal(G**2 * rms_ratio(mean_square()) - output, difference, sp.cancel, sums=True)
    )


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


@cache
def proved_logit_bound() -> sp.Expr | None:
    """The chain, each step checked by SymPy; returns the bound it proves (None if a step fails):
    (1) ||RMSNorm(q)||^2 = d M/(M+eps) for a symbolic d, and its supremum (M -> oo) is d;
    (2) Cauchy-Schwarz |u . w| <= |u| |w| by Lagrange's identity, for a symbolic d;
    (3) |g_q,i g_k,i| <= G_q G_k: G_q G_k - |g_q||g_k| = (G_q - |g_q|) G_k + |g_q| (G_k - |g_k|);
    so, with |sum_i a_i| <= sum_i |a_i| and Cauchy-Schwarz on |RMSNorm(q)| and |RMSNorm(k)|,
    |q_hat . k_hat| / sqrt(d) <= G_q G_k |RMSNorm(q)| |RMSNorm(k)| / sqrt(d) <= G_q G_k d / sqrt(d)
    (the supremum of step 1 taken for both norms)."""
    square = sp.Sum((x[k] / sp.sqrt(mean_square(x, d) + eps)) ** 2, (k, 1, d))
    if not equal(square, d * rms_ratio(mean_square(x, d)), sp.cancel, sums=True):
        return None
    sup = supremum_of_ratio(d)
    gap, square = lagrange_identity(d)
    if gap != 0 or not square.is_nonnegative:
        return None
    aq, ak = sp.symbols("b_q b_k", nonnegative=True)  # |g_q,i|, |g_k,i|
    if sp.expand(G_q * G_k - aq * ak - ((G_q - aq) * G_k + aq * (G_k - ak))) != 0:
        return None
    return sp.simplify(G_q * G_k * sp.sqrt(sup) * sp.sqrt(sup) / sp.sqrt(d))


# --- DyT ------------------------------------------------------------------------------------------

x, gamma, beta, i, j = ln.x, ln.gamma, ln.beta, ln.i, ln.j
alpha = sp.Symbol("alpha", positive=True)  # DyT's scalar (0.5 at initialization by default)
HALF = sp.Rational(1, 2)  # the fixed alpha of DyT's row of Table 1


def dyt_entry(index: sp.Expr = i, scale: sp.Expr = alpha) -> sp.Expr:
    """``y_i = gamma_i tanh(alpha x_i) + beta_i`` (Zhu et al. 2025; ``alpha`` one scalar)."""
    return gamma[index] * sp.tanh(scale * x[index]) + beta[index]


class DyT(EntryOf):
    """``DyT(v, i, alpha)``: :func:`dyt_entry` of the vector v."""

    head, defaults = r"\mathrm{DyT}", (alpha,)

    @classmethod
    def entry(cls, values, index, scale=alpha):  # noqa: ANN001, ANN206
        return gamma[index] * sp.tanh(scale * values(index)) + beta[index]


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


# --- nGPT and Mix-LN ------------------------------------------------------------------------------


def layer_placements(rule: sp.Expr, layer: sp.Symbol, values: dict, depth: int) -> list[sp.Expr]:
    """A per-layer rule (a ``Piecewise`` in ``layer``) read at ``layer = 1..depth``, ``values``
    (the depth, the share) substituted."""
    rule = rule.xreplace(values)
    return [rule.xreplace({layer: t}) for t in range(1, depth + 1)]
