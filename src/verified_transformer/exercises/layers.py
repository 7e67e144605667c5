r"""Checkers for the layer exercises: a Post-LN and a Pre-LN encoder layer from a layer's parts.

The reader gets a ``torch.nn.TransformerEncoderLayer`` (``batch_first=True``, dropout 0, eval
mode) and writes the forward pass from its sub-modules ``self_attn``, ``linear1``,
``activation``, ``linear2``, ``norm1`` and ``norm2``. The reference is torch's own layer with
the same weights (``norm_first`` set as asked), checked against our
:class:`verified_transformer.nn.TransformerEncoderLayer` loaded from the same ``state_dict``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from verified_transformer.exercises._engine import Case, compare, describe, tolerances
from verified_transformer.nn import TransformerEncoderLayer

Parts = nn.TransformerEncoderLayer


def _layer(d_model: int, nhead: int, dtype: torch.dtype, seed: int) -> nn.TransformerEncoderLayer:
    with torch.random.fork_rng(devices=[]):  # the reader's global RNG state is left alone
        torch.manual_seed(seed)
        layer = nn.TransformerEncoderLayer(
            d_model, nhead, dim_feedforward=2 * d_model, dropout=0.0, batch_first=True,
            norm_first=False, dtype=dtype,
        )
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # non-trivial LayerNorm gains and biases, so that swapping them shows
        for norm in (layer.norm1, layer.norm2):
            norm.weight.copy_(0.5 + torch.rand(d_model, generator=g, dtype=dtype))
            norm.bias.copy_(torch.rand(d_model, generator=g, dtype=dtype) - 0.5)
    return layer.eval()


def layer_cases() -> list[Case]:
    """A few layers (d_model 8 and 16, float64 and float32) and inputs (N, S, d_model)."""
    cases = []
    g = torch.Generator().manual_seed(6)
    for d_model, nhead, shape, dtype in [(8, 2, (2, 5), torch.float64),
                                         (16, 4, (3, 4), torch.float64),
                                         (16, 4, (2, 6), torch.float32)]:
        layer = _layer(d_model, nhead, dtype, seed=d_model)
        x = torch.randn((*shape, d_model), generator=g, dtype=torch.float64).to(dtype)
        cases.append(Case(f"x of {describe(x)}, a layer with d_model={d_model}, nhead={nhead}",
                          (x, layer), **tolerances(dtype)))
    return cases


def _sa(layer: Parts, x: Tensor) -> Tensor:
    return layer.self_attn(x, x, x, need_weights=False)[0]


def _ff(layer: Parts, x: Tensor) -> Tensor:
    return layer.linear2(layer.activation(layer.linear1(x)))


def _reference(norm_first: bool) -> Callable[[Tensor, Parts], Tensor]:
    def reference(x: Tensor, layer: Parts) -> Tensor:
        d_model = layer.self_attn.embed_dim
        theirs_layer = nn.TransformerEncoderLayer(
            d_model, layer.self_attn.num_heads, dim_feedforward=layer.linear1.out_features,
            dropout=0.0, batch_first=True, norm_first=norm_first, dtype=x.dtype,
        ).eval()
        ours_layer = TransformerEncoderLayer(
            d_model, layer.self_attn.num_heads, dim_feedforward=layer.linear1.out_features,
            dropout=0.0, batch_first=True, norm_first=norm_first, dtype=x.dtype,
        ).eval()
        theirs_layer.load_state_dict(layer.state_dict())
        ours_layer.load_state_dict(layer.state_dict())
        with torch.no_grad():
            theirs, ours = theirs_layer(x), ours_layer(x)
        if not torch.allclose(ours, theirs, **tolerances(x.dtype)):
            raise RuntimeError("reference check failed: our TransformerEncoderLayer differs")
        return theirs

    return reference


def _post_ln(x: Tensor, layer: Parts) -> Tensor:
    x = layer.norm1(x + _sa(layer, x))
    return layer.norm2(x + _ff(layer, x))


def _pre_ln(x: Tensor, layer: Parts) -> Tensor:
    x = x + _sa(layer, layer.norm1(x))
    return x + _ff(layer, layer.norm2(x))


def _no_residual_post(x: Tensor, layer: Parts) -> Tensor:
    x = layer.norm1(_sa(layer, x))
    return layer.norm2(_ff(layer, x))


def _no_residual_pre(x: Tensor, layer: Parts) -> Tensor:
    return _ff(layer, layer.norm2(_sa(layer, layer.norm1(x))))


def _one_norm_at_end(x: Tensor, layer: Parts) -> Tensor:
    x = x + _sa(layer, x)
    return layer.norm2(x + _ff(layer, x))


def _swapped_post(x: Tensor, layer: Parts) -> Tensor:
    x = layer.norm2(x + _sa(layer, x))
    return layer.norm1(x + _ff(layer, x))


def _swapped_pre(x: Tensor, layer: Parts) -> Tensor:
    x = x + _sa(layer, layer.norm2(x))
    return x + _ff(layer, layer.norm1(x))


def _normalized_stream(x: Tensor, layer: Parts) -> Tensor:
    x = layer.norm1(x)
    x = x + _sa(layer, x)
    x = layer.norm2(x)
    return x + _ff(layer, x)


def _pre_ln_final_norm(x: Tensor, layer: Parts) -> Tensor:
    return layer.norm2(_pre_ln(x, layer))


POST_LN_MISTAKES = {
    "normalizes before each sub-layer (that is Pre-LN, not the Post-LN layer asked for)": _pre_ln,
    "leaves out the residual connections": _no_residual_post,
    "uses one LayerNorm at the end only": _one_norm_at_end,
    "swaps norm1 and norm2": _swapped_post,
}

PRE_LN_MISTAKES = {
    "normalizes after the residual addition (that is the Post-LN layer it started from)":
        _post_ln,
    "normalizes the residual stream too (x = norm(x), then x + F(x)): the identity path "
    "goes through the LayerNorm": _normalized_stream,
    "leaves out the residual connections": _no_residual_pre,
    "swaps norm1 and norm2": _swapped_pre,
    "applies a LayerNorm to the output as well (a Pre-LN stack has one final LayerNorm, "
    "not one per layer)": _pre_ln_final_norm,
}


def _under_no_grad(candidate: Any) -> Any:
    if not callable(candidate):
        return candidate

    def run(x: Tensor, layer: Parts) -> Any:
        with torch.no_grad():
            return candidate(x, layer)

    return run


def _no_grad_all(mistakes: dict[str, Callable[[Tensor, Parts], Tensor]]) -> dict[str, Any]:
    return {sentence: _under_no_grad(f) for sentence, f in mistakes.items()}


def check_post_ln_layer(candidate: Any) -> str:
    """Verdict on ``post_ln_layer(x, layer)``: the Post-LN forward pass from ``layer``'s parts."""
    return compare(
        "post_ln_layer", _under_no_grad(candidate), layer_cases(), _reference(False),
        _no_grad_all(POST_LN_MISTAKES),
        "matches torch.nn.TransformerEncoderLayer(norm_first=False) and ours",
    )


def check_pre_ln_layer(candidate: Any) -> str:
    """Verdict on ``pre_ln_layer(x, layer)``: the Pre-LN forward pass from the parts of a Post-LN
    ``layer`` (the same sub-modules, used in the other order)."""
    return compare(
        "pre_ln_layer", _under_no_grad(candidate), layer_cases(), _reference(True),
        _no_grad_all(PRE_LN_MISTAKES),
        "matches torch.nn.TransformerEncoderLayer(norm_first=True) and ours",
    )
