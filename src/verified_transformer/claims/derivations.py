"""Worked derivations: the steps of a solution the book shows, each a chain of equal expressions.

A step is a chain ``(e_1, e_2, ...)`` displayed as ``e_1 = e_2 = ...``, proved by the ledger's
one checker once the derivation's abbreviations (``mu``, ``s``, ``p_i``, ...) are replaced by what
they stand for and derivatives are taken (SymPy, symbolic sizes). A derivation's wrong
variants replace one step by a slip; its check must reject each. The prose shows step ``k`` with
``{claim}`id[k]```, so no step of a worked solution is typed by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sympy as sp

from verified_transformer.claims.ledger import Claim
from verified_transformer.derive import layernorm as ln
from verified_transformer.derive import residual as rs
from verified_transformer.derive import softmax as sm
from verified_transformer.derive.exact import expand_sums

Step = tuple[sp.Basic, ...]
Meaning = Callable[[sp.Basic], sp.Basic]  # replaces the abbreviations of one derivation


def derivation(
    claim_id: str, steps: Sequence[Step], unfold: Meaning | Callable[[Step], Meaning],
    wrong: Mapping[str, tuple[int, Step]], per_step: bool = False,
    **fields: Any,
) -> Claim:
    """An equation :class:`Claim` whose chains are ``steps``; ``wrong`` maps a slip's name to (the
    step it replaces, the wrong step); ``unfold`` is one meaning for every step, or
    (``per_step``) a function of the step that picks one."""
    return Claim(
        id=claim_id, kind="identity", formula=tuple(steps), simplify=sp.simplify,
        meaning=unfold if per_step else (lambda step: unfold),
        wrong={name: {k: step} for name, (k, step) in wrong.items()},
        **({"origin": "derived", "scope": "symbolic n"} | fields),
    )


def _indexed(base: sp.IndexedBase, entry: Callable[..., sp.Expr]) -> Meaning:
    """Replace every ``base[t, ...]`` by ``entry(t, ...)``."""
    return lambda e: e.replace(
        lambda a: isinstance(a, sp.Indexed) and a.base == base, lambda a: entry(*a.indices)
    )


# --- LayerNorm's Jacobian, step by step (chapter 4's exercise ex-layer-norm-jacobian) ------------

x, i, j, k, n, eps, mu, sigma2 = ln.x, ln.i, ln.j, ln.k, ln.n, ln.eps, ln.mu, ln.sigma2
s = sp.Symbol("s", positive=True)  # sqrt(sigma^2 + eps)
XHAT = sp.IndexedBase("xhat")
J = sp.IndexedBase("J")


def _jacobian_entry(a: sp.Expr, b: sp.Expr) -> sp.Expr:
    """``J_ab = (delta_ab - 1/n - xhat_a xhat_b / n) / s``: the last step below, and what the
    spectrum's steps take J to be."""
    return (sp.KroneckerDelta(a, b) - 1 / n - XHAT[a] * XHAT[b] / n) / s


def _unfold_layernorm(e: sp.Basic) -> sp.Basic:
    """xhat, s, sigma^2 and mu written out (symbolic n)."""
    e = _indexed(XHAT, lambda t: (x[t] - mu) / s)(e)
    return e.xreplace({s: sp.sqrt(sigma2 + eps)}).xreplace({sigma2: ln.variance()}).xreplace(
        {mu: ln.mean()}
    )


_LN_STEPS: tuple[Step, ...] = (
    (sp.Derivative(mu, x[j]), 1 / n),
    (sp.Derivative(sigma2, x[j]), 2 * (x[j] - mu) / n),
    (sp.Derivative(s, x[j]), (x[j] - mu) / (n * s)),
    (
        sp.Derivative(XHAT[i], x[j]),
        (sp.KroneckerDelta(i, j) - 1 / n) / s - (x[i] - mu) * (x[j] - mu) / (n * s**3),
        _jacobian_entry(i, j),
    ),
)


def _unfold_spectrum(e: sp.Basic) -> sp.Basic:
    """J in terms of xhat and s; then the sums of xhat and of xhat^2 that ``layernorm.moments``
    proves (mean 0, mean square sigma^2 / s^2); then s = sqrt(sigma^2 + eps)."""
    e = _indexed(J, _jacobian_entry)(e)
    e = expand_sums(sp.expand(e)).xreplace(
        {sp.Sum(XHAT[k], (k, 1, n)): 0, sp.Sum(XHAT[k] ** 2, (k, 1, n)): n * sigma2 / s**2}
    )
    return e.xreplace({s: sp.sqrt(sigma2 + eps)})


_SPECTRUM_STEPS: tuple[Step, ...] = (
    (sp.Sum(J[j, k], (k, 1, n)), 0),
    (sp.Sum(J[j, k] * XHAT[k], (k, 1, n)), eps / s**3 * XHAT[j]),
)


# --- softmax -------------------------------------------------------------------------------------

z, p, S, c = sm.z, sp.IndexedBase("p"), sp.Symbol("S", positive=True), sp.Symbol("c")
d_k = sp.Symbol("d_k", positive=True)
l_ = sp.Symbol("l", integer=True, positive=True)


def _unfold_softmax(e: sp.Basic) -> sp.Basic:
    e = _indexed(p, lambda t: sp.exp(z[t]) / S)(e)
    return e.xreplace({S: sp.Sum(sp.exp(z[k]), (k, 1, n))})


_SOFTMAX_STEPS: tuple[Step, ...] = (
    (
        sp.Derivative(p[i], z[j]),
        (sp.KroneckerDelta(i, j) * sp.exp(z[i]) * S - sp.exp(z[i]) * sp.exp(z[j])) / S**2,
        p[i] * (sp.KroneckerDelta(i, j) - p[j]),
    ),
)


# Softmax from its two properties (ex-softmax-formula): weights that sum to one, with
# p_i / p_j = e^{z_i - z_j}. Each step uses the premises and the steps before it, as a reader does.
_PROPERTY_STEPS: tuple[Step, ...] = (
    (p[i], p[j] * sp.exp(-z[j]) * sp.exp(z[i]), c * sp.exp(z[i])),
    (sp.Sum(p[k], (k, 1, n)), c * sp.Sum(sp.exp(z[k]), (k, 1, n))),
    (c, 1 / sp.Sum(sp.exp(z[k]), (k, 1, n))),
)


def _property_meaning(step: Step) -> Meaning:
    """Step 1: the ratio premise (p_i = p_j e^{z_i - z_j}) and c's definition; step 2: step 1 for
    every index; step 3: c solved from step 2, then the premise sum p_k = 1."""
    if step[0] == p[i]:
        return lambda e: e.xreplace({p[i]: p[j] * sp.exp(z[i] - z[j]), c: p[j] * sp.exp(-z[j])})
    if step[0] == c:
        total = sp.Sum(p[k], (k, 1, n))
        return lambda e: e.xreplace({c: total / sp.Sum(sp.exp(z[k]), (k, 1, n))}).xreplace(
            {total: 1}
        )
    return _indexed(p, lambda t: c * sp.exp(z[t]))


# --- the article's scale, cancelled; an FFN without activation; the telescoping sum -------------

SCORE = sp.IndexedBase("s")
_SCALE_STEPS: tuple[Step, ...] = (
    (
        (sp.exp(SCORE[j]) / sp.sqrt(d_k)) / sp.Sum(sp.exp(SCORE[l_]) / sp.sqrt(d_k), (l_, 1, n)),
        sp.exp(SCORE[j]) / sp.Sum(sp.exp(SCORE[l_]), (l_, 1, n)),
    ),
)
W1, W2, xv, b1, b2, a, b, W, cv = sp.symbols("W_1 W_2 x b_1 b_2 a b W c", commutative=False)
g = sp.Function("g")
_AFFINE_STEPS: tuple[Step, ...] = (
    (W2 * (W1 * xv + b1) + b2, (W2 * W1) * xv + (W2 * b1 + b2)),
    (g(a + b) - g(a) - g(b) + g(0), 0),
)


def _unfold_affine(e: sp.Basic) -> sp.Basic:
    """``g(v) = W v + c``, an affine map; products expanded (matrices: noncommutative)."""
    return sp.expand(e.replace(g, lambda v: W * v + cv))


_TELESCOPE_STEPS: tuple[Step, ...] = (
    (sp.Sum(rs.H[rs.i + 1] - rs.H[rs.i], (rs.i, rs.ell, rs.L - 1)), rs.H[rs.L] - rs.H[rs.ell]),
)

BA = "ba2016layer"
CLAIMS = (
    derivation(
        "derivation.layernorm_jacobian", _LN_STEPS, _unfold_layernorm, source=BA,
        builds_on=(), wrong={
            "d sigma^2 / d x_j = 2 x_j / n (the mean's dependence forgotten)":
                (1, (sp.Derivative(sigma2, x[j]), 2 * x[j] / n)),
            "the xhat_i xhat_j / n term missing":
                (3, (sp.Derivative(XHAT[i], x[j]), (sp.KroneckerDelta(i, j) - 1 / n) / s,
                     (sp.KroneckerDelta(i, j) - 1 / n) / s)),
        },
        note="The steps of the worked solution of chapter 4's exercise on LayerNorm's Jacobian, "
        "each differentiated by SymPy for a symbolic n.",
    ),
    derivation(
        "derivation.layernorm_spectrum", _SPECTRUM_STEPS, _unfold_spectrum, source=BA,
        wrong={
            "J xhat = xhat / s (eigenvalue 1 along xhat)":
                (1, (sp.Sum(J[j, k] * XHAT[k], (k, 1, n)), XHAT[j] / s)),
            "J 1 = 1 / s (the mean's correction forgotten)":
                (0, (sp.Sum(J[j, k], (k, 1, n)), 1 / s)),
        },
        note="Both steps use what layernorm.moments proves written out: xhat sums to 0, and its "
        "squares to n sigma^2 / (sigma^2 + eps).",
    ),
    derivation(
        "derivation.softmax_from_properties", _PROPERTY_STEPS, _property_meaning, per_step=True,
        source=None, origin="standard", scope="symbolic n, given the two properties", wrong={
            "c = 1 / sum_k z_k (no exponential)":
                (2, (c, 1 / sp.Sum(z[k], (k, 1, n)))),
            "p_i = c e^{-z_i} (the ratio inverted)":
                (0, (p[i], p[j] * sp.exp(-z[j]) * sp.exp(z[i]), c * sp.exp(-z[i]))),
        },
        note="The worked solution of chapter 4's exercise that derives softmax: each step follows "
        "from the premises (the weights sum to one; p_i / p_j = e^(z_i - z_j)) and the steps "
        "before it.",
    ),
    derivation(
        "derivation.softmax_jacobian", _SOFTMAX_STEPS, _unfold_softmax, source=None,
        origin="standard", wrong={
            "p_i delta_ij - p_j (factor p_i missing on p_j)":
                (0, (sp.Derivative(p[i], z[j]),
                     (sp.KroneckerDelta(i, j) * sp.exp(z[i]) * S - sp.exp(z[i]) * sp.exp(z[j]))
                     / S**2, p[i] * sp.KroneckerDelta(i, j) - p[j])),
        },
    ),
    derivation(
        "derivation.scale_cancels", _SCALE_STEPS, lambda e: e, source="vaswani2017attention",
        wrong={"the scale survives": (0, (_SCALE_STEPS[0][0], _SCALE_STEPS[0][1] / sp.sqrt(d_k)))},
        note="Why the article's scale outside the exponential does nothing: it cancels in the "
        "normalization.",
    ),
    derivation(
        "derivation.affine_collapse", _AFFINE_STEPS, _unfold_affine, source=None,
        origin="standard", scope="matrices (noncommutative symbols)", wrong={
            "(W_2 W_1) x + b_2 (W_2 b_1 lost)": (0, (_AFFINE_STEPS[0][0], (W2 * W1) * xv + b2)),
            "g(a + b) - g(a) - g(b) = 0 (holds for linear g only)":
                (1, (g(a + b) - g(a) - g(b), 0)),
        },
        note="Two linear layers without an activation are one affine map; the affinity test of "
        "chapter 5 vanishes for every affine g.",
    ),
    derivation(
        "derivation.telescoping", _TELESCOPE_STEPS, lambda e: e, source="he2016identity",
        scope="symbolic l < L", wrong={
            "H^L - H^{l+1}": (0, (_TELESCOPE_STEPS[0][0], rs.H[rs.L] - rs.H[rs.ell + 1])),
        },
    ),
)
