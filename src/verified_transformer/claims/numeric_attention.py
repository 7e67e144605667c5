"""The numeric checks of :mod:`verified_transformer.claims.attention`: float64, against our
``verified_transformer.nn`` and torch's, imported only when a check runs. A chain's sides are
evaluated with each implementation's operators where the claim compares them (SDPA against its
softmax form, SA as a module); the heads of a module, its state, and the +-1 enumeration of the
moments are what an equation cannot hold."""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable
from types import ModuleType

import sympy as sp
import torch

from verified_transformer.claims import attention as claims
from verified_transformer.claims import numeric as nu
from verified_transformer.claims.ledger import substitute
from verified_transformer.derive import attention as at


def _value(e: sp.Basic, values: dict, ops: dict) -> torch.Tensor:
    """A matrix expression in float64: its symbols' ``values``, an operator node by ``ops``."""
    value = functools.partial(_value, values=values, ops=ops)
    if e in values:
        return values[e]
    if type(e) in ops:
        return ops[type(e)](e, value)
    if isinstance(e, sp.Transpose):
        return value(e.arg).mT
    parts = [value(a) for a in e.args if not a.is_commutative]
    scale = float(sp.Mul(*[a for a in e.args if a.is_commutative]).xreplace(
        {k: v for k, v in values.items() if isinstance(v, int | float)}))
    if isinstance(e, sp.MatMul | sp.Mul):
        return scale * functools.reduce(torch.matmul, parts)
    return sum(parts)  # MatAdd, Add


def _operators(F: ModuleType) -> dict:
    """An implementation's operators: Attention by its SDPA, a row softmax by its softmax."""
    return {at.Attention: lambda e, value: F.scaled_dot_product_attention(
                *(value(a)[None] for a in e.args))[0],
            at.RowSoftmax: lambda e, value: F.softmax(value(e.args[0]), dim=-1)}


def projections(chains: tuple) -> bool:
    (names, rhs), = chains
    return nu.projections_match_attention({a.name: b for a, b in zip(names, rhs, strict=True)})


def _enumerated(side: sp.Expr, dim: int) -> float:
    """E[x] or Var[x] over all 2^(2 dim) vectors of +-1 components (mean 0, variance 1, not
    Gaussian), q . k = sum_i q_i k_i."""
    x = substitute(claims.MOMENTS[:1], side.args[0]).xreplace({at.d_k: dim}).doit()
    components = [v[t] for v in (at.q, at.k) for t in range(1, dim + 1)]
    plain = sp.symbols(f"c:{2 * dim}")
    f = sp.lambdify(plain, x.xreplace(dict(zip(components, plain, strict=True))), "math")
    signs = torch.tensor(list(itertools.product((-1.0, 1.0), repeat=2 * dim)), dtype=nu.DTYPE)
    out = f(*signs.T) * torch.ones(len(signs), dtype=nu.DTYPE)
    return (out.mean() if isinstance(side, at.Expectation) else out.var(unbiased=False)).item()


def moments(chains: tuple) -> bool:
    """Each chain's side E[.] or Var[.] enumerated, against its value, d_k = 1..4."""
    return all(math.isclose(_enumerated(lhs, d), float(rhs.xreplace({at.d_k: d})), abs_tol=1e-12)
               for d in range(1, 5) for lhs, rhs in chains)


def scaled_variance(chains: tuple) -> bool:
    """The default scale of our SDPA and torch's is the candidate's; +-1 enumeration gives var 1."""
    q, k, v = nu.randn(1, 4, 16, seed=12), nu.randn(1, 5, 16, seed=13), nu.randn(1, 5, 3, seed=14)
    factor = float((chains[0][0].args[0] / at.QK).xreplace({at.d_k: 16}))
    expected = torch.softmax(q @ k.transpose(-2, -1) * factor, dim=-1) @ v

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        return nu.close(F.scaled_dot_product_attention(q, k, v), expected)

    return moments(chains) and nu.for_each_implementation(holds)


def definition(chains: tuple) -> bool:
    """The matrix form's sides: Attention by SDPA, its softmax by each implementation's."""
    values = {claims.Q: nu.randn(4, 3, seed=15), claims.K: nu.randn(6, 3, seed=16),
              claims.V: nu.randn(6, 2, seed=17), at.d_k: 3}

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        lhs, rhs = (_value(side, values, _operators(F)) for side in chains[0])
        return nu.close(lhs, rhs)

    return nu.for_each_implementation(holds)


def multihead(chains: tuple) -> bool:
    """Heads computed from in_proj_weight, combined by the chain's sum at h = 3, equal 3-head MHA
    output (the left side, Concat(heads) W^O)."""
    x, count, width = nu.randn(1, 5, 6, seed=18), 3, 2

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        module = nu.mha(nn, 6, count, seed=19)
        w_q, w_k, w_v, w_o = nu.weights(module)
        q, k, v = x[0] @ w_q, x[0] @ w_k, x[0] @ w_v
        values = {}
        for t in range(1, count + 1):
            part = slice((t - 1) * width, t * width)
            probs = torch.softmax(q[:, part] @ k[:, part].T / math.sqrt(width), dim=-1)
            values |= {at.HEAD[t]: probs @ v[:, part], at.W_O_BLOCK[t]: w_o[part]}
        heads = _value(chains[0][-1].xreplace({at.h: count}).doit(), values, {})
        return nu.close(module(x, x, x, need_weights=False)[0][0], heads)

    return nu.for_each_implementation(holds)


def equivariance(chains: tuple) -> bool:
    """SA's definition (Attention by SDPA) with one-head MHA's weights, times W^O, is its output;
    both sides of the equivariance with SA a two-head MHA (a mask: blocked where M is -oo)."""
    x, y = nu.randn(1, 4, 2, seed=20), nu.randn(5, 4, seed=21)
    values = {at.X: y, claims.P: torch.eye(5, dtype=nu.DTYPE)[[3, 0, 4, 2, 1]],
              claims.POSITIONS: nu.randn(5, 4, seed=33)}

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        one_head = nu.mha(nn, 2, 1, seed=22)
        w_q, w_k, w_v, w_o = nu.weights(one_head)
        sa = _value(chains[1][-1], {at.X: x[0], at.W_Q: w_q, at.W_K: w_k, at.W_V: w_v},
                    _operators(F))
        matches = nu.close(one_head(x, x, x, need_weights=False)[0][0], sa @ w_o)
        two_heads = nu.mha(nn, 4, 2, seed=23)

        def self_attention(e: sp.Basic, value: Callable) -> torch.Tensor:
            t = value(e.args[0])[None]
            blocked = ~torch.tensor(e.args[4].keep(5)) if len(e.args) > 4 else None
            return two_heads(t, t, t, attn_mask=blocked, need_weights=False)[0][0]

        lhs, rhs = (_value(side, values, {at.SelfAttention: self_attention}) for side in chains[0])
        return matches and nu.close(lhs, rhs)

    return nu.for_each_implementation(holds)


def renormalizes(chains: tuple) -> bool:
    """SDPA with a boolean mask (True = attend) and V = I returns the weights: the chain's left
    side at the logits and the kept keys; MHA's boolean mask (True = blocked) gives the unmasked
    weights renormalized over the kept keys."""
    q, k = nu.randn(1, 3, 4, seed=24), nu.randn(1, 5, 4, seed=25)
    keep = torch.tensor([[True, False, True, True, False], [False, False, True, False, False],
                         [True, True, True, True, True]])
    logits = (q @ k.transpose(-2, -1))[0] / 2.0
    side = substitute(claims.MASKED, chains[0][0])
    candidate = torch.tensor([[float(at.at_case(side, {
        at.n: 5, claims.i: t, **{claims.z[s]: sp.Float(z, 30) for s, z in enumerate(row, 1)},
        **{claims.kept[s]: int(b) for s, b in enumerate(kept, 1)}})) for t in range(1, 6)]
        for row, kept in zip(logits.tolist(), keep.tolist(), strict=True)], dtype=nu.DTYPE)
    x = nu.randn(1, 5, 4, seed=26)

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        weights = F.scaled_dot_product_attention(q, k, torch.eye(5, dtype=nu.DTYPE)[None],
                                                 attn_mask=keep)[0]
        module = nu.mha(nn, 4, 1, seed=27)
        blocked = ~torch.tensor([[True, True, False, True, True]] * 5)
        _, free = module(x, x, x)
        _, masked = module(x, x, x, attn_mask=blocked)
        renormalized = free * ~blocked
        renormalized = renormalized / renormalized.sum(-1, keepdim=True)
        return nu.close(weights, candidate) and nu.close(masked, renormalized)

    return nu.for_each_implementation(holds)


def causal(chains: tuple) -> bool:
    """is_causal=True equals the chain's mask in SDPA; MHA with its complement (True = blocked)
    equals MHA with torch's -inf square subsequent mask; changing the last token changes no
    earlier output."""
    q, k, v = nu.randn(1, 5, 4, seed=28), nu.randn(1, 5, 4, seed=29), nu.randn(1, 5, 3, seed=30)
    keep = torch.tensor(next(iter(chains[1][0].atoms(at.Mask))).keep(5))
    x = nu.randn(1, 5, 4, seed=31)
    changed = x.clone()
    changed[0, -1] += 1.0
    float_mask = torch.nn.Transformer.generate_square_subsequent_mask(5, dtype=nu.DTYPE)

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        causal = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        explicit = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)
        module = nu.mha(nn, 4, 2, seed=32)
        out = module(x, x, x, attn_mask=~keep, need_weights=False)[0]
        reference = module(x, x, x, attn_mask=float_mask, need_weights=False)[0]
        later = module(changed, changed, changed, attn_mask=~keep, need_weights=False)[0]
        return (nu.close(causal, explicit) and nu.close(out, reference)
                and nu.close(later[:, :-1], out[:, :-1]))

    return nu.for_each_implementation(holds)
