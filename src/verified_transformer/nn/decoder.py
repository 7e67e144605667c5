"""``TransformerDecoderLayer`` and ``TransformerDecoder``: drop-in for the torch.nn namesakes."""

from __future__ import annotations

import torch
import torch.nn.functional as torch_functional
from torch import Tensor, nn

from verified_transformer.nn._checks import check_cross_attention, check_self_attention
from verified_transformer.nn.transformer import Activation, _copies, _residual, _TransformerLayer

SELF_NAMES = ("tgt", "tgt_mask", "tgt_key_padding_mask", "tgt_is_causal")
CROSS_NAMES = ("tgt", "memory", "memory_mask", "memory_key_padding_mask", "memory_is_causal")


class TransformerDecoderLayer(_TransformerLayer):
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
    _cross_attention = True

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
        super().__init__(
            d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps, batch_first,
            norm_first, bias, device, dtype,
        )  # fmt: skip

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
        x, mask, padding = tgt, tgt_mask, tgt_key_padding_mask
        memory_options = (memory_mask, memory_key_padding_mask, memory_is_causal)
        if self.norm_first:
            x = _residual(x, self._sa_block(self.norm1(x), mask, padding, tgt_is_causal))
            x = _residual(x, self._mha_block(self.norm2(x), memory, *memory_options))
            x = _residual(x, self._ff_block(self.norm3(x)))
        else:
            x = self.norm1(_residual(x, self._sa_block(x, mask, padding, tgt_is_causal)))
            x = self.norm2(_residual(x, self._mha_block(x, memory, *memory_options)))
            x = self.norm3(_residual(x, self._ff_block(x)))
        return x

    def _mha_block(
        self, x: Tensor, mem: Tensor, attn_mask: Tensor | None, key_padding_mask: Tensor | None,
        is_causal: bool = False,
    ) -> Tensor:  # fmt: skip
        """``dropout2(multihead_attn(x, mem, mem))``: queries from x, keys and values from mem."""
        attended = self.multihead_attn._attention_checked(
            x, mem, mem, attn_mask, key_padding_mask, is_causal
        )
        return self.dropout2(attended)


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
        self.layers = _copies("decoder_layer", decoder_layer, num_layers)
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
