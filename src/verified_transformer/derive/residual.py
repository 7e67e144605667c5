r"""Residual connections and the sub-layer orders built on them, derived with SymPy.

* Unrolling :math:`H^{i+1} = H^i + F_i(H^i)` gives
  :math:`H^L = H^l + \sum_{i=l}^{L-1} F_i(H^i)` (He et al. 2016, *Identity Mappings*, eq. 4).
* Its Jacobian is :math:`\partial H^L/\partial H^l = \prod_{i=L-1}^{l}(I + J_i)`, which expands
  into :math:`2^{L-l}` products, one per path, among them :math:`I` (Veit et al. 2016).
* Post-LN: :math:`y = \mathrm{LN}_1(x + \mathrm{SA}(x))`, output
  :math:`\mathrm{LN}_2(y + \mathrm{FFN}(y))`; Pre-LN: :math:`y = x + \mathrm{SA}(\mathrm{LN}_1(x))`,
  output :math:`y + \mathrm{FFN}(\mathrm{LN}_2(y))` (Xiong et al. 2020). Sub-layer Jacobians:
  Pre-LN :math:`I + J_F N_{LN}`, Post-LN :math:`N_{LN}(I + J_F)`.
* DeepNorm: :math:`x_{l+1} = \mathrm{LN}(\alpha x_l + G(x_l))` (Wang et al. 2022).
* Admin: :math:`x_i = \mathrm{LN}(\omega_i \odot x_{i-1} + f_i(x_{i-1}))` (Liu et al. 2020);
  ReZero: :math:`x_{l+1} = x_l + \alpha_l F_l(x_l)` (Bachlechner et al. 2021).
* Scaled initialization: :math:`\mathrm{Var}(\sum_{i=1}^N s B_i) = N s^2` for independent
  unit-variance branches, so :math:`s = 1/\sqrt N` keeps it at 1 (Radford et al. 2019).

The claims state these as equations over the operators below (``Jac``, ``Ordered``, ``Paths``,
``Var``, ...); :func:`realize` evaluates a side with explicit vectors and maps (SymPy) or tensors
and modules (torch), and :func:`each` makes a claim's check of that at every size or depth.
"""

from __future__ import annotations

import functools
import itertools
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sympy as sp
from sympy.core.function import AppliedUndef

from verified_transformer.derive.exact import expand_sums, unroll_sums

i, ell, L = sp.symbols("i l L", integer=True)
H = sp.IndexedBase("H")
alpha = sp.Symbol("alpha", positive=True)
N = sp.Symbol("N", integer=True, positive=True)  # number of residual branches


def branches(depth: int) -> list[sp.Function]:
    """Undefined residual branches ``F_0, ..., F_{depth-1}``."""
    return [sp.Function(f"F_{t}") for t in range(depth)]


def unrolled_states(start: sp.Expr, fs: Sequence[Callable[[Any], Any]]) -> list[sp.Expr]:
    """``[H^0, H^1, ..., H^L]`` from the recursion ``H^{i+1} = H^i + F_i(H^i)``."""
    states = [start]
    for f in fs:
        states.append(states[-1] + f(states[-1]))
    return states


def unrolled_sum(start: Any, increments: Sequence[Any]) -> Any:
    """``H^L = H^l + sum_{i=l}^{L-1} F_i(H^i)`` from the branch outputs ``F_i(H^i)``."""
    return functools.reduce(operator.add, increments, start)


def telescoped(lower: sp.Expr = ell, upper: sp.Expr = L) -> sp.Expr:
    """``sum_{i=l}^{L-1} (H^{i+1} - H^i)`` evaluated by SymPy: ``H^L - H^l`` for symbolic l, L."""
    return sp.Sum(H[i + 1] - H[i], (i, lower, upper - 1)).doit()


def jacobian_product(jacobians: Sequence[Any], identity: Any) -> Any:
    """``(I + J_{L-1}) ... (I + J_l)``: the last layer's factor on the left (chain rule order)."""
    product = identity
    for jac in jacobians:
        product = (identity + jac) * product
    return product


def path_products(jacobians: Sequence[sp.Symbol]) -> set[sp.Expr]:
    """The ``2^k`` path terms: for each subset of layers, their ``J_i`` multiplied, last leftmost.

    The empty subset is the identity path ``1``.
    """
    terms = set()
    for size in range(len(jacobians) + 1):
        for subset in itertools.combinations(range(len(jacobians)), size):
            terms.add(sp.Mul(*[jacobians[t] for t in reversed(subset)]))
    return terms


def noncommutative_jacobians(depth: int) -> list[sp.Symbol]:
    """Non-commuting symbols ``J_0, ..., J_{depth-1}`` standing for the branch Jacobians."""
    return list(sp.symbols(f"J_0:{depth}", commutative=False))


def noncommutative_norm_jacobians(depth: int) -> list[sp.Symbol]:
    """Non-commuting symbols ``N_0, ..., N_{depth-1}`` standing for the LayerNorm Jacobians."""
    return list(sp.symbols(f"N_0:{depth}", commutative=False))


def pre_ln_sublayer_jacobian(branch: Any, norm: Any, identity: Any) -> Any:
    """Jacobian of ``x + F(LN(x))``: ``I + J_F N_LN`` (``J_F`` at ``LN(x)``, ``N_LN`` at ``x``)."""
    return identity + branch * norm


def post_ln_sublayer_jacobian(branch: Any, norm: Any, identity: Any) -> Any:
    """Jacobian of ``LN(x + F(x))``: ``N_LN (I + J_F)`` (``J_F`` at ``x``, ``N_LN`` at
    ``x + F(x)``)."""
    return norm * (identity + branch)


def stack_jacobian(
    sublayer: Callable[[Any, Any, Any], Any],
    branches: Sequence[Any],
    norms: Sequence[Any],
    identity: Any,
) -> Any:
    """Product of ``sublayer(J_i, N_i, I)`` over the sub-layers, the last one leftmost."""
    if len(branches) != len(norms):
        raise ValueError(f"norms: expected {len(branches)} Jacobians, got {len(norms)}")
    product = identity
    for branch, norm in zip(branches, norms, strict=True):
        product = sublayer(branch, norm, identity) * product
    return product


# --- sub-layer orders ----------------------------------------------------------------------------


def residual_block(x: Any, f: Callable) -> Any:
    """One residual block ``y = x + F(x)`` (He et al. 2016)."""
    return x + f(x)


def post_ln(x: Any, sa: Callable, ffn: Callable, ln1: Callable, ln2: Callable) -> Any:
    """Post-LN encoder layer: ``y = LN1(x + SA(x))``, output ``LN2(y + FFN(y))``."""
    y = ln1(x + sa(x))
    return ln2(y + ffn(y))


def pre_ln(x: Any, sa: Callable, ffn: Callable, ln1: Callable, ln2: Callable) -> Any:
    """Pre-LN encoder layer: ``y = x + SA(LN1(x))``, output ``y + FFN(LN2(y))``."""
    y = x + sa(ln1(x))
    return y + ffn(ln2(y))


def deep_norm(x: Any, g: Callable, scale: Any, ln: Callable) -> Any:
    """DeepNorm sub-layer: ``LN(alpha x + G(x))``; ``alpha = 1`` is the Post-LN sub-layer."""
    return ln(scale * x + g(x))


def hadamard(weights: Any, values: Any) -> Any:
    """``weights (.) values``: entrywise for two SymPy matrices, :class:`Hadamard` for a
    non-commuting symbol (a vector of weights), ``*`` otherwise (scalars, tensors)."""
    if isinstance(weights, sp.MatrixBase) and isinstance(values, sp.MatrixBase):
        return weights.multiply_elementwise(values)
    if isinstance(weights, sp.Symbol) and not weights.is_commutative:  # a vector of weights
        return Hadamard(weights, values)
    return weights * values


def admin(x: Any, f: Callable, omega: Any, ln: Callable) -> Any:
    """Admin sub-layer (Liu et al. 2020): ``LN(omega (.) x + f(x))``; ``omega = 1`` is Post-LN."""
    return ln(hadamard(omega, x) + f(x))


def rezero(x: Any, f: Callable, scale: Any) -> Any:
    """ReZero layer (Bachlechner et al. 2021): ``x + alpha F(x)``, ``alpha = 0`` at init."""
    return x + scale * f(x)


def residual_scale(count: Any) -> Any:
    """GPT-2's factor on each of ``N`` residual branches at initialization: ``1/sqrt(N)``."""
    return 1 / sp.sqrt(count)


def sum_variance(scale: sp.Expr, count: sp.Expr = N) -> sp.Expr:
    """``Var(sum_{i=1}^N s B_i) = sum_i sum_j s^2 Cov(B_i, B_j)`` with ``Cov(B_i, B_j) = delta_ij``
    (independent branches of unit variance), the double sum done by SymPy: ``N s^2``."""
    j = sp.Symbol("j", integer=True, positive=True)
    covariance = sp.KroneckerDelta(i, j)
    inner = expand_sums(sp.Sum(scale**2 * covariance, (j, 1, count)))  # over j: s^2
    return expand_sums(sp.Sum(inner, (i, 1, count)))


def article_concat(h: sp.MatrixBase, f: sp.MatrixBase) -> sp.MatrixBase:
    """The seed article's second equation ``H^l = F(H^{l-1}) (+) H^{l-1}`` read as concatenation."""
    return sp.BlockMatrix([[f, h]])


def residual_add(h: Any, f: Any) -> Any:
    """``H^l = H^{l-1} + F(H^{l-1})``."""
    return h + f


# --- the claims' equations: vectors, maps, Jacobians, and their realization -----------------------
#
# A vector is a non-commuting symbol (x, H^l), so that products of Jacobians keep their order; a
# map is an undefined function (F, LN, SA); I is the identity. ``realize`` evaluates an expression
# with explicit values: vectors of n symbols and maps of all their n inputs, or linear ones
# (SymPy, Jacobians by ``Matrix.jacobian``), or tensors and modules (torch, Jacobians by autograd).

j = sp.Symbol("j", integer=True)
J = sp.IndexedBase("J", commutative=False)  # J_i: Jacobian of branch i at its input
NJ = sp.IndexedBase("N", commutative=False)  # N_l: Jacobian of sub-layer l's LayerNorm


class Identity(sp.Symbol):
    """``I``, the identity matrix: ``doit`` gives 1 (products of non-commuting Jacobians)."""

    def doit(self, **hints: object) -> sp.Expr:
        return sp.S.One

    def _latex(self, printer: Any) -> str:
        return "I"


I = Identity("I", commutative=False)  # noqa: E741


class Jac(sp.Function):
    """``Jac(e, v)``: the Jacobian of ``e`` with respect to ``v``, printed ``∂e/∂v``."""

    is_commutative = False

    def _latex(self, printer: Any) -> str:
        e, v = self.args
        if isinstance(e, AppliedUndef) and e.args == (v,):  # dF/dx
            e = sp.Symbol(type(e).__name__)
        if isinstance(e, sp.Symbol | sp.Indexed):
            return rf"\frac{{\partial {printer._print(e)}}}{{\partial {printer._print(v)}}}"
        body = printer._print(e)
        body = f" {body}" if isinstance(e, sp.Sum) else rf"\left({body}\right)"
        return rf"\frac{{\partial}}{{\partial {printer._print(v)}}}{body}"


def _layers(first: sp.Expr, last: sp.Expr) -> range | None:
    """The layer numbers first, ..., last in this order (counting down when last < first);
    ``None`` while either end is symbolic."""
    if not (first.is_Integer and last.is_Integer):
        return None
    step = 1 if last >= first else -1
    return range(first, last + step, step)


class Ordered(sp.Function):
    """``Ordered(body, i, first, last)``: the factors ``body`` for i = first, ..., last multiplied
    in this order (the chain rule's: the last layer's factor on the left)."""

    is_commutative = False

    def doit(self, **hints: object) -> sp.Expr:
        body, index, first, last = self.args
        order = _layers(first, last)
        if order is None:
            return self
        product = sp.Mul(*(body.xreplace({index: k}) for k in order))
        return product.doit(**hints) if hints.get("deep", True) else product

    def _latex(self, printer: Any) -> str:
        body, index, first, last = (printer._print(a) for a in self.args)
        body = rf"\left({body}\right)" if isinstance(self.args[0], sp.Add) else body
        return rf"\prod_{{{index}={first}}}^{{{last}}} {body}"


class On(sp.Function):
    """``On(a, i)``: the factor ``a`` of a path when layer i is on it, I otherwise."""

    is_commutative = False

    def _latex(self, printer: Any) -> str:
        a, index = self.args
        base = printer._print(a)
        base = rf"\left({base}\right)" if isinstance(a, sp.Mul) else base
        return rf"{base}^{{[{printer._print(index)} \in S]}}"


class Paths(sp.Function):
    """``Paths(body, i, first, last)``: the sum over the sets S of layers of the ordered product of
    ``body``, whose factors ``On(a, i)`` are ``a`` for i in S and I otherwise: one term per path."""

    is_commutative = False

    def doit(self, **hints: object) -> sp.Expr:
        body, index, first, last = self.args
        order = _layers(first, last)
        if order is None:
            return self
        factor = {(k, on): body.xreplace({index: k}).replace(
            On, lambda a, k, on=on: a if on else sp.S.One) for k in order for on in (False, True)}
        total = sp.Add(*(sp.Mul(I, *(factor[k, k in chosen] for k in order))
                         for size in range(len(order) + 1)
                         for chosen in itertools.combinations(order, size)))
        return total.doit(**hints) if hints.get("deep", True) else total
        return total

    def _latex(self, printer: Any) -> str:
        body, index, first, last = (printer._print(a) for a in self.args)
        return (rf"\sum_{{S \subseteq \{{{last}, \ldots, {first}\}}}} "
                rf"\prod_{{{index}={first}}}^{{{last}}} {body}")


class Branch(sp.Indexed):
    """``F_i(H^i)``: what residual branch i adds to its input ``H^i``."""

    def _latex(self, printer: Any) -> str:
        index = printer._print(self.indices[0])
        return rf"F_{{{index}}}\left(H^{{{index}}}\right)"


def branch(index: sp.Expr) -> Branch:
    """``F_i(H^i)`` for layer ``index``."""
    return Branch(sp.IndexedBase("F"), index)


class Cov(sp.Function):
    r"""``Cov(a, b)``, printed ``\operatorname{Cov}(a, b)``."""

    def _latex(self, printer: Any) -> str:
        pair = ", ".join(printer._print(a) for a in self.args)
        return rf"\operatorname{{Cov}}\left({pair}\right)"


class Var(sp.Function):
    """``Var(Sum(c B_i, (i, 1, N)))``: written out as ``sum_i sum_j c_i c_j Cov(B_i, B_j)``."""

    def doit(self, **hints: object) -> sp.Expr:
        total = self.args[0]
        term, (k, low, high) = total.function, total.limits[0]
        (b,) = term.atoms(sp.Indexed)
        c = term.coeff(b)
        return sp.Sum(c * c.xreplace({k: j}) * Cov(b, b.xreplace({k: j})), (j, low, high),
                      (k, low, high))

    def _latex(self, printer: Any) -> str:
        return rf"\operatorname{{Var}}\left({printer._print(self.args[0])}\right)"


def summed(e: sp.Expr) -> sp.Expr:
    """Every sum over several indices summed one index at a time, innermost first
    (:func:`~verified_transformer.derive.exact.expand_sums`: Kronecker deltas summed out)."""

    def nest(s: sp.Sum) -> sp.Expr:
        inner = s.function
        for var, low, high in s.limits:
            inner = expand_sums(sp.Sum(inner, (var, low, high)), dummy=var)
        return inner

    return e.replace(lambda a: isinstance(a, sp.Sum) and len(a.limits) > 1, nest)


class Hadamard(sp.Function):
    r"""``Hadamard(w, v)``: the entrywise product ``w \odot v``."""

    is_commutative = False

    def _latex(self, printer: Any) -> str:
        return " \\odot ".join(printer._print(a) for a in self.args)


@dataclass(frozen=True)
class Backend:
    """How :func:`realize` computes: a Jacobian ``jacobian(f, at)`` of the map f at a value, a
    product of two values, an entrywise product, a variance and a number."""

    jacobian: Callable[[Callable, Any], Any]
    mul: Callable[[Any, Any], Any] = operator.mul
    hadamard: Callable[[Any, Any], Any] = operator.mul
    variance: Callable[[Any], Any] = lambda v: v
    number: Callable[[sp.Expr], Any] = lambda e: e


def _matrix(value: Any) -> sp.Matrix:
    return value if isinstance(value, sp.MatrixBase) else sp.Matrix([value])


def _sympy_jacobian(f: Callable, at: Any) -> sp.Matrix:
    at = _matrix(at)
    u = sp.Matrix([sp.Dummy() for _ in at])
    return _matrix(f(u)).jacobian(u).subs(dict(zip(u, at, strict=True)), simultaneous=True)


SYMPY = Backend(
    jacobian=_sympy_jacobian,
    hadamard=lambda w, v: w * v if not isinstance(w, sp.MatrixBase) else w.multiply_elementwise(v),
)


def realize(e: sp.Basic, values: dict, backend: Backend = SYMPY, memo: dict | None = None) -> Any:
    """``e`` evaluated: ``values`` maps a symbol (or entry, or applied map) to its value or to its
    definition (an expression, realized in turn, once) and a function to its map; ``Jac``
    differentiates its first argument with its second replaced by a variable; ``Subs`` of an
    entry ``J_l`` sets every ``J_k`` to its point."""
    memo = {} if memo is None else memo
    if e in values:
        if e not in memo:
            value = values[e]
            defined = isinstance(value, sp.Basic)
            memo[e] = realize(value, values, backend, memo) if defined else value
        return memo[e]
    r = lambda a: realize(a, values, backend, memo)  # noqa: E731
    if isinstance(e, Jac):
        arg, var = e.args
        return backend.jacobian(lambda u: realize(arg, values | {var: u}, backend), r(var))
    if isinstance(e, sp.Subs):
        ((var,), (point,)) = e.variables, e.point
        if isinstance(var, sp.Indexed):
            return r(e.expr.replace(lambda a: isinstance(a, sp.Indexed) and a.base == var.base,
                                    lambda a: point))
        return realize(e.expr, values | {var: point}, backend)
    if isinstance(e, Ordered | Paths):
        return r(e.doit(deep=False))
    if isinstance(e, sp.Sum):
        return r(unroll_sums(e))
    if isinstance(e, Hadamard):
        return backend.hadamard(*map(r, e.args))
    if isinstance(e, Var):
        return backend.variance(r(e.args[0]))
    if isinstance(e, AppliedUndef):
        return values[type(e)](*map(r, e.args))
    if isinstance(e, sp.Add):
        terms = [r(a) for a in e.args]
        if all(isinstance(t, sp.Basic) for t in terms):
            return sp.Add(*terms)
        return functools.reduce(operator.add, terms)
    if isinstance(e, sp.Mul):
        return functools.reduce(backend.mul, map(r, e.args))
    if isinstance(e, sp.Pow):
        return r(e.base) ** r(e.exp)
    return backend.number(e) if e.is_number else e


def each(cases: Sequence[Any], values_of: Callable[[Any], dict]) -> Callable[[sp.Basic], sp.Expr]:
    """A chain's meaning: each side realized (SymPy) with ``values_of(case)`` for every case (a
    size, a depth), as one sum of its entries times a non-commuting marker per case and entry, so
    two sides are equal, expanded, exactly when they are equal in every case. Integer values
    (``L: 3``) are substituted first."""

    def meaning(e: sp.Basic) -> sp.Expr:
        terms = []
        for case in cases:
            values = values_of(case)
            fixed = {s: sp.Integer(v) for s, v in values.items() if isinstance(v, int)}
            m = _matrix(realize(sp.sympify(e).xreplace(fixed), values))
            terms += [m[r, c] * sp.Symbol(f"m_{case}_{r}_{c}", commutative=False)
                      for r in range(m.rows) for c in range(m.cols)]
        return sp.Add(*terms)

    return meaning


def vector_of(name: str, size: int) -> sp.Matrix:
    """A vector of ``size`` symbols ``name1, name2, ...``."""
    return sp.Matrix(sp.symbols(f"{name}1:{size + 1}"))


def any_map(name: str, size: int) -> Callable[[sp.Matrix], sp.Matrix]:
    """A map whose output r is an undefined function ``name_r`` of all ``size`` inputs."""
    outputs = [sp.Function(f"{name}_{r}") for r in range(1, size + 1)]
    return lambda v: sp.Matrix([f(*v) for f in outputs])


def linear_map(name: str, size: int) -> Callable[[sp.Matrix], sp.Matrix]:
    """``v -> A v`` with a ``size x size`` matrix of symbols ``name_1, ...``."""
    a = sp.Matrix(size, size, sp.symbols(f"{name}_1:{size * size + 1}"))
    return lambda v: a * v


def sublayer(norm_first: bool | None, h: Any, f: Callable, norm: Callable) -> Any:
    """One sub-layer: Pre-LN ``h + F(LN(h))``, Post-LN ``LN(h + F(h))``, no norm ``h + F(h)``."""
    if norm_first is None:
        return h + f(h)
    return h + f(norm(h)) if norm_first else norm(h + f(h))


def stack_definitions(norm_first: bool | None, depth: int) -> dict:
    """``H^{k+1}`` as sub-layer k (``F_k``, ``LN_k``) of ``H^k``, its branch output ``F_k(H^k)``,
    and where its Jacobians are taken: ``J_k`` of ``F_k`` at its input, ``N_k`` of ``LN_k`` at
    its input."""
    definitions: dict = {ell: 0, L: depth}
    for k in range(depth):
        f, norm, h = sp.Function(f"F_{k}"), sp.Function(f"LN_{k}"), H[k]
        inner = norm(h) if norm_first else h
        outer = h if norm_first else h + f(h)
        definitions |= {H[k + 1]: sublayer(norm_first, h, f, norm), branch(k): f(inner),
                        J[k]: Jac(f(inner), inner), NJ[k]: Jac(norm(outer), outer)}
    return definitions


def stack_values(norm_first: bool | None, depth: int, size: int = 2, linear: bool = True) -> dict:
    """:func:`stack_definitions` with explicit values: ``H^0`` a vector of ``size`` symbols, the
    maps ``F_k`` and ``LN_k`` linear (or undefined maps of all inputs), I the identity."""
    explicit = linear_map if linear else any_map
    maps = {sp.Function(f"{name}_{k}"): explicit(f"{name.lower()}{k}_", size)
            for k in range(depth) for name in ("F", "LN")}
    return {I: sp.eye(size), H[0]: vector_of("h", size)} | maps | stack_definitions(norm_first,
                                                                                    depth)


def explicit(size: int, vectors: Sequence[sp.Symbol], maps: Sequence[Any], linear: bool = False,
             ) -> dict:
    """Values for :func:`realize`: vectors of ``size`` symbols, maps of all their inputs (or
    linear ones), I the identity."""
    make = linear_map if linear else any_map
    return ({I: sp.eye(size)} | {v: vector_of(f"v{k}_", size) for k, v in enumerate(vectors)}
            | {f: make(f.__name__.lower(), size) for f in maps})


def expanded(depth: int) -> dict:
    """Values for :func:`realize` at ``L - l = depth``: products of non-commuting Jacobians,
    expanded (I is 1)."""
    return {ell: 0, L: depth, I: sp.S.One}


# --- the symbols of the residual claims --------------------------------------------------------

x, y, x_l, x_next, x_prev, x_i, J_F, N_LN, omega, ONES, E = (
    sp.Symbol(name, commutative=False) for name in
    ("x", "y", "x_l", "x_{l+1}", "x_{i-1}", "x_i", "J_F", r"N_{\mathrm{LN}}", "omega_i",
     r"\mathbf{1}", "E"))
F, G, LN, F_l, f_i, LOSS = (sp.Function(f) for f in ("F", "G", "LN", "F_l", "f_i", "E"))
alpha_l, B = sp.Symbol("alpha_l"), sp.IndexedBase("B")
XL, GX = sp.IndexedBase("x_l"), sp.IndexedBase(r"\mathit{G}\left(x_{l}\right)")  # entries


def sublayer_jacobians(norm_first: bool) -> dict:
    """Where J_F and N_LN are taken: Pre-LN J_F at LN(x), N_LN at x; Post-LN J_F at x, N_LN at
    x + F(x)."""
    inner, outer = (LN(x), x) if norm_first else (x, x + F(x))
    return {J_F: Jac(F(inner), inner), N_LN: Jac(LN(outer), outer)}


def rescaled(e: sp.Expr) -> sp.Expr:
    """``G(x) = alpha (w - x)``: a change of variables (w arbitrary, so nothing is lost) under
    which DeepNorm's ``LN(alpha x + G)`` is ``LN(alpha w)`` and ``LN(x + G / alpha)`` is
    ``LN(w)``."""
    return e.replace(lambda a: isinstance(a, sp.Indexed) and a.base == GX,
                     lambda a: alpha * (sp.IndexedBase("w")[a.indices] - XL[a.indices]))


def scale_free(e: sp.Expr) -> sp.Expr:
    """Common factors out of every sum (``sqrt(a^2 u) = a sqrt(u)``), then cancel."""
    return sp.cancel(sp.factor_terms(e))
