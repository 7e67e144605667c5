"""``MultiheadAttention``: drop-in for ``torch.nn.MultiheadAttention``."""

from __future__ import annotations

import torch
import torch.nn.functional as torch_functional
from torch import Tensor, nn

from verified_transformer.nn._checks import (
    additive_mask,
    check_attention_masks,
    check_causal_hint,
    check_heads,
    check_multihead_inputs,
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
    the mask that is applied, so a wrong hint cannot change the result. (torch may instead apply
    its own causal mask to all keys, the ``bias_k`` and zero keys included, and then differs.)

    All checks of a call are made once, in :func:`check_multihead_call`; the layers check their
    arguments under their own names and then call :meth:`_attention`, the formula alone.

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
        embed_dim, num_heads = check_heads("embed_dim", embed_dim, "num_heads", num_heads)
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
        check_multihead_call(self, query, key, value, attn_mask, key_padding_mask, is_causal)
        return self._attention(
            query, key, value, key_padding_mask, need_weights, attn_mask, average_attn_weights
        )

    def _attention_checked(
        self, query: Tensor, key: Tensor, value: Tensor, attn_mask: Tensor | None,
        key_padding_mask: Tensor | None, is_causal: bool = False,
    ) -> Tensor:  # fmt: skip
        """For a layer that has checked these arguments: the attention output, without weights.

        Through ``__call__``, with torch's keyword arguments, when hooks are registered, so that
        they fire and see what torch's see (the arguments are then checked again); else straight
        to the formula.
        """
        if self._forward_hooks or self._forward_pre_hooks or _global_hooks():
            return self(query, key, value, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                        need_weights=False, is_causal=is_causal)[0]  # fmt: skip
        return self._attention(query, key, value, key_padding_mask, False, attn_mask)[0]

    def _attention(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        key_padding_mask: Tensor | None,
        need_weights: bool,
        attn_mask: Tensor | None,
        average_attn_weights: bool = True,
    ) -> tuple[Tensor, Tensor | None]:
        """The formula on checked arguments (the layers check theirs under their own names)."""
        batched = query.dim() == 3
        batch_first = self.batch_first or not batched
        if not batched:  # add a batch of one, keeping "query is key is value" for self-attention
            unsqueezed = {id(x): x.unsqueeze(0) for x in (query, key, value)}
            query, key, value = (unsqueezed[id(x)] for x in (query, key, value))
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        mask = self._merged_mask(attn_mask, key_padding_mask, query, batch_first)
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

    def _merged_mask(
        self,
        attn_mask: Tensor | None,
        key_padding_mask: Tensor | None,
        query: Tensor,
        batch_first: bool,
    ) -> Tensor | None:
        """Both masks as one additive mask broadcastable to :math:`(N, h, L, S)`, or None."""
        batch, target = (query.size(0), query.size(1)) if batch_first else query.shape[1::-1]
        attn_mask = additive_mask(attn_mask, query.dtype)
        padding = additive_mask(key_padding_mask, query.dtype)
        if attn_mask is not None:
            heads = self.num_heads if attn_mask.dim() == 3 else 1
            attn_mask = attn_mask.reshape(-1, heads, target, attn_mask.size(-1))
        if padding is not None:
            padding = padding.reshape(batch, 1, 1, -1)
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


def _global_hooks() -> bool:
    """True when forward hooks are registered for all modules (``register_module_forward_hook``)."""
    module = torch.nn.modules.module
    return bool(module._global_forward_hooks or module._global_forward_pre_hooks)


def check_multihead_call(
    module: MultiheadAttention,
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Tensor | None,
    key_padding_mask: Tensor | None,
    is_causal: bool,
) -> None:
    """Every check of one :meth:`MultiheadAttention.forward` call (see ``_checks``)."""
    batched = check_multihead_inputs(module, query, key, value)
    seq = int(module.batch_first and batched)
    batch = query.size(1 - seq) if batched else 1
    target, source = query.size(seq), key.size(seq)
    check_attention_masks(
        attn_mask, key_padding_mask, query.dtype, batch, target, source, module.num_heads, batched
    )
    check_causal_hint(is_causal, attn_mask, "is_causal", "attn_mask")
