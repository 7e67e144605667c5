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
from verified_transformer.i18n import Message, tr
from verified_transformer.nn import functional as vtf
from verified_transformer.nn import fused_kernels


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _agreed(ours: Tensor, theirs: Tensor, what: str) -> Tensor:
    if not torch.allclose(ours, theirs, equal_nan=True, **tolerances(theirs.dtype)):
        raise RuntimeError(f"reference check failed: our {what} differs from torch's")
    return theirs


# Log-softmax: the max-shift, carried over to logarithms ------------------------------------------


def log_softmax_cases() -> list[Case]:
    """Inputs for ``log_softmax(x, dim)``: small scores, scores spread over hundreds or thousands
    (where ``exp`` overflows without a shift, and the smallest weights underflow to 0 so that
    ``log(softmax(x))`` is ``-inf``), ``dim`` -1 and 0, float64 and float32."""
    g = _generator(3)
    cases = []
    for shape, dtype, dim, scale in [
        ((5,), torch.float64, -1, 1.0),
        ((3, 4), torch.float64, 0, 3.0),
        ((2, 5), torch.float64, -1, 1000.0),  # exp(1000) overflows, exp(-1000) underflows
        ((2, 3, 6), torch.float32, -1, 2.0),
        ((4, 3), torch.float32, 0, 200.0),  # exp(200) overflows float32
    ]:
        x = (torch.randn(shape, generator=g, dtype=torch.float64) * scale).to(dtype)
        cases.append(Case(tr("x of {x}, dim={dim}, |x| up to about {size:g}", x=describe(x),
                             dim=dim, size=3 * scale),
                          (x, dim), **tolerances(dtype)))
    return cases


def log_softmax_reference(x: Tensor, dim: int) -> Tensor:
    r""":math:`x_i - m - \ln \sum_j e^{x_j - m}` along ``dim``, :math:`m = \max_j x_j`: torch's
    kernel, checked against the logarithm of our softmax where that is finite."""
    theirs = torch.log_softmax(x, dim)
    with fused_kernels(False):
        ours = vtf.softmax(x.double(), dim).log().to(x.dtype)
    finite = torch.isfinite(ours)
    _agreed(ours[finite], theirs[finite], "softmax")
    return theirs


def _shifted(x: Tensor, dim: int) -> Tensor:
    return x - x.amax(dim, keepdim=True)


LOG_SOFTMAX_MISTAKES = {
    tr("takes the logarithm of the softmax: a weight that underflows to 0 gives -inf, where the "
    "log-weight itself is an ordinary number"):
        lambda x, dim: torch.softmax(x, dim).log(),
    tr("has no max-shift: exp overflows for large scores (it returns inf or NaN there)"):
        lambda x, dim: x - x.exp().sum(dim, keepdim=True).log(),
    tr("subtracts the largest score but forgets the log of the sum of the shifted exponentials"):
        lambda x, dim: _shifted(x, dim),
    tr("ignores dim: it always normalizes over the last dimension"):
        lambda x, dim: torch.log_softmax(x, -1),
    tr("subtracts the mean instead of the largest score: exp still overflows for spread-out "
    "scores"): lambda x, dim: (x - x.mean(dim, keepdim=True)) - (
        x - x.mean(dim, keepdim=True)).exp().sum(dim, keepdim=True).log(),
}


def check_log_softmax(candidate: Any) -> Message:
    """Verdict on ``log_softmax(x, dim)``."""
    return compare(
        "log_softmax", candidate, log_softmax_cases(), log_softmax_reference,
        LOG_SOFTMAX_MISTAKES, tr("matches torch.log_softmax, large scores included"),
    )


# Softmax Jacobian ------------------------------------------------------------------------------


def softmax_jacobian_cases() -> list[Case]:
    """Score vectors ``z`` of a few sizes, float64."""
    g = _generator(4)
    return [
        Case(tr("scores z of {z}", z=describe(z)), (z,))
        for z in (torch.randn(n, generator=g, dtype=torch.float64) * 1.5 for n in (2, 4, 7))
    ]


def softmax_jacobian_reference(z: Tensor) -> Tensor:
    r""":math:`J_{ij} = \partial p_i / \partial z_j` by autograd through ``torch.softmax``,
    checked against :math:`\operatorname{diag}(p) - p p^\top`."""
    theirs = jacobian(lambda v: torch.softmax(v, -1), z)
    return _agreed(our_softmax_jacobian(torch.softmax(z, -1)), theirs, "softmax Jacobian")


SOFTMAX_JACOBIAN_MISTAKES = {
    tr("leaves out the term -p p^T (it is diag(p) alone)"):
        lambda z: torch.diag(torch.softmax(z, -1)),
    tr("leaves out the factor p_i (it is delta_ij - p_j)"):
        lambda z: torch.eye(z.shape[-1], dtype=z.dtype) - torch.softmax(z, -1).unsqueeze(0),
    tr("uses the scores z instead of the probabilities p (diag(z) - z z^T)"):
        lambda z: torch.diag(z) - torch.outer(z, z),
}


def check_softmax_jacobian(candidate: Any) -> Message:
    """Verdict on ``softmax_jacobian(z)``: the :math:`(n, n)` matrix of
    :math:`\\partial\\,\\mathrm{softmax}(z)_i / \\partial z_j`."""
    return compare(
        "softmax_jacobian", candidate, softmax_jacobian_cases(), softmax_jacobian_reference,
        SOFTMAX_JACOBIAN_MISTAKES, tr("matches autograd through torch.softmax (to 1e-12)"),
    )


# Grouped-query attention: heads that share their keys and values --------------------------------


def grouped_query_cases() -> list[Case]:
    """``q`` (N, H, L, d) and ``k``, ``v`` (N, G, S, d) with G dividing H: several query heads
    per key/value head, one key/value head for all (multi-query), and G = H (ordinary heads)."""
    g = _generator(4)
    cases = []
    for n, heads, groups, length, source, d, dtype in [
        (1, 4, 2, 3, 5, 4, torch.float64), (2, 6, 3, 4, 4, 2, torch.float64),
        (1, 4, 1, 2, 3, 4, torch.float64), (2, 2, 2, 3, 3, 4, torch.float64),
        (2, 8, 2, 3, 4, 4, torch.float32),
    ]:
        q = torch.randn(n, heads, length, d, generator=g, dtype=torch.float64).to(dtype)
        k, v = (torch.randn(n, groups, source, d, generator=g, dtype=torch.float64).to(dtype)
                for _ in range(2))
        cases.append(Case(tr("q of {q}, k and v of {k}", q=describe(q), k=describe(k)), (q, k, v),
                          **tolerances(dtype)))
    return cases


def grouped_query_reference(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    r"""Query head :math:`h` attends with key/value head :math:`\lfloor h / (H/G) \rfloor`:
    torch's ``scaled_dot_product_attention(..., enable_gqa=True)``, checked against our
    attention on keys and values repeated head by head."""
    theirs = F.scaled_dot_product_attention(q, k, v, enable_gqa=True)
    per_group = q.shape[1] // k.shape[1]
    with fused_kernels(False):
        ours = vtf.scaled_dot_product_attention(q, k.repeat_interleave(per_group, 1),
                                                v.repeat_interleave(per_group, 1))
    return _agreed(ours, theirs, "grouped-query attention")


def _sdpa(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    return F.scaled_dot_product_attention(q, k, v)


GROUPED_QUERY_MISTAKES = {
    tr("tiles the key/value heads (repeat: head h uses group h mod G) instead of giving each "
    "group H/G consecutive query heads (repeat_interleave)"): lambda q, k, v: _sdpa(
        q, k.repeat(1, q.shape[1] // k.shape[1], 1, 1),
        v.repeat(1, q.shape[1] // k.shape[1], 1, 1)),
    tr("scales the scores by 1/sqrt(d * H / G) (the width of all heads of a group), not by "
    "1/sqrt(d), the length of the vectors in each dot product"): lambda q, k, v: F.softmax(
        q @ k.repeat_interleave(q.shape[1] // k.shape[1], 1).transpose(-2, -1)
        / math.sqrt(q.shape[-1] * q.shape[1] / k.shape[1]), -1)
        @ v.repeat_interleave(q.shape[1] // k.shape[1], 1),
    tr("leaves out the scale: the scores must be divided by sqrt(d) before the softmax"):
        lambda q, k, v: F.softmax(
            q @ k.repeat_interleave(q.shape[1] // k.shape[1], 1).transpose(-2, -1), -1)
        @ v.repeat_interleave(q.shape[1] // k.shape[1], 1),
    tr("takes the softmax over the queries (dim -2): each query's weights must sum to 1 over the "
    "keys (dim -1)"): lambda q, k, v: F.softmax(
        q @ k.repeat_interleave(q.shape[1] // k.shape[1], 1).transpose(-2, -1)
        / math.sqrt(q.shape[-1]), -2) @ v.repeat_interleave(q.shape[1] // k.shape[1], 1),
    tr("uses only the first key/value head for every query head"):
        lambda q, k, v: _sdpa(q, k[:, :1].expand(-1, q.shape[1], -1, -1),
                              v[:, :1].expand(-1, q.shape[1], -1, -1)),
    tr("averages the query heads of a group into one, so it returns G heads, not H"):
        lambda q, k, v: _sdpa(q.unflatten(1, (k.shape[1], -1)).mean(2), k, v),
}


def check_grouped_query_attention(candidate: Any) -> Message:
    """Verdict on ``grouped_query_attention(q, k, v)``."""
    return compare(
        "grouped_query_attention", candidate, grouped_query_cases(), grouped_query_reference,
        GROUPED_QUERY_MISTAKES,
        tr("matches torch's scaled_dot_product_attention(..., enable_gqa=True) and ours"),
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
        label = (tr("q of {q}, k of shape {k}, v of shape {v}, an additive mask", q=describe(q),
                    k=tuple(k.shape), v=tuple(v.shape)) if masked else
                 tr("q of {q}, k of shape {k}, v of shape {v}, mask=None", q=describe(q),
                    k=tuple(k.shape), v=tuple(v.shape)))
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
    tr("scales by 1/d_k instead of 1/sqrt(d_k)"): _attention_variant(scale="d_k"),
    tr("does not scale the scores (or divides by sqrt(d_k) outside the exponential, where the "
    "normalization cancels it)"): _attention_variant(scale="none"),
    tr("scales by 1/sqrt of the value dimension, not of the key dimension d_k"):
        _attention_variant(scale="d_v"),
    tr("multiplies the scores by sqrt(d_k) instead of dividing by it"):
        _attention_variant(scale="times"),
    tr("takes the softmax over the query axis, not over the keys"): _attention_variant(axis=-2),
    tr("ignores the mask"): _attention_variant(use_mask=False),
    tr("returns the attention weights, not the weighted sum of the values"):
        _attention_variant(weights_only=True),
}


def check_attention(candidate: Any) -> Message:
    """Verdict on ``attention(q, k, v, mask)`` (``mask`` additive float or None)."""
    return compare(
        "attention", candidate, attention_cases(), attention_reference, ATTENTION_MISTAKES,
        tr("matches torch.nn.functional.scaled_dot_product_attention and ours"),
    )


# Masks -----------------------------------------------------------------------------------------


def window_mask_cases() -> list[Case]:
    """Sizes and windows: a window of 1 (each token sees itself only), windows shorter than
    the sequence, one as long as it (plain causal), one longer; float32 and float64."""
    return [
        Case(f"size={size}, window={window}, dtype={str(dtype).removeprefix('torch.')}",
             (size, window, dtype), atol=0, rtol=0)
        for size, window, dtype in [(1, 1, torch.float32), (5, 1, torch.float32),
                                    (6, 3, torch.float32), (7, 2, torch.float64),
                                    (4, 4, torch.float64), (3, 8, torch.float32)]
    ]


def window_mask_reference(size: int, window: int, dtype: torch.dtype) -> Tensor:
    r"""The additive sliding-window causal mask :math:`(L, L)`: 0 where
    :math:`i - w < j \le i` (the token itself and the :math:`w - 1` before it), :math:`-\infty`
    elsewhere; checked against torch's causal mask (with the window the whole sequence) and
    against a loop over the entries."""
    keep = torch.ones(size, size, dtype=torch.bool).tril().triu(1 - window)
    mask = torch.zeros(size, size, dtype=dtype).masked_fill(~keep, -math.inf)
    loop = torch.tensor([[0.0 if i - window < j <= i else -math.inf for j in range(size)]
                         for i in range(size)], dtype=dtype)
    if not torch.equal(mask, loop) or (window >= size and not torch.equal(
            mask, torch.nn.Transformer.generate_square_subsequent_mask(size, dtype=dtype))):
        raise RuntimeError("reference check failed: the window mask differs")
    return mask


def _window(size: int, keep: Tensor, dtype: torch.dtype) -> Tensor:
    return torch.zeros(size, size, dtype=dtype).masked_fill(~keep, -math.inf)


def _lower(size: int) -> Tensor:
    return torch.ones(size, size, dtype=torch.bool).tril()


WINDOW_MASK_MISTAKES = {
    tr("lets a query see window tokens before it plus itself (window + 1 keys), not window keys "
    "in all"): lambda n, w, dt: _window(n, _lower(n).triu(-w), dt),
    tr("is symmetric: it blocks the far past but lets a query see the future tokens of its "
    "window too"): lambda n, w, dt: _window(
        n, torch.ones(n, n, dtype=torch.bool).triu(1 - w).tril(w - 1), dt),
    tr("keeps the causal part only: the window blocks nothing"): lambda n, w, dt: _window(
        n, _lower(n), dt),
    tr("blocks the recent tokens and keeps the distant past (the window is on the wrong side)"):
        lambda n, w, dt: _window(n, _lower(n).tril(-w) | torch.eye(n, dtype=torch.bool), dt),
    tr("is a boolean mask; this exercise asks for the additive float mask (0 allowed, -inf "
    "blocked)"): lambda n, w, dt: _lower(n).triu(1 - w),
    tr("is a 0/1 float mask: adding 1 to a score blocks nothing, it only raises that weight"):
        lambda n, w, dt: (~_lower(n).triu(1 - w)).to(dt),
}


def check_window_mask(candidate: Any) -> Message:
    """Verdict on ``window_mask(size, window, dtype)``."""
    return compare(
        "window_mask", candidate, window_mask_cases(), window_mask_reference,
        WINDOW_MASK_MISTAKES,
        tr("is the sliding-window causal mask (and torch's causal mask when the window covers "
           "the sequence)"),
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
    tr("is inverted: True marks the real tokens (that is F.scaled_dot_product_attention's "
    "convention, True = may attend); nn.MultiheadAttention's key_padding_mask wants True = "
    "padding"): lambda lengths, s: torch.arange(s).unsqueeze(0) < lengths.unsqueeze(1),
    tr("is off by one: it also marks the last real token as padding"):
        lambda lengths, s: torch.arange(s).unsqueeze(0) >= lengths.unsqueeze(1) - 1,
    tr("is off by one: it misses the first padding position"):
        lambda lengths, s: torch.arange(s).unsqueeze(0) > lengths.unsqueeze(1),
    tr("is a float mask; key_padding_mask here is boolean (True = padding)"):
        lambda lengths, s: (torch.arange(s).unsqueeze(0) >= lengths.unsqueeze(1)).float(),
}


def check_key_padding_mask(candidate: Any) -> Message:
    """Verdict on ``key_padding_mask(lengths, max_len)``."""
    return compare(
        "key_padding_mask", candidate, key_padding_mask_cases(), key_padding_mask_reference,
        KEY_PADDING_MASK_MISTAKES,
        tr("marks exactly the padding positions, in nn.MultiheadAttention's convention"),
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
    tr("gives sqrt(d_k): that is the standard deviation of q . k, not its variance"):
        lambda d: math.sqrt(d),
    tr("gives 1: that is the variance after the scores are divided by sqrt(d_k)"): lambda d: 1.0,
    tr("gives d_k^2: the variances of the d_k independent terms add, they do not multiply"):
        lambda d: float(d * d),
}


def check_score_variance(candidate: Any) -> Message:
    """Verdict on ``score_variance(d_k) -> float``: the variance of :math:`q \\cdot k`."""
    return compare(
        "score_variance", candidate, score_variance_cases(), score_variance_reference,
        SCORE_VARIANCE_MISTAKES,
        tr("equals the variance computed exactly over every sign pattern of q and k "
           "(d_k = 1..6)"),
    )
