"""The numeric checks of :mod:`verified_transformer.claims.positions` (and the schedule's): each
side of a claim's chains in float64 on a grid, every operator by our code (the table of
``sinusoidal_encoding``, ``rotary_embedding``; torch has neither); and the measured permutation
test of self-attention, ours and torch's."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from itertools import pairwise

import numpy as np
import sympy as sp
import torch

from verified_transformer.claims import numeric as nu
from verified_transformer.claims.positions import PE, C, P, X
from verified_transformer.derive import positions as ps
from verified_transformer.derive.exact import unroll_sums
from verified_transformer.nn.positional import rotary_embedding, sinusoidal_encoding

WIDTH, LENGTH = 16, 40  # d = 16 (8 frequency pairs), positions 0..39
FREQS = np.array([float(ps.frequency(j, WIDTH)) for j in range(WIDTH // 2)])


def agree(chains: tuple, grid: dict, operators: dict[type, Callable], constants: dict) -> bool:
    """Neighbours of every chain agree in float64 at every point of ``grid`` (symbol -> array,
    broadcast), ``constants`` substituted, each operator node by ``operators[type](node, *its
    scalar arguments)`` (a column: its entries stacked)."""
    shape, names = np.broadcast_shapes(*(np.shape(a) for a in grid.values())), {}

    def stand_in(node: sp.Basic) -> sp.Basic:
        args = [a for a in node.args if not isinstance(a, sp.MatrixExpr)]
        f, name = partial(operators[type(node)], node), f"_op{len(names)}"
        if not isinstance(node, sp.MatrixExpr):
            names[name] = f
            return sp.Function(name)(*args)
        names.update({f"{name}_{r}": partial(lambda r, *v: f(*v)[r], r) for r in range(2)})
        return sp.ImmutableMatrix([sp.Function(f"{name}_{r}")(*args) for r in range(2)])

    def side(e: sp.Basic) -> np.ndarray:
        e = unroll_sums(e.replace(lambda a: type(a) in operators, stand_in).xreplace(constants))
        e = e.doit().xreplace(constants)
        f = sp.lambdify(list(grid), list(e) if isinstance(e, sp.MatrixBase) else [e],
                        modules=[names, "numpy"])
        return np.stack([np.broadcast_to(np.asarray(v, float), shape) for v in f(*grid.values())])

    return all(np.allclose(a, b, nu.RTOL, nu.ATOL) for chain in chains
               for a, b in pairwise(side(sp.sympify(e)) for e in chain))


def _pairs(table: np.ndarray, position: np.ndarray, freq: np.ndarray) -> np.ndarray:
    """Columns 2i, 2i+1 of ``table`` at row ``position``, i the pair of frequency ``freq``."""
    pair = np.abs(np.subtract.outer(freq, FREQS)).argmin(-1)
    row, pair = np.broadcast_arrays(np.asarray(position).astype(int), pair)
    return np.stack([table[row, 2 * pair], table[row, 2 * pair + 1]])


def shift(chains: tuple) -> bool:
    """PE by our table, at every p = 0..32, k = 0..7 and every pair of d = 16."""
    table = sinusoidal_encoding(LENGTH, WIDTH, dtype=nu.DTYPE).numpy()
    grid = {ps.p: np.arange(LENGTH - 7)[:, None, None], ps.k: np.arange(8)[:, None],
            ps.omega: FREQS}
    return agree(chains, grid, {ps.PE: lambda _, *a: _pairs(table, *a)}, {})


def dot(chains: tuple) -> bool:
    """PE(p)^T PE(q) by the Gram matrix of our table, positions 0..39, d = 16."""
    table = sinusoidal_encoding(LENGTH, WIDTH, dtype=nu.DTYPE).numpy()
    at = {ps.d: WIDTH} | {ps.OMEGA[j]: sp.Float(f, 30) for j, f in enumerate(FREQS)}
    grid = {ps.p: np.arange(LENGTH)[:, None], ps.q: np.arange(LENGTH)}
    return agree(chains, grid, {ps.EncodingDot: lambda _, a, b: (table @ table.T)[a, b]}, at)


def rope(chains: tuple) -> bool:
    """R(m theta_i) q by our rotary_embedding of seeded queries and keys (one per position
    m, n = 0..11, d = 16), every pair i."""
    vectors = {ps.Q: nu.randn(12, WIDTH, seed=70), ps.K: nu.randn(12, WIDTH, seed=71)}
    rotated = {v: rotary_embedding(t).numpy() for v, t in vectors.items()}
    grid = {ps.m: np.arange(12)[:, None], ps.n: np.arange(12), ps.theta: FREQS[:, None, None]}
    for (v, t), axis in zip(vectors.items(), (2, 1), strict=True):  # q at m, k at n
        grid |= {e: np.expand_dims(t[:, r::2].T.numpy(), axis) for r, e in enumerate(ps.PAIRS[v])}
    return agree(chains, grid, {ps.Rotated: lambda node, *a: _pairs(rotated[node.args[0]], *a)},
                 ps.PAIRS)


def breaks_equivariance(formula: tuple) -> bool:
    """The two sides of the inequality (one seeded layer, ours and torch's, float64) differ by
    more than 1e-3 for some of 6 seeded permutations P of the 6 tokens."""
    (inequality,), = formula
    generator = torch.Generator().manual_seed(82)
    perms = [np.eye(6)[torch.randperm(6, generator=generator)] for _ in range(6)]
    inputs = [nu.randn(6, 8, seed=80).numpy(), sinusoidal_encoding(6, 8, dtype=nu.DTYPE).numpy(),
              nu.randn(1, 8, seed=81).expand(6, 8).numpy()]
    found = []

    def record(F: object, nn: object) -> bool:
        layer = nu.mha(nn, 8, 2, seed=84)
        def sa(h: np.ndarray) -> np.ndarray:
            return layer(*3 * [torch.from_numpy(h)[None]], need_weights=False)[0][0].numpy()

        lhs, rhs = (sp.lambdify([X, PE, C, P], e, [{"SA": sa}, "numpy"]) for e in inequality.args)
        with torch.no_grad():
            found.append(max(np.abs(lhs(*inputs, perm) - rhs(*inputs, perm)).max()
                             for perm in perms) > 1e-3)
        return True

    nu.for_each_implementation(record)
    if len(set(found)) != 1:
        raise AssertionError("ours and torch's MultiheadAttention disagree on equivariance")
    return found[0]
