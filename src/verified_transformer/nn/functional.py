r"""Softmax, LayerNorm, RMSNorm and scaled dot-product attention, each formula written out.

Every function has the signature, defaults, broadcasting and mask semantics of its
``torch.nn.functional`` namesake. Which code computes it is chosen by the one switch in
:mod:`verified_transformer.nn.fused`: torch's fused kernel (the default), or the explicit path
below, built from elementary tensor operations only, which never calls the torch namesake.
Arguments are checked first, on both paths, and bad ones raise ``TypeError``/``ValueError``
naming the argument.
"""

from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as torch_functional
from torch import Tensor

from verified_transformer.nn import explicit
from verified_transformer.nn._checks import (
    additive_mask,
    check_affine,
    check_eps,
    check_floating,
    check_mask_type,
    check_normalized_input,
    check_probability,
    normalized_shape_tuple,
)
from verified_transformer.nn.fused import fused_kernels_enabled

__all__ = ["layer_norm", "rms_norm", "scaled_dot_product_attention", "softmax"]


def softmax(input: Tensor, dim: int, dtype: torch.dtype | None = None) -> Tensor:
    r"""Softmax along ``dim``: :math:`\mathrm{softmax}(x)_i = e^{x_i - m} / \sum_j e^{x_j - m}`.

    :math:`m = \max_j x_j` changes nothing mathematically (softmax is invariant to adding a
    constant to every entry) but keeps ``exp`` from overflowing. ``dtype``, if given, is the
    dtype the input is cast to first. A slice whose entries are all :math:`-\infty` gives NaN,
    as in torch. Shape: output has the shape of ``input``. ``dim`` is required: torch's implicit
    choice of ``dim`` (``dim=None``) is deprecated there and not offered here.
    """
    if dtype is not None:
        input = input.to(dtype)
    check_floating("input", input)
    if isinstance(dim, bool) or not isinstance(dim, numbers.Integral):
        raise TypeError(f"dim must be an int, got {type(dim).__name__}")
    if fused_kernels_enabled():
        return torch.softmax(input, dim)
    return explicit.Softmax.apply(input, dim, False)


def layer_norm(
    input: Tensor,
    normalized_shape: list[int] | tuple[int, ...] | torch.Size,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    r"""Layer normalization over the trailing dimensions ``normalized_shape`` :cite:`ba2016layer`.

    .. math::
        y = \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}} \odot \gamma + \beta, \qquad
        \mu = \frac1n \sum_i x_i, \quad \sigma^2 = \frac1n \sum_i (x_i - \mu)^2

    with :math:`n` the number of elements in ``normalized_shape``: the *biased* variance
    (divided by :math:`n`, not :math:`n-1`) and :math:`\epsilon` *inside* the square root, as in
    ``torch.nn.functional.layer_norm``. ``weight`` :math:`\gamma` and ``bias`` :math:`\beta`
    have shape ``normalized_shape``. float16/bfloat16 inputs are computed in float32.
    """
    shape = normalized_shape_tuple(normalized_shape)
    check_normalized_input(input, shape)
    check_affine("weight", weight, shape)
    check_affine("bias", bias, shape)
    eps = check_eps("eps", eps)
    if fused_kernels_enabled():
        return torch_functional.layer_norm(input, shape, weight, bias, eps)
    dims = tuple(range(-len(shape), 0))
    x = input.to(_computation_dtype(input.dtype))
    centered = x - x.mean(dims, keepdim=True)
    variance = (centered * centered).mean(dims, keepdim=True)  # biased: divides by n
    y = centered * torch.rsqrt(variance + eps)
    if weight is not None and bias is not None:
        y = torch.addcmul(bias, y, weight)  # bias + y * weight in one pass
    elif weight is not None:
        y = y * weight
    elif bias is not None:
        y = y + bias
    return y.to(input.dtype)


def rms_norm(
    input: Tensor,
    normalized_shape: list[int] | tuple[int, ...] | torch.Size,
    weight: Tensor | None = None,
    eps: float | None = None,
) -> Tensor:
    r"""Root-mean-square normalization over ``normalized_shape`` :cite:`zhang2019root`.

    .. math::
        y = \frac{x}{\sqrt{\frac1n \sum_i x_i^2 + \epsilon}} \odot \gamma

    No mean is subtracted and there is no bias. ``eps=None`` means
    ``torch.finfo(dtype).eps`` of the computation dtype (float32 for float16/bfloat16
    inputs, which are computed in float32), as in ``torch.nn.functional.rms_norm``.
    """
    shape = normalized_shape_tuple(normalized_shape)
    check_normalized_input(input, shape)
    check_affine("weight", weight, shape)
    if eps is not None:
        eps = check_eps("eps", eps)
    if fused_kernels_enabled():
        return torch_functional.rms_norm(input, shape, weight, eps)
    dtype = _computation_dtype(input.dtype)
    if eps is None:
        eps = torch.finfo(dtype).eps
    x = input.to(dtype)
    y = x * torch.rsqrt((x * x).mean(tuple(range(-len(shape), 0)), keepdim=True) + eps)
    if weight is not None:
        y = y * weight
    return y.to(input.dtype)


def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> Tensor:
    r"""Scaled dot-product attention :cite:`vaswani2017attention`.

    .. math::
        \mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\left(s\, Q K^\top + M\right) V,
        \qquad s = \texttt{scale} \text{ (default } 1/\sqrt{E}\text{)}

    Shapes: ``query`` :math:`(*, L, E)`, ``key`` :math:`(*, S, E)`, ``value`` :math:`(*, S, E_v)`,
    output :math:`(*, L, E_v)`; the batch dimensions :math:`*` broadcast. The additive mask
    :math:`M` (broadcastable to :math:`(*, L, S)`) comes from

    * a **bool** ``attn_mask``: ``True`` means the query *may* attend to that key (entry 0),
      ``False`` means it may not (entry :math:`-\infty`). This is the opposite of the
      convention of ``nn.MultiheadAttention``;
    * a **float** ``attn_mask``: added to the scores as it is;
    * ``is_causal=True``: query :math:`i` may attend to keys :math:`j \le i` (the top-left
      triangle when :math:`L \ne S`); ``attn_mask`` must then be None.

    A query whose keys are **all** masked gets all-zero weights, so its output row is zero (and
    so is its gradient), as in torch. ``dropout_p`` is applied to the weights whenever it is
    positive (there is no training flag). ``enable_gqa=True`` lets ``key``/``value`` have fewer
    heads (dimension -3) than ``query``, each shared by ``H_q / H_k`` consecutive query heads.
    """
    _check_attention_inputs(query, key, value, enable_gqa)
    dropout_p = check_probability("dropout_p", dropout_p)
    if scale is not None and (isinstance(scale, bool) or not isinstance(scale, numbers.Real)):
        raise TypeError(f"scale must be a float or None, got {type(scale).__name__}")
    if is_causal and attn_mask is not None:
        raise ValueError("attn_mask must be None when is_causal=True (the causal mask is implied)")
    scores_shape = _scores_shape(query, key, value, enable_gqa)
    if attn_mask is not None:
        _check_mask("attn_mask", attn_mask, scores_shape, query.dtype)
    if fused_kernels_enabled():
        return torch_functional.scaled_dot_product_attention(
            query, key, value, attn_mask, dropout_p, is_causal, scale=scale, enable_gqa=enable_gqa
        )
    if enable_gqa:  # each key/value head serves H_q / H_k consecutive query heads
        key = key.repeat_interleave(query.size(-3) // key.size(-3), dim=-3)
        value = value.repeat_interleave(query.size(-3) // value.size(-3), dim=-3)
    if is_causal:
        attn_mask = causal_mask(query.size(-2), key.size(-2), query.dtype, query.device)
    elif attn_mask is not None and attn_mask.dtype == torch.bool:
        attn_mask = additive_mask(attn_mask.logical_not(), query.dtype)
    else:
        attn_mask = additive_mask(attn_mask, query.dtype)
    return attend(query, key, value, attn_mask, dropout_p, need_weights=False, scale=scale)[0]


def causal_mask(
    target_length: int, source_length: int, dtype: torch.dtype, device: torch.device | None = None
) -> Tensor:
    r"""The additive causal mask :math:`(L, S)`: 0 where :math:`j \le i`, :math:`-\infty` above."""
    blocked = torch.ones(target_length, source_length, dtype=torch.bool, device=device).triu(1)
    return torch.zeros(blocked.shape, dtype=dtype, device=device).masked_fill_(
        blocked, float("-inf")
    )


def attend(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    mask: Tensor | None,
    dropout_p: float,
    need_weights: bool,
    scale: float | None = None,
) -> tuple[Tensor, Tensor | None]:
    r"""Attention core on checked inputs: :math:`W = \mathrm{softmax}(s QK^\top + M)`, :math:`WV`.

    ``mask`` is additive (float) or None; rows whose scores are all :math:`-\infty` get zero
    weights. Returns the output and, when ``need_weights``, the weights :math:`W` (after dropout),
    else None. On the fused path without weights this is ``F.scaled_dot_product_attention``.
    """
    if fused_kernels_enabled() and not need_weights:
        output = torch_functional.scaled_dot_product_attention(
            query, key, value, mask, dropout_p, scale=scale
        )
        return output, None
    if scale is None:
        scale = 1.0 / math.sqrt(query.size(-1))
    scores = torch.matmul(query * scale, key.transpose(-2, -1))
    if mask is not None:
        scores = scores.add_(mask)
    if fused_kernels_enabled():
        weights = _masked_softmax_fused(scores, mask)
    else:
        weights = explicit.Softmax.apply(scores, -1, True, True)
    if dropout_p > 0.0:
        weights = torch_functional.dropout(weights, dropout_p)
    return torch.matmul(weights, value), weights


def _masked_softmax_fused(scores: Tensor, mask: Tensor | None) -> Tensor:
    """``torch.softmax`` over the last dimension, with rows fully masked by ``mask`` set to zero."""
    if mask is None:
        return torch.softmax(scores, -1)
    dead = (mask == float("-inf")).all(-1, keepdim=True)
    if not bool(dead.any()):
        return torch.softmax(scores, -1)
    return torch.softmax(scores.masked_fill(dead, 0.0), -1).masked_fill(dead, 0.0)


def _computation_dtype(dtype: torch.dtype) -> torch.dtype:
    """float32 for half-precision dtypes (as torch's normalization kernels do), else ``dtype``."""
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def _check_attention_inputs(query: Tensor, key: Tensor, value: Tensor, enable_gqa: bool) -> None:
    """Check query :math:`(*, L, E)`, key :math:`(*, S, E)` and value :math:`(*, S, E_v)`."""
    for name, tensor in (("query", query), ("key", key), ("value", value)):
        check_floating(name, tensor)
        if tensor.dim() < 2:
            raise ValueError(
                f"{name} must have at least 2 dimensions (..., sequence, features), "
                f"got shape {list(tensor.shape)}"
            )
    if key.dtype != query.dtype or value.dtype != query.dtype:
        raise TypeError(
            "query, key and value must have the same dtype, got "
            f"{query.dtype}, {key.dtype} and {value.dtype}"
        )
    if query.size(-1) != key.size(-1):
        raise ValueError(
            "query and key must have the same last dimension E (query-key size mismatch), got "
            f"query {list(query.shape)} and key {list(key.shape)}"
        )
    if key.size(-2) != value.size(-2):
        raise ValueError(
            "key and value must have the same sequence length S (dimension -2), got "
            f"key {list(key.shape)} and value {list(value.shape)}"
        )
    if enable_gqa:
        if query.dim() < 3 or key.dim() < 3 or value.dim() < 3:
            raise ValueError("enable_gqa=True needs a head dimension (-3) in query, key and value")
        if key.size(-3) != value.size(-3) or query.size(-3) % key.size(-3) != 0:
            raise ValueError(
                "enable_gqa=True needs key and value heads (dimension -3) that divide the query "
                f"heads, got query {list(query.shape)}, key {list(key.shape)}, "
                f"value {list(value.shape)}"
            )


def _scores_shape(query: Tensor, key: Tensor, value: Tensor, enable_gqa: bool) -> tuple[int, ...]:
    """Shape :math:`(*, L, S)` of :math:`QK^\\top`: :math:`*` broadcasts query's and key's batch.

    Value's batch dimensions must broadcast with them too (the output has the joint batch shape).
    """
    key_batch, value_batch = key.shape[:-2], value.shape[:-2]
    if enable_gqa:  # key/value heads are repeated up to the query's
        key_batch = (*key_batch[:-1], query.size(-3))
        value_batch = (*value_batch[:-1], query.size(-3))
    try:
        torch.broadcast_shapes(query.shape[:-2], key_batch, value_batch)
        return (*torch.broadcast_shapes(query.shape[:-2], key_batch), query.size(-2), key.size(-2))
    except RuntimeError:
        raise ValueError(
            "query, key and value must have broadcastable batch dimensions, got "
            f"{list(query.shape)}, {list(key.shape)} and {list(value.shape)}"
        ) from None


def _check_mask(name: str, mask: Tensor, scores_shape: tuple[int, ...], dtype: torch.dtype) -> None:
    """Check that ``mask`` is bool or ``dtype`` and broadcasts to ``scores_shape`` (not beyond)."""
    check_mask_type(name, mask, dtype, owner="query")
    try:
        fits = tuple(torch.broadcast_shapes(mask.shape, scores_shape)) == scores_shape
    except RuntimeError:
        fits = False
    if not fits:
        raise ValueError(
            f"{name} must be broadcastable to (*, L, S) = {list(scores_shape)}, "
            f"got shape {list(mask.shape)}"
        )
