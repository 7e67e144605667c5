r"""The book's LaTeX notation for SymPy objects: every displayed claim is printed by :func:`latex`.

A :class:`BookPrinter` is SymPy's ``LatexPrinter`` with the book's conventions:

* indexed quantities print as ``x_i``, ``\gamma_i``, ``W^O_i`` (not ``{x}_{i}``);
* ``epsilon`` prints ``\epsilon``, ``sigma^2`` ``\sigma^2``, ``xhat`` ``\hat x``, ``d_k``
  ``d_k``, ``d_model`` ``d_{\mathrm{model}}``;
* undefined functions named in :data:`OPERATORS` print upright (``\mathrm{LN}_1``,
  ``\operatorname{softmax}``, ``\mathrm{SA}``, ``\mathrm{FFN}``);
* a sum prints its positive terms first and ``\epsilon`` last (``x_i - \mu``,
  ``\sigma^2 + \epsilon``); a product with a fraction puts its gains in front
  (``\gamma_i \frac{x_i - \mu}{\sqrt{\sigma^2 + \epsilon}}``).

Only the typography changes: the printed text is a faithful rendering of the expression (tested
by parsing some of it back, ``tests/test_claims.py``).
"""

from __future__ import annotations

from typing import Any

import sympy as sp
from sympy.core.function import AppliedUndef
from sympy.printing.latex import LatexPrinter

# name of a Symbol / IndexedBase / MatrixSymbol -> its LaTeX
NAMES: dict[str, str] = {
    "epsilon": r"\epsilon",
    "sigma^2": r"\sigma^2",
    "s^2": r"s^2",
    "sigma_eps": r"\sigma_\epsilon",
    "xhat": r"\hat x",
    "mu": r"\mu",
    "gamma": r"\gamma",
    "beta": r"\beta",
    "alpha": r"\alpha",
    "omega": r"\omega",
    "delta": r"\delta",
    "d_model": r"d_{\mathrm{model}}",
    "d_ff": r"d_{\mathrm{ff}}",
    "d_k": r"d_k",
    "d_v": r"d_v",
}
# undefined function name -> LaTeX of the operator
OPERATORS: dict[str, str] = {
    "LN": r"\mathrm{LN}",
    "LN_1": r"\mathrm{LN}_1",
    "LN_2": r"\mathrm{LN}_2",
    "SA": r"\mathrm{SA}",
    "FFN": r"\mathrm{FFN}",
    "softmax": r"\operatorname{softmax}",
    "Attention": r"\operatorname{Attention}",
    "RMSNorm": r"\mathrm{RMSNorm}",
    "N_in": r"N_{\mathrm{in}}",
    "N_out": r"N_{\mathrm{out}}",
    "N_1": "N_1",
    "N_2": "N_2",
    "N_1out": r"N_1^{\mathrm{out}}",
    "N_2out": r"N_2^{\mathrm{out}}",
    "Norm": r"\mathrm{Norm}",
    "Attn": r"\mathrm{Attn}",
    "MLP": r"\mathrm{MLP}",
}
SUPERSCRIPTED = {"H"}  # indexed bases whose index is a layer number, written as a superscript
_LAST = {"epsilon", "beta"}  # symbols a sum prints last (epsilon, the bias)


class BookPrinter(LatexPrinter):
    """``LatexPrinter`` with the book's notation (see the module docstring)."""

    _default_settings = {**LatexPrinter._default_settings, "identity": False}

    def __init__(self, settings: dict[str, Any] | None = None) -> None:
        super().__init__({"mul_symbol": None, **(settings or {})})

    def _name(self, name: str) -> str:
        if name in NAMES:
            return NAMES[name]
        if name.startswith("head_"):
            return rf"\mathrm{{head}}_{{{name[5:]}}}"
        return self._deal_with_super_sub(name)

    def _print_Symbol(self, expr: sp.Symbol, style: str = "plain") -> str:
        if expr.name.startswith("\\"):  # already LaTeX (a symbol standing for a block)
            return expr.name
        return self._name(expr.name)

    def _print_One(self, expr: sp.Expr) -> str:
        return "I" if self._settings.get("identity") else "1"

    def _print_IndexedBase(self, expr: sp.IndexedBase) -> str:
        return self._name(str(expr.label))

    def _print_Indexed(self, expr: sp.Indexed) -> str:
        base = self._name(str(expr.base.label))
        index = ",".join(self._print(a) for a in expr.indices)
        if str(expr.base.label) in SUPERSCRIPTED:  # H^i
            return f"{base}^{{{index}}}"
        if "^" in base or "_" in base:  # W^O -> W^O_{i}
            return f"{base}_{{{index}}}"
        return f"{base}_{{{index}}}" if len(index) > 1 else f"{base}_{index}"

    def _print_MatrixSymbol(self, expr: sp.MatrixSymbol) -> str:
        return self._name(expr.name)

    def _print_Function(self, expr: sp.Function, exp: str | None = None) -> str:
        name = type(expr).__name__
        if name in OPERATORS:
            args = ", ".join(self._print(a) for a in expr.args)
            head = OPERATORS[name]
            if exp is not None:
                head = f"{head}^{{{exp}}}"
            return rf"{head}\left({args}\right)"
        if isinstance(expr, AppliedUndef):
            args = ", ".join(self._print(a) for a in expr.args)
            head = self._deal_with_super_sub(name)
            if exp is not None:
                head = f"{head}^{{{exp}}}"
            return rf"{head}\left({args}\right)"
        return super()._print_Function(expr, exp)

    def _print_RowSoftmax(self, expr: Any) -> str:
        return rf"\operatorname{{softmax}}\left({self._print(expr.args[0])}\right)"

    def _print_Relu(self, expr: Any) -> str:
        return rf"\max\left(0, {self._print(expr.args[0])}\right)"

    def _print_Transpose(self, expr: Any) -> str:
        base = self._print(expr.arg)
        if not isinstance(expr.arg, sp.MatrixSymbol):
            base = rf"\left({base}\right)"
        return rf"{base}^\top"

    def _print_MatMul(self, expr: Any) -> str:
        coeff, factors = expr.as_coeff_matrices()
        numer, denom = sp.fraction(coeff)
        if denom == 1 or not factors:
            return super()._print_MatMul(expr)
        parts = " ".join(self._print(f) for f in factors)
        if numer != 1:
            parts = f"{self._print(numer)} {parts}"
        return rf"\frac{{{parts}}}{{{self._print(denom)}}}"

    def _print_Derivative(self, expr: sp.Derivative) -> str:
        """``\\frac{\\partial \\mu}{\\partial x_j}`` for a first derivative of one quantity."""
        (var, order), = expr.variable_count if len(expr.variable_count) == 1 else ((None, 0),)
        if order == 1 and isinstance(expr.expr, (sp.Symbol, sp.Indexed)):
            return rf"\frac{{\partial {self._print(expr.expr)}}}{{\partial {self._print(var)}}}"
        return super()._print_Derivative(expr)

    def _print_KroneckerDelta(self, expr: sp.KroneckerDelta, exp: str | None = None) -> str:
        i, j = (self._print(a) for a in expr.args)
        tex = rf"\delta_{{{i}{j}}}"
        return f"{tex}^{{{exp}}}" if exp is not None else tex

    def _print_Add(self, expr: sp.Add, order: str | None = None) -> str:
        terms = list(self._as_ordered_terms(expr, order=order))

        def rank(term: sp.Expr) -> tuple[int, int]:
            negative = term.could_extract_minus_sign()
            core = -term if term.could_extract_minus_sign() else term
            if isinstance(core, sp.Indexed):
                last = str(core.base.label) in _LAST
            else:
                last = isinstance(core, sp.Symbol) and core.name in _LAST
            atom = isinstance(term, sp.Symbol | sp.Indexed)
            return (int(negative), int(last), 0 if atom else 1)

        terms.sort(key=rank)  # stable: SymPy's order within each group
        tex = ""
        for t, term in enumerate(terms):
            if t == 0:
                pass
            elif term.could_extract_minus_sign():
                tex += " - "
                term = -term
            else:
                tex += " + "
            term_tex = self._print(term)
            if self._needs_add_brackets(term):
                term_tex = rf"\left({term_tex}\right)"
            tex += term_tex
        return tex

    def _print_Mul(self, expr: sp.Mul) -> str:
        numer, denom = sp.fraction(expr, exact=True)
        factors = sp.Mul.make_args(numer)
        if expr.could_extract_minus_sign() or any(f.is_number for f in factors):
            return super()._print_Mul(expr)
        gains = [f for f in factors if isinstance(f, sp.Indexed | sp.Symbol)]
        rest = [f for f in factors if f not in gains]
        if denom == 1:
            if not gains or not rest:
                return super()._print_Mul(expr)
            parts = [self._print(g) for g in gains]
            for f in rest:  # sums in parentheses after the gains: p_i (delta_ij - p_j)
                tex = self._print(f)
                parts.append(rf"\left({tex}\right)" if isinstance(f, sp.Add) else tex)
            return " ".join(parts)
        if not gains and len(rest) == 1 and isinstance(rest[0], sp.Sum) and denom.is_Symbol:
            return rf"\frac{{1}}{{{self._print(denom)}}} {self._print(rest[0])}"
        if not gains or len(rest) != 1 or not isinstance(rest[0], sp.Add):
            return super()._print_Mul(expr)
        front = " ".join(self._print(g) for g in gains)
        return rf"{front} \frac{{{self._print(rest[0])}}}{{{self._print(denom)}}}"


def latex(expr: Any, **settings: Any) -> str:
    """``expr`` in the book's notation (:class:`BookPrinter`); ``identity=True`` prints the
    number 1 as ``I`` (for products of Jacobians written with non-commuting symbols)."""
    return BookPrinter(settings).doprint(expr)

