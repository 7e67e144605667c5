"""Claims about positions: the sinusoidal encoding's shift map and dot product, RoPE's relative
scores, and the permutation equivariance that adding positions breaks."""

from __future__ import annotations

import sympy as sp

from verified_transformer.claims.ledger import Claim, numeric_check
from verified_transformer.derive import positions as ps

VASWANI, SU = "vaswani2017attention", "su2021roformer"
_numeric = numeric_check("numeric_positions")
p, q, k, m, n, omega, theta, i = ps.p, ps.q, ps.k, ps.m, ps.n, ps.omega, ps.theta, ps.i
X, PE, C = (sp.MatrixSymbol(name, 6, 8) for name in ("X", "PE", "C"))
P = sp.MatrixSymbol("P", 6, 6)
# columns compared entry by entry, by the addition theorems
_COLUMNS = {"meaning": lambda chain: ps.entrywise, "simplify": ps.trig_simplify}


def _shift(matrix: sp.Matrix) -> tuple:  # PE(p + k) = (sin, cos)(p + k) = M PE(p)
    return (ps.PE(p + k), sp.ImmutableMatrix(ps.encoding_pair(p + k)),
            sp.MatMul(sp.ImmutableMatrix(matrix), ps.PE(p)))


def _dot(term: sp.Expr) -> tuple:  # PE(p)^T PE(q) = sum over the pairs of term at omega_i
    return ps.EncodingDot(p, q), sp.Sum(term.xreplace({omega: ps.OMEGA[i]}), (i, 0, ps.d / 2 - 1))


def _rope(angle: sp.Expr) -> tuple:  # (R(m theta) q)^T R(n theta) k = q^T R(angle) k
    return (sp.MatMul(sp.Transpose(ps.Rotated(ps.Q, m)), ps.Rotated(ps.K, n)),
            sp.MatMul(ps.Q.T, ps.Rotation(angle), ps.K))


_PHI = sp.Symbol("phi")
ROTATION = ((ps.Rotation(_PHI), sp.ImmutableMatrix(ps.rotation(_PHI))),)  # shown: what R(a) is


def _breaks(inputs: sp.MatrixExpr) -> tuple:  # SA(in(P X)) != P SA(in(X))
    return ((sp.Ne(ps.SA(inputs.xreplace({X: P * X})), P * ps.SA(inputs), evaluate=False),),)


CLAIMS = (
    Claim(
        id="positions.sinusoidal_shift", kind="identity", source=VASWANI, origin="derived",
        scope="symbolic p, k, omega", formula=(_shift(ps.shift_map()),), **_COLUMNS,
        wrong={"rotation by -k (the transpose)": _shift(ps.shift_map().T),
               "rotation by 2k": _shift(ps.shift_map(2 * k)),
               "identity, PE(p + k) = PE(p)": _shift(sp.eye(2))},
        numeric=_numeric("shift"),
        note="For each frequency pair, PE(p + k) is a rotation of PE(p) by omega k that does not "
        "depend on p; numerically, our table (d = 16) shifted by k = 0..7 rows.",
    ),
    Claim(
        id="positions.sinusoidal_dot", kind="identity", source=VASWANI, origin="derived",
        scope="symbolic d, p, q and frequencies",
        formula=(_dot(sp.cos(omega * (p - q))),), simplify=ps.trig_simplify,
        wrong={"cos(omega (p + q))": _dot(sp.cos(omega * (p + q))),
               "sin(omega (p - q))": _dot(sp.sin(omega * (p - q))),
               "cosine terms only": _dot(sp.cos(omega * p) * sp.cos(omega * q))},
        numeric=_numeric("dot"),
        note="The dot product of two encodings is a sum of cosines of omega_i (p - q), so it "
        "depends only on the offset; numerically, the Gram matrix of our table.",
    ),
    Claim(
        id="positions.rope_relative", kind="identity", source=SU, proof="checked",
        scope="one frequency pair (d = 2) with symbolic q, k, m, n and theta; numerically every "
        "pair at d = 16",
        formula=(_rope((n - m) * theta),), where=ROTATION, **_COLUMNS,
        wrong={"rotation by (m - n) theta": _rope((m - n) * theta),
               "rotation by (m + n) theta": _rope((m + n) * theta),
               "rotation by n theta (query not rotated)": _rope(n * theta)},
        numeric=_numeric("rope"),
        note="With rotary embeddings the score of a query at m and a key at n is q^T R((n - m) "
        "theta) k; numerically with our rotary_embedding.",
    ),
    Claim(
        id="positions.break_permutation_equivariance", kind="empirical", source=VASWANI,
        origin="derived", proof="measured",
        custom="empirical: an inequality measured on one seeded layer, not an identity to prove",
        scope="one seeded layer, 6 tokens, 6 seeded permutations, ours and torch's",
        formula=_breaks(X + PE), symbolic=_numeric("breaks_equivariance"),
        wrong={"no positions added (X)": _breaks(X),
               "one vector added at every position (X + C)": _breaks(X + C)},
        note="Self-attention of X + PE is not permutation-equivariant; of X or X + C (the same "
        "vector at every position) it is, so those variants are rejected.",
    ),
)
