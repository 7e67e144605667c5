"""The numeric checks of :mod:`verified_transformer.claims.positions`: float64, against our
``verified_transformer.nn`` and torch's, imported only when a check runs."""

from __future__ import annotations

import itertools
from types import ModuleType

import sympy as sp
import torch

from verified_transformer.claims.numeric import DTYPE, close, for_each_implementation, randn
from verified_transformer.claims.positions import (
    PE,
    C,
    X,
)
from verified_transformer.derive import positions as ps
from verified_transformer.nn.positional import rotary_embedding, sinusoidal_encoding

WIDTH, LENGTH = 16, 40  # numeric checks: d = 16 (8 frequency pairs), positions 0..39


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


def shift(shift: sp.Matrix) -> bool:
    """Our table: block-diagonal ``M_i(k)`` times row ``p`` equals row ``p + k``, k = 0..7."""
    table = sinusoidal_encoding(LENGTH, WIDTH, dtype=DTYPE)
    freqs = _numeric_frequencies()
    ok = _table_is_the_definition()
    for offset in range(8):
        blocks = [shift.subs({ps.k: offset, ps.omega: f}) for f in freqs]
        mapped = table[: LENGTH - offset] @ _block_diagonal(blocks).T
        ok = ok and close(mapped, table[offset:])
    return ok


def dot(pair_term: sp.Expr) -> bool:
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


def rope(relative: sp.Matrix) -> bool:
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


def breaks_equivariance(inputs: sp.Expr) -> bool:
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
