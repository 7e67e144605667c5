"""Claims about scaled dot-product and multi-head attention."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import sympy as sp

from verified_transformer.claims.formula import (
    CandidateError,
    Numeric,
    Reader,
    Vocabulary,
    format_number,
    scalar_reader,
)
from verified_transformer.claims.latex import latex
from verified_transformer.claims.ledger import Claim, numeric_check
from verified_transformer.claims.notation import read_program
from verified_transformer.derive import attention as at
from verified_transformer.derive.exact import equal, is_zero, matrices_equal

VASWANI = "vaswani2017attention"
_numeric = numeric_check("numeric_attention")


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


def _scaled_variance_holds(scale: Callable[[sp.Expr], sp.Expr]) -> bool:
    """``Var[s q.k] = s^2 d_k = 1`` for symbolic d_k (unit-variance components)."""
    _, var = at.dot_product_moments()
    return equal(scale(at.d_k) ** 2 * var, sp.Integer(1))


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
                weight = value / total
                if weight.has(sp.nan) or not equal(weight, expected, sp.cancel):
                    return False
    return True


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


# --- displays: generated from the formulas the checks consume -------------------------------------


def _space(rows: sp.Expr, cols: sp.Expr) -> str:
    return rf"\mathbb{{R}}^{{{latex(rows)}\times {latex(cols)}}}"


def _projections_display(definitions: at.Definitions) -> tuple[str, ...]:
    shown = [
        rf"{name} = {latex(rhs)} \in {_space(*rhs.shape)}" for name, rhs in definitions.items()
    ]
    q, k, v = (definitions[name] for name in ("Q", "K", "V"))
    scores, output = q * k.T, at.attention(at.Q, at.K, at.V)
    shown.append(
        rf"QK^\top \in {_space(*scores.shape)},\quad {latex(output)} \in "
        rf"{_space(*(scores * v).shape)}"
    )
    return (r",\quad ".join(shown[:3]), shown[3])


def _moments_display(moments: Callable[[sp.Expr], tuple[sp.Expr, sp.Expr]]) -> tuple[str, ...]:
    mean, var = moments(at.d_k)
    return (
        rf"E[q\cdot k] = {latex(mean)},\quad \operatorname{{Var}}[q\cdot k] = {latex(var)}"
        r"\quad (q_i, k_i \text{ independent, mean } 0, \text{ variance } 1)",
    )


def _scaled_variance_display(scale: Callable[[sp.Expr], sp.Expr]) -> tuple[str, ...]:
    return (rf"\operatorname{{Var}}\left[{latex(scale(at.d_k))}\, q\cdot k\right] = 1",)


def _definition_display(attention: AttentionFn) -> tuple[str, ...]:
    return (
        rf"\operatorname{{Attention}}(Q, K, V) = {latex(attention(at.Q, at.K, at.V))}",
        rf"\operatorname{{softmax}}(z)_i = "
        rf"{latex(sp.exp(_Z[at.i]) / sp.Sum(sp.exp(_Z[_k]), (_k, 1, _m)))}"
        r"\ \text{over each row}",
    )


_Z, _k, _m = sp.IndexedBase("z"), sp.Symbol("k", integer=True), sp.Symbol("m", integer=True)


def _multihead_display(combine: Combine) -> tuple[str, ...]:
    heads, blocks = at.heads_and_blocks(2)
    concat = r"\operatorname{Concat}(" + ", ".join(latex(h) for h in heads) + ")W^O"
    return (f"{concat} = {latex(combine(heads, blocks))}\\quad (h = 2)",)


def _equivariance_display(make: SelfAttention) -> tuple[str, ...]:
    """The definition of SA is shown as Attention(XW^Q, XW^K, XW^V) only if ``make`` computes
    exactly that (two tokens, symbolic entries); otherwise what ``make`` computes is shown."""
    defs = at.projections()
    x, weights = at.symbol_matrix("x", 2, WIDTH), WEIGHT_SYMBOLS
    got = make(weights)(x)
    w_q, w_k, w_v = weights
    expected = at.attention(x * w_q, x * w_k, x * w_v)
    if matrices_equal(sp.Matrix(got), expected, sp.cancel):
        args = ", ".join(latex(defs[name]) for name in ("Q", "K", "V"))
        definition = rf"\mathrm{{SA}}(X) = \operatorname{{Attention}}({args})"
    else:
        definition = rf"\mathrm{{SA}}(X)_{{11}} = {latex(sp.Matrix(got)[0, 0])}"
    return (
        r"\mathrm{SA}(PX) = P\,\mathrm{SA}(X)\ \text{for every permutation matrix } P",
        definition,
    )


def _mask_display(mask: MaskFn) -> tuple[str, ...]:
    """The softmax of the masked logits, computed from ``mask`` for n = 3 with the second key
    masked, and the mask values themselves."""
    z = sp.symbols("z_1:4", real=True)
    logits = mask(list(z), [True, False, True])
    exps = [sp.exp(v) for v in logits]
    weights = sp.Matrix([[sp.simplify(e / sp.Add(*exps)) for e in exps]])
    zk = sp.Symbol("z_k", real=True)
    kept, masked = (sp.simplify(mask([zk], [flag])[0] - zk) for flag in (True, False))
    return (
        rf"\operatorname{{softmax}}(z + m) = {latex(weights)}"
        r"\quad (n = 3,\ \text{the second key masked})",
        rf"m_k = {latex(kept)}\ \text{{(kept)}},\quad m_k = {latex(masked)}\ \text{{(masked)}}",
    )


def _causal_display(keep_for: Callable[[int], list[list[bool]]]) -> tuple[str, ...]:
    """The mask for n = 4, and which outputs depend on which inputs (n = 3, scalar tokens), both
    computed from ``keep_for``."""
    size = 4
    keep = keep_for(size)
    cells = r" \\ ".join(
        " & ".join("0" if keep[r][c] else r"-\infty" for c in range(size)) for r in range(size)
    )
    w = tuple(sp.Matrix([[sp.Symbol(name, positive=True)]]) for name in ("w_q", "w_k", "w_v"))
    x = at.symbol_matrix("x", 3, 1)
    out = at.attention(x * w[0], x * w[1], x * w[2], keep=keep_for(3))
    depends = sp.Matrix(3, 3, lambda r, c: int(sp.diff(out[r, 0], x[c, 0]) != 0))
    return (
        rf"M = \begin{{pmatrix}}{cells}\end{{pmatrix}}\quad (n = 4)",
        r"\left[\frac{\partial\,\mathrm{out}_r}{\partial x_c} \ne 0\right]_{rc} = "
        rf"{latex(depends)}\quad (n = 3)",
    )


# --- what check_formula accepts for the attention definition ------------------------------------


def _read_attention(candidate: object) -> object:
    if isinstance(candidate, str):
        text = candidate

        def attention(q: sp.MatrixBase, k: sp.MatrixBase, v: sp.MatrixBase) -> sp.MatrixBase:
            env = {
                "Q": q,
                "K": k,
                "V": v,
                "d_k": sp.Integer(q.cols),
                "d": sp.Integer(q.cols),
                "softmax": at.row_softmax,
            }
            out = read_program(text, env)
            if not isinstance(out, sp.MatrixBase) or out.shape != (q.rows, v.cols):
                shape = getattr(out, "shape", "a scalar")
                raise CandidateError(
                    f"the formula gives {shape}, expected an n x d_v matrix "
                    f"({q.rows} x {v.cols} here)"
                )
            return out

        attention(*_symbols(*SIZES[1]))  # read it once now, so errors surface here
        return attention
    if callable(candidate):
        return Numeric(candidate)
    raise CandidateError(
        f"expected a LaTeX string or a Python function of (Q, K, V), got {type(candidate).__name__}"
    )


def _symbols(rows: int, keys: int, dk: int, dv: int) -> tuple[sp.Matrix, ...]:
    return (
        at.symbol_matrix("q", rows, dk),
        at.symbol_matrix("k", keys, dk),
        at.symbol_matrix("v", keys, dv),
    )


def _attention_values(
    formula: object, q: list[list[float]], k: list[list[float]], v: list[list[float]]
) -> list[list[float]]:
    """The output at ``q, k, v`` as nested lists of floats: a reader's Python function gets them
    as float64 tensors (torch is imported only then), a symbolic formula as SymPy Floats."""
    if isinstance(formula, Numeric):
        import torch

        tensors = [torch.tensor(m, dtype=torch.float64) for m in (q, k, v)]
        try:
            out = torch.as_tensor(formula.function(*tensors), dtype=torch.float64)
        except Exception as exc:
            raise CandidateError(f"the function raised {type(exc).__name__}: {exc}") from None
        if out.shape != (len(q), len(v[0])):
            raise CandidateError(f"the function returned shape {tuple(out.shape)}")
        return out.tolist()
    q, k, v = (sp.ImmutableMatrix([[sp.Float(x, 20) for x in row] for row in m]) for m in (q, k, v))
    return [[float(x) for x in row] for row in sp.Matrix(formula(q, k, v)).tolist()]


_ATTENTION_POINT = (
    [[1.0, 0.0], [0.5, -1.0]],
    [[1.0, 2.0], [0.0, 1.0], [-1.0, 0.5]],
    [[1.0, 0.0], [0.0, 1.0], [2.0, -1.0]],
)


def _attention_same(a: object, b: object) -> bool | None:
    if isinstance(a, Numeric) or isinstance(b, Numeric):
        return _attention_witness(a, b) is None
    for size in SIZES:
        q, k, v = _symbols(*size)
        if not matrices_equal(sp.Matrix(a(q, k, v)), sp.Matrix(b(q, k, v)), _numerator):
            return False
    return True


def _attention_witness(a: object, b: object) -> str | None:
    got, want = (_attention_values(f, *_ATTENTION_POINT) for f in (a, b))
    cols = len(want[0])
    diff = [abs(x - y) for g, w in zip(got, want, strict=True) for x, y in zip(g, w, strict=True)]
    # the largest gap, its first occurrence in row-major order; a NaN counts as the largest
    worst = next((t for t, d in enumerate(diff) if math.isnan(d)), None)
    if worst is None:
        if max(diff) <= 1e-9:
            return None
        worst = diff.index(max(diff))
    r, c = divmod(worst, cols)
    q, k, v = _ATTENTION_POINT
    return (
        f"at Q = {q}, K = {k}, V = {v} (d_k = 2) the candidate gives output[{r + 1},{c + 1}] = "
        f"{format_number(got[r][c])} but the claim gives {format_number(want[r][c])}"
    )


_ATTENTION_READER = Reader(
    takes="LaTeX in Q, K, V, d_k with softmax (row-wise), transposes K^\\top, \\frac, \\sqrt; or a "
    "Python function (Q, K, V) -> output of float64 tensors of shapes (n, d_k), (m, d_k), (m, d_v)",
    convert=_read_attention,
    same=_attention_same,
    witness=_attention_witness,
    names={
        "1/d_k scaling": "attention scaled by 1/d_k instead of 1/sqrt(d_k)",
        "no scaling": "unscaled dot-product attention (no 1/sqrt(d_k))",
        "softmax over queries (columns)": "attention with the softmax over the queries (columns)",
    },
)


def _blocks_too_much(size: int) -> list[list[bool]]:
    """Only the diagonal kept: every earlier position is blocked too."""
    return [[c == r for c in range(size)] for r in range(size)]


def _window_of_two(size: int) -> list[list[bool]]:
    """A sliding window (c = r - 1 or r): blocks positions more than one step back."""
    return [[r - 1 <= c <= r for c in range(size)] for r in range(size)]


_DK_VOCABULARY = Vocabulary(
    names={"d_k": at.d_k, "d": at.d_k, "e": sp.E},
    families={},
    indices={},
    allowed=frozenset({at.d_k}),
)
_DK_POINTS = [(f"d_k = {d}", {at.d_k: d}) for d in (1, 4, 9, 64)]
_VARIANCE_READER = scalar_reader(
    takes="Var[q.k] as a SymPy expression or LaTeX in d_k (the mean is taken as 0)",
    vocabulary=_DK_VOCABULARY,
    build=lambda expr: (lambda dim: (sp.Integer(0), expr.xreplace({at.d_k: dim}))),
    expression=lambda moments: moments(at.d_k)[1],
    points=_DK_POINTS,
    output="Var[q.k]",
    names={
        "Var = sqrt(d_k)": "Var[q.k] = sqrt(d_k), the standard deviation in place of the variance",
        "Var = 1": "Var[q.k] = 1, the variance of one product q_i k_i",
        "Var = d_k^2": "Var[q.k] = d_k^2",
    },
)
_SCALE_READER = scalar_reader(
    takes="the scale s(d_k) with Var[s q.k] = 1, as a SymPy expression or LaTeX in d_k",
    vocabulary=_DK_VOCABULARY,
    build=lambda expr: (lambda dim: expr.xreplace({at.d_k: dim})),
    expression=lambda scale: scale(at.d_k),
    points=_DK_POINTS,
    output="s",
    names={"1/d_k scaling": "the scale 1/d_k (too small)", "no scaling": "no scaling (s = 1)"},
)

MHA_TORCH = ("torch.nn.MultiheadAttention",)
SDPA_TORCH = ("torch.nn.functional.scaled_dot_product_attention",)

CLAIMS = (
    Claim(
        custom="TODO: not yet an equation",
        id="attention.qkv_projections",
        kind="definition",
        render=_projections_display,
        source=VASWANI,
        scope="symbolic n, d_model, d_k, d_v",
        proof="checked",
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
        numeric=numeric_check("numeric")("projections_match_attention"),
        compared=MHA_TORCH,
        note="Matrix symbols of symbolic size: every product must conform for all sizes.",
    ),
    Claim(
        custom="TODO: not yet an equation",
        id="attention.dot_product_variance",
        kind="identity",
        render=_moments_display,
        source=VASWANI,
        scope="symbolic d_k; d_k = 1..8 by monomials",
        formula=lambda dim: (sp.Integer(0), dim),
        symbolic=_moments_hold,
        wrong={
            "Var = sqrt(d_k)": lambda dim: (sp.Integer(0), sp.sqrt(dim)),
            "Var = 1": lambda dim: (sp.Integer(0), sp.Integer(1)),
            "Var = d_k^2": lambda dim: (sp.Integer(0), dim**2),
        },
        numeric=_numeric("moments"),
        reader=_VARIANCE_READER,
        note="Vaswani et al. state it in their footnote 4. Needs only the first two moments: the "
        "numeric check enumerates +-1 components.",
    ),
    Claim(
        custom="TODO: not yet an equation",
        id="attention.scaled_variance",
        kind="identity",
        render=_scaled_variance_display,
        source=VASWANI,
        scope="symbolic d_k",
        formula=lambda dim: 1 / sp.sqrt(dim),
        symbolic=_scaled_variance_holds,
        wrong={"1/d_k scaling": lambda dim: 1 / dim, "no scaling": lambda dim: sp.Integer(1)},
        numeric=_numeric("scaled_variance"),
        compared=SDPA_TORCH,
        reader=_SCALE_READER,
        note="Numerically, the candidate scale is the default scale of our SDPA and torch's. The "
        "variants give too small (1/d_k) and too large (1) a variance.",
    ),
    Claim(
        custom="TODO: not yet an equation",
        id="attention.scaled_dot_product_definition",
        kind="definition",
        render=_definition_display,
        source=VASWANI,
        scope="(n, m, d_k, d_v) = (1,1,1,1), (2,3,2,2)",
        proof="checked",
        formula=at.attention,
        symbolic=_definition_holds,
        wrong={
            "1/d_k scaling": lambda q, k, v: at.row_softmax(q * k.T / q.cols) * v,
            "no scaling": lambda q, k, v: at.row_softmax(q * k.T) * v,
            "softmax over queries (columns)": _column_softmax,
        },
        numeric=_numeric("definition"),
        compared=SDPA_TORCH,
        reader=_ATTENTION_READER,
        note="Matrix form against the entrywise sum of equation (1); numerically against SDPA at "
        "(4, 6, 3, 2). The variants scale too much, too little, or normalize the wrong axis.",
    ),
    Claim(
        custom="TODO: not yet an equation",
        id="attention.multihead_concat",
        kind="identity",
        render=_multihead_display,
        source=VASWANI,
        origin="derived",
        scope="h = 1..8; symbolic n, d_v, d_model",
        proof="checked",
        formula=at.sum_of_heads,
        symbolic=_multihead_holds,
        wrong={
            "mean of heads": lambda heads, blocks: at.sum_of_heads(heads, blocks) / len(heads),
            "blocks paired in reverse": lambda heads, blocks: at.sum_of_heads(heads, blocks[::-1]),
            "twice the sum": lambda heads, blocks: 2 * at.sum_of_heads(heads, blocks),
        },
        numeric=_numeric("multihead"),
        compared=MHA_TORCH,
        note="Derived here from the multi-head definition of Vaswani et al.: W^O_i is the i-th "
        "block of d_v rows of W^O (block matrix product).",
    ),
    Claim(
        custom="TODO: not yet an equation",
        id="attention.permutation_equivariance",
        kind="identity",
        render=_equivariance_display,
        source=VASWANI,
        origin="derived",
        scope="n = 1..3 tokens, all permutations; symbolic entries",
        proof="checked",
        formula=at.self_attention,
        symbolic=_equivariant,
        wrong={
            "causal self-attention": _causal_self_attention,
            "positions added to X": _positional_self_attention,
        },
        numeric=_numeric("equivariance"),
        compared=MHA_TORCH,
        note="Derived here: self-attention without positional information cannot see token "
        "order.",
    ),
    Claim(
        custom="TODO: not yet an equation",
        id="attention.mask_renormalizes",
        kind="identity",
        render=_mask_display,
        source=VASWANI,
        origin="derived",
        scope="n = 1..4, every mask with a kept entry",
        proof="checked",
        formula=at.masked_logits,
        symbolic=_renormalizes,
        wrong={
            "0/1 float mask added": lambda z, keep: [
                v + int(kept) for v, kept in zip(z, keep, strict=True)
            ],
            "logits multiplied by the mask": lambda z, keep: [
                v * int(kept) for v, kept in zip(z, keep, strict=True)
            ],
            "mask inverted (-oo on the kept logits)": lambda z, keep: [
                v + (-sp.oo if kept else 0) for v, kept in zip(z, keep, strict=True)
            ],
        },
        numeric=_numeric("renormalizes"),
        compared=SDPA_TORCH + MHA_TORCH,
        note="Boolean masks: True = attend in SDPA, True = blocked in MultiheadAttention. The "
        "variants block nothing (0/1 added), too little (multiplied) and the wrong entries.",
    ),
    Claim(
        custom="TODO: not yet an equation",
        id="attention.causal_mask",
        kind="identity",
        render=_causal_display,
        source=VASWANI,
        scope="n = 1..3, scalar tokens",
        proof="checked",
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
            "only the diagonal kept (blocks the past)": _blocks_too_much,
            "window of two (blocks the distant past)": _window_of_two,
        },
        numeric=_numeric("causal"),
        compared=SDPA_TORCH + MHA_TORCH,
        note="Exact derivatives: output r must depend on every c <= r and on no c > r. Variants "
        "err both ways: reading the future (no mask, upper triangle) and blocking the past "
        "(diagonal only, a window, the diagonal masked).",
    ),
)
