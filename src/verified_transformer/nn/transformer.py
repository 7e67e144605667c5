"""``TransformerEncoderLayer`` and ``TransformerEncoder``: drop-in for the torch.nn namesakes."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable

import torch
import torch.nn.functional as torch_functional
from torch import Tensor, nn

from verified_transformer.nn._checks import (
    check_activation,
    check_layer_arguments,
    check_positive_int,
    check_self_attention,
)
from verified_transformer.nn.attention import MultiheadAttention
from verified_transformer.nn.normalization import LayerNorm

Activation = Callable[[Tensor], Tensor]


class _TransformerLayer(nn.Module):
    """What the encoder and decoder layers share: their submodules (torch's names, registered in
    torch's order), the self-attention block and the feed-forward block."""

    _cross_attention = False  # the decoder layer's multihead_attn, norm3 and dropout3

    def __init__(
        self, d_model: int, nhead: int, dim_feedforward: int, dropout: float,
        activation: str | Activation, layer_norm_eps: float, batch_first: bool, norm_first: bool,
        bias: bool, device: torch.device | str | None, dtype: torch.dtype | None,
    ) -> None:  # fmt: skip
        super().__init__()
        check_layer_arguments(d_model, nhead, dim_feedforward, dropout, layer_norm_eps)
        activation = check_activation(activation)
        factory = {"device": device, "dtype": dtype}
        attention = {"dropout": dropout, "batch_first": batch_first, "bias": bias, **factory}
        self.self_attn = MultiheadAttention(d_model, nhead, **attention)
        if self._cross_attention:
            self.multihead_attn = MultiheadAttention(d_model, nhead, **attention)
        self.linear1 = nn.Linear(d_model, dim_feedforward, bias=bias, **factory)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model, bias=bias, **factory)
        self.norm_first = norm_first
        sublayers = range(1, 4 if self._cross_attention else 3)
        for i in sublayers:
            norm = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
            self.add_module(f"norm{i}", norm)
        for i in sublayers:
            self.add_module(f"dropout{i}", nn.Dropout(dropout))
        self.activation = activation

    def _sa_block(
        self, x: Tensor, attn_mask: Tensor | None, key_padding_mask: Tensor | None,
        is_causal: bool = False,
    ) -> Tensor:  # fmt: skip
        """``dropout1(self_attn(x, x, x))`` without the weights, on checked arguments."""
        return self.dropout1(
            self.self_attn._attention_checked(x, x, x, attn_mask, key_padding_mask, is_causal)
        )

    def _ff_block(self, x: Tensor) -> Tensor:
        """``dropoutN(linear2(dropout(activation(linear1(x)))))``, N = 2 or 3 (the last one)."""
        hidden = self.linear1(x)
        if self.activation is torch_functional.relu and not hidden.requires_grad:
            hidden = torch.relu_(hidden)  # without autograd, in place saves a (*, d_ff) tensor
        else:
            hidden = self.activation(hidden)
        last_dropout = self.dropout3 if self._cross_attention else self.dropout2
        return last_dropout(self.linear2(self.dropout(hidden)))


class TransformerEncoderLayer(_TransformerLayer):
    r"""One encoder layer: self-attention and a feed-forward network, each with a residual.

    Post-norm (``norm_first=False``, the original Transformer :cite:`vaswani2017attention`)::

        x = norm1(x + dropout1(self_attn(x)))
        x = norm2(x + dropout2(linear2(dropout(activation(linear1(x))))))

    Pre-norm (``norm_first=True``, :cite:`xiong2020layer`)::

        x = x + dropout1(self_attn(norm1(x)))
        x = x + dropout2(linear2(dropout(activation(linear1(norm2(x))))))

    Same arguments, defaults, submodule names and ``state_dict`` keys as
    ``torch.nn.TransformerEncoderLayer`` (``self_attn``, ``linear1``, ``dropout``, ``linear2``,
    ``norm1``, ``norm2``, ``dropout1``, ``dropout2``). ``activation`` is ``"relu"``, ``"gelu"`` or
    a callable. Shapes: ``src`` :math:`(S, N, E)`, :math:`(N, S, E)` with ``batch_first=True``,
    or unbatched :math:`(S, E)`; ``src_mask`` and ``src_key_padding_mask`` as ``attn_mask`` and
    ``key_padding_mask`` of :class:`MultiheadAttention` (bool ``True`` = may not attend).
    In eval mode without autograd torch swaps this computation for one fused kernel; we compute
    the same formulas in every mode (fused kernels inside: :mod:`verified_transformer.nn.fused`).
    A query whose keys are all masked gets a zero attention output (see
    :class:`MultiheadAttention`), as on torch's training path; torch's fused kernel gives NaN.
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
        super().__init__(
            d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps, batch_first,
            norm_first, bias, device, dtype,
        )  # fmt: skip
        activation = self.activation
        if activation is torch_functional.relu or isinstance(activation, nn.ReLU):
            self.activation_relu_or_gelu = 1
        elif activation is torch_functional.gelu or isinstance(activation, nn.GELU):
            self.activation_relu_or_gelu = 2
        else:
            self.activation_relu_or_gelu = 0

    def forward(
        self,
        src: Tensor,
        src_mask: Tensor | None = None,
        src_key_padding_mask: Tensor | None = None,
        is_causal: bool = False,
    ) -> Tensor:
        self._check_inputs(src, src_mask, src_key_padding_mask, is_causal)
        mask, padding = src_mask, src_key_padding_mask
        x = src
        if self.norm_first:
            x = _residual(x, self._sa_block(self.norm1(x), mask, padding, is_causal))
            x = _residual(x, self._ff_block(self.norm2(x)))
        else:
            x = self.norm1(_residual(x, self._sa_block(x, mask, padding, is_causal)))
            x = self.norm2(_residual(x, self._ff_block(x)))
        return x

    def _check_inputs(
        self, src: Tensor, mask: Tensor | None, padding: Tensor | None, is_causal: bool = False
    ) -> None:
        """Check ``src`` and the masks once, in this layer's argument names."""
        names = ("src", "src_mask", "src_key_padding_mask", "is_causal")
        check_self_attention(self.self_attn, src, mask, padding, is_causal, names)


class TransformerEncoder(nn.Module):
    r"""A stack of ``num_layers`` deep copies of ``encoder_layer``, then the optional ``norm``.

    Same arguments and ``state_dict`` keys (``layers.0...``, ``norm...``) as
    ``torch.nn.TransformerEncoder``; the copies start with identical parameters, as in torch.
    ``is_causal`` is passed to every layer (None means False; the layers apply ``mask``).

    ``enable_nested_tensor`` reproduces what torch's nested-tensor path returns rather than how it
    computes it: when torch would take that path (eval mode, no autograd, a left-aligned
    ``src_key_padding_mask`` and no ``mask``, ``batch_first`` layers, ...), torch drops the padded
    positions and pads the result with zeros, so the output at every padded position is 0 before
    ``norm``. We compute all positions and then zero the padded ones, which gives the same output
    (``mask_check=False`` with right-aligned padding is the exception: torch then reads the wrong
    positions, we do not).
    """

    __constants__ = ["norm"]

    def __init__(
        self,
        encoder_layer: nn.Module,
        num_layers: int,
        norm: nn.Module | None = None,
        enable_nested_tensor: bool = True,
        mask_check: bool = True,
    ) -> None:
        super().__init__()
        self.layers = _copies("encoder_layer", encoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm
        self.enable_nested_tensor = enable_nested_tensor
        self.use_nested_tensor = enable_nested_tensor
        self.mask_check = mask_check
        reason = _why_not_nested(encoder_layer)
        if enable_nested_tensor and reason:
            warnings.warn(
                f"enable_nested_tensor is True, but self.use_nested_tensor is False because "
                f"{reason}",
                stacklevel=2,
            )
            self.use_nested_tensor = False

    def forward(
        self,
        src: Tensor,
        mask: Tensor | None = None,
        src_key_padding_mask: Tensor | None = None,
        is_causal: bool | None = None,
    ) -> Tensor:
        padded = self._padded_positions_to_zero(src, mask, src_key_padding_mask)
        output = src
        for layer in self.layers:
            output = layer(
                output,
                src_mask=mask,
                src_key_padding_mask=src_key_padding_mask,
                is_causal=bool(is_causal),
            )
        if padded is not None:
            output = output.masked_fill(padded.unsqueeze(-1), 0.0)
        if self.norm is not None:
            output = self.norm(output)
        return output

    def _padded_positions_to_zero(
        self, src: Tensor, mask: Tensor | None, padding: Tensor | None
    ) -> Tensor | None:
        """Padded positions :math:`(N, S)` where torch's nested-tensor path returns 0, or None."""
        if not (
            self.use_nested_tensor
            and torch.backends.mha.get_fastpath_enabled()
            and isinstance(src, Tensor)
            and isinstance(padding, Tensor)
            and src.dim() == 3
            and mask is None
            and not self.layers[0].training
            and not torch.is_autocast_enabled()
        ):
            return None
        first = self.layers[0]
        tensors = [src, *first.parameters()]
        if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
            return None
        padded = padding if padding.dtype == torch.bool else padding != 0
        if self.mask_check and not _left_aligned(padded.logical_not()):
            return None
        return padded


def _copies(name: str, layer: object, num_layers: object) -> nn.ModuleList:
    """``num_layers`` deep copies of ``layer`` (an ``nn.Module`` named ``name`` in messages)."""
    if not isinstance(layer, nn.Module):
        raise TypeError(f"{name} must be an nn.Module, got {type(layer).__name__}")
    check_positive_int("num_layers", num_layers)
    return nn.ModuleList(copy.deepcopy(layer) for _ in range(num_layers))


def _residual(x: Tensor, update: Tensor) -> Tensor:
    """``x + update``; without autograd, summed in place into the fresh sublayer output."""
    return x + update if torch.is_grad_enabled() else update.add_(x)


def _left_aligned(keep: Tensor) -> bool:
    """True when each row of ``keep`` :math:`(N, S)` is some True entries followed by False ones."""
    positions = torch.arange(keep.size(-1), device=keep.device)
    return bool((keep == (positions < keep.sum(-1, keepdim=True))).all())


def _why_not_nested(layer: nn.Module) -> str:
    """Why torch would not use nested tensors for a stack of ``layer`` ('' if it would)."""
    if not isinstance(layer, TransformerEncoderLayer):
        return "encoder_layer was not TransformerEncoderLayer"
    attention = layer.self_attn
    reasons = (
        (layer.norm_first, "encoder_layer.norm_first was True"),
        (
            not attention.batch_first,
            "encoder_layer.self_attn.batch_first was not True"
            "(use batch_first for better inference performance)",
        ),
        (
            not attention._qkv_same_embed_dim,
            "encoder_layer.self_attn._qkv_same_embed_dim was not True",
        ),
        (attention.in_proj_bias is None, "encoder_layer.self_attn was passed bias=False"),
        (not layer.activation_relu_or_gelu, "encoder_layer.activation_relu_or_gelu was not True"),
        (
            layer.norm1.eps != layer.norm2.eps,
            "encoder_layer.norm1.eps was not equal to encoder_layer.norm2.eps",
        ),
        (attention.num_heads % 2 == 1, "encoder_layer.self_attn.num_heads is odd"),
    )
    return next((reason for failed, reason in reasons if failed), "")
