"""The numeric checks of :mod:`verified_transformer.claims.seed`: float64, against our
``verified_transformer.nn`` and torch's, imported only when a check runs."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import sympy as sp
import torch

from verified_transformer.claims.fixtures import (
    D_FF,
    D_MODEL,
    TOKENS,
)
from verified_transformer.claims.numeric import (
    DTYPE,
    close,
    encoder_layer,
    for_each_implementation,
    randn,
    sublayers,
)
from verified_transformer.claims.seed import (
    Combine,
    FeedForward,
    Weights,
)


def _raises(f: Callable[[], object]) -> bool:
    """True when ``f()`` fails on mismatched shapes (ValueError from our checks, RuntimeError or
    AssertionError from torch)."""
    try:
        f()
    except (ValueError, RuntimeError, AssertionError):
        return True
    return False


def weights(constant_mask: bool) -> Callable[[Weights], bool]:
    """The candidate at d_k = 16 equals the weights of our SDPA and torch's (V = I); with
    ``constant_mask``, adding a constant float mask to every score changes nothing."""

    def numeric(weights: Weights) -> bool:
        q, k = randn(1, 3, 16, seed=80), randn(1, 5, 16, seed=81)
        identity = torch.eye(5, dtype=DTYPE)[None]
        expected = torch.tensor(
            [
                [float(w) for w in weights([sp.Float(v, 30) for v in row], sp.Integer(16))]
                for row in (q @ k.transpose(-2, -1))[0].tolist()
            ],
            dtype=DTYPE,
        )
        shift = torch.full((3, 5), 7.0, dtype=DTYPE)

        def holds(F: ModuleType, nn: ModuleType) -> bool:
            got = F.scaled_dot_product_attention(q, k, identity)[0]
            ok = close(got, expected)
            if constant_mask:
                ok = ok and close(F.scaled_dot_product_attention(q, k, identity, shift)[0], got)
            return ok

        return for_each_implementation(holds)

    return numeric


def combine(combine: Combine) -> bool:
    """Our Pre-LN layer is ``combine`` applied twice to its sub-layers' outputs; the article's
    concatenation has width 2 d_model, which the next layer rejects."""
    x = randn(2, TOKENS, D_MODEL, seed=82)

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        layer = encoder_layer(nn, True, seed=83)
        sa, ffn = sublayers(layer)
        h = combine(x, sa(layer.norm1(x)))
        out = combine(h, ffn(layer.norm2(h)))
        concatenated = torch.cat([sa(layer.norm1(x)), x], dim=-1)
        return close(out, layer(x)) and _raises(lambda: layer(concatenated))

    return for_each_implementation(holds)


def ffn(ffn: FeedForward) -> bool:
    """Post-LN layer (no biases) = LN2(y + ffn(y, W1, W2, relu)), y = LN1(x + SA(x)); the
    article's ``out1 + Linear(d_model, dff)(out1)`` raises for d_ff != d_model."""
    x = randn(2, TOKENS, D_MODEL, seed=84)

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        layer = encoder_layer(nn, False, seed=85, bias=False)
        sa, _ = sublayers(layer)
        y = layer.norm1(x + sa(x))
        out = layer.norm2(
            y + ffn(y, layer.linear1.weight.T, layer.linear2.weight.T, layer.activation)
        )
        article = torch.nn.Linear(D_MODEL, D_FF, dtype=DTYPE)
        return close(out, layer(x)) and _raises(lambda: layer.norm2(article(y) + y))

    return for_each_implementation(holds)
