"""Claims about softmax: its definition (compared with torch), normalization, shift invariance,
Jacobian. All of it is standard mathematics (the Transformer paper uses softmax, it does not
state these facts)."""

from __future__ import annotations

from functools import partial

import sympy as sp
from sympy.matrices.expressions.matexpr import MatrixElement

from verified_transformer.claims.formula import Blank
from verified_transformer.claims.ledger import Claim, numeric_reference, substitute
from verified_transformer.derive import softmax as sm
from verified_transformer.derive.exact import equal, expand_sums, is_zero
from verified_transformer.derive.operators import EntryOf, vector

i, j, k, n, z, c, SM = sm.i, sm.j, sm.k, sm.n, sm.z, sm.c, sm.Softmax
P, J = sp.IndexedBase("p"), sp.IndexedBase("J")  # p_i = softmax(z)_i, J_ij its derivatives
p, JM = sp.MatrixSymbol("p", n, 1), sp.MatrixSymbol("J", n, n)  # the column p, the matrix J
D_P = sp.Derivative(P[i], z[j])
WHERE = ((J[i, j], D_P), (P[i], SM(vector(z), i)))
SOFTMAX_SUM = sp.Sum(SM(vector(z), j), (j, 1, n))


def _sum(f: sp.Expr) -> sp.Expr:  # sum_k f(k), f in i
    return sp.Sum(f.xreplace({i: k}), (k, 1, n))


def _definition(entry: sp.Expr) -> tuple:
    return ((SM(vector(z), i), entry),)


def _characterized(formula: tuple) -> bool:
    """The two properties that pin softmax down, each derived on its own (symbolic n): the
    entries sum to 1, and ``p_i e^{-z_i}`` is the same for every i (``p_i / p_j = e^{z_i -
    z_j}``)."""
    entry = formula[0][-1]
    ratio = entry * sp.exp(-z[i]) - entry.xreplace({i: j}) * sp.exp(-z[j])
    return equal(_sum(entry), sp.Integer(1), sums=True) and is_zero(ratio, sp.simplify, sums=True)


def _unfold(e: sp.Basic) -> sp.Basic:
    """A matrix in J and p as its (i, j) entry; J and p written out, derivatives taken inside the
    sums and Kronecker deltas summed out (where SymPy's ``Sum.doit`` would leave a Piecewise)."""
    if isinstance(e, sp.MatrixExpr):
        e = e[i, j].doit().replace(lambda a: isinstance(a, MatrixElement),
                                   lambda a: J[a.i, a.j] if a.parent == JM else P[a.i])
    e = substitute(WHERE, e)
    return expand_sums(e.replace(lambda a: isinstance(a, sp.Derivative | EntryOf),
                                  lambda a: a.doit()))


_claim = partial(Claim, kind="identity", source=None, origin="standard", scope="symbolic n",
                 numeric=numeric_reference("numeric_softmax")("logits"),
                 compared=("torch.nn.functional.softmax",))


NAMES = {  # the definition's wrong variants: the entry, and as a reader's answer names it
    "exp(z_i) without the normalizing sum": (sp.exp(z[i]), "exp(z_i) without the normalizing sum"),
    "exp(z_i) / (1 + sum_k exp(z_k))": (sp.exp(z[i]) / (1 + _sum(sp.exp(z[i]))),
                                        "the softmax with an extra 1 in the denominator (a blank "
                                        "logit)"),
    "z_i / sum_k z_k (no exponential)": (z[i] / _sum(z[i]), "the plain ratio z_i / sum_k z_k (no "
                                         "exponential)"),
    "exp(2 z_i) / sum_k exp(2 z_k) (temperature 1/2)": (sp.exp(2 * z[i]) / _sum(sp.exp(2 * z[i])),
                                                        "the softmax at temperature 1/2"),
}
JACOBIAN_NAMES = {  # the Jacobian's wrong variants: entry, matrix, as a reader's answer names it
    "diag(p) alone": (P[i] * sp.KroneckerDelta(i, j), sm.Diag(p),
                      "diag(p) alone (the -p_i p_j term missing)"),
    "delta_ij - p_j (factor p_i missing)": (sp.KroneckerDelta(i, j) - P[j],
                                            sp.Identity(n) - sp.OneMatrix(n, 1) * p.T,
                                            "delta_ij - p_j (the factor p_i missing)"),
    "-p_i p_j (diagonal term missing)": (-P[i] * P[j], -p * p.T,
                                         "-p_i p_j (the diagonal term missing)"),
}
CLAIMS = (
    _claim(
        id="softmax.definition", kind="definition", proof="checked",
        formula=_definition(sp.exp(z[i]) / _sum(sp.exp(z[i]))), symbolic=_characterized,
        custom="a definition: checked by the two properties that characterize it (the entries "
        "sum to 1, ratios e^(z_i - z_j)), not against the operator's own expansion",
        wrong={name: _definition(entry) for name, (entry, _) in NAMES.items()},
        reader=Blank(
            takes="the i-th entry of softmax(z): a SymPy expression or LaTeX in z_i, sums over "
            "z_k (k = 1..n), n, e or exp; or a Python function of a 1-D float64 tensor z",
            output="softmax(z)", names={name: phrase for name, (_, phrase) in NAMES.items()},
            points=({n: 3, z: [1, 2, 4]}, {n: 4, z: [-0.5, 3, 0, 1]})),
        note="Two properties, checked for a symbolic n, determine the formula: the entries sum "
        "to 1 and p_i / p_j = e^(z_i - z_j). The wrong variants fail one or the other: too large "
        "a sum, too small a sum, the right sum with the wrong ratios.",
    ),
    _claim(
        id="softmax.sums_to_one",
        formula=((SOFTMAX_SUM, sp.Sum(sp.exp(z[j]) / _sum(sp.exp(z[i])), (j, 1, n)), 1),),
        wrong={name: (SOFTMAX_SUM, sp.Sum(NAMES[name][0].xreplace({i: j}), (j, 1, n)), 1)
               for name in list(NAMES)[:2]},  # the definition's: too large a sum, too small
        note="The sum over a symbolic n is reduced to 1; the wrong variants sum to more than 1 "
        "and to less than 1.",
    ),
    _claim(
        id="softmax.shift_invariance",
        formula=((SM(vector(lambda t: z[t] + c), i), SM(vector(z), i)),),
        wrong={"scaling z -> c z": (SM(vector(lambda t: c * z[t]), i), SM(vector(z), i)),
               "shifting only z_1": (SM(vector(lambda t: z[t] + c * sp.KroneckerDelta(t, 1)), i),
                                     SM(vector(z), i))},
        note="Numerically with c = +-1000, where exp alone overflows: our softmax subtracts the "
        "maximum, which this invariance makes exact.",
    ),
    _claim(
        id="softmax.jacobian", where=WHERE, meaning=lambda chain: _unfold,
        formula=((D_P, sm.jacobian_closed_form(lambda t: P[t])), (JM, sm.Diag(p) - p * p.T),
                 (sp.Sum(J[i, j], (j, 1, n)), P[i] - P[i] * sp.Sum(P[j], (j, 1, n)), 0)),
        wrong={name: {0: (D_P, entry), 1: (JM, matrix)}
               for name, (entry, matrix, _) in JACOBIAN_NAMES.items()},
        numeric=numeric_reference("numeric_softmax")("jacobian"),
        compared=("torch.autograd.functional.jacobian of torch.nn.functional.softmax",),
        reader=Blank(
            takes="the entry dp_i/dz_j as a SymPy expression or LaTeX in p_i, p_j and delta_{ij}",
            output="dp_i/dz_j", simplify=sp.expand, points=(
                {i: 1, j: 2, P[1]: sp.Rational(1, 5), P[2]: sp.Rational(1, 2)},
                {i: 1, j: 1, P[1]: sp.Rational(1, 5)}),
            names={name: phrase for name, (_, _, phrase) in JACOBIAN_NAMES.items()}),
        note="The closed form (derive.softmax.jacobian_closed_form, shown in chapter 4.1) against "
        "sympy.diff of the softmax for a symbolic n, and against autograd of our softmax and "
        "torch's.",
    ),
)
