"""Claims about scaled dot-product and multi-head attention."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from types import ModuleType

import sympy as sp
import torch

from verified_transformer.claims.ledger import Claim
from verified_transformer.claims.numeric import (
    DTYPE,
    close,
    for_each_implementation,
    randn,
    randomize,
    to_sympy,
    to_tensor,
    twin,
)
from verified_transformer.derive import attention as at
from verified_transformer.derive.exact import equal, is_zero, matrices_equal

VASWANI = "vaswani2017attention"


def _mha(nn: ModuleType, embed_dim: int, num_heads: int, seed: int = 0) -> torch.nn.Module:
    """``nn.MultiheadAttention`` (batch_first, no biases) with torch's seeded weights loaded."""
    reference = randomize(
        torch.nn.MultiheadAttention(embed_dim, num_heads, bias=False, batch_first=True), seed
    )
    module = nn.MultiheadAttention(embed_dim, num_heads, bias=False, batch_first=True)
    return twin(reference, module)


def _weights(mha: torch.nn.Module) -> tuple[torch.Tensor, ...]:
    """``W^Q, W^K, W^V, W^O`` as right-multiplied matrices (``Q = X W^Q``)."""
    w_q, w_k, w_v = mha.in_proj_weight.detach().chunk(3)
    return w_q.T, w_k.T, w_v.T, mha.out_proj.weight.detach().T


# --- Q, K, V ---------------------------------------------------------------------------------


def _projections_hold(definitions: at.Definitions) -> bool:
    """Every product conforms for all sizes, and Q, K, V, QK^T and the output have their shapes."""
    if set(definitions) != {"Q", "K", "V"}:
        return False
    for name, rhs in definitions.items():
        if at.shape_mismatches(rhs) or rhs.shape != at.EXPECTED_SHAPES[name]:
            return False
    scores = definitions["Q"] * definitions["K"].T
    output = scores * definitions["V"]
    return (
        scores.shape == (at.n, at.n)
        and output.shape == (at.n, at.d_v)
        and not at.shape_mismatches(output)
    )


def projections_reach_input(definitions: at.Definitions) -> bool:
    """The definitions resolve (no undefined or circular quantity) to functions of X."""
    try:
        resolved = at.resolve(definitions)
    except ValueError:
        return False
    return all(at.X in rhs.atoms(sp.MatrixSymbol) for rhs in resolved.values())


def projections_match_attention(definitions: at.Definitions) -> bool:
    """Q, K, V from the definitions, then softmax(QK^T/sqrt(d_k))V W^O, equal one-head MHA."""
    x = randn(1, 4, 3, seed=10)

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        mha = _mha(nn, 3, 1, seed=11)
        w_q, w_k, w_v, w_o = _weights(mha)
        values = {
            at.X: to_sympy(x[0]),
            at.W_Q: to_sympy(w_q),
            at.W_K: to_sympy(w_k),
            at.W_V: to_sympy(w_v),
        }
        q, k, v = (
            sp.Matrix(at.resolve(definitions)[name].xreplace(values).doit())
            for name in ("Q", "K", "V")
        )
        expected = to_tensor(at.attention(q, k, v) * to_sympy(w_o))
        out, _ = mha(x, x, x, need_weights=False)
        return close(out[0], expected)

    return for_each_implementation(holds)


# --- variance of q.k ---------------------------------------------------------------------------


def _moments_hold(moments: Callable[[sp.Expr], tuple[sp.Expr, sp.Expr]]) -> bool:
    """Mean and variance of q.k: symbolic d_k, and again by monomials for d_k = 1..8."""
    mean, var = at.dot_product_moments()
    claimed_mean, claimed_var = moments(at.d_k)
    if not (equal(mean, claimed_mean) and equal(var, claimed_var)):
        return False
    return all(
        equal(m, moments(sp.Integer(d))[0]) and equal(v, moments(sp.Integer(d))[1])
        for d, (m, v) in ((d, at.dot_product_moments_explicit(d)) for d in range(1, 9))
    )


def _rademacher_moments(dim: int, scale: float = 1.0) -> tuple[float, float]:
    """Exact mean and variance of ``scale * q.k`` over all 2^(2 dim) sign vectors.

    Components +-1 with equal probability have mean 0 and variance 1 without being Gaussian.
    """
    signs = torch.tensor(list(itertools.product((-1.0, 1.0), repeat=2 * dim)), dtype=DTYPE)
    dots = (signs[:, :dim] * signs[:, dim:]).sum(-1) * scale
    return dots.mean().item(), dots.var(unbiased=False).item()


def _moments_numeric(moments: Callable[[sp.Expr], tuple[sp.Expr, sp.Expr]]) -> bool:
    """Enumerate +-1 components (mean 0, variance 1, not Gaussian) for d_k = 1..4."""
    return all(
        math.isclose(m, float(moments(sp.Integer(d))[0]), abs_tol=1e-12)
        and math.isclose(v, float(moments(sp.Integer(d))[1]), abs_tol=1e-12)
        for d, (m, v) in ((d, _rademacher_moments(d)) for d in range(1, 5))
    )


def _scaled_variance_holds(scale: Callable[[sp.Expr], sp.Expr]) -> bool:
    """``Var[s q.k] = s^2 d_k = 1`` for symbolic d_k (unit-variance components)."""
    _, var = at.dot_product_moments()
    return equal(scale(at.d_k) ** 2 * var, sp.Integer(1))


def _scaled_variance_numeric(scale: Callable[[sp.Expr], sp.Expr]) -> bool:
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


# --- the definition ------------------------------------------------------------------------------

SIZES = ((1, 1, 1, 1), (2, 3, 2, 2))  # (n queries, m keys, d_k, d_v)


def _numerator(expr: sp.Expr) -> sp.Expr:
    """Expanded numerator over a common denominator (zero iff ``expr`` is)."""
    return sp.expand(sp.numer(sp.together(expr)))


AttentionFn = Callable[[sp.MatrixBase, sp.MatrixBase, sp.MatrixBase], sp.MatrixBase]


def _definition_holds(attention: AttentionFn) -> bool:
    """Matrix form equals the entrywise form of Vaswani et al.'s equation (1), for SIZES."""
    for rows, keys, dk, dv in SIZES:
        q, k = at.symbol_matrix("q", rows, dk), at.symbol_matrix("k", keys, dk)
        v = at.symbol_matrix("v", keys, dv)
        if not matrices_equal(attention(q, k, v), at.attention_entrywise(q, k, v), _numerator):
            return False
    return True


def _definition_numeric(attention: AttentionFn) -> bool:
    q, k, v = randn(4, 3, seed=15), randn(6, 3, seed=16), randn(6, 2, seed=17)
    expected = to_tensor(attention(to_sympy(q), to_sympy(k), to_sympy(v)))

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        return close(F.scaled_dot_product_attention(q[None], k[None], v[None])[0], expected)

    return for_each_implementation(holds)


def _column_softmax(q: sp.MatrixBase, k: sp.MatrixBase, v: sp.MatrixBase) -> sp.MatrixBase:
    return at.row_softmax((q * k.T / sp.sqrt(q.cols)).T).T * v


# --- multi-head ----------------------------------------------------------------------------------

Combine = Callable[[Sequence[sp.MatrixBase], Sequence[sp.MatrixBase]], sp.MatrixBase]


def _multihead_holds(combine: Combine) -> bool:
    """Block multiplication of Concat(heads) by W^O equals ``combine``, for h = 1..8."""
    for h in range(1, 9):
        heads, blocks = at.heads_and_blocks(h)
        expected = at.concat_times_output(heads, blocks)
        got = combine(heads, blocks)
        # A sum of products of distinct matrix symbols is canonical once collected: it is the
        # zero function only when every coefficient vanishes.
        if got.shape != expected.shape or not isinstance((got - expected).doit(), sp.ZeroMatrix):
            return False
    return True


def _multihead_numeric(combine: Combine) -> bool:
    """Heads computed from in_proj_weight, combined by the candidate, equal 3-head MHA output."""
    x = randn(1, 5, 6, seed=18)
    heads_count, width = 3, 2

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        mha = _mha(nn, 6, heads_count, seed=19)
        w_q, w_k, w_v, w_o = _weights(mha)
        q, k, v = x[0] @ w_q, x[0] @ w_k, x[0] @ w_v
        heads, blocks = [], []
        for t in range(heads_count):
            part = slice(t * width, (t + 1) * width)
            weights = torch.softmax(q[:, part] @ k[:, part].T / math.sqrt(width), dim=-1)
            heads.append(to_sympy(weights @ v[:, part]))
            blocks.append(to_sympy(w_o[part]))
        out, _ = mha(x, x, x, need_weights=False)
        return close(out[0], to_tensor(sp.Matrix(combine(heads, blocks))))

    return for_each_implementation(holds)


# --- permutation equivariance --------------------------------------------------------------------

WIDTH = 2
WEIGHT_SYMBOLS = tuple(at.symbol_matrix(name, WIDTH, WIDTH) for name in ("a", "b", "c"))
SelfAttention = Callable[[tuple], Callable[[sp.MatrixBase], sp.MatrixBase]]


def _equivariant(make: SelfAttention) -> bool:
    """``SA(P X) = P SA(X)`` for every permutation P of n = 1..3 tokens (symbolic X and weights)."""
    sa = make(WEIGHT_SYMBOLS)
    for size in (1, 2, 3):
        x = at.symbol_matrix("x", size, WIDTH)
        out = sa(x)
        for perm in itertools.permutations(range(size)):
            p = at.permutation_matrix(perm)
            if not matrices_equal(sa(p * x), p * out, sp.cancel):
                return False
    return True


def _causal_self_attention(weights: tuple) -> Callable[[sp.MatrixBase], sp.MatrixBase]:
    w_q, w_k, w_v = weights
    return lambda x: at.attention(x * w_q, x * w_k, x * w_v, keep=at.causal_keep(x.rows))


def _positional_self_attention(weights: tuple) -> Callable[[sp.MatrixBase], sp.MatrixBase]:
    def sa(x: sp.MatrixBase) -> sp.MatrixBase:
        with_positions = x + at.symbol_matrix("p", x.rows, x.cols)
        return at.self_attention(weights)(with_positions)

    return sa


def _equivariance_numeric(make: SelfAttention) -> bool:
    """Candidate equals one-head MHA (times W^O); 2-head MHA commutes with a permutation."""
    x = randn(1, 4, WIDTH, seed=20)
    y = randn(1, 5, 4, seed=21)
    perm = torch.tensor([3, 0, 4, 2, 1])

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        one_head = _mha(nn, WIDTH, 1, seed=22)
        w_q, w_k, w_v, w_o = _weights(one_head)
        sa = make((to_sympy(w_q), to_sympy(w_k), to_sympy(w_v)))
        expected = to_tensor(sa(to_sympy(x[0])) * to_sympy(w_o))
        matches = close(one_head(x, x, x, need_weights=False)[0][0], expected)
        two_heads = _mha(nn, 4, 2, seed=23)
        out = two_heads(y, y, y, need_weights=False)[0]
        permuted = two_heads(y[:, perm], y[:, perm], y[:, perm], need_weights=False)[0]
        return matches and close(permuted, out[:, perm])

    return for_each_implementation(holds)


# --- masks ---------------------------------------------------------------------------------------

MaskFn = Callable[[Sequence[sp.Expr], Sequence[bool]], list[sp.Expr]]


def _renormalizes(mask: MaskFn) -> bool:
    """softmax(mask(z)) is the softmax over the kept logits, 0 elsewhere (n = 1..4, all masks)."""
    for size in range(1, 5):
        z = sp.symbols(f"z1:{size + 1}", real=True)
        for keep in itertools.product((False, True), repeat=size):
            if not any(keep):
                continue
            got = [sp.exp(v) for v in mask(z, keep)]
            total = sp.Add(*got)
            kept_total = sp.Add(*[sp.exp(v) for v, kept in zip(z, keep, strict=True) if kept])
            for value, v, kept in zip(got, z, keep, strict=True):
                expected = sp.exp(v) / kept_total if kept else sp.Integer(0)
                if not equal(value / total, expected, sp.cancel):
                    return False
    return True


def _renormalizes_numeric(mask: MaskFn) -> bool:
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
        mha = _mha(nn, 4, 1, seed=27)
        blocked = ~torch.tensor([[True, True, False, True, True]] * 5)
        _, free = mha(x, x, x)
        _, masked = mha(x, x, x, attn_mask=blocked)
        renormalized = free * ~blocked
        renormalized = renormalized / renormalized.sum(-1, keepdim=True)
        return close(weights, candidate) and close(masked, renormalized)

    return for_each_implementation(holds)


def _causal_holds(keep_for: Callable[[int], list[list[bool]]]) -> bool:
    """Output r depends on every token c <= r and on no token c > r (n = 1..3, scalar tokens)."""
    w = tuple(sp.Matrix([[sp.Symbol(name, positive=True)]]) for name in ("w_q", "w_k", "w_v"))
    for size in range(1, 4):
        x = at.symbol_matrix("x", size, 1)
        out = at.attention(x * w[0], x * w[1], x * w[2], keep=keep_for(size))
        for r in range(size):
            for c in range(size):
                derivative = sp.diff(out[r, 0], x[c, 0])
                if c > r and derivative != 0:
                    return False
                if c <= r and (out[r, 0].has(sp.nan) or is_zero(derivative, lambda e: e)):
                    return False
    return True


def _causal_numeric(keep_for: Callable[[int], list[list[bool]]]) -> bool:
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
        mha = _mha(nn, 4, 2, seed=32)
        out = mha(x, x, x, attn_mask=~keep, need_weights=False)[0]
        reference = mha(x, x, x, attn_mask=float_mask, need_weights=False)[0]
        later = mha(changed, changed, changed, attn_mask=~keep, need_weights=False)[0]
        return (
            close(causal, explicit) and close(out, reference) and close(later[:, :-1], out[:, :-1])
        )

    return for_each_implementation(holds)


CLAIMS = (
    Claim(
        id="attention.qkv_projections",
        statement=r"Q = XW^Q \in \mathbb{R}^{n\times d_k},\ "
        r"K = XW^K \in \mathbb{R}^{n\times d_k},\ "
        r"V = XW^V \in \mathbb{R}^{n\times d_v},\ QK^\top \in \mathbb{R}^{n\times n}",
        source=VASWANI,
        scope="symbolic n, d_model, d_k, d_v",
        formula=at.projections(),
        symbolic=_projections_hold,
        wrong={
            "article: Q = K^T W^Q, K = V^T W^K": at.article_projections(),
            "transposed weights Q = X (W^Q)^T": {
                "Q": at.X * at.W_Q.T,
                "K": at.X * at.W_K,
                "V": at.X * at.W_V,
            },
            "no projection Q = X": {"Q": at.X, "K": at.X * at.W_K, "V": at.X * at.W_V},
        },
        numeric=projections_match_attention,
        note="Matrix symbols of symbolic size: every product must conform for all sizes.",
    ),
    Claim(
        id="attention.dot_product_variance",
        statement=r"q_i, k_i \text{ independent, mean } 0, \text{ variance } 1:\ "
        r"E[q\cdot k] = 0,\ \operatorname{Var}[q\cdot k] = d_k",
        source=VASWANI,
        scope="symbolic d_k; d_k = 1..8 by monomials",
        formula=lambda dim: (sp.Integer(0), dim),
        symbolic=_moments_hold,
        wrong={
            "Var = sqrt(d_k)": lambda dim: (sp.Integer(0), sp.sqrt(dim)),
            "Var = 1": lambda dim: (sp.Integer(0), sp.Integer(1)),
        },
        numeric=_moments_numeric,
        note="Needs only the first two moments: the numeric check enumerates +-1 components.",
    ),
    Claim(
        id="attention.scaled_variance",
        statement=r"\operatorname{Var}\!\left[\frac{q\cdot k}{\sqrt{d_k}}\right] = 1",
        source=VASWANI,
        scope="symbolic d_k",
        formula=lambda dim: 1 / sp.sqrt(dim),
        symbolic=_scaled_variance_holds,
        wrong={"1/d_k scaling": lambda dim: 1 / dim, "no scaling": lambda dim: sp.Integer(1)},
        numeric=_scaled_variance_numeric,
        note="Numerically, the candidate scale is the default scale of our SDPA and torch's.",
    ),
    Claim(
        id="attention.scaled_dot_product_definition",
        statement=r"\operatorname{Attention}(Q,K,V) = "
        r"\operatorname{softmax}\!\left(\frac{QK^\top}{\sqrt{d_k}}\right)V",
        source=VASWANI,
        scope="(n, m, d_k, d_v) = (1,1,1,1), (2,3,2,2)",
        formula=at.attention,
        symbolic=_definition_holds,
        wrong={
            "1/d_k scaling": lambda q, k, v: at.row_softmax(q * k.T / q.cols) * v,
            "softmax over queries (columns)": _column_softmax,
        },
        numeric=_definition_numeric,
        note="Matrix form against the entrywise sum; numerically against SDPA at (4, 6, 3, 2).",
    ),
    Claim(
        id="attention.multihead_concat",
        statement=r"\operatorname{Concat}(\mathrm{head}_1,\dots,\mathrm{head}_h)W^O = "
        r"\sum_{i=1}^{h} \mathrm{head}_i W^O_i",
        source=VASWANI,
        scope="h = 1..8; symbolic n, d_v, d_model",
        formula=at.sum_of_heads,
        symbolic=_multihead_holds,
        wrong={
            "mean of heads": lambda heads, blocks: at.sum_of_heads(heads, blocks) / len(heads),
            "blocks paired in reverse": lambda heads, blocks: at.sum_of_heads(heads, blocks[::-1]),
        },
        numeric=_multihead_numeric,
        note="W^O_i is the i-th block of d_v rows of W^O (block matrix product).",
    ),
    Claim(
        id="attention.permutation_equivariance",
        statement=r"\mathrm{SA}(PX) = P\,\mathrm{SA}(X) \text{ for every permutation matrix } P",
        source=VASWANI,
        scope="n = 1..3 tokens, all permutations; symbolic entries",
        formula=at.self_attention,
        symbolic=_equivariant,
        wrong={
            "causal self-attention": _causal_self_attention,
            "positions added to X": _positional_self_attention,
        },
        numeric=_equivariance_numeric,
        note="Self-attention without positional information cannot see token order.",
    ),
    Claim(
        id="attention.mask_renormalizes",
        statement=r"\operatorname{softmax}(z + m)_i = \frac{e^{z_i}}{\sum_{k\ \mathrm{kept}} "
        r"e^{z_k}} \text{ (kept)},\ 0 \text{ (masked)},\quad m_k \in \{0, -\infty\}",
        source=VASWANI,
        scope="n = 1..4, every mask with a kept entry",
        formula=at.masked_logits,
        symbolic=_renormalizes,
        wrong={
            "0/1 float mask added": lambda z, keep: [
                v + int(kept) for v, kept in zip(z, keep, strict=True)
            ],
            "logits multiplied by the mask": lambda z, keep: [
                v * int(kept) for v, kept in zip(z, keep, strict=True)
            ],
        },
        numeric=_renormalizes_numeric,
        note="Boolean masks: True = attend in SDPA, True = blocked in MultiheadAttention.",
    ),
    Claim(
        id="attention.causal_mask",
        statement=r"M_{rc} = -\infty \text{ for } c > r:\ "
        r"\frac{\partial\,\mathrm{out}_r}{\partial x_c} = 0 \iff c > r",
        source=VASWANI,
        scope="n = 1..3, scalar tokens",
        formula=at.causal_keep,
        symbolic=_causal_holds,
        wrong={
            "upper triangle kept (c >= r)": lambda size: [
                [c >= r for c in range(size)] for r in range(size)
            ],
            "diagonal masked too (c < r)": lambda size: [
                [c < r for c in range(size)] for r in range(size)
            ],
            "no mask": lambda size: [[True] * size for _ in range(size)],
        },
        numeric=_causal_numeric,
        note="Exact derivatives; numerically is_causal=True, the boolean mask and torch's "
        "square subsequent mask agree.",
    ),
)
