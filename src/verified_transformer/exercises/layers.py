r"""Checkers for the layer exercises: a Peri-LN block from its parts, and the capstone, the
article's section 5.1 layer made into a Post-LN encoder layer that loads ``torch.nn``'s weights.

Peri-LN: the reader gets a :class:`verified_transformer.nn.variants.Block` with
``placement="peri"`` (the book's definition, chapter 8) and writes its forward pass from the
block's parts; the reference is the block itself. Capstone: the reader writes a class; the
checker builds it, loads the ``state_dict`` of a ``torch.nn.TransformerEncoderLayer``
(``batch_first=True``, dropout 0, Post-LN) and compares the outputs, the reference being torch's
layer, checked against our :class:`verified_transformer.nn.TransformerEncoderLayer` loaded from
the same ``state_dict``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from verified_transformer.exercises._engine import (
    Case,
    compare,
    describe,
    exception_line,
    tolerances,
)
from verified_transformer.i18n import Message, tr
from verified_transformer.nn import TransformerEncoderLayer
from verified_transformer.nn.variants import Block

# Peri-LN ---------------------------------------------------------------------------------------


def _peri_block(d_model: int, nhead: int, dtype: torch.dtype, seed: int) -> Block:
    with torch.random.fork_rng(devices=[]):  # the reader's global RNG state is left alone
        torch.manual_seed(seed)
        block = Block(d_model, nhead, 2 * d_model, placement="peri", dtype=dtype)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # distinct gains and biases, so that using the wrong norm shows
        for norm in (block.norm1, block.norm2, block.norm1_out, block.norm2_out):
            norm.weight.copy_(0.5 + torch.rand(d_model, generator=g, dtype=dtype))
            norm.bias.copy_(torch.rand(d_model, generator=g, dtype=dtype) - 0.5)
    return block.eval()


def peri_cases() -> list[Case]:
    """A few Peri-LN blocks (d_model 8 and 16, float64 and float32) and inputs (N, S, d)."""
    cases = []
    g = torch.Generator().manual_seed(7)
    for d_model, nhead, shape, dtype in [(8, 2, (2, 5), torch.float64),
                                         (16, 4, (3, 4), torch.float64),
                                         (16, 4, (2, 6), torch.float32)]:
        block = _peri_block(d_model, nhead, dtype, seed=d_model)
        x = (3 * torch.randn((*shape, d_model), generator=g, dtype=torch.float64)).to(dtype)
        cases.append(Case(tr("x of {x}, a block with d_model={d_model}, nhead={nhead}",
                             x=describe(x), d_model=d_model, nhead=nhead),
                          (x, block), **tolerances(dtype)))
    return cases


def _attn(block: Block, h: Tensor) -> Tensor:
    return block.self_attn(h, is_causal=True)


def _ffn(block: Block, h: Tensor) -> Tensor:
    return block.linear2(F.gelu(block.linear1(h)))


def peri_reference(x: Tensor, block: Block) -> Tensor:
    """The block's own forward pass, checked against the two sub-layers written out."""
    with torch.no_grad():
        theirs = block(x)
        y = x + block.norm1_out(_attn(block, block.norm1(x)))
        ours = y + block.norm2_out(_ffn(block, block.norm2(y)))
    if not torch.allclose(ours, theirs, **tolerances(x.dtype)):
        raise RuntimeError("reference check failed: the Peri-LN block differs from its formula")
    return theirs


def _pre(x: Tensor, block: Block) -> Tensor:
    y = x + _attn(block, block.norm1(x))
    return y + _ffn(block, block.norm2(y))


def _norm_after_add(x: Tensor, block: Block) -> Tensor:
    y = block.norm1_out(x + _attn(block, block.norm1(x)))
    return block.norm2_out(y + _ffn(block, block.norm2(y)))


def _output_only(x: Tensor, block: Block) -> Tensor:
    y = x + block.norm1_out(_attn(block, x))
    return y + block.norm2_out(_ffn(block, y))


def _swapped_in_out(x: Tensor, block: Block) -> Tensor:
    y = x + block.norm1(_attn(block, block.norm1_out(x)))
    return y + block.norm2(_ffn(block, block.norm2_out(y)))


def _no_residual(x: Tensor, block: Block) -> Tensor:
    y = block.norm1_out(_attn(block, block.norm1(x)))
    return block.norm2_out(_ffn(block, block.norm2(y)))


def _relu_ffn(x: Tensor, block: Block) -> Tensor:
    y = x + block.norm1_out(_attn(block, block.norm1(x)))
    return y + block.norm2_out(block.linear2(F.relu(block.linear1(block.norm2(y)))))


def _not_causal(x: Tensor, block: Block) -> Tensor:
    def attn(h: Tensor) -> Tensor:
        return block.self_attn(h, is_causal=False)

    y = x + block.norm1_out(attn(block.norm1(x)))
    return y + block.norm2_out(_ffn(block, block.norm2(y)))


PERI_MISTAKES = {
    tr("leaves out the output norms (norm1_out, norm2_out): that is a Pre-LN block"): _pre,
    tr("normalizes after the residual addition (norm_out(x + F(...))): the residual stream then "
    "goes through a LayerNorm, as in Post-LN"): _norm_after_add,
    tr("leaves out the input norms (norm1, norm2): that is the output-only placement"):
        _output_only,
    tr("swaps the input and output norms of each sub-layer"): _swapped_in_out,
    tr("leaves out the residual connections"): _no_residual,
    tr("uses ReLU in the feed-forward network; this block's activation is GELU"): _relu_ffn,
    tr("calls the attention without is_causal=True: each token sees the future"): _not_causal,
}


def _under_no_grad(candidate: Any) -> Any:
    if not callable(candidate):
        return candidate

    def run(*args: Any) -> Any:
        with torch.no_grad():
            return candidate(*args)

    return run


def _no_grad_all(mistakes: dict[Message, Callable[..., Tensor]]) -> dict[Message, Any]:
    return {sentence: _under_no_grad(f) for sentence, f in mistakes.items()}


def check_peri_ln_block(candidate: Any) -> Message:
    """Verdict on ``peri_ln_block(x, block)``: the Peri-LN forward pass from ``block``'s parts."""
    return compare(
        "peri_ln_block", _under_no_grad(candidate), peri_cases(), peri_reference,
        _no_grad_all(PERI_MISTAKES), tr("matches the book's Peri-LN Block (placement='peri')"),
    )


# The capstone: the article's layer, repaired -----------------------------------------------------


def _torch_layer(d_model: int, nhead: int, dtype: torch.dtype, seed: int
                 ) -> nn.TransformerEncoderLayer:
    with torch.random.fork_rng(devices=[]):
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


def capstone_cases() -> list[Case]:
    """Torch layers (d_model 8 and 16, float64 and float32) and batch-first inputs (N, S, d)."""
    cases = []
    g = torch.Generator().manual_seed(6)
    for d_model, nhead, shape, dtype in [(8, 2, (2, 5), torch.float64),
                                         (16, 4, (3, 4), torch.float64),
                                         (16, 4, (2, 6), torch.float32)]:
        layer = _torch_layer(d_model, nhead, dtype, seed=d_model)
        x = torch.randn((*shape, d_model), generator=g, dtype=torch.float64).to(dtype)
        cases.append(Case(tr("x of {x}, torch's layer with d_model={d_model}, nhead={nhead}, "
                             "dim_feedforward={dff}", x=describe(x), d_model=d_model,
                             nhead=nhead, dff=2 * d_model), (x, layer), **tolerances(dtype)))
    return cases


def capstone_reference(x: Tensor, layer: nn.TransformerEncoderLayer) -> Tensor:
    """Torch's layer, checked against ours loaded from its ``state_dict``."""
    ours_layer = TransformerEncoderLayer(
        layer.self_attn.embed_dim, layer.self_attn.num_heads,
        dim_feedforward=layer.linear1.out_features, dropout=0.0, batch_first=True,
        dtype=x.dtype,
    ).eval()
    ours_layer.load_state_dict(layer.state_dict())
    with torch.no_grad():
        theirs, ours = layer(x), ours_layer(x)
    if not torch.allclose(ours, theirs, **tolerances(x.dtype)):
        raise RuntimeError("reference check failed: our TransformerEncoderLayer differs")
    return theirs


def _sa(layer: nn.TransformerEncoderLayer, h: Tensor) -> Tensor:
    return layer.self_attn(h, h, h, need_weights=False)[0]


def _sa_sequence_first(layer: nn.TransformerEncoderLayer, h: Tensor) -> Tensor:
    t = h.transpose(0, 1)  # a sequence-first module reads (N, S, d) as (S=N, N=S, d)
    return layer.self_attn(t, t, t, need_weights=False)[0].transpose(0, 1)


def _ff(layer: nn.TransformerEncoderLayer, h: Tensor, activation: bool = True) -> Tensor:
    hidden = layer.linear1(h)
    return layer.linear2(F.relu(hidden) if activation else hidden)


def _post(x: Tensor, layer: nn.TransformerEncoderLayer, sa: Callable = _sa,
          activation: bool = True, gelu: bool = False) -> Tensor:
    h = layer.norm1(x + sa(layer, x))
    if gelu:
        return layer.norm2(h + layer.linear2(F.gelu(layer.linear1(h))))
    return layer.norm2(h + _ff(layer, h, activation))


CAPSTONE_MISTAKES = {
    tr("attends along the batch axis: nn.MultiheadAttention is sequence-first unless it is built "
    "with batch_first=True, so with (N, S, d) input the tokens of different sequences attend to "
    "each other"): lambda x, layer: _post(x, layer, sa=_sa_sequence_first),
    tr("has no activation between the two linear layers: the feed-forward network is then one "
    "linear map"): lambda x, layer: _post(x, layer, activation=False),
    tr("uses GELU between the two linear layers; torch.nn.TransformerEncoderLayer's default "
    "activation is ReLU"):
        lambda x, layer: _post(x, layer, gelu=True),
    tr("normalizes before each sub-layer (Pre-LN), not after the residual addition"):
        lambda x, layer: (lambda h: h + _ff(layer, layer.norm2(h)))(
            x + _sa(layer, layer.norm1(x))),
    tr("adds the feed-forward output to the layer's input x instead of to out1"):
        lambda x, layer: layer.norm2(x + _ff(layer, layer.norm1(x + _sa(layer, x)))),
    tr("swaps norm1 and norm2"): lambda x, layer: (lambda h: layer.norm1(h + _ff(layer, h)))(
        layer.norm2(x + _sa(layer, x))),
}


def _build(candidate: type, layer: nn.TransformerEncoderLayer, dtype: torch.dtype) -> nn.Module:
    d_model = layer.self_attn.embed_dim
    with torch.random.fork_rng(devices=[]):  # building it leaves the reader's RNG alone
        module = candidate(d_model, layer.self_attn.num_heads, layer.linear1.out_features, 0.0)
    module = module.to(dtype)
    module.load_state_dict(layer.state_dict())
    return module.eval()


def _state_dict_sentence(candidate: type) -> Message | None:
    """Why the candidate's class cannot take torch's weights (None if it can)."""
    layer = _torch_layer(8, 2, torch.float64, seed=8)
    try:
        with torch.random.fork_rng(devices=[]):
            module = candidate(8, 2, 16, 0.0)
    except Exception as exc:  # noqa: BLE001 (the reader's constructor may raise anything)
        return tr("Not correct: {name}(d_model, num_heads, dff, dropout) raised {error}.",
                  name=candidate.__name__, error=exception_line(exc))
    if not isinstance(module, nn.Module):
        return tr("Not correct: {name}(...) is not a torch.nn.Module.", name=candidate.__name__)
    ours, theirs = module.state_dict(), layer.state_dict()
    missing = sorted(set(theirs) - set(ours))
    unexpected = sorted(set(ours) - set(theirs))
    if missing and unexpected:
        return tr("Not correct: it cannot load torch.nn.TransformerEncoderLayer's state_dict: "
                  "torch's keys it lacks: {missing}; keys torch does not have: {unexpected}. "
                  "Name and shape the parts as torch does.", missing=", ".join(missing),
                  unexpected=", ".join(unexpected))
    if missing:
        return tr("Not correct: it cannot load torch.nn.TransformerEncoderLayer's state_dict: "
                  "torch's keys it lacks: {missing}. Name and shape the parts as torch does.",
                  missing=", ".join(missing))
    if unexpected:
        return tr("Not correct: it cannot load torch.nn.TransformerEncoderLayer's state_dict: "
                  "keys torch does not have: {unexpected}. Name and shape the parts as torch "
                  "does.", unexpected=", ".join(unexpected))
    wrong = [f"{k} {tuple(ours[k].shape)} (torch: {tuple(v.shape)})" for k, v in theirs.items()
             if ours[k].shape != v.shape]
    if wrong:
        return tr("Not correct: parameters of the wrong shape: {parameters}.",
                  parameters="; ".join(wrong))
    return None


def check_capstone(candidate: Any) -> Message:
    """Verdict on a class ``TransformerLayer(d_model, num_heads, dff, dropout)`` that should
    load ``torch.nn.TransformerEncoderLayer``'s ``state_dict`` and compute its Post-LN output."""
    if isinstance(candidate, nn.Module):
        return tr("Cannot check: pass the class itself, check(\"capstone\", {name}), not an "
                  "instance: the checker builds its own layers with different sizes.",
                  name=type(candidate).__name__)
    if not isinstance(candidate, type):
        return tr("Cannot check: the answer to this exercise is a class TransformerLayer(d_model, "
                  "num_heads, dff, dropout), got a {type}.", type=type(candidate).__name__)
    sentence = _state_dict_sentence(candidate)
    if sentence is not None:
        return sentence

    def run(x: Tensor, layer: nn.TransformerEncoderLayer) -> Tensor:
        with torch.no_grad():
            return _build(candidate, layer, x.dtype)(x)

    return compare(
        candidate.__name__, run, capstone_cases(), capstone_reference,
        _no_grad_all(CAPSTONE_MISTAKES),
        tr("loads torch.nn.TransformerEncoderLayer's state_dict and matches its output (and "
           "ours) to 1e-12 in float64 and 1e-5 in float32"),
    )
