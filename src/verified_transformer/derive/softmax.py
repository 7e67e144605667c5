"""Softmax, derived for a symbolic length ``n``.

``softmax(z)_i = exp(z_i) / sum_{k=1}^{n} exp(z_k)``; its Jacobian is
``d softmax_i / d z_j = p_i (delta_ij - p_j)``, i.e. ``diag(p) - p p^T``. The claims state
their equations with the operators at the end: ``Softmax``, the attention ``Weights`` and ``Diag``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import sympy as sp

from verified_transformer.derive.exact import expand_sums

n = sp.Symbol("n", integer=True, positive=True)
i, j, k = sp.symbols("i j k", integer=True, positive=True)
z = sp.IndexedBase("z")
c = sp.Symbol("c", real=True)

Entry = Callable[[sp.Expr], sp.Expr]  # index -> expression of the i-th component


def softmax_entry(index: sp.Expr = i, logits: sp.IndexedBase = z, size: sp.Expr = n) -> sp.Expr:
    """``exp(z_i) / sum_{k=1}^{n} exp(z_k)`` for a symbolic length ``n``."""
    return sp.exp(logits[index]) / sp.Sum(sp.exp(logits[k]), (k, 1, size))


def softmax(logits: Sequence[sp.Expr]) -> sp.Matrix:
    """Explicit softmax of a finite list of logits, as a column vector."""
    if len(logits) == 0:
        raise ValueError("logits: expected at least one entry, got none")
    exps = [sp.exp(v) for v in logits]
    total = sp.Add(*exps)
    return sp.Matrix([e / total for e in exps])


def substitute_logits(expr: sp.Expr, transform: Callable[[sp.Expr], sp.Expr]) -> sp.Expr:
    """Replace every logit ``z[.]`` in ``expr`` by ``transform(z[.])`` (e.g. ``z_k + c``)."""
    return expr.replace(lambda e: isinstance(e, sp.Indexed) and e.base == z, lambda e: transform(e))


def jacobian_entry() -> sp.Expr:
    """``d softmax_i / d z_j``: :func:`softmax_entry` differentiated (symbolic ``n``)."""
    return expand_sums(sp.diff(softmax_entry(i), z[j]))


def jacobian_closed_form(p: Entry = softmax_entry, row: sp.Expr = i, col: sp.Expr = j) -> sp.Expr:
    """The closed form ``p_i (delta_ij - p_j)``."""
    return p(row) * (sp.KroneckerDelta(row, col) - p(col))


def jacobian(logits: Sequence[sp.Expr]) -> sp.Matrix:
    """Explicit Jacobian of :func:`softmax` with respect to the given logit symbols."""
    return softmax(logits).jacobian(sp.Matrix(logits))


def jacobian_matrix_form(p: sp.Matrix) -> sp.Matrix:
    """``diag(p) - p p^T`` for an explicit column vector ``p``."""
    return sp.diag(*p) - p * p.T


# --- the operators, for the claims' equations (derive.operators) ---------------------------------

from verified_transformer.derive.attention import d_k  # noqa: E402
from verified_transformer.derive.operators import EntryOf  # noqa: E402


class Softmax(EntryOf):
    """``Softmax(v, i)``: :func:`softmax_entry` of the vector v (its n entries)."""

    head = r"\operatorname{softmax}"

    @classmethod
    def entry(cls, values, index):  # noqa: ANN001, ANN206
        return substitute_logits(softmax_entry(index), lambda e: values(e.indices[0]))


class Weights(EntryOf):
    """``Weights(s, i, d_k)``: the attention weights of one query whose scores with the n keys are
    s, ``softmax(s / sqrt(d_k))_i``, and printed so."""

    head, defaults = r"\operatorname{softmax}", (d_k,)

    @classmethod
    def entry(cls, values, index, dim=d_k):  # noqa: ANN001, ANN206
        return Softmax.entry(lambda t: values(t) / sp.sqrt(dim), index)

    def _latex(self, printer: sp.printing.latex.LatexPrinter) -> str:
        v, index, dim = self.args
        return printer._print(Softmax(sp.Lambda(v.variables, v.expr / sp.sqrt(dim)), index))


class Diag(sp.DiagMatrix):
    """``diag(p)`` of a column p (SymPy's ``DiagMatrix``, kept by ``doit``), printed as the book
    writes it."""

    def doit(self, **hints: object) -> Diag:
        return self

    def _latex(self, printer: sp.printing.latex.LatexPrinter) -> str:
        return rf"\operatorname{{diag}}\left({printer._print(self.args[0])}\right)"
