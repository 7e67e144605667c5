"""Refutations of the seed article's equations and code, each by computation.

Every claim here holds for our formula and rejects the article's version (listed among the wrong
variants), so the ledger shows both that the article is wrong and that the correction is right.
"""

from __future__ import annotations

from functools import partial

import sympy as sp

from verified_transformer.claims.fixtures import projections_reach_input
from verified_transformer.claims.ledger import Claim, numeric_check, numeric_reference
from verified_transformer.derive import attention as at
from verified_transformer.derive import residual as rs
from verified_transformer.derive import softmax as sm
from verified_transformer.derive.exact import is_zero
from verified_transformer.derive.operators import vector

i, k, n, c, d_k, d_model, W, SM = sm.i, sm.k, sm.n, sm.c, at.d_k, at.d_model, sm.Weights, sm.Softmax
u, d_ff = sp.symbols("u d_ff", integer=True, positive=True)
s = sp.IndexedBase("s")  # the scores s_k = q . k_k of one query with the n keys
H, FH, HL, Y = (sp.MatrixSymbol(name, at.n, d_model) for name in ("H", "F(H)", "H^l", "y"))
W1, W2 = sp.MatrixSymbol("W_1", d_model, d_ff), sp.MatrixSymbol("W_2", d_ff, d_model)
A = sp.exp(s[i]) / sp.sqrt(d_k)  # the article's A = exp(q_k^T r) / sqrt(d_k), of key i


def _softmax(f: sp.Expr, over: sp.Symbol = k) -> sp.Expr:
    """``e^{f(i)} / sum_over e^{f(over)}`` for an expression f in i."""
    return sp.exp(f) / sp.Sum(sp.exp(f.xreplace({i: over})), (over, 1, n))


def _of(f: sp.Expr) -> sp.Expr:  # softmax(f)_i of the vector f (an expression in i)
    return SM(vector(lambda t: f.xreplace({i: t})), i)


OURS = (W(vector(s), i), _softmax(s[i] / sp.sqrt(d_k)))  # the weights, softmax(s / sqrt(d_k))_i


def definitions(chains: tuple) -> at.Definitions:
    """The chains ``(Q, rhs), ...`` as the definitions ``{"Q": rhs, ...}``."""
    return {str(name): rhs for name, rhs in chains}


def _width_kept(chains: tuple) -> bool:
    """Eight layers ``H <- H^l`` with ``F(H) = H W_l``, ``W_l`` of size d_model x d_model: every
    product conforms and the width stays d_model (symbolic n, d_model)."""
    h = H
    for layer in range(1, 9):
        branch = h * sp.MatrixSymbol(f"W_{layer}", d_model, d_model)
        if at.shape_mismatches(branch):
            return False
        h = chains[0][-1].xreplace({H: h, FH: branch})
        if h.shape != (at.n, d_model) or at.shape_mismatches(h):
            return False
    return True


def _ffn_holds(chains: tuple) -> bool:
    """``y + FFN(y)`` conforms for symbolic d_ff != d_model, and FFN is not affine (exact witness
    with d_model = 2, d_ff = 3, ReLU)."""
    ffn = chains[0][-1]
    try:
        residual = Y + ffn.replace(at.Relu, lambda m: m)  # the activation keeps the shape
    except sp.ShapeError:
        return False
    if at.shape_mismatches(residual) or residual.shape != (at.n, d_model):
        return False
    weights = {W1: sp.Matrix([[1, 0, 1], [0, 1, -1]]), W2: sp.Matrix([[1, 2], [3, -1], [1, 1]])}
    relu = lambda m: sp.Matrix(m.doit()).applyfunc(lambda e: sp.Max(0, e))  # noqa: E731
    f = lambda y: sp.Matrix(ffn.xreplace({Y: y, **weights}).replace(at.Relu, relu).doit())  # noqa: E731
    a, b = sp.Matrix([[1, 0]]), sp.Matrix([[-1, 0]])
    return not all(is_zero(v, sp.simplify) for v in f((a + b) / 2) - (f(a) + f(b)) / 2)


_refuted = partial(Claim, kind="refutation", source="vaswani2017attention",
                   compared=("torch.nn.TransformerEncoderLayer",))


SDPA = {"compared": ("torch.nn.functional.scaled_dot_product_attention",),
        "scope": "symbolic n keys and d_k",
        "numeric": numeric_reference("numeric_seed")("scores")}
CLAIMS = (
    _refuted(
        id="seed.qkv_circular", compared=("torch.nn.MultiheadAttention",),
        scope="symbolic n, d_model, d_k, d_v",
        formula=tuple((getattr(at, q), rhs) for q, rhs in at.projections().items()),
        symbolic=lambda chains: projections_reach_input(definitions(chains)),
        custom="the article's definitions fail by resolution (circular, V undefined), not as an "
        "identity between expressions",
        wrong={"article: Q = K^T W^Q, K = V^T W^K": tuple(
            (getattr(at, q), rhs) for q, rhs in at.article_projections().items())},
        numeric=numeric_check("numeric_seed")("projections"),
        note="Substituting the article's definitions into each other leaves V undefined; "
        "ours resolve to functions of the input X.",
    ),
    _refuted(
        id="seed.scale_outside_exp", **SDPA, formula=(OURS,),
        wrong={"article, normalized: exp(s)/sqrt(d_k) / sum":
               (OURS[0], A / sp.Sum(A.xreplace({i: k}), (k, 1, n))),
               "article, as printed: exp(s)/sqrt(d_k)": (OURS[0], A)},
        note="Dividing after exp is not a temperature: normalizing removes it, so the scores keep "
        "variance d_k.",
    ),
    _refuted(
        id="seed.double_softmax", **SDPA,
        formula=(OURS, (W(vector(lambda t: s[t] + c), i), OURS[0])),
        wrong={"article: softmax(exp(s)/sqrt(d_k))":
               {0: (OURS[0], _of(A)), 1: (_of(A.xreplace({s[i]: s[i] + c})), _of(A))},
               "softmax applied twice": (OURS[0], _of(_softmax(s[i] / sp.sqrt(d_k), u)))},
        note="Adding a constant to every score changes the article's weights, not ours.",
    ),
    _refuted(
        id="seed.residual_concat", source="he2016deep", scope="symbolic n, d_model; 8 layers",
        formula=((HL, rs.residual_add(H, FH)),), symbolic=_width_kept,
        custom="a shape argument over 8 stacked layers (the width must stay d_model), not an "
        "identity",
        wrong={"article: concatenation F(H) (+) H": ((HL, rs.article_concat(H, FH)),)},
        numeric=numeric_check("numeric_seed")("combine"),
        note="The article states both equations; they cannot both hold (widths d_model and "
        "2 d_model).",
    ),
    _refuted(
        id="seed.ffn_shape", scope="symbolic n, d_model, d_ff; d_model = 2, d_ff = 3 witness",
        formula=((sp.Function("FFN")(Y), at.feed_forward(Y, W1, W2, at.Relu)),),
        symbolic=_ffn_holds,
        custom="a shape argument (y + FFN(y) must conform) and a witness that FFN is not affine, "
        "not an identity",
        wrong={"article: one Linear(d_model, dff), no activation":
               ((sp.Function("FFN")(Y), at.article_feed_forward(Y, W1, W2, at.Relu)),)},
        numeric=numeric_check("numeric_seed")("ffn"),
        note="The article's feed-forward output has width d_ff, and without an activation it is "
        "affine.",
    ),
)
