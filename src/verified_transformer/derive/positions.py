r"""Positions, derived: the sinusoidal encoding's shift and dot product, and RoPE's relative score.

The sinusoidal encoding of :cite:`vaswani2017attention` (section 3.5) pairs, for every frequency
:math:`\omega_i = 10000^{-2i/d}`, the coordinates

.. math:: \mathrm{PE}_i(p) = \big(\sin(\omega_i p),\ \cos(\omega_i p)\big).

* Shift (:func:`shift_map`): expanding :math:`\sin(\omega(p + k))` and :math:`\cos(\omega(p + k))`
  with the addition theorems writes :math:`\mathrm{PE}_i(p + k)` as a matrix :math:`M_i(k)` times
  :math:`\mathrm{PE}_i(p)`, the matrix read off as coefficients, so it cannot depend on :math:`p`.
  The paper's reason for the choice: "for any fixed offset k, PE_{pos+k} can be represented as a
  linear function of PE_{pos}".
* Dot product (:class:`EncodingDot`): :math:`\mathrm{PE}(p) \cdot \mathrm{PE}(q)` summed over
  the pairs.
* RoPE (:func:`rope`, :class:`Rotated`, :cite:`su2021roformer`): rotate the pair :math:`i` of a
  query at position :math:`m` by :math:`m\theta_i` and of a key at :math:`n` by :math:`n\theta_i`,
  then take the dot product.

The operators (:class:`PE`, :class:`EncodingDot`, :class:`Rotated`, :class:`SA`) are what the
claims state equations with; their ``doit`` writes them out. Nothing here imports
``verified_transformer.nn``; the claims ledger ties these to the code.
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy as sp
from sympy.matrices.expressions.matexpr import MatrixExpr

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


def trig_simplify(expr: sp.Expr) -> sp.Expr:
    """Expand with the addition theorems, then simplify: the simplifier handed to
    :func:`verified_transformer.derive.exact.is_zero` for these trigonometric identities."""
    return sp.simplify(sp.expand(sp.expand_trig(sp.expand(expr))))


# --- operators: what the claims state equations with ------------------------------------------

OMEGA = sp.IndexedBase("omega")  # omega_i, the frequency of pair i (any positive numbers)
Q, K = sp.MatrixSymbol("q", 2, 1), sp.MatrixSymbol("k", 2, 1)  # one pair of a query and a key
PAIRS = {Q: sp.ImmutableMatrix(sp.symbols("q_1:3", real=True)),
         K: sp.ImmutableMatrix(sp.symbols("k_1:3", real=True))}  # q, k written out
_WEIGHTS = sp.symbols("u_1:3", real=True)


def entrywise(e: sp.Basic) -> sp.Basic:
    """``e`` with q, k replaced by their entries and its operators written out (``doit``); a
    column ``x`` then as the scalar ``sum_r u_r x_r`` for symbolic ``u`` (two columns are equal
    for every ``u`` iff entry by entry): the ledger's checker compares scalars."""
    e = e.xreplace(PAIRS).doit()
    if isinstance(e, sp.MatrixBase):
        return sp.Add(*(u * v for u, v in zip(_WEIGHTS, e, strict=False)))
    return e


class PE(MatrixExpr):
    r""":math:`\mathrm{PE}_\omega(p)`: the pair of frequency ``freq`` at ``position``, a column;
    ``doit`` is :func:`encoding_pair`."""

    shape = (2, 1)

    def __new__(cls, position: sp.Expr, freq: sp.Expr = omega) -> PE:
        return sp.Basic.__new__(cls, sp.sympify(position), sp.sympify(freq))

    def doit(self, **hints: object) -> sp.ImmutableMatrix:
        return sp.ImmutableMatrix(encoding_pair(*self.args))

    def _latex(self, printer: sp.printing.latex.LatexPrinter) -> str:
        position, freq = (printer._print(a) for a in self.args)
        return rf"\mathrm{{PE}}_{{{freq}}}\left({position}\right)"


class EncodingDot(sp.Function):
    r""":math:`\mathrm{PE}(p)^\top \mathrm{PE}(q)` of the whole encoding, width :math:`d`; ``doit``
    sums the pairs' products over :math:`i = 0 .. d/2 - 1`, frequencies :math:`\omega_i`."""

    nargs = 2

    def doit(self, **hints: object) -> sp.Expr:
        first, second = self.args
        pair = (encoding_pair(first, OMEGA[i]).T * encoding_pair(second, OMEGA[i]))[0, 0]
        return sp.Sum(pair, (i, 0, d / 2 - 1))

    def _latex(self, printer: sp.printing.latex.LatexPrinter) -> str:
        first, second = (printer._print(a) for a in self.args)
        return rf"\mathrm{{PE}}({first})^\top \mathrm{{PE}}({second})"


class Rotation(MatrixExpr):
    r""":math:`R(a)`, the plane rotation by ``angle`` (:func:`rotation`), printed by name;
    ``doit`` writes the matrix out."""

    def __new__(cls, angle: sp.Expr) -> Rotation:
        return sp.Basic.__new__(cls, sp.sympify(angle))

    shape = (2, 2)

    def doit(self, **hints: object) -> sp.Basic:
        return sp.ImmutableMatrix(rotation(self.args[0]))

    def _latex(self, printer: sp.printing.latex.LatexPrinter) -> str:
        return rf"R\left({printer._print(self.args[0])}\right)"


class Rotated(MatrixExpr):
    r""":math:`R(m\theta)\,v`: RoPE of one pair ``v`` (a 2-column) at ``position``, frequency
    ``freq``, printed :math:`R(m\theta)\,v`; ``doit`` multiplies."""

    def __new__(cls, v: sp.Basic, position: sp.Expr, freq: sp.Expr = theta) -> Rotated:
        return sp.Basic.__new__(cls, v, sp.sympify(position), sp.sympify(freq))

    @property
    def shape(self) -> tuple:
        return self.args[0].shape

    def doit(self, **hints: object) -> sp.Basic:
        v, position, freq = self.args
        return (sp.ImmutableMatrix(rotation(position * freq)) * v.doit(**hints)).doit()

    def _latex(self, printer: sp.printing.latex.LatexPrinter) -> str:
        v, position, freq = self.args
        return f"{printer._print(Rotation(position * freq))} {printer._print(v)}"


class SA(MatrixExpr):
    r""":math:`\mathrm{SA}(H)`: one self-attention layer applied to the rows of ``H`` (measured by
    the claims, never written out)."""

    def __new__(cls, arg: MatrixExpr) -> SA:
        return sp.Basic.__new__(cls, arg)

    @property
    def shape(self) -> tuple:
        return self.args[0].shape

    def _latex(self, printer: sp.printing.latex.LatexPrinter) -> str:
        return rf"\mathrm{{SA}}\left({printer._print(self.args[0])}\right)"

    def _numpycode(self, printer: sp.printing.numpy.NumPyPrinter) -> str:  # lambdify: SA(...)
        return f"SA({printer._print(self.args[0])})"
