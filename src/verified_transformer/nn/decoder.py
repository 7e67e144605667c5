"""``TransformerDecoderLayer`` and ``TransformerDecoder``: drop-in for the torch.nn namesakes."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as torch_functional
from torch import Tensor, nn

from verified_transformer.nn._checks import (
    check_activation,
    check_cross_attention,
    check_layer_arguments,
    check_positive_int,
    check_self_attention,
)
from verified_transformer.nn.attention import MultiheadAttention
from verified_transformer.nn.normalization import LayerNorm
from verified_transformer.nn.transformer import Activation, _residual

SELF_NAMES = ("tgt", "tgt_mask", "tgt_key_padding_mask", "tgt_is_causal")
CROSS_NAMES = ("tgt", "memory", "memory_mask", "memory_key_padding_mask", "memory_is_causal")


class TransformerDecoderLayer(nn.Module):
    r"""One decoder layer: self-attention, cross-attention to ``memory``, a feed-forward network.

    Each of the three sub-layers has its residual connection and its LayerNorm. With
    :math:`\mathrm{SA}` the (masked) self-attention over the target, :math:`\mathrm{CA}(x, m)`
    the attention from the target :math:`x` to the encoder output :math:`m` (queries from
    :math:`x`, keys and values from :math:`m`) and :math:`\mathrm{FF}` the feed-forward network
    ``linear2(dropout(activation(linear1(x))))``, each sub-layer's output followed by its dropout:

    Post-norm (``norm_first=False``, the original Transformer :cite:`vaswani2017attention`)::

        x = norm1(x + SA(x))
        x = norm2(x + CA(x, memory))
        x = norm3(x + FF(x))

    Pre-norm (``norm_first=True``, :cite:`xiong2020layer`)::

        x = x + SA(norm1(x))
        x = x + CA(norm2(x), memory)
        x = x + FF(norm3(x))

    Same arguments, defaults, submodule names and ``state_dict`` keys as
    ``torch.nn.TransformerDecoderLayer`` (``self_attn``, ``multihead_attn``, ``linear1``,
    ``dropout``, ``linear2``, ``norm1``..``norm3``, ``dropout1``..``dropout3``). ``activation`` is
    ``"relu"``, ``"gelu"`` or a callable.

    Shapes: ``tgt`` :math:`(T, N, E)`, ``memory`` :math:`(S, N, E)` (:math:`(N, T, E)` and
    :math:`(N, S, E)` with ``batch_first=True``; unbatched :math:`(T, E)` and :math:`(S, E)`).
    ``tgt_mask`` :math:`(T, T)` or :math:`(N \cdot h, T, T)`, ``memory_mask`` :math:`(T, S)` or
    :math:`(N \cdot h, T, S)`, ``tgt_key_padding_mask`` :math:`(N, T)`,
    ``memory_key_padding_mask`` :math:`(N, S)` (without :math:`N` when unbatched). Masks follow
    :class:`MultiheadAttention`: bool ``True`` = may **not** attend, float masks are added to the
    scores. ``tgt_is_causal`` / ``memory_is_causal`` are torch's hints that the mask given is the
    causal one: the mask must then be given, and it is the mask that is applied.
    """

    __constants__ = ["norm_first"]

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str | Activation = torch_functional.relu,
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_layer_arguments(d_model, nhead, dim_feedforward, dropout, layer_norm_eps)
        factory = {"device": device, "dtype": dtype}
        attention = {"dropout": dropout, "batch_first": batch_first, "bias": bias, **factory}
        self.self_attn = MultiheadAttention(d_model, nhead, **attention)
        self.multihead_attn = MultiheadAttention(d_model, nhead, **attention)
        self.linear1 = nn.Linear(d_model, dim_feedforward, bias=bias, **factory)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model, bias=bias, **factory)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)
        self.activation = check_activation(activation)

    def forward(
        self,
        tgt: Tensor,
        memory: Tensor,
        tgt_mask: Tensor | None = None,
        memory_mask: Tensor | None = None,
        tgt_key_padding_mask: Tensor | None = None,
        memory_key_padding_mask: Tensor | None = None,
        tgt_is_causal: bool = False,
        memory_is_causal: bool = False,
    ) -> Tensor:
        check_self_attention(
            self.self_attn, tgt, tgt_mask, tgt_key_padding_mask, tgt_is_causal, SELF_NAMES
        )
        check_cross_attention(
            self.multihead_attn,
            tgt,
            memory,
            memory_mask,
            memory_key_padding_mask,
            memory_is_causal,
            CROSS_NAMES,
        )
        x = tgt
        if self.norm_first:
            x = _residual(x, self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask))
            x = _residual(
                x, self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask)
            )
            x = _residual(x, self._ff_block(self.norm3(x)))
        else:
            x = self.norm1(_residual(x, self._sa_block(x, tgt_mask, tgt_key_padding_mask)))
            x = self.norm2(
                _residual(x, self._mha_block(x, memory, memory_mask, memory_key_padding_mask))
            )
            x = self.norm3(_residual(x, self._ff_block(x)))
        return x

    def _sa_block(self, x: Tensor, mask: Tensor | None, padding: Tensor | None) -> Tensor:
        """``dropout1(self_attn(x, x, x))`` without the weights."""
        return self.dropout1(self.self_attn._attention_checked(x, x, x, padding, mask))

    def _mha_block(
        self, x: Tensor, memory: Tensor, mask: Tensor | None, padding: Tensor | None
    ) -> Tensor:
        """``dropout2(multihead_attn(x, memory, memory))``: queries from x, keys from memory."""
        attended = self.multihead_attn._attention_checked(x, memory, memory, padding, mask)
        return self.dropout2(attended)

    def _ff_block(self, x: Tensor) -> Tensor:
        """``dropout3(linear2(dropout(activation(linear1(x)))))``."""
        hidden = self.linear1(x)
        if self.activation is torch_functional.relu and not hidden.requires_grad:
            hidden = torch.relu_(hidden)  # without autograd, in place saves a (*, d_ff) tensor
        else:
            hidden = self.activation(hidden)
        return self.dropout3(self.linear2(self.dropout(hidden)))


class TransformerDecoder(nn.Module):
    r"""A stack of ``num_layers`` deep copies of ``decoder_layer``, then the optional ``norm``.

    :math:`x_0 = \texttt{tgt}`, :math:`x_{i+1} = \mathrm{layer}_i(x_i, \texttt{memory})`, output
    :math:`\mathrm{norm}(x_n)`. Same arguments and ``state_dict`` keys (``layers.0...``,
    ``norm...``) as ``torch.nn.TransformerDecoder``; the copies start with identical parameters,
    as in torch. Every layer gets the same masks. ``tgt_is_causal=None`` (the default) means
    "not hinted"; the layers apply ``tgt_mask`` whatever the hint.

    One deliberate difference: torch's ``TransformerDecoderLayer.__setstate__`` replaces an
    ``activation`` given as an ``nn.Module`` (such as ``nn.GELU()``) by ``F.relu`` when the layer
    is deep-copied, so torch's stack silently computes ReLU there; our copies keep the
    activation given (strings and functions behave the same in both).
    """

    __constants__ = ["norm"]

    def __init__(
        self, decoder_layer: nn.Module, num_layers: int, norm: nn.Module | None = None
    ) -> None:
        super().__init__()
        if not isinstance(decoder_layer, nn.Module):
            raise TypeError(
                f"decoder_layer must be an nn.Module, got {type(decoder_layer).__name__}"
            )
        check_positive_int("num_layers", num_layers)
        self.layers = nn.ModuleList(copy.deepcopy(decoder_layer) for _ in range(num_layers))
        self.num_layers = num_layers
        self.norm = norm

    def forward(
        self,
        tgt: Tensor,
        memory: Tensor,
        tgt_mask: Tensor | None = None,
        memory_mask: Tensor | None = None,
        tgt_key_padding_mask: Tensor | None = None,
        memory_key_padding_mask: Tensor | None = None,
        tgt_is_causal: bool | None = None,
        memory_is_causal: bool = False,
    ) -> Tensor:
        output = tgt
        for layer in self.layers:
            output = layer(
                output,
                memory,
                tgt_mask=tgt_mask,
                memory_mask=memory_mask,
                tgt_key_padding_mask=tgt_key_padding_mask,
                memory_key_padding_mask=memory_key_padding_mask,
                tgt_is_causal=bool(tgt_is_causal),
                memory_is_causal=memory_is_causal,
            )
        if self.norm is not None:
            output = self.norm(output)
        return output
