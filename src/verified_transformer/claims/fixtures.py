"""Fixtures shared by the claim topic files (which never import each other).

Seeded float64 modules (``nn.MultiheadAttention``, ``nn.TransformerEncoderLayer``) built from
torch's own weights and loaded into the implementation under test, their sub-layers, the two
checks that ``attention.qkv_projections`` and ``seed.qkv_circular`` share, and the six
transformations of Ba et al.'s Table 1 applied to seeded data (``layernorm.invariance_table``,
``dyt.invariance_row``).
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import sympy as sp
import torch

from verified_transformer.claims.numeric import (
    close,
    for_each_implementation,
    randn,
    randomize,
    to_sympy,
    to_tensor,
    twin,
)
from verified_transformer.derive import attention as at

D_MODEL, HEADS, D_FF, TOKENS = 4, 2, 8, 3  # the encoder layers of the residual claims


def mha(nn: ModuleType, embed_dim: int, num_heads: int, seed: int = 0) -> torch.nn.Module:
    """``nn.MultiheadAttention`` (batch_first, no biases) with torch's seeded weights loaded."""
    reference = randomize(
        torch.nn.MultiheadAttention(embed_dim, num_heads, bias=False, batch_first=True), seed
    )
    module = nn.MultiheadAttention(embed_dim, num_heads, bias=False, batch_first=True)
    return twin(reference, module)


def weights(module: torch.nn.Module) -> tuple[torch.Tensor, ...]:
    """``W^Q, W^K, W^V, W^O`` of an attention module as right-multiplied matrices
    (``Q = X W^Q``)."""
    w_q, w_k, w_v = module.in_proj_weight.detach().chunk(3)
    return w_q.T, w_k.T, w_v.T, module.out_proj.weight.detach().T


def encoder_layer(
    nn: ModuleType, norm_first: bool, seed: int, bias: bool = True
) -> torch.nn.Module:
    """``nn.TransformerEncoderLayer`` (batch_first, eval mode) with torch's seeded weights."""
    kwargs = {"dim_feedforward": D_FF, "batch_first": True, "norm_first": norm_first, "bias": bias}
    reference = randomize(torch.nn.TransformerEncoderLayer(D_MODEL, HEADS, **kwargs), seed)
    return twin(reference, nn.TransformerEncoderLayer(D_MODEL, HEADS, **kwargs))


def sublayers(layer: torch.nn.Module) -> tuple[Callable, Callable]:
    """``SA(t) = self_attn(t, t, t)`` and ``FFN(t) = linear2(activation(linear1(t)))`` (eval)."""

    def sa(t: torch.Tensor) -> torch.Tensor:
        return layer.self_attn(t, t, t, need_weights=False)[0]

    def ffn(t: torch.Tensor) -> torch.Tensor:
        return layer.linear2(layer.activation(layer.linear1(t)))

    return sa, ffn


def projections_reach_input(definitions: at.Definitions) -> bool:
    """The definitions resolve (no undefined or circular quantity) to functions of X."""
    try:
        resolved = at.resolve(definitions)
    except ValueError:
        return False
    return all(at.X in rhs.atoms(sp.MatrixSymbol) for rhs in resolved.values())


def projections_match_attention(definitions: at.Definitions) -> bool:
    """Q, K, V from the definitions, then softmax(QK^T/sqrt(d_k))V W^O, equal one-head MHA."""
    x = randn(1, 4, 3, seed=10)

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        module = mha(nn, 3, 1, seed=11)
        w_q, w_k, w_v, w_o = weights(module)
        values = {
            at.X: to_sympy(x[0]),
            at.W_Q: to_sympy(w_q),
            at.W_K: to_sympy(w_k),
            at.W_V: to_sympy(w_v),
        }
        try:
            resolved = at.resolve(definitions)
        except ValueError:
            return False
        q, k, v = (
            sp.Matrix(resolved[name].xreplace(values).doit()) for name in ("Q", "K", "V")
        )
        if q.shape != (4, 3) or k.shape != (4, 3) or v.shape != (4, 3):
            return False
        expected = to_tensor(at.attention(q, k, v) * to_sympy(w_o))
        out, _ = module(x, x, x, need_weights=False)
        return close(out[0], expected)

    return for_each_implementation(holds)


def table_1_moves() -> tuple[torch.Tensor, torch.Tensor, dict[str, tuple[torch.Tensor, ...]]]:
    """Float64 inputs ``xs`` (6 cases, 4 inputs) and weights ``w`` (5 units), and for each of
    the six transformations of Ba et al.'s Table 1 the pair ``(xs', w')`` it makes of them; the
    summed inputs are ``xs @ w.T``."""
    xs, w = randn(6, 4, seed=48) + 0.5, randn(5, 4, seed=49)
    delta, shift = 2.5, randn(4, seed=50)

    def scaled_first(m: torch.Tensor) -> torch.Tensor:
        return torch.cat([delta * m[:1], m[1:]])

    return xs, w, {
        "weight matrix re-scaling": (xs, delta * w),
        "weight matrix re-centering": (xs, w + shift),
        "weight vector re-scaling": (xs, scaled_first(w)),
        "dataset re-scaling": (delta * xs, w),
        "dataset re-centering": (xs + shift, w),
        "single training case re-scaling": (scaled_first(xs), w),
    }
