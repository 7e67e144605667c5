"""Claims about positions: the sinusoidal encoding's shift map and dot product, RoPE's relative
scores, and the permutation equivariance that adding positions breaks."""

from __future__ import annotations

import sympy as sp

from verified_transformer.claims.latex import latex
from verified_transformer.claims.ledger import Claim, numeric_check
from verified_transformer.derive import positions as ps
from verified_transformer.derive.exact import is_zero

VASWANI, SU = "vaswani2017attention", "su2021roformer"
_numeric = numeric_check("numeric_positions")


def _zero(expr: sp.Expr) -> bool:
    return is_zero(expr, ps.trig_simplify)


# --- PE(p + k) = M(k) PE(p) -------------------------------------------------------------------


def _shift_holds(shift: sp.Matrix) -> bool:
    """``M`` is free of ``p`` (a fixed map for each ``k``), ``M PE(p) = PE(p + k)`` for symbolic
    ``p, k, omega``, and ``M`` is a rotation (``M^T M = I``, ``det M = 1``)."""
    if ps.p in shift.free_symbols or shift.shape != (2, 2):
        return False
    moved = shift * ps.encoding_pair(ps.p) - ps.encoding_pair(ps.p + ps.k)
    if not all(_zero(e) for e in moved):
        return False
    orthogonal = shift.T * shift - sp.eye(2)
    return all(_zero(e) for e in orthogonal) and _zero(shift.det() - 1)


def _shift_display(shift: sp.Matrix) -> list[str]:
    return [
        f"{latex(ps.encoding_pair(ps.p + ps.k))} = {latex(shift)} {latex(ps.encoding_pair(ps.p))}"
    ]


# --- PE(p) . PE(q) depends on p - q only -------------------------------------------------------


def _dot_holds(pair_term: sp.Expr) -> bool:
    """For 1..4 pairs with independent symbolic frequencies, ``PE(p).PE(q)`` equals the sum of
    ``pair_term`` over the pairs; and ``pair_term`` is unchanged when ``p`` and ``q`` both move
    by ``t`` (so the dot product depends on the offset only)."""
    if not _zero(pair_term.subs({ps.p: ps.p + ps.t, ps.q: ps.q + ps.t}, simultaneous=True)
                 - pair_term):
        return False
    for count in range(1, 5):
        freqs = ps.frequencies(count)
        claimed = sp.Add(*(pair_term.subs(ps.omega, f) for f in freqs))
        if not _zero(ps.encoding_dot(ps.p, ps.q, freqs) - claimed):
            return False
    return True


def _dot_display(pair_term: sp.Expr) -> list[str]:
    j, half = sp.Symbol("i", integer=True), sp.Symbol("d", integer=True) / 2
    w = sp.IndexedBase("omega")
    lhs = sp.Sum((ps.encoding_pair(ps.p, w[j]).T * ps.encoding_pair(ps.q, w[j]))[0, 0],
                 (j, 0, half - 1))
    rhs = sp.Sum(pair_term.subs(ps.omega, w[j]), (j, 0, half - 1))
    # One equation, broken after the expansion so that it fits the text column.
    return [
        rf"\begin{{aligned}} \mathrm{{PE}}(p)^\top \mathrm{{PE}}(q) &= {latex(lhs)} \\ "
        rf"&= {latex(rhs)} \end{{aligned}}"
    ]


# --- RoPE: the score depends on n - m only -----------------------------------------------------


def _rope_holds(relative: sp.Matrix) -> bool:
    """For 1..3 pairs with independent symbolic ``theta_i`` and symbolic ``q, k, m, n``:
    ``<R_m q, R_n k> = sum_i q_i^T A_i k_i`` with ``A_i`` the candidate at ``theta_i``, and the
    candidate is unchanged when ``m`` and ``n`` both move by ``t``."""
    if relative.shape != (2, 2):
        return False
    moved = relative.subs({ps.m: ps.m + ps.t, ps.n: ps.n + ps.t}, simultaneous=True) - relative
    if not all(_zero(e) for e in moved):
        return False
    for count in range(1, 4):
        freqs = ps.frequencies(count)
        query, key = ps.query_key(2 * count)
        claimed = sp.Add(*(
            (query[2 * j: 2 * j + 2, :].T * relative.subs(ps.theta, f)
             * key[2 * j: 2 * j + 2, :])[0, 0]
            for j, f in enumerate(freqs)
        ))
        if not _zero(ps.rope_score(query, key, ps.m, ps.n, freqs) - claimed):
            return False
    return True


def _rope_display(relative: sp.Matrix) -> list[str]:
    rm, rn = ps.rotation(ps.m * ps.theta), ps.rotation(ps.n * ps.theta)
    # One equation, broken before the right-hand side so that it fits the text column.
    return [
        rf"\begin{{aligned}} &\left({latex(rm)} q\right)^\top {latex(rn)} k \\ "
        rf"&\quad = q^\top {latex(relative)} k \end{{aligned}}"
    ]


# --- positions break permutation equivariance --------------------------------------------------

X, PE, C = (sp.MatrixSymbol(name, 6, 8) for name in ("X", "PE", "C"))
PERMUTATION = sp.MatrixSymbol("P", 6, 6)


def _equivariance_display(inputs: sp.Expr) -> list[str]:
    permuted = inputs.subs(X, PERMUTATION * X)
    return [
        rf"\mathrm{{SA}}\left({latex(permuted)}\right) \ne "
        rf"P\,\mathrm{{SA}}\left({latex(inputs)}\right)\ \text{{for some permutation }} P"
    ]


CLAIMS = (
    Claim(
        custom="TODO: not yet an equation",
        id="positions.sinusoidal_shift",
        kind="identity",
        render=_shift_display,
        source=VASWANI,
        origin="derived",
        scope="symbolic p, k, omega",
        formula=ps.shift_map(),
        symbolic=_shift_holds,
        wrong={
            "rotation by -k (the transpose)": ps.shift_map().T,
            "rotation by 2k": ps.shift_map(2 * ps.k),
            "identity, PE(p + k) = PE(p)": sp.eye(2),
        },
        numeric=_numeric("shift"),
        note="For each frequency pair, PE(p + k) is a rotation of PE(p) by omega k that does not "
        "depend on p; numerically, our table (d = 16) shifted by k = 0..7 rows.",
    ),
    Claim(
        custom="TODO: not yet an equation",
        id="positions.sinusoidal_dot",
        kind="identity",
        render=_dot_display,
        source=VASWANI,
        origin="derived",
        proof="checked",
        scope="d = 2, 4, 6, 8 with symbolic p, q and frequencies",
        formula=sp.cos(ps.omega * (ps.p - ps.q)),
        symbolic=_dot_holds,
        wrong={
            "cos(omega (p + q))": sp.cos(ps.omega * (ps.p + ps.q)),
            "sin(omega (p - q))": sp.sin(ps.omega * (ps.p - ps.q)),
            "cosine terms only": sp.cos(ps.omega * ps.p) * sp.cos(ps.omega * ps.q),
        },
        numeric=_numeric("dot"),
        note="The dot product of two encodings is a sum of cosines of omega_i (p - q), so it "
        "depends only on the offset; numerically, the Gram matrix of our table.",
    ),
    Claim(
        custom="TODO: not yet an equation",
        id="positions.rope_relative",
        kind="identity",
        render=_rope_display,
        source=SU,
        proof="checked",
        scope="d = 2, 4, 6 with symbolic q, k, m, n and frequencies",
        formula=ps.rotation((ps.n - ps.m) * ps.theta),
        symbolic=_rope_holds,
        wrong={
            "rotation by (m - n) theta": ps.rotation((ps.m - ps.n) * ps.theta),
            "rotation by (m + n) theta": ps.rotation((ps.m + ps.n) * ps.theta),
            "rotation by n theta (query not rotated)": ps.rotation(ps.n * ps.theta),
        },
        numeric=_numeric("rope"),
        note="With rotary embeddings the score of a query at m and a key at n is q^T R((n - m) "
        "theta) k; numerically with our rotary_embedding.",
    ),
    Claim(
        custom="TODO: not yet an equation",
        id="positions.break_permutation_equivariance",
        kind="empirical",
        render=_equivariance_display,
        source=VASWANI,
        origin="derived",
        proof="measured",
        scope="one seeded layer, 6 tokens, 6 seeded permutations, ours and torch's",
        formula=sp.MatAdd(X, PE),
        symbolic=_numeric("breaks_equivariance"),
        wrong={
            "no positions added (X)": X,
            "one vector added at every position (X + C)": sp.MatAdd(X, C),
        },
        note="Self-attention of X + PE is not permutation-equivariant; of X or X + C (the same "
        "vector at every position) it is, so those variants are rejected.",
    ),
)
