"""Residual derivations: unrolled sum, path expansion, sub-layer orders, DeepNorm, Admin,
ReZero and the variance of scaled branches."""

from __future__ import annotations

import pytest
import sympy as sp
import torch
from torch.autograd.functional import jacobian

from verified_transformer.derive import residual as rs


def test_unrolled_states_and_telescoping() -> None:
    h = sp.Symbol("h")
    fs = rs.branches(3)
    states = rs.unrolled_states(h, fs)
    assert states[-1] == h + sum(f(s) for f, s in zip(fs, states, strict=False))
    assert rs.telescoped() == rs.H[rs.L] - rs.H[rs.ell]


def test_path_products_count_and_identity() -> None:
    js = rs.noncommutative_jacobians(5)
    paths = rs.path_products(js)
    assert len(paths) == 32 and sp.Integer(1) in paths
    assert set(sp.Add.make_args(sp.expand(rs.jacobian_product(js, sp.Integer(1))))) == paths


def test_jacobian_product_against_autograd_of_a_nonlinear_stack() -> None:
    g = torch.Generator().manual_seed(3)
    ws = [torch.randn(5, 5, generator=g, dtype=torch.float64) / 3 for _ in range(3)]
    fs = [lambda h, w=w: torch.tanh(w @ h) for w in ws]
    h = torch.randn(5, generator=g, dtype=torch.float64)
    states = rs.unrolled_states(h, fs)
    branch_jacobians = [jacobian(f, s) for f, s in zip(fs, states, strict=False)]
    total = jacobian(lambda v: rs.unrolled_states(v, fs)[-1], h)
    product = torch.eye(5, dtype=torch.float64)
    for jac in branch_jacobians:
        product = (torch.eye(5, dtype=torch.float64) + jac) @ product
    torch.testing.assert_close(product, total, rtol=1e-12, atol=1e-12)
    assert len(rs.path_products(rs.noncommutative_jacobians(3))) == 2 ** len(fs)


def test_sublayer_orders_and_deep_norm() -> None:
    x = sp.Symbol("x")
    sa, ffn, n1, n2, g, ln = (sp.Function(s) for s in ("SA", "FFN", "N1", "N2", "G", "LN"))
    assert rs.post_ln(x, sa, ffn, n1, n2) == n2(n1(x + sa(x)) + ffn(n1(x + sa(x))))
    assert rs.pre_ln(x, sa, ffn, n1, n2) == x + sa(n1(x)) + ffn(n2(x + sa(n1(x))))
    assert rs.deep_norm(x, g, 1, ln) == ln(x + g(x))
    assert rs.admin(x, g, 1, ln) == ln(x + g(x)) == rs.post_ln(x, g, lambda t: 0, ln, lambda t: t)
    assert rs.rezero(x, g, 0) == x and rs.rezero(x, g, rs.alpha) == x + rs.alpha * g(x)


def test_admin_weights_the_shortcut_entrywise() -> None:
    omega, v = sp.Matrix([2, 3]), sp.Matrix(sp.symbols("v1:3"))
    assert rs.admin(v, lambda t: 0 * t, omega, lambda t: t) == sp.Matrix([2 * v[0], 3 * v[1]])
    weights, values = torch.tensor([2.0, 3.0]), torch.tensor([1.0, -1.0])
    assert torch.equal(rs.hadamard(weights, values), torch.tensor([2.0, -3.0]))


def test_variance_of_a_sum_of_branches() -> None:
    assert rs.sum_variance(sp.Integer(1)) == rs.N
    assert rs.sum_variance(rs.residual_scale(rs.N)) == 1
    assert rs.sum_variance(sp.Integer(1), 5) == 5


def test_article_concatenation_doubles_the_width() -> None:
    h = sp.MatrixSymbol("H", 3, 4)
    assert rs.article_concat(h, h).shape == (3, 8)
    assert rs.residual_add(h, h).shape == (3, 4)


def test_sublayer_jacobians_and_their_product() -> None:
    j, m = sp.symbols("J N", commutative=False)
    assert rs.pre_ln_sublayer_jacobian(j, m, 1) == 1 + j * m
    assert rs.post_ln_sublayer_jacobian(j, m, 1) == m * (1 + j)
    js, ns = rs.noncommutative_jacobians(2), rs.noncommutative_norm_jacobians(2)
    pre = sp.expand(rs.stack_jacobian(rs.pre_ln_sublayer_jacobian, js, ns, sp.Integer(1)))
    post = sp.expand(rs.stack_jacobian(rs.post_ln_sublayer_jacobian, js, ns, sp.Integer(1)))
    assert sp.Integer(1) in sp.Add.make_args(pre)
    assert sp.Integer(1) not in sp.Add.make_args(post)
    with pytest.raises(ValueError, match="norms"):
        rs.stack_jacobian(rs.pre_ln_sublayer_jacobian, js, ns[:1], sp.Integer(1))
