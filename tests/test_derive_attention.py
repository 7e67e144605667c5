"""Attention derivations: shapes, moments, multi-head blocks, the article's formulas."""

from __future__ import annotations

import pytest
import sympy as sp
import torch

from verified_transformer.derive import attention as at


def test_projection_shapes_and_the_articles_mismatch() -> None:
    ours = at.projections()
    assert {k: v.shape for k, v in ours.items()} == at.EXPECTED_SHAPES
    assert all(not at.shape_mismatches(v) for v in ours.values())
    assert at.shape_mismatches(at.article_projections()["Q"])
    with pytest.raises(ValueError, match="V"):
        at.resolve(at.article_projections())


def test_attention_matches_torch_at_a_new_size() -> None:
    g = torch.Generator().manual_seed(7)
    q, k, v = (torch.randn(s, generator=g, dtype=torch.float64) for s in ((3, 5), (4, 5), (4, 2)))
    to_sp = lambda t: sp.Matrix(t.tolist())  # noqa: E731
    got = torch.tensor(
        at.attention(to_sp(q), to_sp(k), to_sp(v)).evalf(20).tolist(), dtype=torch.float64
    )
    expected = torch.nn.functional.scaled_dot_product_attention(q[None], k[None], v[None])[0]
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-14)


def test_general_moments_agree_with_monomial_expansion() -> None:
    mq, mk = sp.Rational(1, 3), sp.Rational(-2, 5)
    vq, vk = sp.Rational(2), sp.Rational(3, 7)
    mean, var = at.dot_product_moments(sp.Integer(5), mq, vq, mk, vk)
    explicit = at.dot_product_moments_explicit(5, (mq, vq + mq**2), (mk, vk + mk**2))
    assert (mean, var) == explicit
    with pytest.raises(ValueError, match="dim"):
        at.dot_product_moments_explicit(0)


def test_multihead_blocks_and_permutations() -> None:
    heads, blocks = at.heads_and_blocks(4)
    assert at.concat_times_output(heads, blocks) == at.sum_of_heads(heads, blocks)
    p = at.permutation_matrix((2, 0, 1))
    x = at.symbol_matrix("x", 3, 1)
    assert list(p * x) == [x[2], x[0], x[1]]


def test_article_scale_cancels_and_double_exponent() -> None:
    s = sp.symbols("s1:4", real=True)
    normalized = at.article_weights_normalized(s)
    assert all(sp.simplify(sp.diff(w, at.d_k)) == 0 for w in normalized)
    assert all(sp.diff(w, at.d_k) != 0 for w in at.attention_weights(s))
    assert at.article_weights(s)[0].has(sp.exp(sp.exp(s[0]) / sp.sqrt(at.d_k)))


def test_feed_forward_returns_to_d_model() -> None:
    y = sp.MatrixSymbol("Y", at.n, at.d_model)
    d_ff = sp.Symbol("d_ff", positive=True, integer=True)
    w1, w2 = sp.MatrixSymbol("A", at.d_model, d_ff), sp.MatrixSymbol("B", d_ff, at.d_model)
    assert at.feed_forward(y, w1, w2, lambda t: t).shape == y.shape
    assert at.article_feed_forward(y, w1, w2, lambda t: t).shape == (at.n, d_ff)
