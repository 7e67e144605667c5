"""Claims about positions: the sinusoidal encoding's shift map and dot product, RoPE's relative
scores, and the permutation equivariance that adding positions breaks."""

from __future__ import annotations

import itertools
from types import ModuleType

import sympy as sp
import torch

from verified_transformer.claims.latex import latex
from verified_transformer.claims.ledger import Claim
from verified_transformer.claims.numeric import DTYPE, close, for_each_implementation, randn
from verified_transformer.derive import positions as ps
from verified_transformer.derive.exact import is_zero
from verified_transformer.nn.positional import rotary_embedding, sinusoidal_encoding

VASWANI, SU = "vaswani2017attention", "su2021roformer"
WIDTH, LENGTH = 16, 40  # numeric checks: d = 16 (8 frequency pairs), positions 0..39


def _zero(expr: sp.Expr) -> bool:
    return is_zero(expr, ps.trig_simplify)


def _numeric_frequencies(width: int = WIDTH) -> list[float]:
    return [float(ps.frequency(j, width)) for j in range(width // 2)]


def _block_diagonal(blocks: list[sp.Matrix]) -> torch.Tensor:
    return torch.block_diag(*(torch.tensor([[float(v) for v in b.row(r)] for r in range(2)],
                                           dtype=DTYPE) for b in blocks))


def _table_is_the_definition() -> bool:
    """Our table, row p, column 2i / 2i+1, against sin / cos of p * omega_i evaluated by SymPy."""
    table = sinusoidal_encoding(LENGTH, WIDTH, dtype=DTYPE)
    expected = torch.tensor(
        [[float(v) for v in ps.encoding(pos, [ps.frequency(j, WIDTH) for j in range(WIDTH // 2)])
          .evalf(30)] for pos in range(LENGTH)],
        dtype=DTYPE,
    )
    return close(table, expected)


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


def _shift_numeric(shift: sp.Matrix) -> bool:
    """Our table: block-diagonal ``M_i(k)`` times row ``p`` equals row ``p + k``, k = 0..7."""
    table = sinusoidal_encoding(LENGTH, WIDTH, dtype=DTYPE)
    freqs = _numeric_frequencies()
    ok = _table_is_the_definition()
    for offset in range(8):
        blocks = [shift.subs({ps.k: offset, ps.omega: f}) for f in freqs]
        mapped = table[: LENGTH - offset] @ _block_diagonal(blocks).T
        ok = ok and close(mapped, table[offset:])
    return ok


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


def _dot_numeric(pair_term: sp.Expr) -> bool:
    """Gram matrix of our table (positions 0..39, d = 16) against the claimed sums."""
    table = sinusoidal_encoding(LENGTH, WIDTH, dtype=DTYPE)
    gram = table @ table.T
    term = sp.lambdify((ps.p, ps.q, ps.omega), pair_term, "math")
    freqs = _numeric_frequencies()
    claimed = torch.tensor(
        [[sum(term(a, b, f) for f in freqs) for b in range(LENGTH)] for a in range(LENGTH)],
        dtype=DTYPE,
    )
    return close(gram, claimed)


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


def _rope_numeric(relative: sp.Matrix) -> bool:
    """Our ``rotary_embedding`` on random q, k (12 positions, d = 16): every score
    ``<RoPE(q)_m, RoPE(k)_n>`` equals ``q_m^T A(n, m) k_n`` with the candidate's blocks."""
    length = 12
    query, key = randn(length, WIDTH, seed=70), randn(length, WIDTH, seed=71)
    scores = rotary_embedding(query) @ rotary_embedding(key).T
    freqs = _numeric_frequencies()
    claimed = torch.empty(length, length, dtype=DTYPE)
    for a, b in itertools.product(range(length), repeat=2):
        blocks = [relative.subs({ps.m: a, ps.n: b, ps.theta: f}) for f in freqs]
        claimed[a, b] = query[a] @ _block_diagonal(blocks) @ key[b]
    return close(scores, claimed)


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
TOKENS, D_MODEL, HEADS = 6, 8, 2


def _inputs(expr: sp.Expr, x: torch.Tensor) -> torch.Tensor:
    """Evaluate a sum of the matrix symbols X (tokens), PE (our sinusoidal table) and C (one
    seeded vector repeated at every position) at the tokens ``x``."""
    values = {
        X: x,
        PE: sinusoidal_encoding(TOKENS, D_MODEL, dtype=DTYPE),
        C: randn(1, D_MODEL, seed=81).expand(TOKENS, D_MODEL),
    }
    terms = expr.args if isinstance(expr, sp.MatAdd) else (expr,)
    if not all(term in values for term in terms):
        raise ValueError(f"formula: expected a sum of X, PE and C, got {expr}")
    return sum(values[term] for term in terms)


def _breaks_equivariance(inputs: sp.Expr) -> bool:
    """Self-attention of ``inputs`` (one seeded layer, ours and torch's, float64) is NOT
    permutation-equivariant: for some of 6 seeded permutations P of the tokens,
    ``SA(in(PX)) != P SA(in(X))`` by more than 1e-3."""
    x = randn(TOKENS, D_MODEL, seed=80)
    generator = torch.Generator().manual_seed(82)
    perms = [torch.randperm(TOKENS, generator=generator) for _ in range(6)]

    def broken(F: ModuleType, nn: ModuleType) -> bool:
        with torch.random.fork_rng(devices=[]):  # the global generator is left untouched
            layer = nn.MultiheadAttention(D_MODEL, HEADS, batch_first=True).to(DTYPE).eval()
        generator = torch.Generator().manual_seed(84)
        with torch.no_grad():
            for parameter in layer.parameters():
                parameter.copy_(torch.randn(parameter.shape, generator=generator, dtype=DTYPE))

        def sa(tokens: torch.Tensor) -> torch.Tensor:
            h = _inputs(inputs, tokens)[None]
            return layer(h, h, h, need_weights=False)[0][0]

        with torch.no_grad():
            gaps = [float((sa(x[perm]) - sa(x)[perm]).abs().max()) for perm in perms]
        return max(gaps) > 1e-3

    ours_and_torch = []

    def record(F: ModuleType, nn: ModuleType) -> bool:
        ours_and_torch.append(broken(F, nn))
        return True

    for_each_implementation(record)
    if len(set(ours_and_torch)) != 1:
        raise AssertionError("ours and torch's MultiheadAttention disagree on equivariance")
    return ours_and_torch[0]


def _equivariance_display(inputs: sp.Expr) -> list[str]:
    permuted = inputs.subs(X, PERMUTATION * X)
    return [
        rf"\mathrm{{SA}}\left({latex(permuted)}\right) \ne "
        rf"P\,\mathrm{{SA}}\left({latex(inputs)}\right)\ \text{{for some permutation }} P"
    ]


CLAIMS = (
    Claim(
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
        numeric=_shift_numeric,
        note="For each frequency pair, PE(p + k) is a rotation of PE(p) by omega k that does not "
        "depend on p; numerically, our table (d = 16) shifted by k = 0..7 rows.",
    ),
    Claim(
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
        numeric=_dot_numeric,
        note="The dot product of two encodings is a sum of cosines of omega_i (p - q), so it "
        "depends only on the offset; numerically, the Gram matrix of our table.",
    ),
    Claim(
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
        numeric=_rope_numeric,
        note="With rotary embeddings the score of a query at m and a key at n is q^T R((n - m) "
        "theta) k; numerically with our rotary_embedding.",
    ),
    Claim(
        id="positions.break_permutation_equivariance",
        kind="empirical",
        render=_equivariance_display,
        source=VASWANI,
        origin="derived",
        proof="measured",
        scope="one seeded layer, 6 tokens, 6 seeded permutations, ours and torch's",
        formula=sp.MatAdd(X, PE),
        symbolic=_breaks_equivariance,
        wrong={
            "no positions added (X)": X,
            "one vector added at every position (X + C)": sp.MatAdd(X, C),
        },
        note="Self-attention of X + PE is not permutation-equivariant; of X or X + C (the same "
        "vector at every position) it is, so those variants are rejected.",
    ),
)
