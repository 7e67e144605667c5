"""Exact equality tests shared by the derivations and the claims ledger.

An identity ``a == b`` is *refuted* by a counterexample (the difference evaluated at exact rational
sample points, to 30 digits, is not zero) and *proved* when a SymPy simplifier reduces ``a - b`` to
``0``. When neither happens the question is left open and :class:`Undecided` is raised, so a check
can never pass, or reject a wrong formula, because a simplifier gave up.

Sums over a symbolic range (``Sum(x[k], (k, 1, n))``) are brought to a canonical form by
:func:`expand_sums` first: linear terms are split, constant factors pulled out, Kronecker deltas
summed out (assuming the free index lies in the range) and dummy indices renamed to ``k``.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import sympy as sp
from sympy.core.function import AppliedUndef

SAMPLE_DIMENSION = (
    4  # value given to symbolic sizes (n, d_k, ...) when looking for a counterexample
)
_DUMMY = sp.Symbol("k", integer=True, positive=True)


class Undecided(RuntimeError):
    """Neither a counterexample nor a simplification to zero was found."""


def expand_sums(expr: sp.Expr, dummy: sp.Symbol = _DUMMY) -> sp.Expr:
    """Canonical form of an expression with single-index ``Sum`` objects over symbolic ranges.

    ``Sum(a*f(k) + b, (k, 1, n)) -> a*Sum(f(k), (k, 1, n)) + n*b`` and
    ``Sum(KroneckerDelta(j, k)*f(k), (k, 1, n)) -> f(j)`` (``j`` assumed in ``1..n``).
    """

    def split(s: sp.Sum) -> sp.Expr:
        if len(s.limits) != 1:  # a double sum: its inner sum first, when that leaves no sum
            inner = split(sp.Sum(s.function, s.limits[0]))
            return s if inner.has(sp.Sum) else sp.Sum(inner, *s.limits[1:])
        var, lo, hi = s.limits[0]
        total = sp.Integer(0)
        for term in sp.Add.make_args(sp.expand(s.function)):
            const, dep = term.as_independent(var, as_Add=False)
            if dep == 1:
                total += const * (hi - lo + 1)
                continue
            deltas = [f for f in sp.Mul.make_args(dep) if isinstance(f, sp.KroneckerDelta)]
            delta = next((f for f in deltas if var in f.args), None)
            if delta is not None:
                other = delta.args[0] if delta.args[1] == var else delta.args[1]
                total += const * (dep / delta).xreplace({var: other})
                continue
            total += const * sp.Sum(dep.xreplace({var: dummy}), (dummy, lo, hi))
        return total

    previous = None
    expr = sp.expand(expr)
    while previous != expr:
        previous = expr
        expr = sp.expand(expr.replace(lambda e: isinstance(e, sp.Sum), split))
    return expr


def _sample_functions(expr: sp.Expr, rng: random.Random) -> sp.Expr:
    """Replace every undefined one-argument function f by a random quadratic polynomial."""
    t = sp.Dummy("t")
    functions = sorted({a.func for a in expr.atoms(AppliedUndef)}, key=str)
    for f in functions:
        a, b, c = (sp.Rational(rng.randint(-9, 9), rng.randint(1, 5)) for _ in range(3))
        expr = expr.replace(f, sp.Lambda(t, a * t**2 + b * t + c))
    return expr.doit() if functions else expr


def unroll_sums(expr: sp.Expr) -> sp.Expr:
    """Write out every ``Sum`` whose limits are integers as an explicit ``Add``."""

    def unroll(s: sp.Sum) -> sp.Expr:
        (var, lo, hi), *outer = s.limits  # the inner limit first
        if not (lo.is_Integer and hi.is_Integer):
            return s
        terms = sp.Add(*[s.function.xreplace({var: t}) for t in range(int(lo), int(hi) + 1)])
        return unroll(sp.Sum(terms, *outer)) if outer else terms

    return expr.replace(lambda e: isinstance(e, sp.Sum), unroll)


def counterexample(expr: sp.Expr, trials: int = 3, seed: int = 0) -> dict | None:
    """A substitution of exact rationals under which ``expr`` is provably nonzero, or ``None``.

    Integer symbols (sizes and indices) get values in ``1..SAMPLE_DIMENSION``; positive symbols get
    positive rationals; other real symbols get rationals of either sign (small, so that softmax
    weights do not saturate); undefined functions become random quadratics. Non-commutative
    expressions are not sampled.
    """
    expr = sp.sympify(expr)
    if not expr.is_commutative:
        return None
    rng = random.Random(seed)
    integers = sorted((s for s in expr.free_symbols if s.is_integer), key=str)
    unrolled: dict[tuple, sp.Expr] = {}
    for _ in range(trials):
        values = {
            s: SAMPLE_DIMENSION if str(s) in {"n", "d_k", "d", "L"} else rng.randint(1, 3)
            for s in integers
        }
        key = tuple(values.values())
        if key not in unrolled:
            unrolled[key] = unroll_sums(sp.sympify(expr.xreplace(values)))
        e = _sample_functions(unrolled[key], rng)
        for a in sorted(e.atoms(sp.Indexed), key=str):
            values[a] = sp.Rational(rng.randint(-9, 9), rng.randint(1, 5))
        e = sp.sympify(e.xreplace(values))
        for s in sorted(e.free_symbols, key=str):
            num = rng.randint(1, 9) if s.is_positive or s.is_nonnegative else rng.randint(-9, 9)
            values[s] = sp.Rational(num, rng.randint(1, 5))
        value = sp.N(sp.sympify(e.xreplace(values)), 30)
        if value.is_number and value.is_finite and abs(value) > sp.Float("1e-20"):
            return values
    return None


def is_zero(
    expr: sp.Expr,
    simplifier: Callable[[sp.Expr], sp.Expr] = sp.simplify,
    *,
    sums: bool = False,
) -> bool:
    """Decide ``expr == 0`` exactly: ``False`` on a counterexample, ``True`` on a proof.

    One sample point is tried first, then the proof, then three more points. The proof:
    ``simplifier`` (after :func:`expand_sums` with ``sums=True``) returns exactly ``0``.
    Raises :class:`Undecided` when neither is found.
    """
    expr = sp.sympify(expr)
    if expr == 0:
        return True
    if counterexample(expr, trials=1) is not None:  # most wrong formulas fail at once
        return False
    reduced = expand_sums(expr) if sums else expr
    if reduced == 0 or simplifier(reduced) == 0:
        return True
    if counterexample(expr, trials=3, seed=1) is not None:
        return False
    raise Undecided(f"could not decide whether {expr} is zero")


def equal(a: sp.Expr, b: sp.Expr, simplifier=sp.simplify, *, sums: bool = False) -> bool:
    """``a == b`` exactly (structurally equal, or decided by :func:`is_zero`)."""
    return a == b or is_zero(a - b, simplifier, sums=sums)


def sqrt_ratios_equal(new: tuple[sp.Expr, sp.Expr], old: tuple[sp.Expr, sp.Expr]) -> bool:
    """Exact test of ``p'/sqrt(u') == p/sqrt(u)``.

    Proof: ``p' = r p`` and ``u' = r^2 u`` for some ``r`` SymPy knows to be positive.
    Otherwise decided by :func:`is_zero` (a counterexample, or :class:`Undecided`).
    """
    (p_new, u_new), (p_old, u_old) = new, old
    if p_old != 0:
        r = sp.cancel(p_new / p_old)
        if r.is_positive and sp.cancel(u_new - r**2 * u_old) == 0:
            return True
    return is_zero(p_new / sp.sqrt(u_new) - p_old / sp.sqrt(u_old), lambda e: e)


def matrices_equal(a: sp.MatrixBase, b: sp.MatrixBase, simplifier=sp.simplify) -> bool:
    """Entrywise :func:`equal` of two explicit matrices of the same shape (``False`` otherwise)."""
    if a.shape != b.shape:
        return False
    return all(equal(x, y, simplifier) for x, y in zip(a, b, strict=True))

