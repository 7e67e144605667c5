"""LayerNorm / RMSNorm derivations and the recomputed Table 1, spot-checked against torch."""

from __future__ import annotations

import pytest
import sympy as sp
import torch
from torch.autograd.functional import jacobian

from verified_transformer.derive import layernorm as ln
from verified_transformer.derive.exact import unroll_sums

VALUES = [0.3, -1.2, 2.5, 0.0, 1.1]


def test_explicit_norms_match_torch() -> None:
    t = torch.tensor(VALUES, dtype=torch.float64)
    got = [float(v) for v in ln.layer_norm_of_vector([sp.Float(v, 30) for v in VALUES], 1e-3)]
    expected = torch.nn.functional.layer_norm(t, (5,), eps=1e-3)
    torch.testing.assert_close(torch.tensor(got, dtype=torch.float64), expected)
    got = [float(v) for v in ln.rms_norm_of_vector([sp.Float(v, 30) for v in VALUES], 1e-3)]
    expected = torch.nn.functional.rms_norm(t, (5,), eps=1e-3)
    torch.testing.assert_close(torch.tensor(got, dtype=torch.float64), expected)
    with pytest.raises(ValueError, match="values"):
        ln.layer_norm_of_vector([])
    with pytest.raises(ValueError, match="values"):
        ln.layer_norm_ratios_of_vector([])


def test_symbolic_n_jacobian_at_n_5_against_autograd() -> None:
    t = torch.tensor(VALUES, dtype=torch.float64)
    expected = jacobian(lambda v: torch.nn.functional.layer_norm(v, (5,), eps=1e-2), t)
    entry = unroll_sums(ln.jacobian_entry().subs(ln.n, 5)).subs(ln.eps, sp.Rational(1, 100))
    values = {ln.x[k + 1]: v for k, v in enumerate(VALUES)}
    got = torch.tensor(
        [
            [float(entry.subs({ln.i: r, ln.j: c}).xreplace(values)) for c in range(1, 6)]
            for r in range(1, 6)
        ],
        dtype=torch.float64,
    )
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


def test_entries_use_the_biased_variance() -> None:
    entry = unroll_sums(ln.normalized(sp.Integer(1), 0).subs(ln.n, 2))
    assert sp.simplify(entry.subs({ln.x[1]: 1, ln.x[2]: -1})) == 1  # sqrt(1), not sqrt(2)


def test_unbiased_and_scale_norm_entries_at_n_5() -> None:
    t = torch.tensor(VALUES, dtype=torch.float64)
    values = {ln.x[k + 1]: sp.Float(v, 30) for k, v in enumerate(VALUES)}

    def entries(expr_at: sp.Expr) -> torch.Tensor:
        exprs = [unroll_sums(expr_at(sp.Integer(r)).subs(ln.n, 5)) for r in range(1, 6)]
        return torch.tensor([float(e.xreplace(values)) for e in exprs], dtype=torch.float64)

    unbiased = entries(lambda r: ln.unbiased_normalized(r, 0))
    torch.testing.assert_close(unbiased, (t - t.mean()) / t.std())
    scale_norm = entries(lambda r: ln.scale_norm_entry(r, sp.Rational(3, 2)))
    torch.testing.assert_close(scale_norm, 1.5 * t / t.norm())
    assert ln.unbiased_ratio(sp.Integer(5)) == sp.sqrt(sp.Rational(4, 5))
    assert ln.scale_norm_gain(ln.g, 4) == ln.g / 2


def test_invariance_table_matches_the_paper_and_adds_rmsnorm() -> None:
    table = ln.invariance_table()
    for method, row in ln.PUBLISHED_TABLE_1.items():
        assert table[method] == row
    assert table["RMS norm"] == (True, False, False, True, False, True)
    assert set(ln.TRANSFORMATION_MAPS) == set(ln.TRANSFORMATIONS)


def test_ratios_equal_proves_and_refutes() -> None:
    x1, x2 = ln.X_ROWS[0]
    delta = ln.DELTA
    assert ln.ratios_equal((delta * x1, delta**2 * (x1**2 + x2**2)), (x1, x1**2 + x2**2))
    assert not ln.ratios_equal((x1 + 1, x1**2 + 1), (x1, x1**2 + 1))


def test_scaled_epsilon_and_jacobian_eigenvalues_against_torch() -> None:
    t = torch.tensor(VALUES, dtype=torch.float64)
    scale, eps = 0.1, 1e-2
    moved = float(ln.scaled_epsilon(sp.Float(scale), sp.Float(eps)))
    torch.testing.assert_close(
        torch.nn.functional.layer_norm(scale * t, (5,), eps=eps),
        torch.nn.functional.layer_norm(t, (5,), eps=moved),
    )
    var = t.var(unbiased=False)
    scaled = (var + eps).sqrt() * jacobian(
        lambda v: torch.nn.functional.layer_norm(v, (5,), eps=eps), t
    )
    zero, on_xhat, one = (float(v) for v in ln.jacobian_eigenvalues(sp.Float(var.item()), eps))
    expected = torch.tensor([zero, on_xhat, one, one, one], dtype=torch.float64)
    torch.testing.assert_close(torch.linalg.eigvalsh(scaled), expected)
