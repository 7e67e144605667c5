r"""Scaled dot-product and multi-head attention, derived with SymPy.

* Projections: :math:`Q = XW^Q,\ K = XW^K,\ V = XW^V` with
  :math:`X \in \mathbb{R}^{n\times d_{model}}` (matrix symbols of symbolic size, shapes checked
  exactly).
* :math:`\operatorname{Attention}(Q,K,V) = \operatorname{softmax}(QK^\top/\sqrt{d_k})V`, softmax
  over each row (explicit small matrices of symbols).
* Moments of :math:`q\cdot k` for independent components: mean 0, variance :math:`d_k` (symbolic
  :math:`d_k`), so :math:`q\cdot k/\sqrt{d_k}` has variance 1.
* Multi-head: :math:`\operatorname{Concat}(head_1,\dots,head_h)W^O = \sum_i head_i W^O_i` with
  :math:`W^O_i` the i-th block of :math:`d_v` rows of :math:`W^O`.
* The operators the claims' equations are written in (``Attention``, ``SelfAttention``, a row
  softmax, masks, ``E`` and ``Var``, ``Concat``), and :func:`at_each`, which writes a claim's
  sides out at every case of its finite scope.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any

import sympy as sp
from sympy.matrices.expressions.matexpr import MatrixExpr

n, d_model, d_k, d_v = sp.symbols("n d_model d_k d_v", integer=True, positive=True)
i, j, t = sp.symbols("i j t", integer=True, positive=True)

X = sp.MatrixSymbol("X", n, d_model)
W_Q = sp.MatrixSymbol("W^Q", d_model, d_k)
W_K = sp.MatrixSymbol("W^K", d_model, d_k)
W_V = sp.MatrixSymbol("W^V", d_model, d_v)
Q = sp.MatrixSymbol("Q", n, d_k)
K = sp.MatrixSymbol("K", n, d_k)
V = sp.MatrixSymbol("V", n, d_v)
EXPECTED_SHAPES = {"Q": (n, d_k), "K": (n, d_k), "V": (n, d_v)}

Definitions = dict[str, MatrixExpr]  # name ("Q", "K", "V") -> defining right-hand side


# --- projections -------------------------------------------------------------------------------


def projections() -> Definitions:
    """``Q = X W^Q``, ``K = X W^K``, ``V = X W^V`` (Vaswani et al. 2017, section 3.2.2)."""
    return {"Q": X * W_Q, "K": X * W_K, "V": X * W_V}


def article_projections() -> Definitions:
    """The seed article's section 4.1: ``Q = K^T W^Q``, ``K = V^T W^K``; ``V`` is never defined."""
    return {"Q": K.T * W_Q, "K": V.T * W_K}


def shape_mismatches(expr: MatrixExpr) -> list[str]:
    """Every product or sum inside ``expr`` whose sizes differ for some values of the symbols."""
    problems = []
    for node in sp.preorder_traversal(expr):
        if isinstance(node, sp.MatMul):
            factors = [a for a in node.args if isinstance(a, MatrixExpr)]
            for left, right in itertools.pairwise(factors):
                if sp.expand(left.cols - right.rows) != 0:
                    problems.append(
                        f"{left} ({left.rows}x{left.cols}) times {right} "
                        f"({right.rows}x{right.cols})"
                    )
        elif isinstance(node, sp.MatAdd):
            shapes = {a.shape for a in node.args}
            if len(shapes) > 1:
                problems.append(f"sum of shapes {sorted(map(str, shapes))}")
    return problems


def resolve(definitions: Definitions, rounds: int = 3) -> Definitions:
    """Substitute the definitions into each other until only inputs and weights remain.

    Raises ``ValueError`` when a right-hand side still refers to ``Q``, ``K`` or ``V`` afterwards
    (a quantity that is never defined, or defined in a circle).
    """
    unknowns = {"Q": Q, "K": K, "V": V}
    resolved = dict(definitions)
    for _ in range(rounds):
        table = {unknowns[name]: rhs for name, rhs in resolved.items()}
        resolved = {name: rhs.xreplace(table) for name, rhs in resolved.items()}
    for name in ("Q", "K", "V"):
        if name not in resolved:
            raise ValueError(f"definitions: {name} is never defined")
        left = resolved[name].atoms(sp.MatrixSymbol) & set(unknowns.values())
        if left:
            raise ValueError(f"definitions: {name} still depends on {sorted(map(str, left))}")
    return resolved


# --- scaled dot-product attention on explicit matrices ----------------------------------------


def symbol_matrix(name: str, rows: int, cols: int) -> sp.Matrix:
    """An explicit ``rows x cols`` matrix of real symbols ``name_{r,c}`` (1-based)."""
    return sp.Matrix(rows, cols, lambda r, c: sp.Symbol(f"{name}_{r + 1}{c + 1}", real=True))


class RowSoftmax(MatrixExpr):
    r"""``softmax`` of each row of a matrix expression of symbolic size (kept unevaluated; the
    book prints it as ``\operatorname{softmax}(...)``)."""

    def __new__(cls, arg: MatrixExpr) -> RowSoftmax:
        return sp.Basic.__new__(cls, arg)

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        return self.args[0].shape

    def doit(self, **hints: Any) -> sp.Basic:
        arg = written(self.args[0].doit(**hints))
        return row_softmax(arg) if isinstance(arg, sp.MatrixBase) else RowSoftmax(arg)


def written(x: sp.Basic) -> sp.Basic:
    """A matrix expression of explicit matrices (``2 * A * B.T``) as one explicit matrix."""
    if isinstance(x, MatrixExpr) and not isinstance(x, sp.MatrixBase) and not x.atoms(
            sp.MatrixSymbol) and all(sp.sympify(d).is_Integer for d in x.shape):
        return sp.ImmutableMatrix(x.as_explicit())
    return x


def row_softmax_entry(scores: sp.IndexedBase, r: sp.Expr, c: sp.Expr, keys: sp.Expr) -> sp.Expr:
    """``softmax(S)_rc = exp(S_rc) / sum_{t=1}^{m} exp(S_rt)``: the softmax of row r (1-based)."""
    return sp.exp(scores[r, c]) / sp.Sum(sp.exp(scores[r, t]), (t, 1, keys))


def row_softmax(scores: sp.MatrixBase | MatrixExpr) -> sp.Matrix | RowSoftmax:
    """Softmax of each row by :func:`row_softmax_entry` (explicit matrices); an unevaluated
    :class:`RowSoftmax` for a matrix expression of symbolic size."""
    if isinstance(scores, MatrixExpr) and not isinstance(scores, sp.MatrixBase):
        return RowSoftmax(scores)
    s = sp.IndexedBase("S")

    def entry(r: int, c: int) -> sp.Expr:
        return row_softmax_entry(s, r + 1, c + 1, scores.cols).doit().replace(
            lambda e: isinstance(e, sp.Indexed) and e.base == s,
            lambda e: scores[e.indices[0] - 1, e.indices[1] - 1])

    return sp.Matrix(scores.rows, scores.cols, entry)


def attention(
    q: sp.MatrixBase,
    k: sp.MatrixBase,
    v: sp.MatrixBase,
    keep: Sequence[Sequence[bool]] | None = None,
) -> sp.Matrix:
    """``softmax(Q K^T / sqrt(d_k) + M) V``, ``M_ij = -oo`` where ``keep[i][j]`` is False."""
    scores = q * k.T / sp.sqrt(q.cols)
    if keep is not None:
        scores = sp.Matrix(
            scores.rows, scores.cols, lambda r, c: scores[r, c] if keep[r][c] else -sp.oo
        )
    return row_softmax(scores) * v


def attention_entrywise(
    q: sp.MatrixBase, k: sp.MatrixBase, v: sp.MatrixBase,
    keep: Sequence[Sequence[bool]] | None = None,
) -> sp.Matrix:
    r"""Reference form: :math:`o_{ij} = \sum_t e^{q_i\cdot k_t/\sqrt{d_k} + M_{it}} v_{tj} /
    \sum_s e^{q_i\cdot k_s/\sqrt{d_k} + M_{is}}`, ``M_it = -oo`` where ``keep[i][t]`` is False."""
    scale = 1 / sp.sqrt(q.cols)

    def entry(r: int, c: int) -> sp.Expr:
        weights = [sp.exp(q.row(r).dot(k.row(t)) * scale + (0 if keep is None or keep[r][t]
                                                             else -sp.oo)) for t in range(k.rows)]
        return sp.Add(*[w * v[t, c] for t, w in enumerate(weights)]) / sp.Add(*weights)

    return sp.Matrix(q.rows, v.cols, entry)


def permutation_matrix(perm: Sequence[int]) -> sp.Matrix:
    """``P`` with ``(P X)_r = X_{perm[r]}``."""
    size = len(perm)
    return sp.Matrix(size, size, lambda r, c: 1 if perm[r] == c else 0)


# --- variance of the dot product ---------------------------------------------------------------


@cache
def dot_product_moments(
    dim: sp.Expr = d_k,
    mean_q: sp.Expr = 0,
    var_q: sp.Expr = 1,
    mean_k: sp.Expr = 0,
    var_k: sp.Expr = 1,
) -> tuple[sp.Expr, sp.Expr]:
    r"""Mean and variance of :math:`q\cdot k=\sum_{i=1}^{d_k} q_i k_i`, symbolic :math:`d_k`.

    Components independent, :math:`E[q_i]=\mu_q`, :math:`E[q_iq_j]=\sigma_q^2\delta_{ij}+\mu_q^2`
    (same for k). Independence of q and k gives
    :math:`E[(q\cdot k)^2]=\sum_{i,j}E[q_iq_j]E[k_ik_j]`.
    """
    second_q = var_q * sp.KroneckerDelta(i, j) + mean_q**2
    second_k = var_k * sp.KroneckerDelta(i, j) + mean_k**2
    inner = sp.Sum(sp.expand(second_q * second_k), (j, 1, dim)).doit()
    inner = inner.subs({sp.Le(i, dim): True, sp.Ge(dim, i): True})
    second = sp.Sum(sp.piecewise_fold(inner), (i, 1, dim)).doit()
    mean = sp.Sum(mean_q * mean_k, (i, 1, dim)).doit()
    return sp.simplify(mean), sp.factor(sp.expand(second - mean**2))


def dot_product_moments_explicit(
    dim: int, moments_q: Sequence[sp.Expr] = (0, 1), moments_k: Sequence[sp.Expr] = (0, 1)
) -> tuple[sp.Expr, sp.Expr]:
    """Same moments for a fixed ``dim``, by expanding ``(q.k)^2`` into monomials.

    ``moments_*`` are ``(E[x], E[x^2])``; independence makes the expectation of a monomial the
    product of the moments of its factors. An independent route to :func:`dot_product_moments`.
    """
    if dim < 1:
        raise ValueError(f"dim: expected a positive int, got {dim}")
    qs = sp.symbols(f"q1:{dim + 1}")
    ks = sp.symbols(f"k1:{dim + 1}")
    moment = {v: moments_q for v in qs} | {v: moments_k for v in ks}

    def expectation(poly: sp.Expr) -> sp.Expr:
        total = sp.Integer(0)
        for monomial, coeff in sp.Poly(poly, *qs, *ks).terms():
            term = coeff
            for var, power in zip((*qs, *ks), monomial, strict=True):
                term *= 1 if power == 0 else moment[var][power - 1]
            total += term
        return total

    dot = sum(a * b for a, b in zip(qs, ks, strict=True))
    mean = expectation(dot)
    return mean, sp.expand(expectation(sp.expand(dot**2)) - mean**2)


# --- multi-head concatenation -----------------------------------------------------------------


def heads_and_blocks(h: int) -> tuple[list[sp.MatrixSymbol], list[sp.MatrixSymbol]]:
    """``head_i`` (n x d_v) and the row blocks ``W^O_i`` (d_v x d_model) of ``W^O``."""
    heads = [sp.MatrixSymbol(f"head_{t}", n, d_v) for t in range(1, h + 1)]
    blocks = [sp.MatrixSymbol(f"W^O_{t}", d_v, d_model) for t in range(1, h + 1)]
    return heads, blocks


def concat_times_output(heads: Sequence[MatrixExpr], blocks: Sequence[MatrixExpr]) -> MatrixExpr:
    """``Concat(head_1..head_h) W^O`` with ``W^O`` stacked from its row blocks, block-multiplied."""
    concat = sp.BlockMatrix([list(heads)])
    w_o = sp.BlockMatrix([[b] for b in blocks])
    return sp.block_collapse(concat * w_o)


def sum_of_heads(heads: Sequence[MatrixExpr], blocks: Sequence[MatrixExpr]) -> MatrixExpr:
    """``sum_i head_i W^O_i``."""
    return sp.MatAdd(*[hd * b for hd, b in zip(heads, blocks, strict=True)]).doit()


# --- attention weights of one query: ours and the seed article's --------------------------------


def attention_weights(scores: Sequence[sp.Expr], dim: sp.Expr = d_k) -> list[sp.Expr]:
    """``softmax(s / sqrt(d_k))`` for the scores ``s_t = q . k_t`` of one query."""
    exps = [sp.exp(s / sp.sqrt(dim)) for s in scores]
    total = sp.Add(*exps)
    return [e / total for e in exps]


def article_scores(scores: Sequence[sp.Expr], dim: sp.Expr = d_k) -> list[sp.Expr]:
    """The seed article's ``A = exp(q_k^T r) / sqrt(d_k)``: the scale is applied after ``exp``."""
    return [sp.exp(s) / sp.sqrt(dim) for s in scores]


def article_weights_normalized(scores: Sequence[sp.Expr], dim: sp.Expr = d_k) -> list[sp.Expr]:
    """The article's ``A`` normalized to sum to one: ``sqrt(d_k)`` cancels, leaving softmax(s)."""
    a = article_scores(scores, dim)
    total = sp.Add(*a)
    return [v / total for v in a]


def article_weights(scores: Sequence[sp.Expr], dim: sp.Expr = d_k) -> list[sp.Expr]:
    """The article's ``softmax(A)``: exponentiates twice, ``softmax(exp(s) / sqrt(d_k))``."""
    exps = [sp.exp(v) for v in article_scores(scores, dim)]
    total = sp.Add(*exps)
    return [e / total for e in exps]


# --- the feed-forward sub-layer ----------------------------------------------------------------


class Relu(MatrixExpr):
    """``max(0, A)`` entrywise, for a matrix expression of symbolic size (unevaluated)."""

    def __new__(cls, arg: MatrixExpr) -> Relu:
        return sp.Basic.__new__(cls, arg)

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        return self.args[0].shape


def feed_forward(y: Any, w1: Any, w2: Any, activation: Callable[[Any], Any]) -> Any:
    """``FFN(y) = act(y W_1) W_2``: back to ``d_model`` so it can be added to ``y``."""
    return activation(y @ w1) @ w2


def article_feed_forward(y: Any, w1: Any, w2: Any, activation: Callable[[Any], Any]) -> Any:
    """The seed article's ``feed_forward = nn.Linear(d_model, dff)``: one affine map to d_ff."""
    return y @ w1


# --- operators for the claims' equations (claims/attention.py) ------------------------------------
#
# Matrices of symbolic size print as written (Attention(Q, K, V), SA(PX), Concat(head_1, ...,
# head_h) W^O); ``doit`` writes them out once a claim's meaning (:func:`at_each`) has put explicit
# matrices in, case by case over the claim's finite scope.

from verified_transformer.derive.exact import is_zero  # noqa: E402
from verified_transformer.derive.operators import EntryOf  # noqa: E402

m, r, c = sp.symbols("m r c", integer=True, positive=True)  # keys; a query and a key (1-based)
_ROW, _COL = sp.symbols("row col", integer=True, positive=True)  # a mask's own, never substituted


class Mask(sp.Basic):
    """The additive mask ``M_rc = 0`` where ``keep(r, c)`` holds (query r may see key c), ``-oo``
    elsewhere; printed ``M`` (a claim shows its entries with :func:`mask_entries`)."""

    def __new__(cls, keep: Callable[[sp.Expr, sp.Expr], Any]) -> Mask:
        return sp.Basic.__new__(cls, sp.sympify(keep(_ROW, _COL)) if callable(keep) else keep)

    def condition(self, row: sp.Expr, col: sp.Expr) -> sp.Basic:
        return self.args[0].xreplace({_ROW: row, _COL: col})

    def keep(self, size: int) -> list[list[bool]]:
        """``keep[r][c]`` (0-based) for ``size`` queries and keys."""
        return [[bool(self.condition(a + 1, b + 1)) for b in range(size)] for a in range(size)]

    def _latex(self, printer: Any) -> str:
        return "M"


class MaskEntry(sp.Expr):
    """``M_rc``, written out as ``0`` where the mask keeps (r, c), ``-oo`` elsewhere."""

    def __new__(cls, mask: Mask, row: sp.Expr, col: sp.Expr) -> MaskEntry:
        return sp.Expr.__new__(cls, mask, sp.sympify(row), sp.sympify(col))

    def doit(self, **hints: Any) -> sp.Expr:
        mask, row, col = self.args
        return sp.Piecewise((0, mask.condition(row, col)), (-sp.oo, True))

    def _latex(self, printer: Any) -> str:
        return f"M_{{{printer._print(self.args[1])}{printer._print(self.args[2])}}}"


def mask_entries(keep: Callable[[sp.Expr, sp.Expr], Any]) -> tuple[sp.Expr, sp.Expr]:
    """``(M_rc, {0 where keep(r, c), -oo otherwise})``: a mask's entries, as a claim shows them."""
    return MaskEntry(Mask(keep), r, c), sp.Piecewise((0, keep(r, c)), (-sp.oo, True))


class Attention(MatrixExpr):
    """``Attention(Q, K, V)`` or ``Attention(Q, K, V, M)``; written out for explicit matrices as
    :func:`attention_entrywise` (equation (1) entry by entry)."""

    def __new__(cls, *args: sp.Basic) -> Attention:
        return sp.Basic.__new__(cls, *args)

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        return (self.args[0].shape[0], self.args[2].shape[1])

    def doit(self, **hints: Any) -> sp.Basic:
        args = [written(a.doit(**hints)) for a in self.args]
        if not all(isinstance(a, sp.MatrixBase) for a in args[:3]):
            return self.func(*args)
        keep = args[3].keep(args[0].rows) if len(args) > 3 else None
        return attention_entrywise(*args[:3], keep)

    def _latex(self, printer: Any) -> str:
        return rf"\operatorname{{Attention}}({', '.join(printer._print(a) for a in self.args)})"


class SelfAttention(MatrixExpr):
    """``SA(X) = Attention(X W^Q, X W^K, X W^V)`` (with a mask M: ``SA_M``); the weights are
    arguments, so that a claim's cases replace them too, but not printed."""

    def __new__(cls, x: sp.Basic, w_q: sp.Basic = W_Q, w_k: sp.Basic = W_K, w_v: sp.Basic = W_V,
                mask: Mask | None = None) -> SelfAttention:
        return sp.Basic.__new__(cls, x, w_q, w_k, w_v, *([mask] if mask is not None else []))

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        return (self.args[0].shape[0], self.args[3].shape[1])

    def doit(self, **hints: Any) -> sp.Basic:
        x, *weights = (a.doit(**hints) for a in self.args)
        return Attention(*(x * w for w in weights[:3]), *weights[3:]).doit(**hints)

    def _latex(self, printer: Any) -> str:
        sub = "_{M}" if len(self.args) > 4 else ""
        return rf"\mathrm{{SA}}{sub}({printer._print(self.args[0])})"


class RowSoftmaxEntry(sp.Expr):
    """``softmax(S)_ij`` of a matrix S of m columns: :func:`row_softmax_entry`."""

    def __new__(cls, scores: sp.IndexedBase, row: sp.Expr, col: sp.Expr, keys: sp.Expr
                ) -> RowSoftmaxEntry:
        return sp.Expr.__new__(cls, scores, row, col, keys)

    def doit(self, **hints: Any) -> sp.Expr:
        return row_softmax_entry(*self.args).doit(**hints)

    def _latex(self, printer: Any) -> str:
        s, row, col, _ = (printer._print(a) for a in self.args)
        return rf"\operatorname{{softmax}}({s})_{{{row},{col}}}"


class Softmax(EntryOf):
    """``softmax(v)_i = exp(v_i) / sum_{k=1}^{n} exp(v_k)``."""

    head = r"\operatorname{softmax}"

    @classmethod
    def entry(cls, values, index):  # noqa: ANN001, ANN206
        return sp.exp(values(index)) / sp.Sum(sp.exp(values(_K)), (_K, 1, n))


_K = sp.Symbol("k", integer=True, positive=True)


class Depends(sp.Expr):
    r"""``[d A_r / d x_c != 0]`` for a column A: 1 where entry r is a function of ``var`` (a
    counterexample point shows the derivative nonzero), 0 where it is not (the derivative is
    exactly 0, or the entry undefined, 0/0)."""

    def __new__(cls, column: sp.Basic, row: sp.Expr, var: sp.Expr) -> Depends:
        return sp.Expr.__new__(cls, column, sp.sympify(row), var)

    def doit(self, **hints: Any) -> sp.Expr:
        column, row, var = (written(a.doit(**hints)) for a in self.args)
        if not (isinstance(column, sp.MatrixBase) and row.is_Integer):
            return self.func(column, row, var)
        entry = column[int(row) - 1, 0]
        return sp.Integer(0 if entry.has(sp.nan) or is_zero(sp.diff(entry, var), lambda e: e)
                          else 1)

    def _latex(self, printer: Any) -> str:
        column, row, var = (printer._print(a) for a in self.args)
        return rf"\left[\frac{{\partial {column}_{{{row}}}}}{{\partial {var}}} \neq 0\right]"


class Iverson(sp.Expr):
    """``[condition]``: 1 where it holds, 0 where it does not."""

    def __new__(cls, condition: sp.Basic) -> Iverson:
        return sp.Expr.__new__(cls, condition)

    def doit(self, **hints: Any) -> sp.Expr:
        condition = self.args[0].doit(**hints)
        if condition in (sp.true, sp.false):
            return sp.Integer(int(bool(condition)))
        return self.func(condition)

    def _latex(self, printer: Any) -> str:
        return rf"\left[{printer._print(self.args[0])}\right]"


def at_case(e: sp.Basic, case: Mapping) -> sp.Basic:
    """``e`` written out at one case of a finite scope (a substitution: explicit matrices, sizes,
    indices), substituted again after each ``doit`` (a sum written out holds case symbols)."""
    case = {key: sp.sympify(value) for key, value in case.items()}
    e, previous = sp.sympify(e), None
    while e != previous:
        e, previous = e.xreplace(case).doit(), e
    return written(e)


def at_each(cases: Sequence[Mapping], when: Callable[[tuple], bool] = lambda chain: True
            ) -> Callable[[tuple], Callable[[sp.Basic], sp.Expr]]:
    """A claim's meaning over a finite scope: each side :func:`at_case` at every case, then
    ``sum_c sum_e tau_ce value_ce`` over the cases c and the entries e of a matrix value, with
    fresh symbols tau: two sides agree exactly when they agree at every entry of every case (a
    matrix of another shape has other entries). Only for chains where ``when`` holds."""

    def value(e: sp.Basic) -> sp.Expr:
        total = []
        for number, case in enumerate(cases):
            v = at_case(e, case)
            entries = list(v) if isinstance(v, sp.MatrixBase) else [v]
            total += [sp.Symbol(f"tau_{number}_{t}") * x for t, x in enumerate(entries)]
        return sp.Add(*total)

    return lambda chain: value if when(chain) else (lambda e: e)


# --- the moments of q . k (independent components; their moments are a claim's where pairs) -------

q, k = sp.IndexedBase("q", real=True), sp.IndexedBase("k", real=True)
QK = sp.Symbol(r"q \cdot k", real=True)


class Moment(sp.Indexed):
    """``E[q_i^p]``, an entry of the family :func:`moment`: a where pair ``E[q_i] = 0`` holds at
    every index."""

    def _latex(self, printer: Any) -> str:
        vector, power = self.base.label.name[2:-1].partition("^")[::2]
        tail = f"^{{{power}}}" if power else ""
        return f"E[{vector}_{{{printer._print(self.indices[0])}}}{tail}]"


class _MomentBase(sp.IndexedBase):
    def __getitem__(self, index: sp.Expr) -> Moment:
        return Moment(self, index)


def moment(vector: sp.IndexedBase, power: int) -> _MomentBase:
    """The family ``E[v_i^power]`` of the components of ``vector``."""
    return _MomentBase(f"E[{vector.label}{'' if power == 1 else f'^{power}'}]")


def _monomial(term: sp.Expr) -> sp.Expr:
    """E of a product of components: the product of each component's moment (independence)."""
    powers: dict[sp.Indexed, sp.Expr] = {}
    for f in sp.Mul.make_args(term):
        base, power = f.as_base_exp()
        if not (isinstance(base, sp.Indexed) and base.base in (q, k) and power.is_Integer):
            raise ValueError(f"expectation: {f} is not a power of a component q_i or k_i")
        powers[base] = powers.get(base, 0) + power
    return sp.Mul(*[moment(v.base, int(p))[v.indices[0]] for v, p in powers.items()])


def expectation(x: sp.Expr) -> sp.Expr:
    r"""``E[x]`` for a polynomial in the components ``q_i, k_i``, all independent: linear; a
    monomial's expectation is the product of its components' moments; a sum ``\sum_i f_i`` (f_i
    of the components at i) moves inside, and a product of two sums splits into the terms at one
    index and those at two different ones, :math:`\sum_i E[f_ig_i] + \sum_i E[f_i]\sum_j E[g_j] -
    \sum_i E[f_i]E[g_i]` (one-index sums only)."""
    x = sp.expand(x)
    if isinstance(x, sp.Add):
        return sp.Add(*map(expectation, x.args))
    factors = []
    for f in sp.Mul.make_args(x):
        base, power = f.as_base_exp()
        factors += [base] * int(power) if isinstance(base, sp.Sum) else [f]
    sums = [f for f in factors if isinstance(f, sp.Sum)]
    const = sp.Mul(*[f for f in factors if not f.has(q, k)])
    rest = sp.Mul(*[f for f in factors if f.has(q, k) and not isinstance(f, sp.Sum)])
    if not sums:
        return const * _monomial(rest)
    if rest != 1 or len(sums) > 2 or any(len(s.limits) != 1 for s in sums):
        raise ValueError(f"expectation: cannot take E of {x}")
    (var, low, high), = sums[0].limits
    f = sums[0].function
    if len(sums) == 1:
        return const * sp.Sum(expectation(f), (var, low, high))
    (other, *limits), = sums[1].limits
    if tuple(limits) != (low, high):
        raise ValueError(f"expectation: sums over different ranges in {x}")
    g = sums[1].function.xreplace({other: var})
    ef, eg = expectation(f), expectation(g)
    return const * (sp.Sum(expectation(f * g), (var, low, high)) + sp.Sum(ef, (var, low, high))
                    * sp.Sum(eg, (var, low, high)) - sp.Sum(ef * eg, (var, low, high)))


class Expectation(sp.Expr):
    """``E[x]``: :func:`expectation` once x is written in components (an abbreviation such as
    ``q . k`` is left for a where pair)."""

    def __new__(cls, x: sp.Expr) -> Expectation:
        return sp.Expr.__new__(cls, sp.sympify(x))

    def doit(self, **hints: Any) -> sp.Expr:
        x = self.args[0].doit(**hints)
        return expectation(x) if x.has(q, k) else self.func(x)

    def _latex(self, printer: Any) -> str:
        return f"E[{printer._print(self.args[0])}]"


class Variance(sp.Expr):
    """``Var[x] = E[x^2] - E[x]^2``; a constant factor comes out squared, ``Var[s y] =
    s^2 Var[y]`` (y left as it is when it is an abbreviation such as ``q . k``)."""

    def __new__(cls, x: sp.Expr) -> Variance:
        return sp.Expr.__new__(cls, sp.sympify(x))

    def doit(self, **hints: Any) -> sp.Expr:
        x = self.args[0].doit(**hints)
        scale = sp.Mul(*[f for f in sp.Mul.make_args(x) if not f.has(q, k, QK)])
        y = x / scale
        if not y.has(q, k):
            return scale**2 * self.func(y)
        return scale**2 * (expectation(y**2) - expectation(y) ** 2)

    def _latex(self, printer: Any) -> str:
        return rf"\operatorname{{Var}}\left[{printer._print(self.args[0])}\right]"


# --- multi-head: the concatenation as a block matrix ----------------------------------------------

h = sp.Symbol("h", integer=True, positive=True)
HEAD = sp.IndexedBase(r"\mathrm{head}", commutative=False)
W_O_BLOCK = sp.IndexedBase("W^O", commutative=False)


class _OutputWeight(sp.Expr):
    """``W^O`` as one (noncommutative) factor."""

    is_commutative = False

    def _latex(self, printer: Any) -> str:
        return "W^{O}"


W_O = _OutputWeight()


class Concat(sp.Expr):
    r"""``Concat(head_1, ..., head_h)``, an ``n x h d_v`` block row (:func:`block_products`)."""

    is_commutative = False

    def __new__(cls, heads: sp.IndexedBase, count: sp.Expr) -> Concat:
        return sp.Expr.__new__(cls, heads, sp.sympify(count))

    def _latex(self, printer: Any) -> str:
        head, count = (printer._print(a) for a in self.args)
        return rf"\operatorname{{Concat}}({head}_{{1}}, \dots, {head}_{{{count}}})"


class RowBlocks(sp.Expr):
    """``W^O`` as the column of its row blocks ``W^O_1, ..., W^O_h`` (each d_v x d_model)."""

    is_commutative = False

    def __new__(cls, blocks: sp.IndexedBase, count: sp.Expr) -> RowBlocks:
        return sp.Expr.__new__(cls, blocks, sp.sympify(count))

    def _latex(self, printer: Any) -> str:
        block, count = (printer._print(a) for a in self.args)
        return rf"\begin{{bmatrix}}{block}_{{1}} \\ \vdots \\ {block}_{{{count}}}\end{{bmatrix}}"


def block_products(counts: Sequence[int]) -> Callable[[tuple], Callable[[sp.Basic], sp.Expr]]:
    """A meaning for the multi-head chain: at each h in ``counts``, Concat and the row blocks
    become SymPy block matrices of symbolic sizes (:func:`heads_and_blocks`), SymPy's block
    algebra multiplies them (shapes checked), and the products of blocks come back as
    noncommutative symbols ``head_i W^O_i``; the cases combined with a tag each, as
    :func:`at_each` does."""

    def value(e: sp.Basic) -> sp.Expr:
        total = sp.Integer(0)
        for count in counts:
            heads, blocks = heads_and_blocks(count)
            back = {a: HEAD[t] for t, a in enumerate(heads, 1)}
            back |= {b: W_O_BLOCK[t] for t, b in enumerate(blocks, 1)}
            ahead = {v: key for key, v in back.items()}

            def blocked(x: sp.Basic, heads: list = heads, blocks: list = blocks,
                        ahead: dict = ahead) -> sp.Basic:
                if isinstance(x, Concat):
                    return sp.BlockMatrix([heads])
                if isinstance(x, RowBlocks):
                    return sp.BlockMatrix([[b] for b in blocks])
                if x in ahead:
                    return ahead[x]
                parts = [blocked(a) for a in x.args]
                return sp.MatAdd(*parts) if x.is_Add else sp.MatMul(*parts) if x.is_Mul else x

            def scalars(x: sp.Basic, back: dict = back) -> sp.Basic:
                if x in back:
                    return back[x]
                parts = [scalars(a) for a in x.args]
                return sp.Add(*parts) if isinstance(x, sp.MatAdd) else sp.Mul(*parts) if isinstance(
                    x, sp.MatMul) else x

            product = sp.block_collapse(blocked(e.xreplace({h: count}).doit())).doit()
            total += sp.Symbol(f"tau_{count}") * scalars(product)
        return total

    return lambda chain: value
