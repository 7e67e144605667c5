"""Operators as SymPy functions: ``Op(v, i, *params)`` is entry ``i`` of an operator applied to the
vector ``v`` (a ``Lambda`` from an index to an entry); ``doit`` writes it out with the operator's
``entry`` from its derive module. Claims state equations between such entries (``LN(x + c)_i =
LN(x)_i``) and the book's printer shows them as written here: ``\\mathrm{LN}(x + c)_i``."""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp

T = sp.Symbol("t", integer=True, positive=True)  # the index of a vector argument


def vector(entry: Callable[[sp.Expr], sp.Expr] | sp.IndexedBase) -> sp.Lambda:
    """The vector whose entry ``t`` is ``entry(t)`` (``vector(lambda t: x[t] + c)``); ``vector(x)``
    is x itself."""
    return sp.Lambda(T, entry[T] if isinstance(entry, sp.IndexedBase) else entry(T))


class EntryOf(sp.Function):
    """``Op(v, i, *params)``; a subclass sets ``head`` (LaTeX), ``defaults`` (the params printed
    as nothing) and ``entry(v, i, *params)``, the written-out entry (v: index -> expression)."""

    head = ""
    defaults: tuple = ()

    def __new__(cls, v: sp.Lambda, index: sp.Expr, *params: sp.Expr, **options: object
                ) -> sp.Expr:
        return super().__new__(cls, v, index, *params, *cls.defaults[len(params):], **options)

    @classmethod
    def entry(cls, values: Callable[[sp.Expr], sp.Expr], index: sp.Expr, *params: sp.Expr
              ) -> sp.Expr:
        raise NotImplementedError

    def doit(self, **hints: object) -> sp.Expr:
        v, index, *params = (a.doit(**hints) for a in self.args)
        return self.entry(lambda t: v(t), index, *params).doit(**hints)

    def _latex(self, printer: sp.printing.latex.LatexPrinter) -> str:
        v, index, *params = self.args
        body = v.expr.replace(
            lambda e: isinstance(e, sp.Indexed) and e.indices == (v.variables[0],),
            lambda e: sp.Symbol(str(e.base.label)),
        )
        sub = ", ".join(printer._print(p) for p, d in zip(params, self.defaults, strict=False)
                        if p != d)
        head = f"{self.head}_{{{sub}}}" if sub else self.head
        return rf"{head}\left({printer._print(body)}\right)_{{{printer._print(index)}}}"
