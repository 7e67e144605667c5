"""Claims about scaled dot-product and multi-head attention: equations between the operators of
:mod:`verified_transformer.derive.attention` (Attention, SA, a softmax, masks, E and Var, Concat).
A claim checked over a finite scope writes its sides out at every case of it (its ``meaning``,
``at_each``); the moments of q . k's components are where pairs. Only the definition of
Q, K, V keeps its own check: its sizes."""

from __future__ import annotations

import itertools
import math

import sympy as sp

from verified_transformer.claims import formula as fm
from verified_transformer.claims.ledger import Claim, numeric_check, numeric_reference
from verified_transformer.claims.notation import read_program
from verified_transformer.derive import attention as at
from verified_transformer.derive.exact import matrices_equal
from verified_transformer.derive.operators import vector
from verified_transformer.i18n import tr

VASWANI = "vaswani2017attention"
MHA_TORCH, SDPA_TORCH = ("torch.nn.MultiheadAttention",), (
    "torch.nn.functional.scaled_dot_product_attention",)
_numeric, _reference = numeric_check("numeric_attention"), numeric_reference("numeric_attention")
n, m, d_k, d_v, d_model, h, i, j, r, c = (at.n, at.m, at.d_k, at.d_v, at.d_model, at.h, at.i,
                                          at.j, at.r, at.c)
E, Var, QK, SA, MATRIX = at.Expectation, at.Variance, at.QK, at.SelfAttention, sp.MatrixSymbol


def _well_shaped(chains: tuple) -> bool:
    """Q, K and V are each defined, by products that conform and have Q's, K's, V's size for
    all sizes (so do QK^T and the output)."""
    (names, rhs), = chains
    return tuple(names) == (at.Q, at.K, at.V) and not any(
        at.shape_mismatches(b) or b.shape != a.shape for a, b in zip(names, rhs, strict=True)
    ) and not at.shape_mismatches(rhs[0] * rhs[1].T * rhs[2])


def _projections(*rhs: sp.Basic) -> tuple:
    return ((sp.Tuple(at.Q, at.K, at.V)[:len(rhs)], sp.Tuple(*rhs)),)


# --- the moments of q . k: its components' moments are the where pairs -------------------------

MOMENTS = ((QK, sp.Sum(at.q[i] * at.k[i], (i, 1, d_k))),
           *((at.moment(v, p)[i], sp.Integer(p - 1)) for v in (at.q, at.k) for p in (1, 2)))


def _moments(variance: sp.Expr) -> tuple:
    return ((Var(QK), variance), (E(QK), sp.Integer(0)))


def _scaled(scale: sp.Expr) -> tuple:
    return ((Var(scale * QK), sp.Integer(1)),)


_DK_POINTS = [{d_k: d} for d in (1, 4, 9, 64)]
_VARIANCE_READER = fm.Blank(
    takes="Var[q.k] as a SymPy expression or LaTeX in d_k (the mean is taken as 0)",
    aliases={"d": d_k}, points=_DK_POINTS, output="Var[q.k]", names={
        "Var = sqrt(d_k)": "Var[q.k] = sqrt(d_k), the standard deviation in place of the variance",
        "Var = 1": "Var[q.k] = 1, the variance of one product q_i k_i",
        "Var = d_k^2": "Var[q.k] = d_k^2"})
_SCALE_READER = fm.Blank(
    takes="the scale s(d_k) with Var[s q.k] = 1, as a SymPy expression or LaTeX in d_k",
    part=lambda chains: chains[0][0].args[0] / QK, aliases={"d": d_k}, points=_DK_POINTS,
    output="s",
    names={"1/d_k scaling": "the scale 1/d_k (too small)", "no scaling": "no scaling (s = 1)"})

# --- the definition: the matrix form against equation (1) entry by entry ------------------------

SIZES = ((1, 1, 1, 1), (2, 3, 2, 2))  # (n queries, m keys, d_k, d_v)
Q, K, V, S = MATRIX("Q", n, d_k), MATRIX("K", m, d_k), MATRIX("V", m, d_v), sp.IndexedBase("S")


def _symbols(rows: int, keys: int, dk: int, dv: int) -> tuple[sp.ImmutableMatrix, ...]:
    return tuple(sp.ImmutableMatrix(at.symbol_matrix(name, size, cols)) for name, size, cols in
                 (("q", rows, dk), ("k", keys, dk), ("v", keys, dv)))


def _attention(form: sp.Basic) -> tuple:
    return (at.Attention(Q, K, V), form)


def _matrix(formula: object, q: sp.MatrixBase, k: sp.MatrixBase, v: sp.MatrixBase) -> object:
    """A claim's (or variant's) matrix form, or a reader's program, at explicit Q, K, V."""
    if callable(formula):
        return sp.Matrix(formula(q, k, v))
    return sp.Matrix(at.at_case(formula[0][-1], {Q: q, K: k, V: v, n: q.rows, m: k.rows,
                                                 d_k: q.cols, d_v: v.cols}))


def _numerator(expr: sp.Expr) -> sp.Expr:
    """Expanded numerator over a common denominator (zero iff ``expr`` is)."""
    return sp.expand(sp.numer(sp.together(expr)))


def _read_attention(candidate: object) -> object:
    if callable(candidate) and not isinstance(candidate, str):
        return fm.Numeric(candidate)
    if not isinstance(candidate, str):
        raise fm.CandidateError(tr("expected a LaTeX string or a Python function of {operands}, "
                                   "got {type}", operands="(Q, K, V)",
                                   type=type(candidate).__name__))

    def attention(q: sp.MatrixBase, k: sp.MatrixBase, v: sp.MatrixBase) -> sp.MatrixBase:
        out = read_program(candidate, {"Q": q, "K": k, "V": v, "d_k": sp.Integer(q.cols),
                                       "d": sp.Integer(q.cols), "softmax": at.row_softmax})
        if not isinstance(out, sp.MatrixBase) or out.shape != (q.rows, v.cols):
            shape = getattr(out, "shape", None)
            shape = tr("a scalar") if shape is None else shape
            raise fm.CandidateError(tr("the formula gives {shape}, expected an n x d_v matrix "
                                       "({rows} x {cols} here)", shape=shape, rows=q.rows,
                                       cols=v.cols))
        return out

    attention(*_symbols(*SIZES[1]))  # read it once now, so errors surface here
    return attention


_POINT = ([[1.0, 0.0], [0.5, -1.0]], [[1.0, 2.0], [0.0, 1.0], [-1.0, 0.5]],
          [[1.0, 0.0], [0.0, 1.0], [2.0, -1.0]])


def _attention_values(formula: object) -> list[float]:
    """The output at :data:`_POINT`, row by row: a reader's Python function gets float64 tensors
    (torch is imported only then), a symbolic formula SymPy Floats."""
    if not isinstance(formula, fm.Numeric):
        point = (sp.ImmutableMatrix([[sp.Float(x, 20) for x in row] for row in a]) for a in _POINT)
        return [float(x) for x in _matrix(formula, *point)]
    import torch

    try:
        out = torch.as_tensor(formula.function(*(torch.tensor(x, dtype=torch.float64)
                                                 for x in _POINT)), dtype=torch.float64)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        raise fm.CandidateError(tr("the function raised {error}", error=error)) from None
    if out.shape != (2, 2):
        raise fm.CandidateError(tr("the function returned shape {shape}",
                                   shape=tuple(out.shape)))
    return out.reshape(-1).tolist()


def _attention_same(a: object, b: object) -> bool | None:
    if isinstance(a, fm.Numeric):
        return _attention_witness(a, b) is None
    return all(matrices_equal(_matrix(a, *point), _matrix(b, *point), _numerator)
               for point in (_symbols(*size) for size in SIZES))


def _attention_witness(a: object, b: object) -> str | None:
    got, want = (_attention_values(f) for f in (a, b))
    gaps = [abs(x - y) for x, y in zip(got, want, strict=True)]
    # the largest gap (a NaN counts as the largest), its first occurrence in row-major order
    worst = max(range(len(gaps)), key=lambda t: (math.isnan(gaps[t]), gaps[t]))
    if gaps[worst] <= 1e-9:
        return None
    q, k, v = _POINT
    return tr("at Q = {q}, K = {k}, V = {v} (d_k = 2) the candidate gives output[{row},{column}] "
              "= {got} but the claim gives {want}", q=q, k=k, v=v, row=worst // 2 + 1,
              column=worst % 2 + 1, got=fm.format_number(got[worst]),
              want=fm.format_number(want[worst]))


# Its own reader: a matrix program is compared at explicit sizes (symbolic shapes do not reject
# QK), and a Python function takes tensors, so it is compared numerically at a point.
_ATTENTION_READER = fm.Reader(
    takes="LaTeX in Q, K, V, d_k with softmax (row-wise), transposes K^\\top, \\frac, \\sqrt; or a "
    "Python function (Q, K, V) -> output of float64 tensors of shapes (n, d_k), (m, d_k), (m, d_v)",
    convert=_read_attention, same=_attention_same, witness=_attention_witness, names={
        "1/d_k scaling": "attention scaled by 1/d_k instead of 1/sqrt(d_k)",
        "no scaling": "unscaled dot-product attention (no 1/sqrt(d_k))",
        "softmax over queries (columns)": "attention with the softmax over the queries (columns)"})

# --- heads, permutations, masks -------------------------------------------------------------------

CONCAT = at.Concat(at.HEAD, h) * at.W_O
HEADS = sp.Sum(at.HEAD[i] * at.W_O_BLOCK[i], (i, 1, h))
P, POSITIONS = MATRIX("P", n, n), MATRIX("E", n, d_model)
_WEIGHTS = {w: sp.ImmutableMatrix(at.symbol_matrix(name, 2, 2))
            for w, name in zip((at.W_Q, at.W_K, at.W_V), "abc", strict=True)}
_PERMUTED = [{at.X: sp.ImmutableMatrix(at.symbol_matrix("x", size, 2)), n: size, d_model: 2,
              d_k: 2, d_v: 2, P: sp.ImmutableMatrix(at.permutation_matrix(perm)),
              POSITIONS: sp.ImmutableMatrix(at.symbol_matrix("p", size, 2)), **_WEIGHTS}
             for size in (1, 2, 3) for perm in itertools.permutations(range(size))]


def _equivariant(mask: at.Mask | None = None, shift: tuple = ()) -> tuple:
    """``SA(PX + E) = P SA(X + E)`` (E: positions, none without), and SA's definition."""
    return ((SA(sp.MatAdd(P * at.X, *shift), mask=mask),
             sp.MatMul(P, SA(sp.MatAdd(at.X, *shift), mask=mask))),
            (SA(at.X), at.Attention(at.X * at.W_Q, at.X * at.W_K, at.X * at.W_V)))


z, mask_ = sp.IndexedBase("z", real=True), sp.IndexedBase("m")
kept = sp.IndexedBase(r"\mathrm{kept}")  # 1 for a key the query may see, 0 for a masked one
_k = sp.Symbol("k", integer=True, positive=True)
MASKED = ((mask_[_k], sp.Piecewise((0, sp.Eq(kept[_k], 1)), (-sp.oo, True))),)
_MASKS = [{n: size, i: row, **{kept[t]: int(b) for t, b in enumerate(keep, 1)}}
          for size in range(1, 5) for keep in itertools.product((0, 1), repeat=size) if any(keep)
          for row in range(1, size + 1)]


def _renormalized(logits: sp.Lambda) -> tuple:
    return (at.Softmax(logits, i), kept[i] * sp.exp(z[i])
            / sp.Sum(kept[_k] * sp.exp(z[_k]), (_k, 1, n)))


x, tokens = MATRIX("x", n, 1), sp.IndexedBase("x", real=True)
W_SCALARS = sp.symbols("w^Q w^K w^V", positive=True)
_TOKENS = [{n: size, r: row, c: col, x: sp.ImmutableMatrix([tokens[t] for t in range(1, size + 1)])}
           for size in (1, 2, 3) for row in range(1, size + 1) for col in range(1, size + 1)]


def _causal(keep: object) -> dict:
    """The mask's entries, and which outputs depend on which tokens with it (scalar tokens)."""
    entry, pieces = at.mask_entries(keep)
    out = at.Attention(*(sp.MatMul(w, x) for w in W_SCALARS), entry.args[0])
    return {0: (entry, pieces), 1: (at.Depends(out, r, tokens[c]), at.Iverson(c <= r))}


CLAIMS = (
    Claim(
        id="attention.qkv_projections", kind="definition", source=VASWANI,
        scope="symbolic n, d_model, d_k, d_v", proof="checked",
        formula=_projections(*at.projections().values()), symbolic=_well_shaped,
        custom="a definition checked by its sizes: every product must conform, and give Q, K, V "
        "their sizes, for all sizes; no equality of values says that",
        wrong={
            "article: Q = K^T W^Q, K = V^T W^K": _projections(*at.article_projections().values()),
            "transposed weights Q = X (W^Q)^T": _projections(
                at.X * at.W_Q.T, at.X * at.W_K, at.X * at.W_V),
            "no projection Q = X": _projections(at.X, at.X * at.W_K, at.X * at.W_V),
        },
        numeric=_numeric("projections"), compared=MHA_TORCH,
        note="Matrix symbols of symbolic size: every product must conform for all sizes.",
    ),
    Claim(
        id="attention.dot_product_variance", kind="identity", source=VASWANI,
        scope="symbolic d_k; d_k = 1..8 by monomials",
        formula=_moments(d_k), where=MOMENTS,
        meaning=at.at_each([{}] + [{d_k: d} for d in range(1, 9)]),
        wrong={"Var = sqrt(d_k)": (Var(QK), sp.sqrt(d_k)), "Var = 1": (Var(QK), sp.Integer(1)),
               "Var = d_k^2": (Var(QK), d_k**2)},
        numeric=_numeric("moments"), reader=_VARIANCE_READER,
        note="Vaswani et al. state it in their footnote 4. Needs only the first two moments: the "
        "numeric check enumerates +-1 components.",
    ),
    Claim(
        id="attention.scaled_variance", kind="identity", source=VASWANI, scope="symbolic d_k",
        formula=_scaled(1 / sp.sqrt(d_k)), where=((Var(QK), d_k),),
        wrong={"1/d_k scaling": _scaled(1 / d_k)[0], "no scaling": _scaled(sp.Integer(1))[0]},
        numeric=_numeric("scaled_variance"), compared=SDPA_TORCH, reader=_SCALE_READER,
        note="Numerically, the candidate scale is the default scale of our SDPA and torch's. The "
        "variants give too small (1/d_k) and too large (1) a variance.",
    ),
    Claim(
        id="attention.scaled_dot_product_definition", kind="definition", source=VASWANI,
        scope="(n, m, d_k, d_v) = (1,1,1,1), (2,3,2,2)", proof="checked",
        formula=(_attention(at.attention(Q, K, V)),
                 (at.RowSoftmaxEntry(S, i, j, m),
                  sp.exp(S[i, j]) / sp.Sum(sp.exp(S[i, at.t]), (at.t, 1, m)))),
        meaning=at.at_each([dict(zip((Q, K, V, n, m, d_k, d_v), _symbols(*s) + s, strict=True))
                            for s in SIZES], when=lambda chain: isinstance(chain[0], at.Attention)),
        simplify=_numerator,
        wrong={
            "1/d_k scaling": _attention(at.row_softmax(Q * K.T / d_k) * V),
            "no scaling": _attention(at.row_softmax(Q * K.T) * V),
            "softmax over queries (columns)": _attention(
                at.row_softmax((Q * K.T / sp.sqrt(d_k)).T).T * V),
        },
        numeric=_reference("attention", 1, (0, 1)), compared=SDPA_TORCH, reader=_ATTENTION_READER,
        note="Matrix form against the entrywise sum of equation (1); numerically against SDPA at "
        "(4, 6, 3, 2). The variants scale too much, too little, or normalize the wrong axis.",
    ),
    Claim(
        id="attention.multihead_concat", kind="identity", source=VASWANI, origin="derived",
        scope="h = 1..8; symbolic n, d_v, d_model", proof="checked",
        formula=((CONCAT, HEADS),), where=((at.W_O, at.RowBlocks(at.W_O_BLOCK, h)),),
        meaning=at.block_products(range(1, 9)),
        wrong={
            "mean of heads": (CONCAT, HEADS / h),
            "blocks paired in reverse": (CONCAT, HEADS.xreplace(
                {at.W_O_BLOCK[i]: at.W_O_BLOCK[h + 1 - i]})),
            "twice the sum": (CONCAT, 2 * HEADS),
        },
        numeric=_numeric("multihead"), compared=MHA_TORCH,
        note="Derived here from the multi-head definition of Vaswani et al.: W^O_i is the i-th "
        "block of d_v rows of W^O (block matrix product).",
    ),
    Claim(
        id="attention.permutation_equivariance", kind="identity", source=VASWANI,
        origin="derived", scope="n = 1..3 tokens, all permutations; symbolic entries",
        proof="checked", formula=_equivariant(), meaning=at.at_each(_PERMUTED),
        wrong={
            "causal self-attention": _equivariant(at.Mask(lambda r, c: c <= r))[0],
            "positions added to X": _equivariant(shift=(POSITIONS,))[0],
        },
        numeric=_reference("equivariance"), compared=MHA_TORCH,
        note="Derived here: self-attention without positional information cannot see token "
        "order.",
    ),
    Claim(
        id="attention.mask_renormalizes", kind="identity", source=VASWANI, origin="derived",
        scope="n = 1..4, every mask with a kept entry", proof="checked",
        formula=(_renormalized(vector(lambda t: z[t] + mask_[t])),), where=MASKED,
        meaning=at.at_each(_MASKS),
        wrong={
            "0/1 float mask added": _renormalized(vector(lambda t: z[t] + kept[t])),
            "logits multiplied by the mask": _renormalized(vector(lambda t: z[t] * kept[t])),
            "mask inverted (-oo on the kept logits)": _renormalized(vector(
                lambda t: z[t] + sp.Piecewise((-sp.oo, sp.Eq(kept[t], 1)), (0, True)))),
        },
        numeric=_numeric("renormalizes"), compared=SDPA_TORCH + MHA_TORCH,
        note="Boolean masks: True = attend in SDPA, True = blocked in MultiheadAttention. The "
        "variants block nothing (0/1 added), too little (multiplied) and the wrong entries.",
    ),
    Claim(
        id="attention.causal_mask", kind="identity", source=VASWANI,
        scope="n = 1..3, scalar tokens", proof="checked",
        formula=tuple(_causal(lambda r, c: c <= r).values()),
        meaning=at.at_each(_TOKENS, when=lambda chain: isinstance(chain[0], at.Depends)),
        wrong={
            "upper triangle kept (c >= r)": _causal(lambda r, c: c >= r),
            "diagonal masked too (c < r)": _causal(lambda r, c: c < r),
            "no mask": _causal(lambda r, c: sp.true),
            "only the diagonal kept (blocks the past)": _causal(lambda r, c: sp.Eq(c, r)),
            "window of two (blocks the distant past)": _causal(
                lambda r, c: sp.And(r - 1 <= c, c <= r)),
        },
        numeric=_numeric("causal"), compared=SDPA_TORCH + MHA_TORCH,
        note="Exact derivatives: output r must depend on every c <= r and on no c > r. Variants "
        "err both ways: reading the future (no mask, upper triangle) and blocking the past "
        "(diagonal only, a window, the diagonal masked).",
    ),
)
