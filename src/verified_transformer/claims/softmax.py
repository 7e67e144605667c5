"""Claims about softmax: its definition (compared with torch), normalization, shift invariance,
Jacobian. All of it is standard mathematics (the Transformer paper uses softmax, it does not
state these facts)."""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp

from verified_transformer.claims.formula import (
    Point,
    Reader,
    Vocabulary,
    entry_reader,
    scalar_reader,
)
from verified_transformer.claims.latex import latex
from verified_transformer.claims.ledger import Claim, numeric_check
from verified_transformer.derive import softmax as sm
from verified_transformer.derive.exact import equal, expand_sums, is_zero

Entry = Callable[[sp.Expr], sp.Expr]
_numeric = numeric_check("numeric_softmax")


def _sums_to_one(entry: Entry) -> bool:
    """``sum_{k=1}^{n} p_k = 1`` for a symbolic ``n``."""
    return equal(sp.Sum(entry(sm.k), (sm.k, 1, sm.n)), sp.Integer(1), sums=True)


def _shift_invariant(transform: Callable[[sp.Expr], sp.Expr]) -> bool:
    """``softmax(T(z)) = softmax(z)`` for a symbolic ``n``, where ``T`` acts on each logit."""
    entry = sm.softmax_entry(sm.i)
    return equal(sm.substitute_logits(entry, transform), entry, sums=True)


def _jacobian_holds(formula: Callable[[Entry, sp.Expr, sp.Expr], sp.Expr]) -> bool:
    """The candidate equals the differentiated softmax, and its rows sum to zero (symbolic n)."""
    matches = equal(sm.jacobian_entry(), formula(sm.softmax_entry, sm.i, sm.j), sums=True)
    rows_vanish = is_zero(sp.Sum(formula(sm.softmax_entry, sm.i, sm.k), (sm.k, 1, sm.n)), sums=True)
    return matches and rows_vanish


# --- definition: compared with torch; its two properties, which together determine it ------------


def _definition_holds(entry: Entry) -> bool:
    """The two properties that pin softmax down, each derived on its own (symbolic n): the
    entries sum to 1, and ``p_i e^{-z_i}`` is the same for every i (``p_i / p_j = e^{z_i - z_j}``).
    Together they force ``p_i = e^{z_i} / sum_k e^{z_k}``."""
    ratio = entry(sm.i) * sp.exp(-sm.z[sm.i]) - entry(sm.j) * sp.exp(-sm.z[sm.j])
    return _sums_to_one(entry) and is_zero(ratio, sp.simplify, sums=True)


def _definition_display(entry: Entry) -> tuple[str, ...]:
    return (rf"\operatorname{{softmax}}(z)_i = {latex(entry(sm.i))}",)


def _sums_display(entry: Entry) -> tuple[str, ...]:
    total = sp.Sum(P[sm.j], (sm.j, 1, sm.n))
    return (rf"{latex(total)} = 1,\quad p_j = {latex(entry(sm.j))}",)


P = sp.IndexedBase("p")


def _shift_display(transform: Callable[[sp.Expr], sp.Expr]) -> tuple[str, ...]:
    moved = latex(transform(sm.z[sm.i]))
    return (
        rf"\operatorname{{softmax}}(z')_i = \operatorname{{softmax}}(z)_i"
        rf"\quad\text{{for }} z'_i = {moved}",
    )


def _jacobian_display(formula: Callable[[Entry, sp.Expr, sp.Expr], sp.Expr]) -> tuple[str, ...]:
    """The entrywise Jacobian with ``p_i`` for softmax(z)_i, its matrix form (the same formula on
    a column p) and the row sums."""
    entry = formula(lambda t: P[t], sm.i, sm.j)
    size = 3
    column = sp.Matrix([sp.Symbol(f"p_{t}") for t in range(1, size + 1)])
    matrix = sp.Matrix(size, size, lambda r, c: formula(lambda t: column[int(t) - 1], r + 1, c + 1))
    diag_part = sp.diag(*column)
    outer = column * column.T
    if expand_sums(sp.expand(matrix - (diag_part - outer))) != sp.zeros(size, size):
        matrix_form = latex(matrix)
    else:
        matrix_form = r"\operatorname{diag}(p) - pp^\top"
    row_sum = sp.Sum(formula(lambda t: P[t], sm.i, sm.k), (sm.k, 1, sm.n))
    total = sp.Sum(P[sm.k], (sm.k, 1, sm.n))
    row_sum_value = sp.simplify(expand_sums(row_sum).xreplace({total: 1}))
    return (
        rf"\frac{{\partial p_i}}{{\partial z_j}} = {latex(entry)}",
        rf"J = {matrix_form}",
        rf"J\mathbf{{1}} = {latex(row_sum_value)}\quad\left(\textstyle\sum_k p_k = 1\right)",
    )


_POINTS = (
    Point("n = 3, z = (1, 2, 4)", 3, {sm.z[1]: 1, sm.z[2]: 2, sm.z[3]: 4},
          ([1.0, 2.0, 4.0],)),
    Point("n = 4, z = (-1/2, 3, 0, 1)", 4,
          {sm.z[1]: sp.Rational(-1, 2), sm.z[2]: 3, sm.z[3]: 0, sm.z[4]: 1},
          ([-0.5, 3.0, 0.0, 1.0],)),
)
_VOCABULARY = Vocabulary(
    names={"e": sp.E, "n": sm.n},
    families={"z": sm.z},
    indices={"i": sm.i, "k": sm.k, "j": sm.j},
    allowed=frozenset({sm.n, sm.i, sm.j, sm.k}),
)
_READER = entry_reader(
    takes="the i-th entry of softmax(z): a SymPy expression or LaTeX in z_i, sums over z_k "
    "(k = 1..n), n, e or exp; or a Python function of a 1-D float64 tensor z",
    vocabulary=_VOCABULARY,
    build=lambda expr: (lambda index: expr.xreplace({sm.i: index})),
    expression=lambda entry, t: entry(t),
    index=sm.i,
    size=sm.n,
    points=_POINTS,
    output="softmax(z)",
    simplifier=sp.simplify,
    names={
        "exp(z_i) without the normalizing sum": "exp(z_i) without the normalizing sum",
        "exp(z_i) / (1 + sum_k exp(z_k))": "the softmax with an extra 1 in the denominator "
        "(a blank logit)",
        "z_i / sum_k z_k (no exponential)": "the plain ratio z_i / sum_k z_k (no exponential)",
        "exp(2 z_i) / sum_k exp(2 z_k) (temperature 1/2)": "the softmax at temperature 1/2",
    },
)


TORCH_SOFTMAX = ("torch.nn.functional.softmax",)
_DELTA = sp.Symbol("delta_ij")
_JACOBIAN_VOCABULARY = Vocabulary(
    names={"p_i": P[sm.i], "p_j": P[sm.j], "delta_ij": sp.KroneckerDelta(sm.i, sm.j), "e": sp.E},
    families={},
    indices={},
)
_JACOBIAN_POINTS = [
    (f"p_i = {pi}, p_j = {pj}, {'i = j' if same else 'i != j'}",
     {P[sm.i]: pi, P[sm.j]: pj if not same else pi, **({sm.j: sm.i} if same else {})})
    for pi, pj, same in ((sp.Rational(1, 5), sp.Rational(1, 2), False),
                         (sp.Rational(1, 5), sp.Rational(1, 5), True))
]


def _jacobian_from(expr: sp.Expr) -> Callable[[Entry, sp.Expr, sp.Expr], sp.Expr]:
    def formula(p: Entry, r: sp.Expr, s: sp.Expr) -> sp.Expr:
        return expr.xreplace({sp.KroneckerDelta(sm.i, sm.j): sp.KroneckerDelta(r, s)}).xreplace(
            {P[sm.i]: p(r), P[sm.j]: p(s)}
        )

    return formula


def _jacobian_expression(formula: Callable[[Entry, sp.Expr, sp.Expr], sp.Expr]) -> sp.Expr:
    return formula(lambda t: P[t], sm.i, sm.j)


def _jacobian_at(expr: sp.Expr, values: dict) -> sp.Expr:
    if sm.j in values:  # the diagonal: i = j
        expr = expr.xreplace({sm.j: sm.i})
    return expr.xreplace({k: v for k, v in values.items() if k != sm.j})


_JACOBIAN_READER = scalar_reader(
    takes="the entry dp_i/dz_j as a SymPy expression or LaTeX in p_i, p_j and delta_{ij}",
    vocabulary=_JACOBIAN_VOCABULARY,
    build=_jacobian_from,
    expression=_jacobian_expression,
    points=[],
    output="dp_i/dz_j",
    simplifier=sp.expand,
    names={
        "diag(p) alone": "diag(p) alone (the -p_i p_j term missing)",
        "delta_ij - p_j (factor p_i missing)": "delta_ij - p_j (the factor p_i missing)",
        "-p_i p_j (diagonal term missing)": "-p_i p_j (the diagonal term missing)",
    },
)


def _jacobian_witness(a: object, b: object) -> str | None:
    for pi, pj, diagonal in ((sp.Rational(1, 5), sp.Rational(1, 2), False),
                             (sp.Rational(1, 5), sp.Rational(1, 5), True)):
        values = {P[sm.i]: pi, P[sm.j]: pj}
        got, want = (
            sp.nsimplify(
                (_jacobian_expression(f).xreplace({sm.j: sm.i}) if diagonal else
                 _jacobian_expression(f)).xreplace({P[sm.i]: pi} if diagonal else values)
                .xreplace({sp.KroneckerDelta(sm.i, sm.j): int(diagonal)})
            )
            for f in (a, b)
        )
        if got != want:
            where = f"i = j, p_i = {pi}" if diagonal else f"i != j, p_i = {pi}, p_j = {pj}"
            return f"at {where}, the candidate gives {got} but the claim gives {want}"
    return None


_JACOBIAN_READER = Reader(
    takes=_JACOBIAN_READER.takes,
    convert=_JACOBIAN_READER.convert,
    same=_JACOBIAN_READER.same,
    witness=_jacobian_witness,
    names=_JACOBIAN_READER.names,
)

CLAIMS = (
    Claim(
        custom="TODO: not yet an equation",
        id="softmax.definition",
        kind="definition",
        render=_definition_display,
        source=None,
        origin="standard",
        scope="symbolic n",
        proof="checked",
        formula=sm.softmax_entry,
        symbolic=_definition_holds,
        wrong={
            "exp(z_i) without the normalizing sum": lambda t: sp.exp(sm.z[t]),
            "exp(z_i) / (1 + sum_k exp(z_k))": lambda t: (
                sp.exp(sm.z[t]) / (1 + sp.Sum(sp.exp(sm.z[sm.k]), (sm.k, 1, sm.n)))
            ),
            "z_i / sum_k z_k (no exponential)": lambda t: (
                sm.z[t] / sp.Sum(sm.z[sm.k], (sm.k, 1, sm.n))
            ),
            "exp(2 z_i) / sum_k exp(2 z_k) (temperature 1/2)": lambda t: (
                sp.exp(2 * sm.z[t]) / sp.Sum(sp.exp(2 * sm.z[sm.k]), (sm.k, 1, sm.n))
            ),
        },
        numeric=_numeric("definition"),
        compared=TORCH_SOFTMAX,
        reader=_READER,
        note="Two properties, checked for a symbolic n, determine the formula: the entries sum "
        "to 1 and p_i / p_j = e^(z_i - z_j). The wrong variants fail one or the other: too large "
        "a sum, too small a sum, the right sum with the wrong ratios.",
    ),
    Claim(
        custom="TODO: not yet an equation",
        id="softmax.sums_to_one",
        kind="identity",
        render=_sums_display,
        source=None,
        origin="standard",
        scope="symbolic n",
        formula=sm.softmax_entry,
        symbolic=_sums_to_one,
        wrong={
            "exp(z_i) without the normalizing sum": lambda t: sp.exp(sm.z[t]),
            "exp(z_i) / (1 + sum_k exp(z_k))": lambda t: (
                sp.exp(sm.z[t]) / (1 + sp.Sum(sp.exp(sm.z[sm.k]), (sm.k, 1, sm.n)))
            ),
        },
        numeric=_numeric("sums_to_one"),
        compared=TORCH_SOFTMAX,
        note="The sum over a symbolic n is reduced to 1; the wrong variants sum to more than 1 "
        "and to less than 1.",
    ),
    Claim(
        custom="TODO: not yet an equation",
        id="softmax.shift_invariance",
        kind="identity",
        render=_shift_display,
        source=None,
        origin="standard",
        scope="symbolic n",
        formula=lambda logit: logit + sm.c,
        symbolic=_shift_invariant,
        wrong={
            "scaling z -> c z": lambda logit: sm.c * logit,
            "shifting only z_1": lambda logit: (
                logit + sm.c * sp.KroneckerDelta(logit.indices[0], 1)
            ),
        },
        numeric=_numeric("shift"),
        compared=TORCH_SOFTMAX,
        note="Numerically with c = +-1000, where exp alone overflows: our softmax subtracts the "
        "maximum, which this invariance makes exact.",
    ),
    Claim(
        custom="TODO: not yet an equation",
        id="softmax.jacobian",
        kind="identity",
        render=_jacobian_display,
        source=None,
        origin="standard",
        scope="symbolic n",
        formula=sm.jacobian_closed_form,
        symbolic=_jacobian_holds,
        wrong={
            "diag(p) alone": lambda p, r, s: p(r) * sp.KroneckerDelta(r, s),
            "delta_ij - p_j (factor p_i missing)": lambda p, r, s: sp.KroneckerDelta(r, s) - p(s),
            "-p_i p_j (diagonal term missing)": lambda p, r, s: -p(r) * p(s),
        },
        numeric=_numeric("jacobian"),
        reader=_JACOBIAN_READER,
        compared=("torch.autograd.functional.jacobian of torch.nn.functional.softmax",),
        note="The closed form (derive.softmax.jacobian_closed_form, shown in chapter 4.1) against "
        "sympy.diff of the softmax for a symbolic n, and against autograd of our softmax and "
        "torch's.",
    ),
)
