"""``MultiheadAttention``: drop-in for ``torch.nn.MultiheadAttention``."""

from __future__ import annotations

import torch
import torch.nn.functional as torch_functional
from torch import Tensor, nn

from verified_transformer.nn._checks import (
    additive_mask,
    check_floating,
    check_positive_int,
    check_probability,
)
from verified_transformer.nn.functional import attend
from verified_transformer.nn.fused import fused_kernels_enabled


class MultiheadAttention(nn.Module):
    r"""Multi-head attention :cite:`vaswani2017attention`.

    .. math::
        \mathrm{MultiHead}(Q, K, V) = \mathrm{Concat}(\mathrm{head}_1, \dots, \mathrm{head}_h)
        W^O + b^O, \qquad
        \mathrm{head}_i = \mathrm{softmax}\!\left(\frac{Q W_i^Q (K W_i^K)^\top}{\sqrt{d}} + M
        \right) V W_i^V

    with :math:`d = \texttt{embed\_dim} / \texttt{num\_heads}` and projection biases omitted from
    the formula. Parameters and ``state_dict`` keys are torch's: ``in_proj_weight``
    :math:`(3E, E)` holds :math:`W^Q, W^K, W^V` stacked (or ``q_proj_weight``,
    ``k_proj_weight``, ``v_proj_weight`` when ``kdim``/``vdim`` differ from ``embed_dim``),
    ``in_proj_bias`` :math:`(3E)`, ``out_proj.weight``/``out_proj.bias`` for :math:`W^O, b^O`,
    and with ``add_bias_kv`` the learned extra key/value ``bias_k``/``bias_v`` :math:`(1, 1, E)`
    appended to the sequence; ``add_zero_attn`` appends an all-zero key and value after that.

    Shapes: ``query`` :math:`(L, N, E)`, ``key`` :math:`(S, N, k_{dim})`, ``value``
    :math:`(S, N, v_{dim})`, or :math:`(N, L, E)`... with ``batch_first=True``, or unbatched
    :math:`(L, E)`, :math:`(S, k_{dim})`, :math:`(S, v_{dim})`. Returns the output (shaped like
    ``query``) and, when ``need_weights``, the attention weights :math:`(N, L, S)` averaged over
    heads (``average_attn_weights=True``) or :math:`(N, h, L, S)`, without :math:`N` when
    unbatched; else None.

    Masks follow *this* module's torch convention (the opposite of
    ``F.scaled_dot_product_attention``): a bool ``True`` marks a key that may **not** be
    attended. ``attn_mask`` is :math:`(L, S)` or :math:`(N \cdot h, L, S)`;
    ``key_padding_mask`` is :math:`(N, S)` (``(S,)`` unbatched), ``True`` = padding. Float masks
    are added to the scores; both masks may be given together. ``is_causal=True`` is a hint that
    ``attn_mask`` is the causal mask: as in torch, ``attn_mask`` must then be given, and it is
    the mask that is applied, so a wrong hint cannot change the result.

    **Fully masked query rows** (every key masked) get all-zero weights and a zero attention
    output, so the layer returns ``out_proj.bias`` there and gradients stay finite. This matches
    ``F.scaled_dot_product_attention`` and torch's ``need_weights=False`` path; torch's
    ``need_weights=True`` path and its inference fast path return NaN there instead.
    """

    __constants__ = ["batch_first"]
    bias_k: Tensor | None
    bias_v: Tensor | None

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        add_bias_kv: bool = False,
        add_zero_attn: bool = False,
        kdim: int | None = None,
        vdim: int | None = None,
        batch_first: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        embed_dim = check_positive_int("embed_dim", embed_dim)
        num_heads = check_positive_int("num_heads", num_heads)
        if embed_dim % num_heads != 0:
            raise ValueError(
                f"embed_dim must be divisible by num_heads, got embed_dim={embed_dim} and "
                f"num_heads={num_heads}"
            )
        factory = {"device": device, "dtype": dtype}
        self.embed_dim = embed_dim
        self.kdim = embed_dim if kdim is None else check_positive_int("kdim", kdim)
        self.vdim = embed_dim if vdim is None else check_positive_int("vdim", vdim)
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = check_probability("dropout", dropout)
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        if self._qkv_same_embed_dim:
            self.in_proj_weight = nn.Parameter(torch.empty(3 * embed_dim, embed_dim, **factory))
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.q_proj_weight = nn.Parameter(torch.empty(embed_dim, embed_dim, **factory))
            self.k_proj_weight = nn.Parameter(torch.empty(embed_dim, self.kdim, **factory))
            self.v_proj_weight = nn.Parameter(torch.empty(embed_dim, self.vdim, **factory))
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = nn.Parameter(torch.empty(3 * embed_dim, **factory))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias, **factory)
        if add_bias_kv:
            self.bias_k = nn.Parameter(torch.empty(1, 1, embed_dim, **factory))
            self.bias_v = nn.Parameter(torch.empty(1, 1, embed_dim, **factory))
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        """Torch's init: Xavier-uniform projections, zero biases, Xavier-normal bias_k/v."""
        for weight in (self.in_proj_weight, self.q_proj_weight, self.k_proj_weight):
            if weight is not None:
                nn.init.xavier_uniform_(weight)
        if self.v_proj_weight is not None:
            nn.init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            nn.init.zeros_(self.in_proj_bias)
            nn.init.zeros_(self.out_proj.bias)
        if self.bias_k is not None:
            nn.init.xavier_normal_(self.bias_k)
            nn.init.xavier_normal_(self.bias_v)

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        key_padding_mask: Tensor | None = None,
        need_weights: bool = True,
        attn_mask: Tensor | None = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        batched = self._check_inputs(query, key, value)
        batch_first = self.batch_first or not batched
        seq = int(batch_first and batched)
        batch = query.size(1 - seq) if batched else 1
        target, source = query.size(seq), key.size(seq)
        check_attention_masks(
            attn_mask, key_padding_mask, query.dtype, batch, target, source, self.num_heads, batched
        )
        if not batched:  # add a batch of one, keeping "query is key is value" for self-attention
            unsqueezed = {id(x): x.unsqueeze(0) for x in (query, key, value)}
            query, key, value = (unsqueezed[id(x)] for x in (query, key, value))
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        if is_causal and attn_mask is None:
            raise ValueError(
                "is_causal=True is a hint that attn_mask is the causal mask, so attn_mask must "
                "be given (for example nn.Transformer.generate_square_subsequent_mask(L))"
            )
        mask = self._merged_mask(attn_mask, key_padding_mask, query.dtype, batch, target)
        q, k, v = self._project_heads(query, key, value, batch_first)
        k, v, mask = self._extend_keys(k, v, mask)
        dropout_p = self.dropout if self.training else 0.0
        output, weights = attend(q, k, v, mask, dropout_p, need_weights)
        output = self.out_proj(self._merge_heads(output, batch_first))
        if not batched:
            output = output.squeeze(0)
        if not need_weights:
            return output, None
        if average_attn_weights:
            weights = weights.mean(dim=1)
        return output, weights if batched else weights.squeeze(0)

    def _check_inputs(self, query: Tensor, key: Tensor, value: Tensor) -> bool:
        """Check dims, dtypes and feature sizes; return True for batched (3-D) inputs."""
        for name, tensor in (("query", query), ("key", key), ("value", value)):
            check_floating(name, tensor)
        if query.dim() not in (2, 3):
            raise ValueError(
                f"query must be 3-D (batched) or 2-D (unbatched), got shape {list(query.shape)}"
            )
        if key.dim() != query.dim() or value.dim() != query.dim():
            raise ValueError(
                f"key and value must be {query.dim()}-D like query, got key {list(key.shape)} "
                f"and value {list(value.shape)}"
            )
        dtype = self.out_proj.weight.dtype
        if {query.dtype, key.dtype, value.dtype} != {dtype}:
            raise TypeError(
                f"query, key and value must have the parameters' dtype {dtype}, got "
                f"{query.dtype}, {key.dtype} and {value.dtype}"
            )
        for name, tensor, size, size_name in (
            ("query", query, self.embed_dim, "embed_dim"),
            ("key", key, self.kdim, "kdim"),
            ("value", value, self.vdim, "vdim"),
        ):
            if tensor.size(-1) != size:
                raise ValueError(
                    f"{name} must have last dimension {size_name}={size}, got shape "
                    f"{list(tensor.shape)}"
                )
        if key.shape[:-1] != value.shape[:-1]:
            raise ValueError(
                "key and value must have the same sequence length and batch size, got key "
                f"{list(key.shape)} and value {list(value.shape)}"
            )
        batch_dim = 0 if self.batch_first else 1
        if query.dim() == 3 and query.size(batch_dim) != key.size(batch_dim):
            raise ValueError(
                "query and key must have the same batch size (dimension "
                f"{batch_dim}), got query {list(query.shape)} and key {list(key.shape)}"
            )
        return query.dim() == 3

    def _merged_mask(
        self,
        attn_mask: Tensor | None,
        key_padding_mask: Tensor | None,
        dtype: torch.dtype,
        batch: int,
        target: int,
    ) -> Tensor | None:
        """Both masks as one additive mask broadcastable to :math:`(N, h, L, S)`, or None."""
        attn_mask = additive_mask(attn_mask, "attn_mask", dtype)
        padding = additive_mask(key_padding_mask, "key_padding_mask", dtype)
        if attn_mask is not None:
            heads = self.num_heads if attn_mask.dim() == 3 else 1
            attn_mask = attn_mask.view(-1, heads, target, attn_mask.size(-1))
        if padding is not None:
            padding = padding.view(batch, 1, 1, -1)
            return padding if attn_mask is None else attn_mask + padding
        return attn_mask

    def _project_heads(
        self, query: Tensor, key: Tensor, value: Tensor, batch_first: bool
    ) -> tuple[Tensor, ...]:
        """Project and split into heads: :math:`Q W^{Q\\top} + b^Q`, and so for K and V.

        Each result is :math:`(N, h, T, d)`. Self-attention (one tensor as query, key and value)
        takes one matmul with the stacked ``in_proj_weight``; the explicit path then makes one copy
        into head-major order for its batched matmuls, while torch's fused kernel reads the strided
        views as they are (a copy fewer, about 2% of an inference step).
        """
        order = (0, 2, 1, 3) if batch_first else (1, 2, 0, 3)  # (N|T, T|N, h, d) to (N, h, T, d)
        if self._qkv_same_embed_dim and query is key and key is value:
            packed = torch_functional.linear(query, self.in_proj_weight, self.in_proj_bias)
            heads = packed.unflatten(-1, (3, self.num_heads, self.head_dim))  # (*, *, 3, h, d)
            stacked = heads.permute((2, 0, 3, 1, 4) if batch_first else (2, 1, 3, 0, 4))
            return (stacked if fused_kernels_enabled() else stacked.contiguous()).unbind(0)
        if self._qkv_same_embed_dim:
            weights = self.in_proj_weight.chunk(3)
        else:
            weights = (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight)
        biases = (None,) * 3 if self.in_proj_bias is None else self.in_proj_bias.chunk(3)
        return tuple(
            torch_functional.linear(x, w, b)
            .unflatten(-1, (self.num_heads, self.head_dim))
            .permute(order)
            for x, w, b in zip((query, key, value), weights, biases, strict=True)
        )

    def _merge_heads(self, x: Tensor, batch_first: bool) -> Tensor:
        """:math:`(N, h, L, d)` to :math:`(N, L, E)` or :math:`(L, N, E)`: heads concatenated."""
        x = x.permute(0, 2, 1, 3) if batch_first else x.permute(2, 0, 1, 3)
        return x.reshape(*x.shape[:2], self.embed_dim)

    def _extend_keys(
        self, k: Tensor, v: Tensor, mask: Tensor | None
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """Append ``bias_k``/``bias_v`` and then a zero key/value, if enabled (never masked)."""
        extra = []
        if self.bias_k is not None:
            extra.append((self.bias_k, self.bias_v))
        if self.add_zero_attn:
            zeros = k.new_zeros(1, 1, self.embed_dim)
            extra.append((zeros, zeros))
        for extra_k, extra_v in extra:
            shape = (k.size(0), self.num_heads, 1, self.head_dim)
            k = torch.cat([k, extra_k.view(1, self.num_heads, 1, -1).expand(shape)], dim=2)
            v = torch.cat([v, extra_v.view(1, self.num_heads, 1, -1).expand(shape)], dim=2)
            if mask is not None:
                mask = torch_functional.pad(mask, (0, 1))
        return k, v, mask


def check_attention_masks(
    attn_mask: Tensor | None,
    key_padding_mask: Tensor | None,
    dtype: torch.dtype,
    batch: int,
    target: int,
    source: int,
    num_heads: int,
    batched: bool,
    names: tuple[str, str] = ("attn_mask", "key_padding_mask"),
) -> None:
    r"""Check ``attn_mask`` :math:`(L, S)` or :math:`(Nh, L, S)` and ``key_padding_mask``.

    Each must be bool or of the input's float ``dtype``; ``names`` are the argument names used in
    the messages (a Transformer layer calls them ``src_mask`` and ``src_key_padding_mask``).
    """
    attn_name, padding_name = names
    for name, mask in ((attn_name, attn_mask), (padding_name, key_padding_mask)):
        if mask is None:
            continue
        if not isinstance(mask, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor or None, got {type(mask).__name__}")
        if mask.dtype not in (torch.bool, dtype):
            raise TypeError(
                f"{name} must be bool or have the input's dtype {dtype}, got {mask.dtype}"
            )
    if attn_mask is not None and tuple(attn_mask.shape) not in (
        (target, source),
        (batch * num_heads, target, source),
    ):
        raise ValueError(
            f"{attn_name} must have shape (L, S) = {[target, source]} or (N*num_heads, L, S) = "
            f"{[batch * num_heads, target, source]}, got {list(attn_mask.shape)}"
        )
    padding_shape = (batch, source) if batched else (source,)
    if key_padding_mask is not None and tuple(key_padding_mask.shape) != padding_shape:
        raise ValueError(
            f"{padding_name} must have shape {'(N, S)' if batched else '(S,)'} = "
            f"{list(padding_shape)}, got {list(key_padding_mask.shape)}"
        )
