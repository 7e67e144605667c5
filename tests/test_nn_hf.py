"""A Hugging Face decoder layer with cross-attention (BART, Post-LN, GELU) loaded into ours.

BART keeps separate ``q_proj``/``k_proj``/``v_proj`` linears and names its norms after their
sub-layers; :func:`bart_to_ours` maps them onto torch's names, stacking the three projections into
``in_proj_weight``. Same output to 1e-10 in float64, on both paths, with a causal self-attention
mask and padded memory.
"""

from __future__ import annotations

import pytest
import torch
from tolerances import PATH

from verified_transformer.nn import Transformer, TransformerDecoderLayer, fused_kernels

transformers = pytest.importorskip("transformers")  # pinned in requirements.lock
from transformers.models.bart.modeling_bart import BartDecoderLayer  # noqa: E402

D_MODEL, HEADS, D_FF = 16, 4, 32
NORMS = {"self_attn_layer_norm": "norm1", "encoder_attn_layer_norm": "norm2",
         "final_layer_norm": "norm3"}  # fmt: skip
ATTENTIONS = {"self_attn": "self_attn", "encoder_attn": "multihead_attn"}


def bart_to_ours(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A BartDecoderLayer ``state_dict`` under torch.nn.TransformerDecoderLayer's keys."""
    mapped, used = {}, set()

    def take(key: str) -> torch.Tensor:
        used.add(key)
        return state[key]

    for theirs, ours in ATTENTIONS.items():
        for kind in ("weight", "bias"):
            projections = [take(f"{theirs}.{p}_proj.{kind}") for p in "qkv"]
            mapped[f"{ours}.in_proj_{kind}"] = torch.cat(projections)
            mapped[f"{ours}.out_proj.{kind}"] = take(f"{theirs}.out_proj.{kind}")
    for theirs, ours in (("fc1", "linear1"), ("fc2", "linear2"), *NORMS.items()):
        for kind in ("weight", "bias"):
            mapped[f"{ours}.{kind}"] = take(f"{theirs}.{kind}")
    assert used == set(state), f"BART parameters not mapped: {set(state) - used}"
    return mapped


@PATH
@pytest.mark.parametrize("batch", [1, 3])
def test_bart_decoder_layer_loaded_into_ours_gives_the_same_output(fused, batch):
    config = transformers.BartConfig(
        d_model=D_MODEL, decoder_attention_heads=HEADS, decoder_ffn_dim=D_FF,
        activation_function="gelu", dropout=0.0, attention_dropout=0.0, activation_dropout=0.0,
        attn_implementation="eager",
    )  # fmt: skip
    torch.manual_seed(0)
    bart = BartDecoderLayer(config, layer_idx=0).double().eval()
    with torch.no_grad():
        for parameter in bart.parameters():
            parameter.normal_(0.0, 0.3)
    ours = TransformerDecoderLayer(
        D_MODEL, HEADS, D_FF, dropout=0.0, activation="gelu", layer_norm_eps=config_eps(bart),
        batch_first=True, norm_first=False, dtype=torch.float64,
    )  # fmt: skip
    ours.load_state_dict(bart_to_ours(bart.state_dict()))
    ours.eval()
    target, source = 5, 7
    tgt = torch.randn(batch, target, D_MODEL, dtype=torch.float64)
    memory = torch.randn(batch, source, D_MODEL, dtype=torch.float64)
    padding = torch.zeros(batch, source, dtype=torch.bool)
    padding[-1, 4:] = True  # the last sequence of memory has 3 padded positions
    causal = Transformer.generate_square_subsequent_mask(target, dtype=torch.float64)
    # BART takes additive masks of shape (N, 1, T, T) and (N, 1, T, S)
    self_mask = causal.expand(batch, 1, target, target)
    cross_mask = torch.zeros(batch, 1, 1, source, dtype=torch.float64).masked_fill(
        padding.view(batch, 1, 1, source), float("-inf")
    ).expand(batch, 1, target, source)
    with torch.no_grad():
        expected = bart(tgt, self_mask, memory, cross_mask, use_cache=False)
        with fused_kernels(fused):
            mine = ours(tgt, memory, tgt_mask=causal, memory_key_padding_mask=padding,
                        tgt_is_causal=True)  # fmt: skip
    expected = expected[0] if isinstance(expected, tuple) else expected
    torch.testing.assert_close(mine, expected, atol=1e-10, rtol=1e-10)


def config_eps(bart: BartDecoderLayer) -> float:
    """BART's LayerNorm epsilon (torch's default, 1e-5), read from the layer itself."""
    eps = {bart.self_attn_layer_norm.eps, bart.encoder_attn_layer_norm.eps,
           bart.final_layer_norm.eps}  # fmt: skip
    assert len(eps) == 1
    return eps.pop()
