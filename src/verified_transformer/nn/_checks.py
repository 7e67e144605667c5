"""Every argument check of :mod:`verified_transformer.nn`, in one place.

Each message names the argument. A public call checks each argument once, here, under the name
the caller gave it (``tgt_mask``, ``src_key_padding_mask``, ...); the formula code that runs next
(``MultiheadAttention._attention``, the layers' sub-blocks, :func:`additive_mask`) assumes
checked input and checks nothing again.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as torch_functional
from torch import Tensor


def check_positive_int(name: str, value: object) -> int:
    """Return ``value`` if it is an int >= 1, else raise TypeError/ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be a positive int, got {value}")
    return int(value)


def check_probability(name: str, value: object) -> float:
    """Return ``value`` if it is a real number in [0, 1] (a dropout probability)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a float in [0, 1], got {type(value).__name__}")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value}")
    return float(value)


def check_eps(name: str, value: object) -> float:
    """Return ``value`` if it is a real number >= 0 (the epsilon added under a square root)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a float >= 0, got {type(value).__name__}")
    if not value >= 0.0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return float(value)


def check_floating(name: str, tensor: object) -> Tensor:
    """Return ``tensor`` if it is a floating-point Tensor."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if tensor.is_nested:
        raise NotImplementedError(
            f"{name} is a nested tensor, which is not supported: pass a padded tensor and a "
            "padding mask instead"
        )
    if not tensor.is_floating_point():
        raise TypeError(f"{name} must have a floating-point dtype, got {tensor.dtype}")
    return tensor


def normalized_shape_tuple(normalized_shape: object) -> tuple[int, ...]:
    """``normalized_shape`` (an int or a sequence of ints, each >= 1) as a tuple."""
    if isinstance(normalized_shape, numbers.Integral) and not isinstance(normalized_shape, bool):
        normalized_shape = (normalized_shape,)
    if not isinstance(normalized_shape, list | tuple | torch.Size):
        raise TypeError(
            "normalized_shape must be an int or a sequence of ints, "
            f"got {type(normalized_shape).__name__}"
        )
    if len(normalized_shape) == 0:
        raise ValueError("normalized_shape must have at least one dimension, got ()")
    for size in normalized_shape:
        check_positive_int("each size in normalized_shape", size)
    return tuple(int(size) for size in normalized_shape)


def check_normalized_input(input: Tensor, shape: tuple[int, ...]) -> None:
    """Check that the trailing dimensions of ``input`` are ``shape``."""
    check_floating("input", input)
    if tuple(input.shape[input.dim() - len(shape) :]) != shape or input.dim() < len(shape):
        raise ValueError(
            f"input must have trailing dimensions normalized_shape={list(shape)}, "
            f"got input of shape {list(input.shape)}"
        )


def check_affine(name: str, tensor: Tensor | None, shape: tuple[int, ...]) -> None:
    """Check that an optional weight or bias has exactly ``shape``."""
    if tensor is None:
        return
    check_floating(name, tensor)
    if tuple(tensor.shape) != shape:
        raise ValueError(
            f"{name} must have shape normalized_shape={list(shape)}, got {list(tensor.shape)}"
        )


def additive_mask(mask: Tensor | None, dtype: torch.dtype) -> Tensor | None:
    """A checked mask as numbers to add to the scores: bool True (blocked) becomes -inf, False 0.

    Float masks are returned as they are. No checks here: the caller has checked ``mask``
    (:func:`check_mask_type` and a shape check) once, where the argument's name is known.
    """
    if mask is None or mask.dtype != torch.bool:
        return mask
    return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill_(
        mask, float("-inf")
    )


class InputShapeError(ValueError, RuntimeError):
    """A tensor argument of the wrong shape.

    A ``ValueError``, as for every bad value in this package, and a ``RuntimeError`` too, which is
    what torch.nn raises for the same mistakes, so code written against either catches it.
    """


def check_heads(dim_name: str, dim: object, heads_name: str, heads: object) -> tuple[int, int]:
    """Positive ints ``dim`` and ``heads`` with ``dim`` divisible by ``heads`` (each head gets
    ``dim // heads`` features); returns them."""
    check_positive_int(dim_name, dim)
    check_positive_int(heads_name, heads)
    if dim % heads != 0:  # type: ignore[operator]
        raise ValueError(f"{dim_name} must be divisible by {heads_name}, got {dim_name}={dim} "
                         f"and {heads_name}={heads}")
    return dim, heads  # type: ignore[return-value]


def check_layer_arguments(
    d_model: object, nhead: object, dim_feedforward: object, dropout: object, layer_norm_eps: object
) -> None:
    """The constructor arguments shared by the encoder and decoder layers: positive sizes,
    ``d_model`` divisible by ``nhead``, a dropout probability, a positive ``layer_norm_eps``."""
    check_heads("d_model", d_model, "nhead", nhead)
    check_positive_int("dim_feedforward", dim_feedforward)
    check_probability("dropout", dropout)
    check_eps("layer_norm_eps", layer_norm_eps)


def check_activation(activation: object) -> Callable[[Tensor], Tensor]:
    """``"relu"`` -> ``F.relu``, ``"gelu"`` -> ``F.gelu``, a callable -> itself."""
    if isinstance(activation, str):
        known = {"relu": torch_functional.relu, "gelu": torch_functional.gelu}
        if activation not in known:
            raise ValueError(f'activation must be "relu", "gelu" or a callable, got {activation!r}')
        return known[activation]
    if not callable(activation):
        raise TypeError(
            f'activation must be "relu", "gelu" or a callable, got {type(activation).__name__}'
        )
    return activation


def check_mask_type(name: str, mask: object, dtype: torch.dtype, owner: str = "input") -> None:
    """Check that ``mask`` is a bool Tensor or a Tensor of the float ``dtype`` of the ``owner``."""
    if not isinstance(mask, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or None, got {type(mask).__name__}")
    if mask.dtype not in (torch.bool, dtype):
        raise TypeError(
            f"{name} must be bool or have the {owner}'s dtype {dtype}, got {mask.dtype}"
        )


def check_causal_hint(is_causal: object, mask: Tensor | None, hint: str, mask_name: str) -> None:
    """``is_causal=True`` is a hint about ``mask`` (torch.nn's meaning): ``mask`` must be given."""
    if is_causal and mask is None:
        raise ValueError(
            f"{hint}=True is a hint that {mask_name} is the causal mask, so {mask_name} must be "
            "given (for example nn.Transformer.generate_square_subsequent_mask(L))"
        )


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
        if mask is not None:
            check_mask_type(name, mask, dtype)
    if attn_mask is not None and tuple(attn_mask.shape) not in (
        (target, source),
        (batch * num_heads, target, source),
    ):
        raise InputShapeError(
            f"{attn_name} must have shape (L, S) = {[target, source]} or (N*num_heads, L, S) = "
            f"{[batch * num_heads, target, source]}, got {list(attn_mask.shape)}"
        )
    padding_shape = (batch, source) if batched else (source,)
    if key_padding_mask is not None and tuple(key_padding_mask.shape) != padding_shape:
        raise InputShapeError(
            f"{padding_name} must have shape {'(N, S)' if batched else '(S,)'} = "
            f"{list(padding_shape)}, got {list(key_padding_mask.shape)}"
        )


def check_sequence(name: str, x: object, d_model: int, dtype: torch.dtype) -> Tensor:
    """Check a layer input :math:`(L, N, d)`, :math:`(N, L, d)` or :math:`(L, d)` of ``dtype``."""
    check_floating(name, x)
    if x.dim() not in (2, 3) or x.size(-1) != d_model:
        raise InputShapeError(
            f"{name} must have shape (L, N, d_model), (N, L, d_model) or (L, d_model) with "
            f"d_model={d_model}, got {list(x.shape)}"
        )
    if x.dtype != dtype:
        raise TypeError(f"{name} must have the parameters' dtype {dtype}, got {x.dtype}")
    return x


def batch_and_length(x: Tensor, batch_first: bool) -> tuple[int, int]:
    """(batch size, sequence length) of a checked layer input (batch 1 when unbatched)."""
    if x.dim() == 2:
        return 1, x.size(0)
    return (x.size(0), x.size(1)) if batch_first else (x.size(1), x.size(0))


def check_self_attention(
    attention: Any,
    x: object,
    mask: Tensor | None,
    padding: Tensor | None,
    is_causal: object,
    names: tuple[str, str, str, str],
) -> None:
    """Check the input ``x`` and masks of a self-attention sub-layer, once, under ``names``.

    ``names`` = (input, mask, padding mask, causal hint) as the calling layer names them;
    ``attention`` is the layer's :class:`MultiheadAttention`.
    """
    x_name, mask_name, padding_name, hint = names
    check_sequence(x_name, x, attention.embed_dim, attention.out_proj.weight.dtype)
    batch, length = batch_and_length(x, attention.batch_first)
    check_attention_masks(
        mask,
        padding,
        x.dtype,
        batch,
        length,
        length,
        attention.num_heads,
        x.dim() == 3,
        names=(mask_name, padding_name),
    )
    check_causal_hint(is_causal, mask, hint, mask_name)


def check_cross_attention(
    attention: Any,
    x: Tensor,
    memory: object,
    mask: Tensor | None,
    padding: Tensor | None,
    is_causal: object,
    names: tuple[str, str, str, str, str],
) -> None:
    """Check ``memory`` and its masks for cross-attention from the checked input ``x``.

    ``names`` = (input, memory, mask, padding mask, causal hint). ``memory`` must be batched or
    unbatched like ``x``, with the same batch size and dtype and last dimension ``d_model``.
    """
    x_name, memory_name, mask_name, padding_name, hint = names
    check_sequence(memory_name, memory, attention.embed_dim, attention.out_proj.weight.dtype)
    if memory.dim() != x.dim():
        raise InputShapeError(
            f"{memory_name} must be {x.dim()}-D like {x_name}, got {memory_name} "
            f"{list(memory.shape)} and {x_name} {list(x.shape)}"
        )
    batch, target = batch_and_length(x, attention.batch_first)
    memory_batch, source = batch_and_length(memory, attention.batch_first)
    if memory_batch != batch:
        raise InputShapeError(
            f"{memory_name} must have the batch size of {x_name} ({batch}), got {memory_name} "
            f"{list(memory.shape)} and {x_name} {list(x.shape)}"
        )
    check_attention_masks(
        mask,
        padding,
        x.dtype,
        batch,
        target,
        source,
        attention.num_heads,
        x.dim() == 3,
        names=(mask_name, padding_name),
    )
    check_causal_hint(is_causal, mask, hint, mask_name)


def check_multihead_inputs(module: Any, query: object, key: object, value: object) -> bool:
    """Check the dims, dtypes and feature sizes of attention inputs; True for batched (3-D)."""
    for name, tensor in (("query", query), ("key", key), ("value", value)):
        check_floating(name, tensor)
    if query.dim() not in (2, 3):
        raise InputShapeError(
            f"query must be 3-D (batched) or 2-D (unbatched), got shape {list(query.shape)}"
        )
    if key.dim() != query.dim() or value.dim() != query.dim():
        raise InputShapeError(
            f"key and value must be {query.dim()}-D like query, got key {list(key.shape)} "
            f"and value {list(value.shape)}"
        )
    dtype = module.out_proj.weight.dtype
    if {query.dtype, key.dtype, value.dtype} != {dtype}:
        raise TypeError(
            f"query, key and value must have the parameters' dtype {dtype}, got "
            f"{query.dtype}, {key.dtype} and {value.dtype}"
        )
    for name, tensor, size, size_name in (
        ("query", query, module.embed_dim, "embed_dim"),
        ("key", key, module.kdim, "kdim"),
        ("value", value, module.vdim, "vdim"),
    ):
        if tensor.size(-1) != size:
            raise InputShapeError(
                f"{name} must have last dimension {size_name}={size}, got shape "
                f"{list(tensor.shape)}"
            )
    if key.shape[:-1] != value.shape[:-1]:
        raise InputShapeError(
            "key and value must have the same sequence length and batch size, got key "
            f"{list(key.shape)} and value {list(value.shape)}"
        )
    batch_dim = 0 if module.batch_first else 1
    if query.dim() == 3 and query.size(batch_dim) != key.size(batch_dim):
        raise InputShapeError(
            "query and key must have the same batch size (dimension "
            f"{batch_dim}), got query {list(query.shape)} and key {list(key.shape)}"
        )
    return query.dim() == 3


def check_source_and_target(src: object, tgt: object, d_model: int, batch_first: bool) -> None:
    """Check the two inputs of an encoder-decoder: floating, both batched or both unbatched,
    last dimension ``d_model``, and (batched) the same batch size."""
    check_floating("src", src)
    check_floating("tgt", tgt)
    for name, x in (("src", src), ("tgt", tgt)):
        if x.dim() not in (2, 3) or x.size(-1) != d_model:
            raise InputShapeError(
                f"{name} must have shape (L, N, d_model), (N, L, d_model) or (L, d_model) with "
                f"d_model={d_model}, got {list(x.shape)}"
            )
    if src.dim() != tgt.dim():
        raise InputShapeError(
            f"src and tgt must both be batched (3-D) or both unbatched (2-D), got src "
            f"{list(src.shape)} and tgt {list(tgt.shape)}"
        )
    if src.dim() == 3 and batch_and_length(src, batch_first)[0] != batch_and_length(
        tgt, batch_first
    )[0]:
        raise InputShapeError(
            f"src and tgt must have the same batch size (dimension {0 if batch_first else 1}), "
            f"got src {list(src.shape)} and tgt {list(tgt.shape)}"
        )
