"""``Transformer``: the encoder-decoder of Vaswani et al., drop-in for ``torch.nn.Transformer``."""

from __future__ import annotations

import numbers
from typing import Any

import torch
import torch.nn.functional as torch_functional
from torch import Tensor, nn

from verified_transformer.nn._checks import check_positive_int, check_source_and_target
from verified_transformer.nn.decoder import TransformerDecoder, TransformerDecoderLayer
from verified_transformer.nn.normalization import LayerNorm
from verified_transformer.nn.transformer import (
    Activation,
    TransformerEncoder,
    TransformerEncoderLayer,
)


class Transformer(nn.Module):
    r"""Encoder-decoder Transformer :cite:`vaswani2017attention`.

    .. math::
        \texttt{memory} = \mathrm{encoder}(\texttt{src}), \qquad
        \texttt{output} = \mathrm{decoder}(\texttt{tgt}, \texttt{memory})

    The encoder is ``num_encoder_layers`` :class:`TransformerEncoderLayer` and a final
    :class:`LayerNorm` (``encoder.norm``), the decoder ``num_decoder_layers``
    :class:`TransformerDecoderLayer` and a final :class:`LayerNorm` (``decoder.norm``), unless
    ``custom_encoder``/``custom_decoder`` are given. Same arguments, defaults and ``state_dict``
    keys as ``torch.nn.Transformer``; after construction every parameter with more than one
    dimension is re-initialized Xavier-uniform (:meth:`_reset_parameters`), as in torch, so the
    same seed gives the same weights as torch's. There is no embedding and no positional encoding:
    ``src`` :math:`(S, N, E)` and ``tgt`` :math:`(T, N, E)` (batch first: :math:`(N, S, E)`,
    :math:`(N, T, E)`; unbatched: :math:`(S, E)`, :math:`(T, E)`) are already vectors. The output
    has ``tgt``'s shape. Masks as in :class:`TransformerEncoderLayer` (``src_mask``,
    ``src_key_padding_mask``) and :class:`TransformerDecoderLayer` (the others); for
    autoregressive training pass ``tgt_mask=Transformer.generate_square_subsequent_mask(T)``.
    """

    def __init__(
        self,
        d_model: int = 512,
        nhead: int = 8,
        num_encoder_layers: int = 6,
        num_decoder_layers: int = 6,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str | Activation = torch_functional.relu,
        custom_encoder: Any | None = None,
        custom_decoder: Any | None = None,
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_positive_int("d_model", d_model)
        factory = {"device": device, "dtype": dtype}
        layer_options = (dim_feedforward, dropout, activation, layer_norm_eps, batch_first,
                         norm_first, bias)  # fmt: skip

        def stack(stack_class: type, layer_class: type, count_name: str, count: int) -> nn.Module:
            """``count`` layers of ``layer_class`` and a final LayerNorm (torch's order of init)."""
            check_positive_int(count_name, count)
            layer = layer_class(d_model, nhead, *layer_options, **factory)
            norm = LayerNorm(d_model, layer_norm_eps, bias=bias, **factory)
            return stack_class(layer, count, norm)

        self.encoder = custom_encoder if custom_encoder is not None else stack(
            TransformerEncoder, TransformerEncoderLayer, "num_encoder_layers", num_encoder_layers)
        self.decoder = custom_decoder if custom_decoder is not None else stack(
            TransformerDecoder, TransformerDecoderLayer, "num_decoder_layers", num_decoder_layers)
        self._reset_parameters()
        self.d_model = d_model
        self.nhead = nhead
        self.batch_first = batch_first

    def forward(
        self,
        src: Tensor,
        tgt: Tensor,
        src_mask: Tensor | None = None,
        tgt_mask: Tensor | None = None,
        memory_mask: Tensor | None = None,
        src_key_padding_mask: Tensor | None = None,
        tgt_key_padding_mask: Tensor | None = None,
        memory_key_padding_mask: Tensor | None = None,
        src_is_causal: bool | None = None,
        tgt_is_causal: bool | None = None,
        memory_is_causal: bool = False,
    ) -> Tensor:
        check_source_and_target(src, tgt, self.d_model, self.batch_first)
        memory = self.encoder(
            src, mask=src_mask, src_key_padding_mask=src_key_padding_mask, is_causal=src_is_causal
        )
        return self.decoder(
            tgt,
            memory,
            tgt_mask=tgt_mask,
            memory_mask=memory_mask,
            tgt_key_padding_mask=tgt_key_padding_mask,
            memory_key_padding_mask=memory_key_padding_mask,
            tgt_is_causal=tgt_is_causal,
            memory_is_causal=memory_is_causal,
        )

    @staticmethod
    def generate_square_subsequent_mask(
        sz: int,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> Tensor:
        r"""The causal mask :math:`(sz, sz)`: 0 where key :math:`j \le` query :math:`i`, else
        :math:`-\infty` (a float mask of ``dtype``, default ``torch.get_default_dtype()``)."""
        if isinstance(sz, bool) or not isinstance(sz, numbers.Integral) or sz < 0:
            raise ValueError(f"sz must be an int >= 0 (the sequence length), got {sz!r}")
        blocked = torch.ones(sz, sz, dtype=torch.bool, device=device).triu(1)
        return torch.zeros(sz, sz, dtype=dtype, device=device).masked_fill_(blocked, float("-inf"))

    def _reset_parameters(self) -> None:
        """Xavier-uniform for every parameter with more than one dimension (torch's init)."""
        for parameter in self.parameters():
            if parameter.dim() > 1:
                nn.init.xavier_uniform_(parameter)
