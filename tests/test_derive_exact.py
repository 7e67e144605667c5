"""Exact equality: counterexamples refute, simplification proves, anything else is Undecided."""

from __future__ import annotations

import pytest
import sympy as sp

from verified_transformer.derive.exact import (
    Undecided,
    counterexample,
    equal,
    expand_sums,
    is_zero,
    matrices_equal,
    sqrt_ratios_equal,
    unroll_sums,
)

n = sp.Symbol("n", integer=True, positive=True)
j, k, m = sp.symbols("j k m", integer=True, positive=True)
x = sp.IndexedBase("x")
a, b = sp.symbols("a b", real=True)


def test_expand_sums_splits_pulls_constants_and_sums_out_deltas() -> None:
    assert expand_sums(sp.Sum(a * x[m] + b, (m, 1, n))) == a * sp.Sum(x[k], (k, 1, n)) + n * b
    assert expand_sums(sp.Sum(sp.KroneckerDelta(j, m) * x[m] ** 2, (m, 1, n))) == x[j] ** 2
    # the same sum under two dummy names cancels
    assert expand_sums(sp.Sum(x[m], (m, 1, n)) - sp.Sum(x[j], (j, 1, n))) == 0


def test_unroll_sums_writes_out_integer_limits_only() -> None:
    assert unroll_sums(sp.Sum(x[k], (k, 1, 3))) == x[1] + x[2] + x[3]
    assert unroll_sums(sp.Sum(x[k], (k, 1, n))) == sp.Sum(x[k], (k, 1, n))


def test_counterexample_refutes_and_respects_functions() -> None:
    assert counterexample(sp.exp(a) - 1 - a) is not None
    assert counterexample((a + b) ** 2 - a**2 - 2 * a * b - b**2) is None
    f = sp.Function("f")
    assert counterexample(f(a) - f(b)) is not None
    assert counterexample(sp.Symbol("J", commutative=False) - 1) is None  # not sampled


def test_is_zero_proves_refutes_or_says_undecided() -> None:
    assert is_zero((a + b) ** 2 - a**2 - 2 * a * b - b**2, sp.expand)
    assert not is_zero(a - b)
    assert is_zero(sp.Sum(x[k] - sp.Sum(x[m], (m, 1, n)) / n, (k, 1, n)), sp.cancel, sums=True)
    with pytest.raises(Undecided):
        is_zero(sp.sin(a) ** 2 + sp.cos(a) ** 2 - 1, lambda e: e)


def test_equal_and_matrices_equal() -> None:
    assert equal(sp.exp(a + b), sp.exp(a) * sp.exp(b), sp.expand)
    assert not matrices_equal(sp.Matrix([a, b]), sp.Matrix([[a, b]]))
    assert matrices_equal(sp.Matrix([a * (a + 1)]), sp.Matrix([a**2 + a]), sp.expand)


def test_sqrt_ratios_equal() -> None:
    u, p = a**2 + 1, a + b
    d = sp.Symbol("d", positive=True)
    assert sqrt_ratios_equal((d * p, d**2 * u), (p, u))
    assert not sqrt_ratios_equal((-p, u), (p, u))
    assert not sqrt_ratios_equal((p + 1, u), (p, u))
