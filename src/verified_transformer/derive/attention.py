r"""Scaled dot-product and multi-head attention, derived with SymPy.

* Projections: :math:`Q = XW^Q,\ K = XW^K,\ V = XW^V` with
  :math:`X \in \mathbb{R}^{n\times d_{model}}` (matrix symbols of symbolic size, shapes checked
  exactly).
* :math:`\operatorname{Attention}(Q,K,V) = \operatorname{softmax}(QK^\top/\sqrt{d_k})V`, softmax
  over each row (explicit small matrices of symbols).
* Moments of :math:`q\cdot k` for independent components: mean 0, variance :math:`d_k` (symbolic
  :math:`d_k`), so :math:`q\cdot k/\sqrt{d_k}` has variance 1.
* Multi-head: :math:`\operatorname{Concat}(head_1,\dots,head_h)W^O = \sum_i head_i W^O_i` with
  :math:`W^O_i` the i-th block of :math:`d_v` rows of :math:`W^O`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

import sympy as sp
from sympy.matrices.expressions.matexpr import MatrixExpr

n, d_model, d_k, d_v = sp.symbols("n d_model d_k d_v", integer=True, positive=True)
i, j = sp.symbols("i j", integer=True, positive=True)

X = sp.MatrixSymbol("X", n, d_model)
W_Q = sp.MatrixSymbol("W^Q", d_model, d_k)
W_K = sp.MatrixSymbol("W^K", d_model, d_k)
W_V = sp.MatrixSymbol("W^V", d_model, d_v)
Q = sp.MatrixSymbol("Q", n, d_k)
K = sp.MatrixSymbol("K", n, d_k)
V = sp.MatrixSymbol("V", n, d_v)
EXPECTED_SHAPES = {"Q": (n, d_k), "K": (n, d_k), "V": (n, d_v)}

Definitions = dict[str, MatrixExpr]  # name ("Q", "K", "V") -> defining right-hand side


# --- projections -------------------------------------------------------------------------------


def projections() -> Definitions:
    """``Q = X W^Q``, ``K = X W^K``, ``V = X W^V`` (Vaswani et al. 2017, section 3.2.2)."""
    return {"Q": X * W_Q, "K": X * W_K, "V": X * W_V}


def article_projections() -> Definitions:
    """The seed article's section 4.1: ``Q = K^T W^Q``, ``K = V^T W^K``; ``V`` is never defined."""
    return {"Q": K.T * W_Q, "K": V.T * W_K}


def shape_mismatches(expr: MatrixExpr) -> list[str]:
    """Every product or sum inside ``expr`` whose sizes differ for some values of the symbols."""
    problems = []
    for node in sp.preorder_traversal(expr):
        if isinstance(node, sp.MatMul):
            factors = [a for a in node.args if isinstance(a, MatrixExpr)]
            for left, right in itertools.pairwise(factors):
                if sp.expand(left.cols - right.rows) != 0:
                    problems.append(
                        f"{left} ({left.rows}x{left.cols}) times {right} "
                        f"({right.rows}x{right.cols})"
                    )
        elif isinstance(node, sp.MatAdd):
            shapes = {a.shape for a in node.args}
            if len(shapes) > 1:
                problems.append(f"sum of shapes {sorted(map(str, shapes))}")
    return problems


def resolve(definitions: Definitions, rounds: int = 3) -> Definitions:
    """Substitute the definitions into each other until only inputs and weights remain.

    Raises ``ValueError`` when a right-hand side still refers to ``Q``, ``K`` or ``V`` afterwards
    (a quantity that is never defined, or defined in a circle).
    """
    unknowns = {"Q": Q, "K": K, "V": V}
    resolved = dict(definitions)
    for _ in range(rounds):
        table = {unknowns[name]: rhs for name, rhs in resolved.items()}
        resolved = {name: rhs.xreplace(table) for name, rhs in resolved.items()}
    for name in ("Q", "K", "V"):
        if name not in resolved:
            raise ValueError(f"definitions: {name} is never defined")
        left = resolved[name].atoms(sp.MatrixSymbol) & set(unknowns.values())
        if left:
            raise ValueError(f"definitions: {name} still depends on {sorted(map(str, left))}")
    return resolved


# --- scaled dot-product attention on explicit matrices ----------------------------------------


def symbol_matrix(name: str, rows: int, cols: int) -> sp.Matrix:
    """An explicit ``rows x cols`` matrix of real symbols ``name_{r,c}`` (1-based)."""
    return sp.Matrix(rows, cols, lambda r, c: sp.Symbol(f"{name}_{r + 1}{c + 1}", real=True))


class RowSoftmax(MatrixExpr):
    r"""``softmax`` of each row of a matrix expression of symbolic size (kept unevaluated; the
    book prints it as ``\operatorname{softmax}(...)``)."""

    def __new__(cls, arg: MatrixExpr) -> RowSoftmax:
        return sp.Basic.__new__(cls, arg)

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        return self.args[0].shape


def row_softmax(scores: sp.MatrixBase | MatrixExpr) -> sp.Matrix | RowSoftmax:
    """Softmax of each row: ``A_ij = exp(S_ij) / sum_t exp(S_it)`` (explicit matrices);
    an unevaluated :class:`RowSoftmax` for a matrix expression of symbolic size."""
    if isinstance(scores, MatrixExpr) and not isinstance(scores, sp.MatrixBase):
        return RowSoftmax(scores)
    rows = []
    for r in range(scores.rows):
        exps = [sp.exp(s) for s in scores.row(r)]
        total = sp.Add(*exps)
        rows.append([e / total for e in exps])
    return sp.Matrix(rows)


def attention(
    q: sp.MatrixBase,
    k: sp.MatrixBase,
    v: sp.MatrixBase,
    keep: Sequence[Sequence[bool]] | None = None,
) -> sp.Matrix:
    """``softmax(Q K^T / sqrt(d_k) + M) V``, ``M_ij = -oo`` where ``keep[i][j]`` is False."""
    scores = q * k.T / sp.sqrt(q.cols)
    if keep is not None:
        scores = sp.Matrix(
            scores.rows, scores.cols, lambda r, c: scores[r, c] if keep[r][c] else -sp.oo
        )
    return row_softmax(scores) * v


def masked_logits(logits: Sequence[sp.Expr], keep: Sequence[bool]) -> list[sp.Expr]:
    """Add ``-oo`` to every logit that is not kept (an additive mask ``m_k in {0, -oo}``)."""
    return [z if kept else z + (-sp.oo) for z, kept in zip(logits, keep, strict=True)]


def causal_keep(size: int) -> list[list[bool]]:
    """The causal mask as ``keep[r][c]``: query r may attend to key c exactly when ``c <= r``."""
    return [[c <= r for c in range(size)] for r in range(size)]


def attention_entrywise(q: sp.MatrixBase, k: sp.MatrixBase, v: sp.MatrixBase) -> sp.Matrix:
    r"""Reference form: :math:`o_{ij} = \sum_t e^{q_i\cdot k_t/\sqrt{d_k}} v_{tj} /
    \sum_s e^{q_i\cdot k_s/\sqrt{d_k}}`."""
    scale = 1 / sp.sqrt(q.cols)

    def entry(r: int, c: int) -> sp.Expr:
        weights = [sp.exp(q.row(r).dot(k.row(t)) * scale) for t in range(k.rows)]
        return sp.Add(*[w * v[t, c] for t, w in enumerate(weights)]) / sp.Add(*weights)

    return sp.Matrix(q.rows, v.cols, entry)


def self_attention(weights: tuple[sp.MatrixBase, sp.MatrixBase, sp.MatrixBase]) -> Callable:
    """``X -> Attention(X W^Q, X W^K, X W^V)`` for explicit weight matrices (no positions): the
    projections of :func:`projections` with X and the weights substituted."""
    table = dict(zip((W_Q, W_K, W_V), weights, strict=True))

    def sa(x: sp.MatrixBase) -> sp.MatrixBase:
        defs = projections()
        q, k, v = (
            sp.Matrix(defs[name].xreplace({X: x, **table}).doit()) for name in ("Q", "K", "V")
        )
        return attention(q, k, v)

    return sa


def permutation_matrix(perm: Sequence[int]) -> sp.Matrix:
    """``P`` with ``(P X)_r = X_{perm[r]}``."""
    size = len(perm)
    return sp.Matrix(size, size, lambda r, c: 1 if perm[r] == c else 0)


# --- variance of the dot product ---------------------------------------------------------------


@cache
def dot_product_moments(
    dim: sp.Expr = d_k,
    mean_q: sp.Expr = 0,
    var_q: sp.Expr = 1,
    mean_k: sp.Expr = 0,
    var_k: sp.Expr = 1,
) -> tuple[sp.Expr, sp.Expr]:
    r"""Mean and variance of :math:`q\cdot k=\sum_{i=1}^{d_k} q_i k_i`, symbolic :math:`d_k`.

    Components independent, :math:`E[q_i]=\mu_q`, :math:`E[q_iq_j]=\sigma_q^2\delta_{ij}+\mu_q^2`
    (same for k). Independence of q and k gives
    :math:`E[(q\cdot k)^2]=\sum_{i,j}E[q_iq_j]E[k_ik_j]`.
    """
    second_q = var_q * sp.KroneckerDelta(i, j) + mean_q**2
    second_k = var_k * sp.KroneckerDelta(i, j) + mean_k**2
    inner = sp.Sum(sp.expand(second_q * second_k), (j, 1, dim)).doit()
    inner = inner.subs({sp.Le(i, dim): True, sp.Ge(dim, i): True})
    second = sp.Sum(sp.piecewise_fold(inner), (i, 1, dim)).doit()
    mean = sp.Sum(mean_q * mean_k, (i, 1, dim)).doit()
    return sp.simplify(mean), sp.factor(sp.expand(second - mean**2))


def dot_product_moments_explicit(
    dim: int, moments_q: Sequence[sp.Expr] = (0, 1), moments_k: Sequence[sp.Expr] = (0, 1)
) -> tuple[sp.Expr, sp.Expr]:
    """Same moments for a fixed ``dim``, by expanding ``(q.k)^2`` into monomials.

    ``moments_*`` are ``(E[x], E[x^2])``; independence makes the expectation of a monomial the
    product of the moments of its factors. An independent route to :func:`dot_product_moments`.
    """
    if dim < 1:
        raise ValueError(f"dim: expected a positive int, got {dim}")
    qs = sp.symbols(f"q1:{dim + 1}")
    ks = sp.symbols(f"k1:{dim + 1}")
    moment = {v: moments_q for v in qs} | {v: moments_k for v in ks}

    def expectation(poly: sp.Expr) -> sp.Expr:
        total = sp.Integer(0)
        for monomial, coeff in sp.Poly(poly, *qs, *ks).terms():
            term = coeff
            for var, power in zip((*qs, *ks), monomial, strict=True):
                term *= 1 if power == 0 else moment[var][power - 1]
            total += term
        return total

    dot = sum(a * b for a, b in zip(qs, ks, strict=True))
    mean = expectation(dot)
    return mean, sp.expand(expectation(sp.expand(dot**2)) - mean**2)


# --- multi-head concatenation -----------------------------------------------------------------


def heads_and_blocks(h: int) -> tuple[list[sp.MatrixSymbol], list[sp.MatrixSymbol]]:
    """``head_i`` (n x d_v) and the row blocks ``W^O_i`` (d_v x d_model) of ``W^O``."""
    heads = [sp.MatrixSymbol(f"head_{t}", n, d_v) for t in range(1, h + 1)]
    blocks = [sp.MatrixSymbol(f"W^O_{t}", d_v, d_model) for t in range(1, h + 1)]
    return heads, blocks


def concat_times_output(heads: Sequence[MatrixExpr], blocks: Sequence[MatrixExpr]) -> MatrixExpr:
    """``Concat(head_1..head_h) W^O`` with ``W^O`` stacked from its row blocks, block-multiplied."""
    concat = sp.BlockMatrix([list(heads)])
    w_o = sp.BlockMatrix([[b] for b in blocks])
    return sp.block_collapse(concat * w_o)


def sum_of_heads(heads: Sequence[MatrixExpr], blocks: Sequence[MatrixExpr]) -> MatrixExpr:
    """``sum_i head_i W^O_i``."""
    return sp.MatAdd(*[hd * b for hd, b in zip(heads, blocks, strict=True)]).doit()


# --- attention weights of one query: ours and the seed article's --------------------------------


def attention_weights(scores: Sequence[sp.Expr], dim: sp.Expr = d_k) -> list[sp.Expr]:
    """``softmax(s / sqrt(d_k))`` for the scores ``s_t = q . k_t`` of one query."""
    exps = [sp.exp(s / sp.sqrt(dim)) for s in scores]
    total = sp.Add(*exps)
    return [e / total for e in exps]


def article_scores(scores: Sequence[sp.Expr], dim: sp.Expr = d_k) -> list[sp.Expr]:
    """The seed article's ``A = exp(q_k^T r) / sqrt(d_k)``: the scale is applied after ``exp``."""
    return [sp.exp(s) / sp.sqrt(dim) for s in scores]


def article_weights_normalized(scores: Sequence[sp.Expr], dim: sp.Expr = d_k) -> list[sp.Expr]:
    """The article's ``A`` normalized to sum to one: ``sqrt(d_k)`` cancels, leaving softmax(s)."""
    a = article_scores(scores, dim)
    total = sp.Add(*a)
    return [v / total for v in a]


def article_weights(scores: Sequence[sp.Expr], dim: sp.Expr = d_k) -> list[sp.Expr]:
    """The article's ``softmax(A)``: exponentiates twice, ``softmax(exp(s) / sqrt(d_k))``."""
    exps = [sp.exp(v) for v in article_scores(scores, dim)]
    total = sp.Add(*exps)
    return [e / total for e in exps]


# --- the feed-forward sub-layer ----------------------------------------------------------------


class Relu(MatrixExpr):
    """``max(0, A)`` entrywise, for a matrix expression of symbolic size (unevaluated)."""

    def __new__(cls, arg: MatrixExpr) -> Relu:
        return sp.Basic.__new__(cls, arg)

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        return self.args[0].shape


def feed_forward(y: Any, w1: Any, w2: Any, activation: Callable[[Any], Any]) -> Any:
    """``FFN(y) = act(y W_1) W_2``: back to ``d_model`` so it can be added to ``y``."""
    return activation(y @ w1) @ w2


def article_feed_forward(y: Any, w1: Any, w2: Any, activation: Callable[[Any], Any]) -> Any:
    """The seed article's ``feed_forward = nn.Linear(d_model, dff)``: one affine map to d_ff."""
    return y @ w1
