"""The numeric checks of :mod:`verified_transformer.claims.seed`: float64, against our
``verified_transformer.nn`` and torch's, imported only when a check runs. The scores by a
Reference; custom: layers with their own weights, and the shape errors the article's code hits."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import sympy as sp
import torch

from verified_transformer.claims import numeric as nu
from verified_transformer.claims.fixtures import D_FF, D_MODEL, TOKENS
from verified_transformer.claims.seed import FH, W1, W2, H, Y, definitions, s
from verified_transformer.derive import attention as at
from verified_transformer.derive import softmax as sm


def _raises(f: Callable[[], object]) -> bool:
    """``f()`` fails on mismatched shapes (ValueError from our checks, RuntimeError or
    AssertionError from torch)."""
    try:
        f()
    except (ValueError, RuntimeError, AssertionError):
        return True
    return False


def _value(e: sp.Basic, values: dict, relu: Callable) -> torch.Tensor:
    """A chain's matrix expression on tensors (numeric._matrix), ReLU by ``relu``."""
    return nu._matrix(e, nu.Reference(values, {}, dict), {at.Relu: relu})


def scores() -> nu.Reference:
    """The scores of 3 seeded queries with 5 seeded keys of width d_k = 16, c = 7; softmax by
    F.softmax, the weights by F.scaled_dot_product_attention (the query: the scores padded with
    zeros to width d_k; unit keys, so SDPA itself scales by 1/sqrt(d_k); the identity as values,
    so the output is the weights)."""
    q, k = nu.randn(1, 3, 16, seed=80)[0], nu.randn(1, 5, 16, seed=81)[0]

    def weights(F: ModuleType) -> Callable:
        return lambda v, d: F.scaled_dot_product_attention(
            torch.cat([v, v.new_zeros(*v.shape[:-1], int(d) - v.shape[-1])], -1),
            torch.eye(v.shape[-1], int(d), dtype=nu.DTYPE), torch.eye(v.shape[-1], dtype=nu.DTYPE))

    return nu.Reference(inputs={s: q @ k.T}, scalars={at.d_k: 16.0, sm.c: 7.0}, index=sm.i,
                        size=sm.n, operators=lambda F, nn: {
                            sm.Weights: weights(F), sm.Softmax: lambda v: F.softmax(v, dim=-1)})


def projections(chains: tuple) -> bool:
    """The shared one-head check (numeric.projections_match_attention) of the chains' Q, K, V."""
    return nu.projections_match_attention(definitions(chains))


def combine(chains: tuple) -> bool:
    """Our Pre-LN layer is the chain's ``H^l`` applied twice to its sub-layers' outputs; the
    article's concatenation has width 2 d_model, which the next layer rejects."""
    x = nu.randn(2, TOKENS, D_MODEL, seed=82)

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        layer = nu.encoder_layer(nn, True, seed=83)
        sa, ffn = nu.sublayers(layer)
        step = lambda h, f: _value(chains[0][-1], {H: h, FH: f}, layer.activation)  # noqa: E731
        h = step(x, sa(layer.norm1(x)))
        return nu.close(step(h, ffn(layer.norm2(h))), layer(x)) and _raises(
            lambda: layer(torch.cat([sa(layer.norm1(x)), x], dim=-1)))

    return nu.for_each_implementation(holds)


def ffn(chains: tuple) -> bool:
    """Post-LN layer (no biases) = LN2(y + FFN(y)), y = LN1(x + SA(x)), FFN the chain's with the
    layer's weights and activation; the article's ``out1 + Linear(d_model, dff)(out1)`` raises for
    d_ff != d_model."""
    x = nu.randn(2, TOKENS, D_MODEL, seed=84)

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        layer = nu.encoder_layer(nn, False, seed=85, bias=False)
        y = layer.norm1(x + nu.sublayers(layer)[0](x))
        weights = {Y: y, W1: layer.linear1.weight.T, W2: layer.linear2.weight.T}
        out = layer.norm2(y + _value(chains[0][-1], weights, layer.activation))
        article = torch.nn.Linear(D_MODEL, D_FF, dtype=nu.DTYPE)
        return nu.close(out, layer(x)) and _raises(lambda: layer.norm2(article(y) + y))

    return nu.for_each_implementation(holds)
