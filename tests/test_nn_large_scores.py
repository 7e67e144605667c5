r"""Every softmax path with scores around :math:`10^3`, where :math:`e^{s}` overflows.

:math:`e^{1000}` is ``inf`` in float32 and float64 (float64 overflows above 709.8), so a softmax
without the shift by :math:`\max_j s_j` returns NaN on these inputs and every test here fails; the
premise (some score above 710) is asserted in each test. Paths: plain softmax, functional
scaled dot-product attention, MultiheadAttention, the encoder and the decoder layers, each fused
and explicit. Scores of size :math:`|s|` carry a rounding error of about :math:`|s|\varepsilon`,
and so do the weights, so the comparison with torch allows :math:`64 |s|_{\max} \varepsilon`.
"""

from __future__ import annotations

import pytest
import torch
from nn_helpers import assert_same_outputs_and_grads, twins
from tolerances import PATH

from verified_transformer.nn import (
    MultiheadAttention,
    TransformerDecoderLayer,
    TransformerEncoderLayer,
    fused_kernels,
)
from verified_transformer.nn import functional as F

DTYPE = pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
OVERFLOW = 710.0  # exp(710) is inf in float64, and so in float32


def tolerance(dtype: torch.dtype, largest: float) -> dict[str, float]:
    bound = 64 * largest * torch.finfo(dtype).eps
    return {"atol": bound, "rtol": bound}


def assert_overflows(scores: torch.Tensor) -> float:
    """The premise: some score is above 710, so exp without the shift gives inf. Returns max|s|."""
    assert scores.max() > OVERFLOW and torch.exp(scores).isinf().any()
    return float(scores.abs().max())


def attention_scores(attention, query, key):
    r""":math:`Q K^\top / \sqrt{d}` per head, as ``attention`` computes them (sequence first)."""
    weight = attention.in_proj_weight.detach()
    bias = attention.in_proj_bias.detach() if attention.in_proj_bias is not None else None
    w_q, w_k, _ = weight.chunk(3)
    b_q, b_k, _ = bias.chunk(3) if bias is not None else (None, None, None)
    heads, head_dim = attention.num_heads, attention.head_dim
    q = torch.nn.functional.linear(query, w_q, b_q).unflatten(-1, (heads, head_dim))
    k = torch.nn.functional.linear(key, w_k, b_k).unflatten(-1, (heads, head_dim))
    return torch.einsum("lnhd,snhd->nhls", q, k) / head_dim**0.5


def amplify_queries(factor, *attentions):
    """Multiply :math:`W^Q` (and :math:`b^Q`) of every given attention module by ``factor``."""
    with torch.no_grad():
        for attention in attentions:
            embed = attention.embed_dim
            attention.in_proj_weight[:embed] *= factor
            if attention.in_proj_bias is not None:
                attention.in_proj_bias[:embed] *= factor


@PATH
@DTYPE
def test_softmax(fused, dtype):
    x = torch.randn(4, 6, dtype=dtype) * 1e3
    largest = assert_overflows(x)
    with fused_kernels(fused):
        assert_same_outputs_and_grads(
            lambda t: F.softmax(t, -1), lambda t: torch.softmax(t, -1), (x,), dtype,
            tolerance=tolerance(dtype, largest),
        )  # fmt: skip


@PATH
@DTYPE
@pytest.mark.parametrize("masked", [False, True])
def test_scaled_dot_product_attention(fused, dtype, masked):
    query = torch.randn(2, 3, 5, 4, dtype=dtype) * 32
    key = torch.randn(2, 3, 6, 4, dtype=dtype) * 32
    value = torch.randn(2, 3, 6, 4, dtype=dtype)
    largest = assert_overflows(query @ key.transpose(-2, -1) / 2)
    mask = torch.rand(5, 6) < 0.3 if masked else None
    if mask is not None:
        mask[:, 0] = False  # may-not-attend here; sdpa's bool convention is the opposite
        mask = mask.logical_not()
    with fused_kernels(fused):
        assert_same_outputs_and_grads(
            F.scaled_dot_product_attention, torch.nn.functional.scaled_dot_product_attention,
            (query, key, value, mask), dtype, tolerance=tolerance(dtype, largest),
        )  # fmt: skip


@PATH
@DTYPE
@pytest.mark.parametrize("need_weights", [False, True])
def test_multihead_attention(fused, dtype, need_weights):
    ours, theirs = twins(MultiheadAttention, torch.nn.MultiheadAttention, 8, 2, dtype=dtype)
    amplify_queries(1500.0, ours, theirs)
    query, key = torch.randn(5, 2, 8, dtype=dtype), torch.randn(6, 2, 8, dtype=dtype)
    largest = assert_overflows(attention_scores(ours, query, key))
    with fused_kernels(fused):
        assert_same_outputs_and_grads(
            ours, theirs, (query, key, key), dtype, {"need_weights": need_weights},
            tolerance=tolerance(dtype, largest),
        )  # fmt: skip


@PATH
@DTYPE
@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_layer(fused, dtype, norm_first):
    ours, theirs = twins(TransformerEncoderLayer, torch.nn.TransformerEncoderLayer, 8, 2, 16,
                         dropout=0.0, norm_first=norm_first, dtype=dtype)  # fmt: skip
    amplify_queries(6000.0 if norm_first else 1500.0, ours.self_attn, theirs.self_attn)
    src = torch.randn(5, 2, 8, dtype=dtype)
    attended = ours.norm1(src).detach() if norm_first else src
    largest = assert_overflows(attention_scores(ours.self_attn, attended, attended))
    with fused_kernels(fused):
        assert_same_outputs_and_grads(ours, theirs, (src,), dtype,
                                      tolerance=tolerance(dtype, largest))  # fmt: skip


@PATH
@DTYPE
@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer(fused, dtype, norm_first):
    ours, theirs = twins(TransformerDecoderLayer, torch.nn.TransformerDecoderLayer, 8, 2, 16,
                         dropout=0.0, norm_first=norm_first, dtype=dtype)  # fmt: skip
    factor = 6000.0 if norm_first else 1500.0  # pre-norm attends to norm1(x), of size ~0.3
    amplify_queries(factor, ours.self_attn, theirs.self_attn)
    amplify_queries(factor, ours.multihead_attn, theirs.multihead_attn)
    tgt, memory = torch.randn(5, 2, 8, dtype=dtype), torch.randn(6, 2, 8, dtype=dtype)
    attended = ours.norm1(tgt).detach() if norm_first else tgt
    largest = assert_overflows(attention_scores(ours.self_attn, attended, attended))
    with torch.no_grad():  # the cross-attention's queries: the first sub-layer's output
        if norm_first:
            queries = ours.norm2(tgt + ours._sa_block(attended, None, None))
        else:
            queries = ours.norm1(tgt + ours._sa_block(tgt, None, None))
    cross = assert_overflows(attention_scores(ours.multihead_attn, queries, memory))
    largest = max(largest, cross)
    with fused_kernels(fused):
        assert_same_outputs_and_grads(ours, theirs, (tgt, memory), dtype,
                                      tolerance=tolerance(dtype, largest))  # fmt: skip
