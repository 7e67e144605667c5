"""The numeric checks of :mod:`verified_transformer.claims.attention`: float64, against our
``verified_transformer.nn`` and torch's, imported only when a check runs."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from types import ModuleType

import sympy as sp
import torch

from verified_transformer.claims.attention import (
    WIDTH,
    AttentionFn,
    Combine,
    MaskFn,
    SelfAttention,
)
from verified_transformer.claims.numeric import (
    DTYPE,
    close,
    for_each_implementation,
    mha,
    randn,
    to_sympy,
    to_tensor,
    weights,
)


def _rademacher_moments(dim: int, scale: float = 1.0) -> tuple[float, float]:
    """Exact mean and variance of ``scale * q.k`` over all 2^(2 dim) sign vectors.

    Components +-1 with equal probability have mean 0 and variance 1 without being Gaussian.
    """
    signs = torch.tensor(list(itertools.product((-1.0, 1.0), repeat=2 * dim)), dtype=DTYPE)
    dots = (signs[:, :dim] * signs[:, dim:]).sum(-1) * scale
    return dots.mean().item(), dots.var(unbiased=False).item()


def moments(moments: Callable[[sp.Expr], tuple[sp.Expr, sp.Expr]]) -> bool:
    """Enumerate +-1 components (mean 0, variance 1, not Gaussian) for d_k = 1..4."""
    return all(
        math.isclose(m, float(moments(sp.Integer(d))[0]), abs_tol=1e-12)
        and math.isclose(v, float(moments(sp.Integer(d))[1]), abs_tol=1e-12)
        for d, (m, v) in ((d, _rademacher_moments(d)) for d in range(1, 5))
    )


def scaled_variance(scale: Callable[[sp.Expr], sp.Expr]) -> bool:
    """The default scale of our SDPA and torch's is the candidate; +-1 enumeration gives var 1."""
    q, k, v = randn(1, 4, 16, seed=12), randn(1, 5, 16, seed=13), randn(1, 5, 3, seed=14)
    factor = float(scale(sp.Integer(16)))
    expected = torch.softmax(q @ k.transpose(-2, -1) * factor, dim=-1) @ v
    variances_are_one = all(
        math.isclose(_rademacher_moments(d, float(scale(sp.Integer(d))))[1], 1.0, abs_tol=1e-12)
        for d in range(1, 5)
    )

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        return close(F.scaled_dot_product_attention(q, k, v), expected)

    return variances_are_one and for_each_implementation(holds)


def definition(attention: AttentionFn) -> bool:
    q, k, v = randn(4, 3, seed=15), randn(6, 3, seed=16), randn(6, 2, seed=17)
    expected = to_tensor(attention(to_sympy(q), to_sympy(k), to_sympy(v)))

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        return close(F.scaled_dot_product_attention(q[None], k[None], v[None])[0], expected)

    return for_each_implementation(holds)


def multihead(combine: Combine) -> bool:
    """Heads computed from in_proj_weight, combined by the candidate, equal 3-head MHA output."""
    x = randn(1, 5, 6, seed=18)
    heads_count, width = 3, 2

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        module = mha(nn, 6, heads_count, seed=19)
        w_q, w_k, w_v, w_o = weights(module)
        q, k, v = x[0] @ w_q, x[0] @ w_k, x[0] @ w_v
        heads, blocks = [], []
        for t in range(heads_count):
            part = slice(t * width, (t + 1) * width)
            probs = torch.softmax(q[:, part] @ k[:, part].T / math.sqrt(width), dim=-1)
            heads.append(to_sympy(probs @ v[:, part]))
            blocks.append(to_sympy(w_o[part]))
        out, _ = module(x, x, x, need_weights=False)
        return close(out[0], to_tensor(sp.Matrix(combine(heads, blocks))))

    return for_each_implementation(holds)


def equivariance(make: SelfAttention) -> bool:
    """Candidate equals one-head MHA (times W^O); 2-head MHA commutes with a permutation."""
    x = randn(1, 4, WIDTH, seed=20)
    y = randn(1, 5, 4, seed=21)
    perm = torch.tensor([3, 0, 4, 2, 1])

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        one_head = mha(nn, WIDTH, 1, seed=22)
        w_q, w_k, w_v, w_o = weights(one_head)
        sa = make((to_sympy(w_q), to_sympy(w_k), to_sympy(w_v)))
        expected = to_tensor(sa(to_sympy(x[0])) * to_sympy(w_o))
        matches = close(one_head(x, x, x, need_weights=False)[0][0], expected)
        two_heads = mha(nn, 4, 2, seed=23)
        out = two_heads(y, y, y, need_weights=False)[0]
        permuted = two_heads(y[:, perm], y[:, perm], y[:, perm], need_weights=False)[0]
        return matches and close(permuted, out[:, perm])

    return for_each_implementation(holds)


def renormalizes(mask: MaskFn) -> bool:
    """SDPA with a boolean mask (True = attend) and V = I returns the weights; MHA's boolean mask
    (True = blocked) gives the unmasked weights renormalized over the kept keys."""
    q, k = randn(1, 3, 4, seed=24), randn(1, 5, 4, seed=25)
    keep = torch.tensor(
        [
            [True, False, True, True, False],
            [False, False, True, False, False],
            [True, True, True, True, True],
        ]
    )
    logits = (q @ k.transpose(-2, -1))[0] / 2.0
    candidate = torch.stack(
        [
            torch.softmax(
                torch.tensor(
                    [float(v) for v in mask(list(map(sp.Float, row.tolist())), kept.tolist())],
                    dtype=DTYPE,
                ),
                dim=0,
            )
            for row, kept in zip(logits, keep, strict=True)
        ]
    )
    x = randn(1, 5, 4, seed=26)

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        identity = torch.eye(5, dtype=DTYPE)[None]
        weights = F.scaled_dot_product_attention(q, k, identity, attn_mask=keep)[0]
        module = mha(nn, 4, 1, seed=27)
        blocked = ~torch.tensor([[True, True, False, True, True]] * 5)
        _, free = module(x, x, x)
        _, masked = module(x, x, x, attn_mask=blocked)
        renormalized = free * ~blocked
        renormalized = renormalized / renormalized.sum(-1, keepdim=True)
        return close(weights, candidate) and close(masked, renormalized)

    return for_each_implementation(holds)


def causal(keep_for: Callable[[int], list[list[bool]]]) -> bool:
    """is_causal=True equals the candidate mask in SDPA; MHA with its complement (True = blocked)
    equals MHA with torch's -inf square subsequent mask; changing the last token changes no
    earlier output."""
    q, k, v = randn(1, 5, 4, seed=28), randn(1, 5, 4, seed=29), randn(1, 5, 3, seed=30)
    keep = torch.tensor(keep_for(5))
    x = randn(1, 5, 4, seed=31)
    changed = x.clone()
    changed[0, -1] += 1.0
    float_mask = torch.nn.Transformer.generate_square_subsequent_mask(5, dtype=DTYPE)

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        causal = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        explicit = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)
        module = mha(nn, 4, 2, seed=32)
        out = module(x, x, x, attn_mask=~keep, need_weights=False)[0]
        reference = module(x, x, x, attn_mask=float_mask, need_weights=False)[0]
        later = module(changed, changed, changed, attn_mask=~keep, need_weights=False)[0]
        return (
            close(causal, explicit) and close(out, reference) and close(later[:, :-1], out[:, :-1])
        )

    return for_each_implementation(holds)
