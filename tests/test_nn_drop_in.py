"""What every module of verified_transformer.nn shares with its torch.nn namesake: the same
signatures, dropout in training mode only, and the same values and gradients on CUDA."""

from __future__ import annotations

import inspect

import pytest
import torch
import torch.nn.functional as TF
from nn_helpers import assert_same_outputs_and_grads, twins
from tolerances import PATH

import verified_transformer.nn as vnn
from verified_transformer.nn import functional as F
from verified_transformer.nn import fused_kernels

pytestmark = pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")  # torch's warning
PAIRS = {
    name: (getattr(vnn, name), getattr(torch.nn, name))
    for name in ("LayerNorm", "RMSNorm", "MultiheadAttention", "TransformerEncoderLayer",
                 "TransformerEncoder", "TransformerDecoderLayer", "TransformerDecoder",
                 "Transformer")
}  # fmt: skip


def parameters(function) -> list[tuple[str, object, object]]:
    """(name, default, kind) of each parameter of ``function``."""
    return [(p.name, p.default, p.kind) for p in inspect.signature(function).parameters.values()]


@pytest.mark.parametrize("name", list(PAIRS))
def test_constructor_and_forward_signatures_match_torch(name):
    ours, theirs = PAIRS[name]
    methods = ["__init__", "forward"]
    if name == "Transformer":
        methods.append("generate_square_subsequent_mask")
    for method in methods:
        assert parameters(getattr(ours, method)) == parameters(getattr(theirs, method)), method


@PATH
@pytest.mark.parametrize("name", ["TransformerEncoderLayer", "TransformerDecoderLayer"])
def test_dropout_acts_in_training_mode_only(fused, name):
    ours, theirs = twins(*PAIRS[name], 8, 2, 16, dropout=0.5)
    inputs = [torch.randn(5, 2, 8, dtype=torch.float64)]
    if name == "TransformerDecoderLayer":
        inputs.append(torch.randn(4, 2, 8, dtype=torch.float64))  # memory
    with fused_kernels(fused):
        assert not torch.allclose(ours(*inputs), ours(*inputs))
        ours.eval(), theirs.eval()
        torch.testing.assert_close(ours(*inputs), theirs(*inputs))


def padding_mask(batch: int, length: int) -> torch.Tensor:
    """A random key padding mask on CUDA (True = padding) that never masks key 0."""
    padding = torch.rand(batch, length, device="cuda") < 0.3
    padding[:, 0] = False
    return padding


def sdpa_mask(kind: str) -> dict[str, object]:
    """Keyword arguments of scaled_dot_product_attention for an attention mask of ``kind``."""
    if kind == "causal":
        return {"is_causal": True}
    if kind == "bool":
        return {"attn_mask": torch.rand(5, 5, device="cuda") < 0.7}
    if kind == "float_inf":
        scores = torch.randn(5, 5, device="cuda")
        return {"attn_mask": scores.masked_fill(torch.rand(5, 5, device="cuda") < 0.3, -torch.inf)}
    return {}


def cuda_case(case: str) -> tuple:
    """(ours, theirs, inputs, call options, tolerance or None) of one CUDA comparison."""
    kind, _, option = case.partition(":")
    float32 = {"dtype": torch.float32, "device": "cuda"}
    if kind in ("LayerNorm", "RMSNorm"):
        ours, theirs = twins(*PAIRS[kind], 8, std=1.0, **float32)
        return ours, theirs, (torch.randn(3, 5, 8, device="cuda"),), {}, None
    if kind == "MultiheadAttention":
        ours, theirs = twins(*PAIRS[kind], embed_dim=8, num_heads=2, batch_first=True, std=0.5,
                             **float32)  # fmt: skip
        x = torch.randn(3, 5, 8, device="cuda")
        causal = torch.ones(5, 5, dtype=torch.bool, device="cuda").triu(1)
        options = {"key_padding_mask": padding_mask(3, 5), "attn_mask": causal,
                   "need_weights": option == "weights"}  # fmt: skip
        return ours, theirs, (x, x, x), options, None
    layer_options = {"dropout": 0.0, "batch_first": True, "norm_first": option == "norm_first"}
    if kind == "TransformerEncoderLayer":
        ours, theirs = twins(*PAIRS[kind], 8, 2, 16, **layer_options, **float32)
        src = torch.randn(3, 5, 8, device="cuda")
        return ours, theirs, (src,), {"src_key_padding_mask": padding_mask(3, 5)}, None
    if kind == "TransformerDecoderLayer":
        ours, theirs = twins(*PAIRS[kind], 8, 2, 16, **layer_options, **float32)
        tgt, memory = torch.randn(3, 5, 8, device="cuda"), torch.randn(3, 6, 8, device="cuda")
        causal = vnn.Transformer.generate_square_subsequent_mask(5, device="cuda")
        options = {"tgt_mask": causal, "tgt_is_causal": True,
                   "memory_key_padding_mask": padding_mask(3, 6)}  # fmt: skip
        return ours, theirs, (tgt, memory), options, None
    if kind == "layer_norm":  # torch.testing's default float32 tolerance
        x = torch.randn(4, 8, device="cuda")
        options = {"normalized_shape": (8,)}
        return F.layer_norm, TF.layer_norm, (x,), options, {"atol": 1e-5, "rtol": 1.3e-6}
    qkv = tuple(torch.randn(2, 3, 5, 8, device="cuda") for _ in range(3))
    tolerance = {"atol": 1e-4, "rtol": 1e-4}
    return F.scaled_dot_product_attention, TF.scaled_dot_product_attention, qkv, sdpa_mask(
        option), tolerance  # fmt: skip


CUDA_CASES = [
    "LayerNorm", "RMSNorm", "MultiheadAttention:weights", "MultiheadAttention:no_weights",
    "TransformerEncoderLayer:post_norm", "TransformerEncoderLayer:norm_first",
    "TransformerDecoderLayer:post_norm", "TransformerDecoderLayer:norm_first", "layer_norm",
    *(f"scaled_dot_product_attention:{mask}" for mask in ("none", "bool", "float_inf", "causal")),
]  # fmt: skip


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@PATH
@pytest.mark.parametrize("case", CUDA_CASES)
def test_matches_torch_on_cuda(fused, case):
    ours, theirs, inputs, options, tolerance = cuda_case(case)
    with fused_kernels(fused):
        assert_same_outputs_and_grads(ours, theirs, inputs, torch.float32, options,
                                      tolerance=tolerance)  # fmt: skip
