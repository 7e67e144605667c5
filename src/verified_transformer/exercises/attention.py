r"""Checkers for the attention exercises: softmax, its Jacobian, heads, attention and masks.

References are torch's functions, each checked against ours (explicit path) on every case; the
known mistakes are running implementations, recognized by what they return.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.functional import jacobian

from verified_transformer.exercises._engine import Case, compare, describe, tolerances
from verified_transformer.experiments import softmax_jacobian as our_softmax_jacobian
from verified_transformer.nn import functional as vtf
from verified_transformer.nn import fused_kernels


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _agreed(ours: Tensor, theirs: Tensor, what: str) -> Tensor:
    if not torch.allclose(ours, theirs, equal_nan=True, **tolerances(theirs.dtype)):
        raise RuntimeError(f"reference check failed: our {what} differs from torch's")
    return theirs


# Softmax ---------------------------------------------------------------------------------------


def softmax_cases() -> list[Case]:
    """Inputs for ``softmax(x, dim)``: small and very large scores (where ``exp`` overflows
    without the max-shift), ``dim`` -1 and 0, float64 and float32."""
    g = _generator(3)
    cases = []
    for shape, dtype, dim, scale in [
        ((5,), torch.float64, -1, 1.0),
        ((3, 4), torch.float64, -1, 3.0),
        ((3, 4), torch.float64, 0, 3.0),
        ((2, 3, 6), torch.float32, -1, 2.0),
        ((2, 5), torch.float64, -1, 1000.0),  # exp(1000) overflows float64
        ((4, 3), torch.float32, 0, 200.0),  # exp(200) overflows float32
    ]:
        x = (torch.randn(shape, generator=g, dtype=torch.float64) * scale).to(dtype)
        cases.append(Case(f"x of {describe(x)}, dim={dim}, |x| up to about {3 * scale:g}",
                          (x, dim), **tolerances(dtype)))
    return cases


def softmax_reference(x: Tensor, dim: int) -> Tensor:
    r""":math:`e^{x_i - m} / \sum_j e^{x_j - m}` along ``dim``, :math:`m = \max_j x_j`."""
    with fused_kernels(False):
        ours = vtf.softmax(x, dim)
    return _agreed(ours, torch.softmax(x, dim), "softmax")


SOFTMAX_MISTAKES = {
    "has no max-shift: exp overflows for large scores (it returns NaN there)":
        lambda x, dim: x.exp() / x.exp().sum(dim, keepdim=True),
    "ignores dim: it always normalizes over the last dimension":
        lambda x, dim: torch.softmax(x, -1),
    "normalizes over the whole tensor, not along dim":
        lambda x, dim: torch.softmax(x.reshape(-1), 0).reshape(x.shape),
    "subtracts the largest score of the whole tensor, not the largest along dim: a slice far "
    "below it underflows to 0 / 0": lambda x, dim: (x - x.max()).exp()
        / (x - x.max()).exp().sum(dim, keepdim=True),
    "subtracts the mean instead of the max (exp still overflows for spread-out scores)":
        lambda x, dim: (x - x.mean(dim, keepdim=True)).exp()
        / (x - x.mean(dim, keepdim=True)).exp().sum(dim, keepdim=True),
}


def check_softmax(candidate: Any) -> str:
    """Verdict on ``softmax(x, dim)``."""
    return compare(
        "softmax", candidate, softmax_cases(), softmax_reference, SOFTMAX_MISTAKES,
        "matches torch.softmax and ours, large scores included",
    )


# Softmax Jacobian ------------------------------------------------------------------------------


def softmax_jacobian_cases() -> list[Case]:
    """Score vectors ``z`` of a few sizes, float64."""
    g = _generator(4)
    return [
        Case(f"z of {describe(z)}", (z,))
        for z in (torch.randn(n, generator=g, dtype=torch.float64) * 1.5 for n in (2, 4, 7))
    ]


def softmax_jacobian_reference(z: Tensor) -> Tensor:
    r""":math:`J_{ij} = \partial p_i / \partial z_j` by autograd through ``torch.softmax``,
    checked against :math:`\operatorname{diag}(p) - p p^\top`."""
    theirs = jacobian(lambda v: torch.softmax(v, -1), z)
    return _agreed(our_softmax_jacobian(torch.softmax(z, -1)), theirs, "softmax Jacobian")


SOFTMAX_JACOBIAN_MISTAKES = {
    "leaves out the term -p p^T (it is diag(p) alone)":
        lambda z: torch.diag(torch.softmax(z, -1)),
    "leaves out the factor p_i (it is delta_ij - p_j)":
        lambda z: torch.eye(z.shape[-1], dtype=z.dtype) - torch.softmax(z, -1).unsqueeze(0),
    "uses the scores z instead of the probabilities p (diag(z) - z z^T)":
        lambda z: torch.diag(z) - torch.outer(z, z),
}


def check_softmax_jacobian(candidate: Any) -> str:
    """Verdict on ``softmax_jacobian(z)``: the :math:`(n, n)` matrix of
    :math:`\\partial\\,\\mathrm{softmax}(z)_i / \\partial z_j`."""
    return compare(
        "softmax_jacobian", candidate, softmax_jacobian_cases(), softmax_jacobian_reference,
        SOFTMAX_JACOBIAN_MISTAKES, "matches autograd through torch.softmax (to 1e-12)",
    )


# Splitting the features into heads -------------------------------------------------------------


def split_heads_cases() -> list[Case]:
    """``x`` of shape (N, L, E) with distinct entries, and a head count that divides E."""
    cases = []
    for shape, heads, dtype in [((1, 3, 4), 2, torch.float64), ((2, 5, 12), 3, torch.float64),
                                ((2, 4, 8), 4, torch.float32)]:
        x = torch.arange(math.prod(shape), dtype=dtype).reshape(shape)
        cases.append(Case(f"x of {describe(x)}, num_heads={heads}", (x, heads), atol=0, rtol=0))
    return cases


def split_heads_reference(x: Tensor, num_heads: int) -> Tensor:
    r"""(N, L, E) to (N, H, L, E/H): head :math:`h` holds features :math:`h d .. (h+1) d - 1`
    of every token, :math:`d = E/H`, as in ``torch.nn.MultiheadAttention``."""
    n, length, e = x.shape
    return x.view(n, length, num_heads, e // num_heads).transpose(1, 2)


SPLIT_HEADS_MISTAKES = {
    "reshapes to (N, H, L, d) without the transpose: a head mixes the features of "
    "different tokens": lambda x, h: x.reshape(x.shape[0], h, x.shape[1], x.shape[2] // h),
    "takes the features of a head with a stride (head h gets features h, h + H, ...), not "
    "as a contiguous block": lambda x, h: x.view(
        x.shape[0], x.shape[1], x.shape[2] // h, h).permute(0, 3, 1, 2),
    "does not move the head axis: it returns (N, L, H, d), not (N, H, L, d)":
        lambda x, h: x.view(x.shape[0], x.shape[1], h, x.shape[2] // h),
}


def check_split_heads(candidate: Any) -> str:
    """Verdict on ``split_heads(x, num_heads)``."""
    return compare(
        "split_heads", candidate, split_heads_cases(), split_heads_reference,
        SPLIT_HEADS_MISTAKES, "splits the features into heads exactly as "
        "torch.nn.MultiheadAttention does, entry for entry",
    )


# Scaled dot-product attention ------------------------------------------------------------------


def attention_cases() -> list[Case]:
    """``q`` (*, L, E), ``k`` (*, S, E), ``v`` (*, S, E_v) with E != E_v and L != S, with and
    without an additive float mask (-inf where blocked, no row fully blocked)."""
    g = _generator(5)
    cases = []
    for q_shape, s, e_v, dtype, masked in [
        ((2, 4, 8), 6, 3, torch.float64, False),
        ((2, 4, 8), 6, 3, torch.float64, True),
        ((2, 2, 5, 4), 5, 6, torch.float64, True),
        ((3, 4, 16), 7, 5, torch.float32, False),
        ((3, 4, 16), 7, 5, torch.float32, True),
    ]:
        *batch, length, e = q_shape
        q = torch.randn(q_shape, generator=g, dtype=torch.float64).to(dtype)
        k = torch.randn((*batch, s, e), generator=g, dtype=torch.float64).to(dtype)
        v = torch.randn((*batch, s, e_v), generator=g, dtype=torch.float64).to(dtype)
        mask = None
        if masked:  # keep key 0 for every query, block a random third of the rest
            blocked = torch.rand(length, s, generator=g) < 0.35
            blocked[:, 0] = False
            mask = torch.zeros(length, s, dtype=dtype).masked_fill(blocked, -math.inf)
        label = (f"q of {describe(q)}, k of shape {tuple(k.shape)}, v of shape {tuple(v.shape)}, "
                 + ("an additive mask" if masked else "mask=None"))
        cases.append(Case(label, (q, k, v, mask), **tolerances(dtype)))
    return cases


def attention_reference(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None) -> Tensor:
    r""":math:`\mathrm{softmax}(QK^\top/\sqrt{d_k} + M)V`, from
    ``torch.nn.functional.scaled_dot_product_attention``, checked against ours."""
    theirs = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    with fused_kernels(False):
        ours = vtf.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    return _agreed(ours, theirs, "scaled_dot_product_attention")


def _attention_variant(scale: str = "sqrt", axis: int = -1, use_mask: bool = True,
                       weights_only: bool = False) -> Any:
    def variant(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None) -> Tensor:
        d_k, d_v = q.shape[-1], v.shape[-1]
        factor = {"sqrt": 1 / math.sqrt(d_k), "d_k": 1 / d_k, "none": 1.0,
                  "d_v": 1 / math.sqrt(d_v), "times": math.sqrt(d_k)}[scale]
        scores = q @ k.transpose(-2, -1) * factor
        if mask is not None and use_mask:
            scores = scores + mask
        weights = torch.softmax(scores, axis)
        return weights if weights_only else weights @ v

    return variant


ATTENTION_MISTAKES = {
    "scales by 1/d_k instead of 1/sqrt(d_k)": _attention_variant(scale="d_k"),
    "does not scale the scores (or divides by sqrt(d_k) outside the exponential, where the "
    "normalization cancels it)": _attention_variant(scale="none"),
    "scales by 1/sqrt of the value dimension, not of the key dimension d_k":
        _attention_variant(scale="d_v"),
    "multiplies the scores by sqrt(d_k) instead of dividing by it":
        _attention_variant(scale="times"),
    "takes the softmax over the query axis, not over the keys": _attention_variant(axis=-2),
    "ignores the mask": _attention_variant(use_mask=False),
    "returns the attention weights, not the weighted sum of the values":
        _attention_variant(weights_only=True),
}


def check_attention(candidate: Any) -> str:
    """Verdict on ``attention(q, k, v, mask)`` (``mask`` additive float or None)."""
    return compare(
        "attention", candidate, attention_cases(), attention_reference, ATTENTION_MISTAKES,
        "matches torch.nn.functional.scaled_dot_product_attention and ours",
    )


# Masks -----------------------------------------------------------------------------------------


def causal_mask_cases() -> list[Case]:
    """Sizes 1, 2, 5 and 7, in float32 and float64."""
    return [
        Case(f"size={size}, dtype={str(dtype).removeprefix('torch.')}", (size, dtype),
             atol=0, rtol=0)
        for size, dtype in [(1, torch.float32), (2, torch.float32), (5, torch.float32),
                            (7, torch.float64), (5, torch.float64)]
    ]


def causal_mask_reference(size: int, dtype: torch.dtype) -> Tensor:
    r"""The additive causal mask :math:`(L, L)`: 0 where key :math:`j \le i`, :math:`-\infty`
    where :math:`j > i`; torch's ``nn.Transformer.generate_square_subsequent_mask``, checked
    against ours."""
    theirs = torch.nn.Transformer.generate_square_subsequent_mask(size, dtype=dtype)
    return _agreed(vtf.causal_mask(size, size, dtype), theirs, "causal_mask")


def _blocked(keep: Tensor, dtype: torch.dtype) -> Tensor:
    return torch.zeros(keep.shape, dtype=dtype).masked_fill(~keep, -math.inf)


CAUSAL_MASK_MISTAKES = {
    "blocks nothing (every entry is 0)": lambda n, dt: torch.zeros(n, n, dtype=dt),
    "blocks the past instead of the future (-inf below the diagonal)":
        lambda n, dt: _blocked(torch.ones(n, n, dtype=torch.bool).triu(), dt),
    "blocks the diagonal too: a token may not attend to itself (and the first token to "
    "nothing)": lambda n, dt: _blocked(torch.ones(n, n, dtype=torch.bool).tril(-1), dt),
    "is a 0/1 float mask: adding 1 to a score blocks nothing, it only raises that weight":
        lambda n, dt: torch.ones(n, n, dtype=dt).triu(1),
    "multiplies a 0/1 matrix by -inf, and 0 * -inf is NaN: every allowed entry becomes NaN":
        lambda n, dt: torch.ones(n, n, dtype=dt).triu(1) * -math.inf,
    "is a boolean mask in F.scaled_dot_product_attention's convention (True = may attend); "
    "this exercise asks for the additive float mask (0 allowed, -inf blocked)":
        lambda n, dt: torch.ones(n, n, dtype=torch.bool).tril(),
    "is a boolean mask; this exercise asks for the additive float mask (0 allowed, -inf "
    "blocked)": lambda n, dt: torch.ones(n, n, dtype=torch.bool).triu(1),
}


def check_causal_mask(candidate: Any) -> str:
    """Verdict on ``causal_mask(size, dtype)``."""
    return compare(
        "causal_mask", candidate, causal_mask_cases(), causal_mask_reference,
        CAUSAL_MASK_MISTAKES,
        "equals torch.nn.Transformer.generate_square_subsequent_mask and ours",
    )


def key_padding_mask_cases() -> list[Case]:
    """Sequence lengths (int64) and a padded length, one batch with no padding at all."""
    return [
        Case(f"lengths={lengths}, max_len={max_len}", (torch.tensor(lengths), max_len),
             atol=0, rtol=0)
        for lengths, max_len in [([3, 1, 4], 4), ([5, 5], 5), ([2, 6, 1, 3], 7)]
    ]


def key_padding_mask_reference(lengths: Tensor, max_len: int) -> Tensor:
    r"""Bool :math:`(N, S)`, True at the padding positions :math:`j \ge \ell_n`: the
    ``key_padding_mask`` convention of ``torch.nn.MultiheadAttention`` (True = ignore)."""
    return torch.arange(max_len).unsqueeze(0) >= lengths.unsqueeze(1)


KEY_PADDING_MASK_MISTAKES = {
    "is inverted: True marks the real tokens (that is F.scaled_dot_product_attention's "
    "convention, True = may attend); nn.MultiheadAttention's key_padding_mask wants True = "
    "padding": lambda lengths, s: torch.arange(s).unsqueeze(0) < lengths.unsqueeze(1),
    "is off by one: it also marks the last real token as padding":
        lambda lengths, s: torch.arange(s).unsqueeze(0) >= lengths.unsqueeze(1) - 1,
    "is off by one: it misses the first padding position":
        lambda lengths, s: torch.arange(s).unsqueeze(0) > lengths.unsqueeze(1),
    "is a float mask; key_padding_mask here is boolean (True = padding)":
        lambda lengths, s: (torch.arange(s).unsqueeze(0) >= lengths.unsqueeze(1)).float(),
}


def check_key_padding_mask(candidate: Any) -> str:
    """Verdict on ``key_padding_mask(lengths, max_len)``."""
    return compare(
        "key_padding_mask", candidate, key_padding_mask_cases(), key_padding_mask_reference,
        KEY_PADDING_MASK_MISTAKES,
        "marks exactly the padding positions, in nn.MultiheadAttention's convention",
    )


# The variance of a dot product -----------------------------------------------------------------


def score_variance_cases() -> list[Case]:
    """Dimensions d_k = 1..6 (the answer is a number per d_k)."""
    return [Case(f"d_k={d}", (d,), atol=1e-12, rtol=1e-12) for d in range(1, 7)]


def score_variance_reference(d_k: int) -> float:
    r""":math:`\operatorname{Var}[q \cdot k]` computed exactly, by enumeration, for components
    :math:`q_i, k_i` independent and uniform on :math:`\{-1, +1\}` (mean 0, variance 1): every
    one of the :math:`4^{d_k}` equally likely sign patterns is summed over."""
    signs = torch.tensor([-1.0, 1.0], dtype=torch.float64)
    grids = torch.cartesian_prod(*([signs] * (2 * d_k))).reshape(-1, 2 * d_k)
    dots = (grids[:, :d_k] * grids[:, d_k:]).sum(-1)
    return float((dots**2).mean() - dots.mean() ** 2)


SCORE_VARIANCE_MISTAKES = {
    "gives sqrt(d_k): that is the standard deviation of q . k, not its variance":
        lambda d: math.sqrt(d),
    "gives 1: that is the variance after the scores are divided by sqrt(d_k)": lambda d: 1.0,
    "gives d_k^2: the variances of the d_k independent terms add, they do not multiply":
        lambda d: float(d * d),
}


def check_score_variance(candidate: Any) -> str:
    """Verdict on ``score_variance(d_k) -> float``: the variance of :math:`q \\cdot k`."""
    return compare(
        "score_variance", candidate, score_variance_cases(), score_variance_reference,
        SCORE_VARIANCE_MISTAKES,
        "equals the variance computed exactly over every sign pattern of q and k (d_k = 1..6)",
    )
