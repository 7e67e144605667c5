"""Argument checks shared by the functions and modules; each message names the argument."""

from __future__ import annotations

import numbers

import torch
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


def additive_mask(mask: Tensor | None, name: str, dtype: torch.dtype) -> Tensor | None:
    """A mask as numbers to add to the scores: bool True (blocked) becomes -inf, False becomes 0.

    Float masks are returned as they are; they must have the scores' ``dtype``.
    """
    if mask is None:
        return None
    if not isinstance(mask, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or None, got {type(mask).__name__}")
    if mask.dtype == torch.bool:
        return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill_(
            mask, float("-inf")
        )
    if mask.dtype != dtype:
        raise TypeError(f"{name} must be bool or have the input's dtype {dtype}, got {mask.dtype}")
    return mask
