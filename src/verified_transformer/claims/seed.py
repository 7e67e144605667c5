"""Refutations of the seed article's equations and code, each by computation.

Every claim here holds for our formula and rejects the article's version (listed among the wrong
variants), so the ledger shows both that the article is wrong and that the correction is right.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import sympy as sp

from verified_transformer.claims.fixtures import projections_reach_input
from verified_transformer.claims.latex import latex
from verified_transformer.claims.ledger import Claim, numeric_check
from verified_transformer.derive import attention as at
from verified_transformer.derive import residual as rs
from verified_transformer.derive.exact import equal, is_zero

VASWANI = "vaswani2017attention"
Weights = Callable[[Sequence[sp.Expr], sp.Expr], list[sp.Expr]]
_numeric = numeric_check("numeric_seed")


# --- attention weights ---------------------------------------------------------------------------


def _scores(size: int) -> tuple[sp.Symbol, ...]:
    return sp.symbols(f"s1:{size + 1}", real=True)


def _weights_are_scaled_softmax(weights: Weights) -> bool:
    """For m = 1..4 keys and a symbolic d_k, the weights sum to 1 and ``w_t e^{-s_t/sqrt(d_k)}``
    is the same for every key (``w_t / w_u = e^{(s_t - s_u)/sqrt(d_k)}``): the two properties that
    determine the softmax of ``s/sqrt(d_k)``, checked without writing that softmax down again."""
    for size in range(1, 5):
        s = _scores(size)
        got = weights(s, at.d_k)
        if len(got) != size or not equal(sp.Add(*got), sp.Integer(1), sp.cancel):
            return False
        ratios = [w * sp.exp(-v / sp.sqrt(at.d_k)) for w, v in zip(got, s, strict=True)]
        if not all(equal(r, ratios[0], sp.cancel) for r in ratios[1:]):
            return False
    return True


def _shift_invariant_weights(weights: Weights) -> bool:
    """A single softmax ignores a constant added to all scores: ``w(s + c) = w(s)``, m = 2, 3."""
    c = sp.Symbol("c", real=True)
    for size in (2, 3):
        s = _scores(size)
        moved = weights([v + c for v in s], at.d_k)
        if not all(equal(a, b, sp.cancel) for a, b in zip(moved, weights(s, at.d_k), strict=True)):
            return False
    return True


def _double_softmax_holds(weights: Weights) -> bool:
    return _weights_are_scaled_softmax(weights) and _shift_invariant_weights(weights)


def _softmax_twice(scores: Sequence[sp.Expr], dim: sp.Expr) -> list[sp.Expr]:
    once = at.attention_weights(scores, dim)
    exps = [sp.exp(v) for v in once]
    return [e / sp.Add(*exps) for e in exps]


# --- residual: sum, not concatenation ----------------------------------------------------------

Combine = Callable[[object, object], object]


def _width_kept(combine: Combine) -> bool:
    """Eight layers ``H <- combine(H, H W_l)`` with ``W_l`` of size d_model x d_model: every
    product conforms and the width stays d_model (symbolic n, d_model)."""
    h = sp.MatrixSymbol("H", at.n, at.d_model)
    for layer in range(1, 9):
        w = sp.MatrixSymbol(f"W_{layer}", at.d_model, at.d_model)
        branch = h * w
        if at.shape_mismatches(branch):
            return False
        h = combine(h, branch)
        if h.shape != (at.n, at.d_model) or at.shape_mismatches(h):
            return False
    return True


# --- feed-forward: two linear maps with an activation, back to d_model --------------------------

FeedForward = Callable[[object, object, object, Callable], object]
d_ff = sp.Symbol("d_ff", integer=True, positive=True)


def _relu(m: sp.MatrixBase) -> sp.MatrixBase:
    return m.applyfunc(lambda e: sp.Max(0, e))


def _ffn_holds(ffn: FeedForward) -> bool:
    """``y + FFN(y)`` conforms for symbolic d_ff != d_model, and FFN is not affine (exact witness
    with d_model = 2, d_ff = 3, ReLU)."""
    y = sp.MatrixSymbol("Y", at.n, at.d_model)
    w1, w2 = sp.MatrixSymbol("W_1", at.d_model, d_ff), sp.MatrixSymbol("W_2", d_ff, at.d_model)
    try:
        residual = y + ffn(y, w1, w2, lambda m: m)  # the activation keeps the shape
    except sp.ShapeError:
        return False
    if at.shape_mismatches(residual) or residual.shape != (at.n, at.d_model):
        return False
    e1, e2 = sp.Matrix([[1, 0, 1], [0, 1, -1]]), sp.Matrix([[1, 2], [3, -1], [1, 1]])
    a, b = sp.Matrix([[1, 0]]), sp.Matrix([[-1, 0]])
    midpoint = ffn((a + b) / 2, e1, e2, _relu) - (ffn(a, e1, e2, _relu) + ffn(b, e1, e2, _relu)) / 2
    return not all(is_zero(v, sp.simplify) for v in midpoint)


# --- displays: the article's formula and ours, both generated from the objects checked ------------

ARTICLE_PROJECTIONS = "article: Q = K^T W^Q, K = V^T W^K"
ARTICLE_CONCAT = "article: concatenation F(H) (+) H"
ARTICLE_FFN = "article: one Linear(d_model, dff), no activation"


def _space(shape: tuple) -> str:
    return rf"\mathbb{{R}}^{{{latex(shape[0])}\times {latex(shape[1])}}}"


def _qkv_display(definitions: at.Definitions) -> tuple[str, ...]:
    article = r",\ ".join(f"{k} = {latex(v)}" for k, v in at.article_projections().items())
    ours = r",\ ".join(f"{k} = {latex(v)}" for k, v in definitions.items())
    return (
        rf"\text{{article: }} {article}\quad \text{{(never reach }} X \text{{; }} V"
        r"\text{ is undefined)}",
        rf"\text{{ours: }} {ours}",
    )


_S = sp.symbols("s1:3", real=True)


def _weights_display(weights: Weights, article: Weights) -> tuple[str, ...]:
    ours = latex(weights(list(_S), at.d_k)[0])
    theirs = latex(article(list(_S), at.d_k)[0])
    return (rf"\text{{article: }} w_1 = {theirs}", rf"\text{{ours: }} w_1 = {ours}\quad (m = 2)")


def _scale_outside_display(weights: Weights) -> tuple[str, ...]:
    scores = latex(at.article_scores([sp.Symbol("s_t")], at.d_k)[0])
    return (
        rf"\text{{article: }} A_t = {scores}",
        *_weights_display(weights, at.article_weights_normalized),
    )


def _double_softmax_display(weights: Weights) -> tuple[str, ...]:
    return _weights_display(weights, at.article_weights)


def _concat_display(combine: Combine) -> tuple[str, ...]:
    h = sp.MatrixSymbol("H", at.n, at.d_model)
    f_h = sp.MatrixSymbol("F(H)", at.n, at.d_model)
    article, ours = rs.article_concat(h, f_h), combine(h, f_h)
    return (
        rf"\text{{article: }} {latex(article)} \in {_space(article.shape)}",
        rf"\text{{ours: }} H^l = {latex(ours)} \in {_space(ours.shape)}",
    )


def _ffn_display(ffn: FeedForward) -> tuple[str, ...]:
    y = sp.MatrixSymbol("y", at.n, at.d_model)
    w1, w2 = sp.MatrixSymbol("W_1", at.d_model, d_ff), sp.MatrixSymbol("W_2", d_ff, at.d_model)
    article = at.article_feed_forward(y, w1, w2, at.Relu)
    ours = ffn(y, w1, w2, at.Relu)
    return (
        rf"\text{{article: }} \mathrm{{LN}}(y + {latex(article)}),\ {latex(article)} \in "
        rf"{_space(article.shape)}",
        rf"\text{{ours: }} \mathrm{{FFN}}(y) = {latex(ours)} \in {_space(ours.shape)}",
    )


REFUTED = "refutation"
CLAIMS = (
    Claim(
        custom="TODO: not yet an equation",
        id="seed.qkv_circular",
        kind=REFUTED,
        render=_qkv_display,
        compared=("torch.nn.MultiheadAttention",),
        source=VASWANI,
        scope="symbolic n, d_model, d_k, d_v",
        formula=at.projections(),
        symbolic=projections_reach_input,
        wrong={"article: Q = K^T W^Q, K = V^T W^K": at.article_projections()},
        numeric=numeric_check("numeric")("projections_match_attention"),
        note="Substituting the article's definitions into each other leaves V undefined; "
        "ours resolve to functions of the input X.",
    ),
    Claim(
        custom="TODO: not yet an equation",
        id="seed.scale_outside_exp",
        kind=REFUTED,
        render=_scale_outside_display,
        compared=("torch.nn.functional.scaled_dot_product_attention",),
        source=VASWANI,
        scope="m = 1..4 keys, symbolic d_k",
        formula=at.attention_weights,
        symbolic=_weights_are_scaled_softmax,
        wrong={
            "article, normalized: exp(s)/sqrt(d_k) / sum": at.article_weights_normalized,
            "article, as printed: exp(s)/sqrt(d_k)": at.article_scores,
        },
        numeric=_numeric("weights", False),
        note="Dividing after exp is not a temperature: normalizing removes it, so the scores keep "
        "variance d_k.",
    ),
    Claim(
        custom="TODO: not yet an equation",
        id="seed.double_softmax",
        kind=REFUTED,
        render=_double_softmax_display,
        compared=("torch.nn.functional.scaled_dot_product_attention",),
        source=VASWANI,
        scope="m = 1..4 keys, symbolic d_k",
        formula=at.attention_weights,
        symbolic=_double_softmax_holds,
        wrong={
            "article: softmax(exp(s)/sqrt(d_k))": at.article_weights,
            "softmax applied twice": _softmax_twice,
        },
        numeric=_numeric("weights", True),
        note="Adding a constant to every score changes the article's weights, not ours.",
    ),
    Claim(
        custom="TODO: not yet an equation",
        id="seed.residual_concat",
        kind=REFUTED,
        render=_concat_display,
        compared=("torch.nn.TransformerEncoderLayer",),
        source="he2016deep",
        scope="symbolic n, d_model; 8 layers",
        formula=rs.residual_add,
        symbolic=_width_kept,
        wrong={"article: concatenation F(H) (+) H": rs.article_concat},
        numeric=_numeric("combine"),
        note="The article states both equations; they cannot both hold (widths d_model and "
        "2 d_model).",
    ),
    Claim(
        custom="TODO: not yet an equation",
        id="seed.ffn_shape",
        kind=REFUTED,
        render=_ffn_display,
        compared=("torch.nn.TransformerEncoderLayer",),
        source=VASWANI,
        scope="symbolic n, d_model, d_ff; d_model = 2, d_ff = 3 witness",
        formula=at.feed_forward,
        symbolic=_ffn_holds,
        wrong={"article: one Linear(d_model, dff), no activation": at.article_feed_forward},
        numeric=_numeric("ffn"),
        note="The article's feed-forward output has width d_ff, and without an activation it is "
        "affine.",
    ),
)
