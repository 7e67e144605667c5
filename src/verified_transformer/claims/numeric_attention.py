"""The numeric checks of :mod:`verified_transformer.claims.attention`: float64, against our
``verified_transformer.nn`` and torch's, imported only when a check runs. The matrix chains are
compared by :func:`~verified_transformer.claims.numeric.chains_agree` at :func:`attention` (SDPA,
a softmax, SA as a module); the heads of a module, its state, and the +-1 enumeration of the
moments are what an equation cannot hold."""

from __future__ import annotations

import itertools
import math
from types import ModuleType

import sympy as sp
import torch

from verified_transformer.claims import attention as claims
from verified_transformer.claims import numeric as nu
from verified_transformer.claims.ledger import substitute
from verified_transformer.derive import attention as at


def attention(heads: int = 1, chains: tuple = (0, None)) -> nu.Reference:
    """Attention by each implementation's SDPA, a row softmax by its softmax, SA by a ``heads``-
    head MultiheadAttention with in-projection W^Q, W^K, W^V and W^O = I (blocked where a mask
    M is -oo); at seeded Q, K, V (d_k = 3), X, weights (d_model = d_k = d_v = 4), positions E
    and a permutation P of 5 tokens; ``chains``: the chains compared (start, stop)."""

    def operators(F: ModuleType, nn: ModuleType) -> dict:
        def sa(x: torch.Tensor, w_q: torch.Tensor, w_k: torch.Tensor, w_v: torch.Tensor,
               mask: at.Mask | None = None) -> torch.Tensor:
            module = nn.MultiheadAttention(4, heads, bias=False, batch_first=True).to(nu.DTYPE)
            module.load_state_dict({"in_proj_weight": torch.cat((w_q, w_k, w_v), 1).T,
                                    "out_proj.weight": torch.eye(4, dtype=nu.DTYPE)})
            blocked = None if mask is None else ~torch.tensor(mask.keep(len(x)))
            return module.eval()(*[x[None]] * 3, attn_mask=blocked, need_weights=False)[0][0]

        return {at.Attention: lambda *a: F.scaled_dot_product_attention(*(t[None] for t in a))[0],
                at.RowSoftmax: lambda s: F.softmax(s, dim=-1),
                at.SelfAttention: sa}

    weights = {w: nu.randn(4, 4, seed=s) for w, s in ((at.W_Q, 20), (at.W_K, 22), (at.W_V, 23))}
    return nu.Reference(inputs={
        claims.Q: nu.randn(4, 3, seed=15), claims.K: nu.randn(6, 3, seed=16),
        claims.V: nu.randn(6, 2, seed=17), at.X: nu.randn(5, 4, seed=21), **weights,
        claims.P: torch.eye(5, dtype=nu.DTYPE)[[3, 0, 4, 2, 1]],
        claims.POSITIONS: nu.randn(5, 4, seed=33)}, scalars={at.d_k: 3}, operators=operators,
        chains=chains)


def projections(chains: tuple) -> bool:
    (names, rhs), = chains
    return nu.projections_match_attention({a.name: b for a, b in zip(names, rhs, strict=True)})


def _enumerated(side: sp.Expr, dim: int) -> float:
    """E[x] or Var[x] over all 2^(2 dim) vectors of +-1 components (mean 0, variance 1, not
    Gaussian), q . k = sum_i q_i k_i."""
    x = substitute(claims.MOMENTS[:1], side.args[0]).xreplace({at.d_k: dim}).doit()
    f = sp.lambdify([v[t] for v in (at.q, at.k) for t in range(1, dim + 1)], x, "math")
    signs = torch.tensor(list(itertools.product((-1.0, 1.0), repeat=2 * dim)), dtype=nu.DTYPE)
    out = f(*signs.T) * torch.ones(len(signs), dtype=nu.DTYPE)
    return (out.mean() if isinstance(side, at.Expectation) else out.var(unbiased=False)).item()


def moments(chains: tuple) -> bool:
    """Each chain's side E[.] or Var[.] enumerated, against its value, d_k = 1..4."""
    return all(math.isclose(_enumerated(lhs, d), float(rhs.xreplace({at.d_k: d})), abs_tol=1e-12)
               for d in range(1, 5) for lhs, rhs in chains)


def scaled_variance(chains: tuple) -> bool:
    """+-1 enumeration gives variance 1; SDPA's default scale is the candidate's s (d_k = 3)."""
    Q, K, V = claims.Q, claims.K, claims.V
    sdpa = at.Attention(Q, K, V), at.RowSoftmax(chains[0][0].args[0] / at.QK * Q * K.T) * V
    return moments(chains) and nu.chains_agree((sdpa,), (), attention())


def multihead(chains: tuple) -> bool:
    """The chain's right side at h = 3, head_i = softmax(q_i k_i^T / sqrt(2)) v_i from
    in_proj_weight's i-th blocks and W^O_i the i-th d_v = 2 rows of W^O, equals 3-head
    MultiheadAttention's output (the left side, Concat(heads) W^O)."""
    x, (heads, blocks) = nu.randn(5, 6, seed=18), at.heads_and_blocks(3)
    rhs = chains[0][-1].xreplace({at.h: 3}).doit().xreplace(
        {at.HEAD[t]: a for t, a in enumerate(heads, 1)}
        | {at.W_O_BLOCK[t]: b for t, b in enumerate(blocks, 1)})
    parts = [slice(t, t + 2) for t in (0, 2, 4)]

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        module = nu.mha(nn, 6, 3, seed=19)
        w_q, w_k, w_v, w_o = nu.weights(module)
        q, k, v = x @ w_q, x @ w_k, x @ w_v
        values = {a: torch.softmax(q[:, p] @ k[:, p].T / math.sqrt(2), dim=-1) @ v[:, p]
                  for a, p in zip(heads, parts, strict=True)}
        values |= {b: w_o[p] for b, p in zip(blocks, parts, strict=True)}
        out = module(x[None], x[None], x[None], need_weights=False)[0][0]
        return nu.close(out, nu._matrix(rhs, nu.Reference(values, {}, dict), {}))

    return nu.for_each_implementation(holds)


def equivariance() -> tuple[nu.Reference, nu.Reference]:
    """SA's definition (chain 1) with one head; SA(PX + E) = P SA(X + E) with one and two."""
    return attention(1), attention(2, (0, 1))


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
        kept = module(x, x, x)[1] * ~blocked
        return nu.close(weights, candidate) and nu.close(
            module(x, x, x, attn_mask=blocked)[1], kept / kept.sum(-1, keepdim=True))

    return nu.for_each_implementation(holds)


def causal(chains: tuple) -> bool:
    """is_causal=True equals the chain's mask in SDPA; MHA with its complement (True = blocked)
    equals MHA with torch's -inf square subsequent mask; changing the last token changes no
    earlier output."""
    q, k, v = nu.randn(1, 5, 4, seed=28), nu.randn(1, 5, 4, seed=29), nu.randn(1, 5, 3, seed=30)
    keep = torch.tensor(next(iter(chains[1][0].atoms(at.Mask))).keep(5))
    x = nu.randn(1, 5, 4, seed=31)
    changed = torch.cat([x[:, :-1], x[:, -1:] + 1.0], 1)  # the last token changed
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
