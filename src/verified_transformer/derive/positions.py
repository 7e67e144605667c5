r"""Positions, derived: the sinusoidal encoding's shift and dot product, and RoPE's relative score.

The sinusoidal encoding of :cite:`vaswani2017attention` (section 3.5) pairs, for every frequency
:math:`\omega_i = 10000^{-2i/d}`, the coordinates

.. math:: \mathrm{PE}_i(p) = \big(\sin(\omega_i p),\ \cos(\omega_i p)\big).

* Shift (:func:`shift_map`): expanding :math:`\sin(\omega(p + k))` and :math:`\cos(\omega(p + k))`
  with the addition theorems writes :math:`\mathrm{PE}_i(p + k)` as a matrix :math:`M_i(k)` times
  :math:`\mathrm{PE}_i(p)`, the matrix read off as coefficients, so it cannot depend on :math:`p`.
  The paper's reason for the choice: "for any fixed offset k, PE_{pos+k} can be represented as a
  linear function of PE_{pos}".
* Dot product (:func:`encoding_dot`): :math:`\mathrm{PE}(p) \cdot \mathrm{PE}(q)` summed over the
  pairs.
* RoPE (:func:`rope_score`, :cite:`su2021roformer`): rotate the pair :math:`i` of a query at
  position :math:`m` by :math:`m\theta_i` and of a key at :math:`n` by :math:`n\theta_i`, then take
  the dot product.

Nothing here imports ``verified_transformer.nn``; the claims ledger ties these to the code.
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy as sp

p, q, k, t = sp.symbols("p q k t", real=True)  # positions, an offset, a common shift
m, n = sp.symbols("m n", real=True)  # RoPE query and key positions
omega, theta = sp.symbols("omega theta", positive=True)  # one frequency
d = sp.Symbol("d", integer=True, positive=True)  # model width
i = sp.Symbol("i", integer=True, nonnegative=True)  # frequency index


def frequency(index: sp.Expr = i, width: sp.Expr = d, base: sp.Expr = 10000) -> sp.Expr:
    r""":math:`\omega_i = \text{base}^{-2i/d}` (section 3.5 of :cite:`vaswani2017attention`;
    the :math:`\theta_i` of :cite:`su2021roformer`, with :math:`i` counted from 0)."""
    return sp.sympify(base) ** (-2 * index / width)


def encoding_pair(position: sp.Expr, freq: sp.Expr = omega) -> sp.Matrix:
    r"""The definition: :math:`(\sin(\omega p), \cos(\omega p))^\top`, columns ``2i, 2i+1``."""
    return sp.Matrix([sp.sin(freq * position), sp.cos(freq * position)])


def encoding(position: sp.Expr, freqs: Sequence[sp.Expr]) -> sp.Matrix:
    """The whole encoding: the pairs of ``freqs`` stacked, a column of length ``2 len(freqs)``."""
    return sp.Matrix.vstack(*(encoding_pair(position, f) for f in freqs))


def frequencies(count: int) -> list[sp.Symbol]:
    r"""``count`` independent positive frequency symbols :math:`\omega_0, \omega_1, \dots`."""
    return list(sp.symbols(f"omega_0:{count}", positive=True))


def shift_map(offset: sp.Expr = k, freq: sp.Expr = omega, position: sp.Expr = p) -> sp.Matrix:
    r"""The 2x2 matrix with :math:`\mathrm{PE}(p + k) = M(k)\,\mathrm{PE}(p)`, derived: expand the
    entries of :func:`encoding_pair` at :math:`p + k` by the addition theorems and read off the
    coefficients of :math:`\sin(\omega p)` and :math:`\cos(\omega p)`."""
    s, c = sp.Dummy("s"), sp.Dummy("c")
    shifted = encoding_pair(position + offset, freq).applyfunc(
        lambda e: sp.expand_trig(sp.expand(e))
    )
    basis = {sp.sin(freq * position): s, sp.cos(freq * position): c}
    rows = []
    for entry in shifted:
        linear = sp.expand(entry.xreplace(basis))
        rows.append([linear.coeff(s), linear.coeff(c)])
    matrix = sp.Matrix(rows)
    if position in matrix.free_symbols:
        raise ArithmeticError("shift_map: the coefficients depend on the position")
    return matrix


def encoding_dot(first: sp.Expr, second: sp.Expr, freqs: Sequence[sp.Expr]) -> sp.Expr:
    r""":math:`\mathrm{PE}(p)^\top \mathrm{PE}(q)` over the pairs of ``freqs`` (not simplified)."""
    return (encoding(first, freqs).T * encoding(second, freqs))[0, 0]


def rotation(angle: sp.Expr) -> sp.Matrix:
    r"""The plane rotation by ``angle``: :math:`\begin{pmatrix}\cos a & -\sin a\\ \sin a & \cos a
    \end{pmatrix}` (counter-clockwise, as in section 3.2.1 of :cite:`su2021roformer`)."""
    return sp.Matrix([[sp.cos(angle), -sp.sin(angle)], [sp.sin(angle), sp.cos(angle)]])


def rope(vector: sp.Matrix, position: sp.Expr, freqs: Sequence[sp.Expr]) -> sp.Matrix:
    r"""RoPE of a column ``vector`` of length ``2 len(freqs)`` at ``position``: pair :math:`i`
    rotated by :math:`\text{position} \cdot \theta_i` (block-diagonal :math:`R_{\Theta, m}`)."""
    if vector.shape != (2 * len(freqs), 1):
        raise ValueError(f"vector must be a column of length {2 * len(freqs)}, got {vector.shape}")
    blocks = [rotation(position * f) * vector[2 * j: 2 * j + 2, :] for j, f in enumerate(freqs)]
    return sp.Matrix.vstack(*blocks)


def query_key(width: int) -> tuple[sp.Matrix, sp.Matrix]:
    """A symbolic query and key, columns of length ``width`` (entries ``q_j``, ``k_j``)."""
    return (
        sp.Matrix(sp.symbols(f"q_0:{width}", real=True)),
        sp.Matrix(sp.symbols(f"k_0:{width}", real=True)),
    )


def rope_score(
    query: sp.Matrix, key: sp.Matrix, m_pos: sp.Expr, n_pos: sp.Expr, freqs: Sequence[sp.Expr]
) -> sp.Expr:
    r""":math:`\langle R_{\Theta,m} q,\ R_{\Theta,n} k \rangle`: the attention score of a query
    at ``m_pos`` and a key at ``n_pos`` after RoPE (before the :math:`1/\sqrt{d_k}` scale)."""
    return (rope(query, m_pos, freqs).T * rope(key, n_pos, freqs))[0, 0]


def trig_simplify(expr: sp.Expr) -> sp.Expr:
    """Expand with the addition theorems, then simplify: the simplifier handed to
    :func:`verified_transformer.derive.exact.is_zero` for these trigonometric identities."""
    return sp.simplify(sp.expand(sp.expand_trig(sp.expand(expr))))
