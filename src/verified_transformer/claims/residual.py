"""Claims about residual connections, Post-LN / Pre-LN layers, scaled initialization, Admin,
DeepNorm and ReZero."""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Sequence
from typing import Any

import sympy as sp

from verified_transformer.claims.fixtures import D_MODEL
from verified_transformer.claims.formula import (
    CandidateError,
    Reader,
    Vocabulary,
    format_number,
    scalar_reader,
)
from verified_transformer.claims.latex import latex
from verified_transformer.claims.ledger import Claim, numeric_check
from verified_transformer.claims.notation import read_program
from verified_transformer.derive import layernorm as ln
from verified_transformer.derive import residual as rs
from verified_transformer.derive.exact import equal, is_zero, matrices_equal, sqrt_ratios_equal

_numeric = numeric_check("numeric_residual")

# --- unrolled sum ------------------------------------------------------------------------------

Unrolled = Callable[[object, Sequence], object]


def _unrolled_holds(candidate: Unrolled) -> bool:
    """Telescoping for symbolic l, L; the recursion written out for depth 1..8."""
    if not equal(candidate(rs.H[rs.ell], [rs.telescoped()]), rs.H[rs.L]):
        return False
    h = sp.Symbol("h")
    for depth in range(1, 9):
        fs = rs.branches(depth)
        states = rs.unrolled_states(h, fs)
        increments = [f(state) for f, state in zip(fs, states, strict=False)]
        if candidate(h, increments) != states[-1]:
            return False
    return True


# --- Jacobian paths ----------------------------------------------------------------------------

Product = Callable[[Sequence, object], object]


def _paths_hold(product: Product) -> bool:
    """2^k path terms incl. I (non-commuting J, k = 1..8); chain rule on 2x2 maps, k = 1..3."""
    for depth in range(1, 9):
        js = rs.noncommutative_jacobians(depth)
        expanded = sp.expand(product(js, sp.Integer(1)))
        if set(sp.Add.make_args(expanded)) != rs.path_products(js):
            return False
    h = sp.Matrix(sp.symbols("h1:3"))
    for depth in range(1, 4):
        maps = [sp.Matrix(2, 2, sp.symbols(f"a{t}_1:5")) for t in range(depth)]
        state = h
        for m in maps:
            state = state + m * state
        if not matrices_equal(state.jacobian(h), product(maps, sp.eye(2)), sp.expand):
            return False
    return True


def _reversed_product(jacobians: Sequence[Any], identity: Any) -> Any:
    return rs.jacobian_product(list(jacobians)[::-1], identity)


def _first_order(jacobians: Sequence[Any], identity: Any) -> Any:
    return functools.reduce(operator.add, jacobians, identity)


# --- gradient identity term --------------------------------------------------------------------

Gradient = Callable[[object, object, object], object]


def _gradient_holds(candidate: Gradient) -> bool:
    """Chain rule through ``H^{i+1} = H^i + F_i(H^i)`` with a loss E, depth 1..4 (scalar)."""
    h, u = sp.Symbol("h"), sp.Symbol("u")
    loss = sp.Function("E")
    for depth in range(1, 5):
        fs = rs.branches(depth)
        states = rs.unrolled_states(h, fs)
        top = sp.diff(loss(u), u).subs(u, states[-1])
        branch_sum = sp.Add(*[f(s) for f, s in zip(fs, states, strict=False)])
        expected = sp.diff(loss(states[-1]), h)
        if not equal(candidate(top, sp.diff(branch_sum, h), sp.Integer(1)), expected, sp.expand):
            return False
    return True


# --- Post-LN and Pre-LN --------------------------------------------------------------------------

SA, FFN, LN1, LN2 = (sp.Function(name) for name in ("SA", "FFN", "LN_1", "LN_2"))
F_, LN_ = sp.Function("F"), sp.Function("LN")
_x = sp.Symbol("x")

Composition = Callable[..., object]  # (x, sa, ffn, ln1, ln2) -> output


def _explicit_vector(size: int = 3) -> sp.Matrix:
    return sp.Matrix(sp.symbols(f"v1:{size + 1}", real=True))


def _layer_norm_matrix(v: sp.Matrix) -> sp.Matrix:
    return ln.layer_norm_of_vector(list(v), ln.eps)


def _composes(compose: Composition, sublayer: Callable) -> bool:
    """The two-sub-layer layer is the generic sub-layer applied twice (self-attention with
    LN_1, then the feed-forward network with LN_2), for undefined SA, FFN, LN_1, LN_2."""
    twice = sublayer(sublayer(_x, SA, LN1), FFN, LN2)
    return compose(_x, SA, FFN, LN1, LN2) == twice


def _post_ln_holds(compose: Composition) -> bool:
    """It is the Post-LN sub-layer ``LN(x + F(x))`` applied twice, and its output has mean 0
    whatever the branches are (symbolic linear branches, n = 3)."""
    if not _composes(compose, rs.post_ln_sublayer):
        return False
    v = _explicit_vector()
    a_map, b_map = sp.Matrix(3, 3, sp.symbols("a1:10")), sp.Matrix(3, 3, sp.symbols("b1:10"))
    # LN_2's output entries are (w_i - mean(w)) / sqrt(var(w) + eps), one denominator for all:
    # they average to 0 exactly when the numerators do, whatever w the branches produced.
    numerators = compose(
        v,
        lambda t: a_map * t,
        lambda t: b_map * t,
        lambda t: t,
        lambda t: t - sp.ones(*t.shape) * sum(t) / len(t),
    )
    return is_zero(sum(numerators), sp.expand)


def _pre_ln_holds(compose: Composition) -> bool:
    """It is the Pre-LN sub-layer ``x + F(LN(x))`` applied twice, and with both branches zero
    the layer is the identity (explicit LayerNorms, n = 3)."""
    if not _composes(compose, rs.pre_ln_sublayer):
        return False
    v = _explicit_vector()
    zero = lambda t: sp.zeros(*t.shape)  # noqa: E731
    out = compose(v, zero, zero, _layer_norm_matrix, _layer_norm_matrix)
    return matrices_equal(out, v, sp.cancel)


def _norm_once_at_end(x: Any, sa: Callable, ffn: Callable, ln1: Callable, ln2: Callable) -> Any:
    y = x + sa(x)
    return ln2(y + ffn(y))


def _normalized_stream(x: Any, sa: Callable, ffn: Callable, ln1: Callable, ln2: Callable) -> Any:
    y = ln1(x) + sa(ln1(x))
    return y + ffn(ln2(y))


# --- identity path through Pre-LN, none through Post-LN -----------------------------------------

Sublayer = Callable[[Any, Any, Any], Any]  # (J_F, N_LN, I) -> Jacobian of one sub-layer
Step = Callable[[sp.Matrix, sp.Matrix, sp.Matrix], sp.Matrix]  # (state, A, B) -> next state


def _chain_rule_holds(sublayer: Sublayer, step: Step) -> bool:
    """Sub-layers with explicit 2x2 linear maps A_l (branch) and B_l (norm), L = 1..3: the
    Jacobian of the composition (``sympy.Matrix.jacobian``) equals the candidate's product."""
    h = sp.Matrix(sp.symbols("h1:3"))
    for depth in range(1, 4):
        a_maps = [sp.Matrix(2, 2, sp.symbols(f"a{t}_1:5")) for t in range(depth)]
        b_maps = [sp.Matrix(2, 2, sp.symbols(f"b{t}_1:5")) for t in range(depth)]
        state = h
        for a_map, b_map in zip(a_maps, b_maps, strict=True):
            state = step(state, a_map, b_map)
        product = rs.stack_jacobian(sublayer, a_maps, b_maps, sp.eye(2))
        if not matrices_equal(state.jacobian(h), product, sp.expand):
            return False
    return True


def _identity_path_holds(sublayer: Sublayer) -> bool:
    """L = 1..4: the product expands into the 2^L path terms of ``residual.jacobian_paths`` with
    J_l N_l for J_l, exactly one of them 1 (= I); chain rule of ``x + A(Bx)``."""
    for depth in range(1, 5):
        terms, ns = rs.stack_path_terms(sublayer, depth)
        js = rs.noncommutative_jacobians(depth)
        paths = rs.path_products([j * m for j, m in zip(js, ns, strict=True)])
        if len(terms) != 2**depth or set(terms) != paths:
            return False
    return _chain_rule_holds(
        sublayer,
        lambda t, a_map, b_map: rs.pre_ln_sublayer(t, lambda u: a_map * u, lambda u: b_map * u),
    )


def _no_identity_path_holds(sublayer: Sublayer) -> bool:
    """L = 1..4: 2^L terms, none is 1 and every one contains every N_l; chain rule of
    ``B(x + Ax)``."""
    for depth in range(1, 5):
        terms, ns = rs.stack_path_terms(sublayer, depth)
        if len(terms) != 2**depth or any(t == 1 or not all(t.has(m) for m in ns) for t in terms):
            return False
    return _chain_rule_holds(
        sublayer,
        lambda t, a_map, b_map: rs.post_ln_sublayer(t, lambda u: a_map * u, lambda u: b_map * u),
    )


# --- scaled initialization (GPT-2) --------------------------------------------------------------

Scale = Callable[[Any], Any]  # N -> factor on each branch


def _scaled_init_holds(scale: Scale) -> bool:
    """``Var(sum_i B_i) = N`` and ``Var(sum_i scale(N) B_i) = 1`` (symbolic N)."""
    return equal(rs.sum_variance(sp.Integer(1)), rs.N) and equal(
        rs.sum_variance(scale(rs.N)), sp.Integer(1)
    )


# --- Admin -------------------------------------------------------------------------------------

AdminFn = Callable[[object, Callable, object, Callable], object]  # (x, f, omega, LN) -> output


def _admin_holds(candidate: AdminFn) -> bool:
    """At omega = 1 it is the Post-LN sub-layer ``LN(x + f(x))`` (expression tree); without the
    norm, entry r of its input is linear in omega_r x_r and in f(x)_r only (derivatives, n = 3);
    with omega = alpha 1 and LN at eps = 0 it equals ``LN(x + f(x)/alpha)`` (DeepNorm's form)."""
    if candidate(_x, SA, sp.Integer(1), LN1) != rs.post_ln_sublayer(_x, SA, LN1):
        return False
    v, g = _explicit_vector(), sp.Matrix(sp.symbols("g1:4", real=True))
    omega = sp.Matrix(sp.symbols("omega1:4", positive=True))
    inner = candidate(v, lambda _: g, omega, lambda t: t)
    for r in range(3):
        for c in range(3):
            delta = int(r == c)
            if sp.expand(sp.diff(inner[r], omega[c]) - delta * v[r]) != 0:
                return False
            if sp.expand(sp.diff(inner[r], g[c]) - delta) != 0:
                return False
    scalar = sp.Matrix([rs.alpha] * 3)
    got = candidate(v, lambda _: g, scalar, _ln_ratios)
    want = rs.deep_norm_rescaled(v, lambda _: g, rs.alpha, _ln_ratios)
    return all(sqrt_ratios_equal(p, q) for p, q in zip(got, want, strict=True))


# --- DeepNorm ----------------------------------------------------------------------------------


def _ln_ratios(values: sp.Matrix) -> list[tuple[sp.Expr, sp.Expr]]:
    """LayerNorm (eps = 0) of an explicit vector as ``(x_i - mu, sigma^2)`` pairs."""
    return ln.layer_norm_ratios_of_vector(list(values))

G, LN = sp.Function("G"), sp.Function("LN")
DeepNormFn = Callable[[object, Callable, object, Callable], object]


def _deepnorm_holds(candidate: DeepNormFn) -> bool:
    """Tree ``LN(alpha x + G(x))``; at eps = 0 it equals ``LN(x + G(x)/alpha)`` (n = 3)."""
    if candidate(_x, G, sp.Integer(1), LN) != rs.post_ln_sublayer(_x, G, LN):
        return False  # alpha = 1 is the Post-LN sub-layer
    v, g = _explicit_vector(), sp.Matrix(sp.symbols("g1:4", real=True))
    got = candidate(v, lambda _: g, rs.alpha, _ln_ratios)
    expected = rs.deep_norm_rescaled(v, lambda _: g, rs.alpha, _ln_ratios)
    return all(sqrt_ratios_equal(p, q) for p, q in zip(got, expected, strict=True))


# --- ReZero ------------------------------------------------------------------------------------

ReZeroFn = Callable[[object, Callable, object], object]  # (x, F, alpha) -> output


def _rezero_holds(candidate: ReZeroFn) -> bool:
    """n = 1..8, F any map (output r an undefined function F_r of all n inputs): the candidate is
    affine in alpha with slope F(x) (its alpha-derivative), at alpha = 0 it returns x, and its
    Jacobian (taken at symbolic alpha, then alpha = 0) is I; together these make it
    x + alpha F(x). Symbols carry no assumptions (faster derivatives)."""
    scale = sp.Symbol("alpha")
    for size in range(1, 9):
        v = sp.Matrix(sp.symbols(f"v1:{size + 1}"))
        outputs = [sp.Function(f"F_{r}") for r in range(1, size + 1)]
        branch = lambda h, fs=outputs: sp.Matrix([f(*h) for f in fs])  # noqa: E731
        general = candidate(v, branch, scale)
        # affine in alpha, with slope F(x): d/dalpha = F(x), d^2/dalpha^2 = 0
        slope = general.diff(scale)
        if slope.diff(scale) != sp.zeros(size, 1) or not matrices_equal(
            slope, branch(v), sp.expand
        ):
            return False
        at_init = candidate(v, branch, sp.Integer(0))
        if at_init != v or general.jacobian(v).xreplace({scale: 0}) != sp.eye(size):
            return False
    return True


# --- one residual block ------------------------------------------------------------------------

Block = tuple[Callable, Callable]  # (x, F) -> y, and (I, dF/dx) -> dy/dx


def _block_holds(block: Block) -> bool:
    """n = 1..4, F any map (output r an undefined function F_r of all n inputs): the Jacobian of
    ``y(x)`` (``sympy.Matrix.jacobian``) is the claimed ``dy/dx`` with ``dF/dx`` the Jacobian of
    F, and at F = 0 the block is the identity map."""
    forward, jacobian = block
    for size in range(1, 5):
        v = sp.Matrix(sp.symbols(f"v1:{size + 1}"))
        outputs = [sp.Function(f"F_{r}") for r in range(1, size + 1)]
        branch = lambda h, fs=outputs: sp.Matrix([f(*h) for f in fs])  # noqa: E731
        y = forward(v, branch)
        if y.jacobian(v) != jacobian(sp.eye(size), branch(v).jacobian(v)):
            return False
        if forward(v, lambda h, size=size: sp.zeros(size, 1)) != v:
            return False
    return True


# --- displays: generated from the formulas the checks consume -------------------------------------

_XL, _XNEXT = sp.Symbol("x_l"), sp.Symbol("x_{l+1}")
_Y, _OUT = sp.Symbol("y"), sp.Symbol(r"\mathrm{out}")


def _noncommuting(name: str) -> sp.Symbol:
    return sp.Symbol(name, commutative=False)


def _block_display(block: Block) -> tuple[str, ...]:
    forward, jacobian = block
    x = sp.Symbol("x")
    identity, branch = _noncommuting("I"), _noncommuting(r"\frac{\partial F}{\partial x}")
    return (
        f"y = {latex(forward(x, F_))}",
        rf"\frac{{\partial y}}{{\partial x}} = {latex(jacobian(identity, branch))}",
    )


def _unrolled_display(candidate: Unrolled) -> tuple[str, ...]:
    i, low, high = rs.i, rs.ell, rs.L
    increments = sp.Sum(sp.Function("F_i")(rs.H[i]), (i, low, high - 1))
    recursion = rs.unrolled_states(rs.H[i], [sp.Function("F_i")])[-1]
    return (
        rf"H^{{i+1}} = {latex(recursion)} \implies "
        rf"H^L = {latex(candidate(rs.H[low], [increments]))}",
    )


def _paths_display(product: Product) -> tuple[str, ...]:
    js = rs.noncommutative_jacobians(3)
    total = product(js, sp.Integer(1))
    expanded = sp.expand(total)
    return (
        rf"\frac{{\partial H^3}}{{\partial H^0}} = {latex(total, identity=True)}",
        rf"= {latex(expanded, identity=True)}\quad "
        rf"(2^3 = {len(sp.Add.make_args(expanded))}\ \text{{paths}})",
    )


def _gradient_display(candidate: Gradient) -> tuple[str, ...]:
    top = _noncommuting(r"\frac{\partial E}{\partial H^L}")
    branches = _noncommuting(r"\frac{\partial}{\partial H^l}\sum_{i=l}^{L-1} F_i(H^i)")
    return (
        rf"\frac{{\partial E}}{{\partial H^l}} = "
        rf"{latex(candidate(top, branches, _noncommuting('I')))}",
    )


def _layer_display(compose: Composition, sublayer: Callable) -> tuple[str, ...]:
    first = compose(_x, SA, lambda t: 0, LN1, lambda t: t)  # y: the first sub-layer alone
    tree = compose(_x, SA, FFN, LN1, LN2)
    out = tree.xreplace({first: _Y})
    if out.has(SA) and isinstance(first, sp.Add):  # y + (...): the sum y was absorbed
        out = sp.Add(_Y, (tree - first).xreplace({first: _Y}), evaluate=False)
    return (
        rf"x_{{l+1}} = {latex(sublayer(_XL, F_, LN_))}",
        rf"y = {latex(first)},\quad \mathrm{{out}} = {latex(out)}",
    )


def _post_ln_display(compose: Composition) -> tuple[str, ...]:
    return _layer_display(compose, rs.post_ln_sublayer)


def _pre_ln_display(compose: Composition) -> tuple[str, ...]:
    return _layer_display(compose, rs.pre_ln_sublayer)


def _sublayer_jacobian_display(sublayer_map: Callable) -> Callable[[Sublayer], tuple[str, ...]]:
    def render(sublayer: Sublayer) -> tuple[str, ...]:
        x = sp.Symbol("x")
        one = sublayer(_noncommuting("J_F"), _noncommuting(r"N_{\mathrm{LN}}"), sp.Integer(1))
        js = rs.noncommutative_jacobians(2)
        ns = rs.noncommutative_norm_jacobians(2)
        stack = sp.expand(rs.stack_jacobian(sublayer, js, ns, sp.Integer(1)))
        ones = list(sp.Add.make_args(stack)).count(sp.Integer(1))
        return (
            rf"\frac{{\partial}}{{\partial x}}\left({latex(sublayer_map(x, F_, LN_))}\right) = "
            rf"{latex(one, identity=True)}",
            rf"L = 2:\ {latex(stack, identity=True)}\quad "
            rf"({ones}\ \text{{bare identity term{'' if ones == 1 else 's'}}})",
        )

    return render


def _scaled_init_display(scale: Scale) -> tuple[str, ...]:
    b = sp.IndexedBase("B")
    plain = sp.Sum(b[rs.i], (rs.i, 1, rs.N))
    scaled = sp.Sum(scale(rs.N) * b[rs.i], (rs.i, 1, rs.N))
    return (
        rf"\operatorname{{Var}}\left({latex(plain)}\right) = {latex(rs.sum_variance(1))},\quad "
        rf"\operatorname{{Var}}\left({latex(scaled)}\right) = "
        rf"{latex(rs.sum_variance(scale(rs.N)))}",
        r"B_i\ \text{independent, mean } 0,\ \text{variance } 1",
    )


def _admin_display(candidate: AdminFn) -> tuple[str, ...]:
    x_prev, omega, f = sp.Symbol("x_{i-1}"), sp.Symbol("omega_i"), sp.Function("f_i")
    return (
        rf"x_i = {latex(candidate(x_prev, f, omega, LN_))}"
        r"\quad (\omega_i \odot\ \text{entrywise})",
        rf"\omega_i = \mathbf{{1}}:\ x_i = {latex(candidate(x_prev, f, sp.Integer(1), LN_))}",
    )


def _deepnorm_display(candidate: DeepNormFn) -> tuple[str, ...]:
    g = sp.Function("G")
    return (
        rf"x_{{l+1}} = {latex(candidate(_XL, g, rs.alpha, LN_))}",
        rf"{latex(candidate(_XL, g, rs.alpha, LN_))} = "
        rf"{latex(rs.deep_norm_rescaled(_XL, g, rs.alpha, LN_))}\quad (\epsilon = 0,\ \alpha > 0)",
    )


def _rezero_display(candidate: ReZeroFn) -> tuple[str, ...]:
    a_l, f = sp.Symbol("alpha_l"), sp.Function("F_l")
    return (
        rf"x_{{l+1}} = {latex(candidate(_XL, f, a_l))}",
        rf"\alpha_l = 0 \implies x_{{l+1}} = {latex(candidate(_XL, f, sp.Integer(0)))},\quad "
        r"\frac{\partial x_{l+1}}{\partial x_l} = I",
    )


# --- what check_formula accepts for Post-LN, Pre-LN and the residual block ------------------------


def _read_layer(candidate: object) -> Composition:
    if isinstance(candidate, str):
        text = candidate

        def compose(x: Any, sa: Callable, ffn: Callable, ln1: Callable, ln2: Callable) -> Any:
            env = {"x": x, "SA": sa, "FFN": ffn, "LN_1": ln1, "LN_2": ln2}
            return read_program(text, env)

        compose(_x, SA, FFN, LN1, LN2)  # read once now, so that errors surface here
        return compose
    if callable(candidate):
        return candidate
    raise CandidateError(
        f"expected a LaTeX string or a Python function, got {type(candidate).__name__}"
    )


def _layer_same(a: Composition, b: Composition) -> bool:
    """Equal for undefined SA, FFN, LN_1, LN_2 exactly when the expression trees are equal."""
    try:
        tree = a(_x, SA, FFN, LN1, LN2)
    except CandidateError:
        raise
    except Exception as exc:
        raise CandidateError(f"the function raised {type(exc).__name__}: {exc}") from None
    return tree == b(_x, SA, FFN, LN1, LN2)


def _layer_witness(norm_first: bool) -> Callable[[Composition, Composition], str | None]:
    def witness(a: Composition, b: Composition) -> str | None:
        try:
            tree = a(_x, SA, FFN, LN1, LN2)
        except Exception:
            tree = None
        if tree is not None and tree == b(_x, SA, FFN, LN1, LN2):
            return None
        try:
            from verified_transformer.claims.numeric_residual import layer_gap
        except ModuleNotFoundError as exc:  # no torch: the symbolic difference alone
            if tree is None or (exc.name or "").partition(".")[0] != "torch":
                raise
            shown = f" the candidate is {latex(tree)}, the claim {latex(b(_x, SA, FFN, LN1, LN2))}"
            return f"for arbitrary SA, FFN, LN_1, LN_2{shown}"
        gap = layer_gap(a, b, norm_first)
        shown = f" the candidate is {latex(tree)}, the claim {latex(b(_x, SA, FFN, LN1, LN2))};"
        return (
            f"for arbitrary SA, FFN, LN_1, LN_2{shown if tree is not None else ''} on a seeded "
            f"TransformerEncoderLayer(norm_first={norm_first}) with d_model = {D_MODEL} the "
            f"outputs differ by up to {format_number(gap)}"
        )

    return witness


def _layer_reader(norm_first: bool) -> Reader:
    return Reader(
        takes="LaTeX equations in x, SA, FFN, LN_1, LN_2 (\\mathrm{...} names, e.g. "
        "'y = x + \\mathrm{SA}(\\mathrm{LN}_1(x)),\\ \\mathrm{out} = ...'; the last one is the "
        "output), or a Python function (x, sa, ffn, ln1, ln2) -> output",
        convert=_read_layer,
        same=_layer_same,
        witness=_layer_witness(norm_first),
        names={
            "Pre-LN order": "the Pre-LN layer, not the Post-LN one",
            "Post-LN order": "the Post-LN layer, not the Pre-LN one",
            "one LayerNorm at the end": "a layer with a single LayerNorm at its end",
            "residual stream normalized too": "a layer that normalizes the residual stream too",
            "LayerNorm on the branches (no final norm)": "a layer with LayerNorm after each "
            "branch, before the addition",
        },
    )


def _norm_on_branches(x: Any, sa: Callable, ffn: Callable, ln1: Callable, ln2: Callable) -> Any:
    y = x + ln1(sa(x))
    return y + ln2(ffn(y))


def _only_first_norm(x: Any, sa: Callable, ffn: Callable, ln1: Callable, ln2: Callable) -> Any:
    y = x + sa(ln1(x))
    return y + ffn(y)


def _read_block(candidate: object) -> Block:
    if isinstance(candidate, str):
        text = candidate

        def forward(x: Any, f: Callable) -> Any:
            return read_program(text, {"x": x, "F": f})

        forward(_x, F_)  # read once now, so that errors surface here
        return (forward, rs.block_jacobian)
    if callable(candidate):
        return (candidate, rs.block_jacobian)
    raise CandidateError(
        f"expected a LaTeX string or a Python function (x, F), got {type(candidate).__name__}"
    )


def _block_forward(block: Block) -> Any:
    try:
        return block[0](_x, F_)
    except CandidateError:
        raise
    except Exception as exc:
        raise CandidateError(f"the function raised {type(exc).__name__}: {exc}") from None


_BLOCK_READER = Reader(
    takes="the block's output y in LaTeX, in x and F (e.g. 'y = x + F(x)'), or a Python function "
    "(x, F) -> y; only its forward map is compared",
    convert=_read_block,
    same=lambda a, b: _block_forward(a) == _block_forward(b),
    witness=lambda a, b: None
    if _block_forward(a) == _block_forward(b)
    else f"for an arbitrary F the candidate computes {latex(_block_forward(a))}, the claim "
    f"{latex(_block_forward(b))}",
    names={
        "plain layer y = F(x)": "a plain layer without the shortcut",
        "doubled shortcut 2x + F(x)": "a block with a doubled shortcut",
    },
)

_SCALE_READER = scalar_reader(
    takes="the factor on each of N residual branches, as a SymPy expression or LaTeX in N",
    vocabulary=Vocabulary(names={"N": rs.N}, families={}, indices={}, allowed=frozenset({rs.N})),
    build=lambda expr: (lambda count: expr.xreplace({rs.N: count})),
    expression=lambda scale: scale(rs.N),
    points=[(f"N = {count}", {rs.N: count}) for count in (1, 4, 12)],
    output="the factor",
    names={"1/N scaling": "the factor 1/N (too small)", "no scaling": "no scaling (factor 1)"},
)

XIONG = "xiong2020layer"
ENCODER_TORCH = ("torch.nn.TransformerEncoderLayer",)
AUTOGRAD = ("torch.autograd.functional.jacobian",)

CLAIMS = (
    Claim(
        custom="TODO: not yet an equation",
        id="residual.block",
        kind="identity",
        render=_block_display,
        source="he2016deep",
        origin="derived",
        scope="n = 1..4, F an undefined map of all n inputs",
        proof="checked",
        formula=(rs.residual_block, rs.block_jacobian),
        symbolic=_block_holds,
        wrong={
            "plain layer y = F(x)": (lambda x, f: f(x), lambda eye, jac: jac),
            "Jacobian without I": (rs.residual_block, lambda eye, jac: jac),
            "doubled shortcut 2x + F(x)": (
                lambda x, f: 2 * x + f(x),
                rs.block_jacobian,
            ),
        },
        numeric=_numeric("block"),
        compared=AUTOGRAD,
        reader=_BLOCK_READER,
        note="The block is He et al.'s; its Jacobian is derived here. The identity term is what "
        "lets a gradient pass a block unchanged.",
    ),
    Claim(
        custom="TODO: not yet an equation",
        id="residual.unrolled_sum",
        kind="identity",
        render=_unrolled_display,
        source="he2016identity",
        scope="symbolic l, L (telescoping); L - l = 1..8 written out",
        formula=rs.unrolled_sum,
        symbolic=_unrolled_holds,
        wrong={
            "identity term dropped": lambda start, incs: functools.reduce(operator.add, incs),
            "only the last branch": lambda start, incs: start + incs[-1],
            "start counted twice": lambda start, incs: functools.reduce(
                operator.add, incs, 2 * start
            ),
        },
        numeric=_numeric("unrolled"),
        compared=("torch.nn.TransformerEncoder",),
        note="Numerically: a 2-layer Pre-LN encoder is x plus its four branch outputs.",
    ),
    Claim(
        custom="TODO: not yet an equation",
        id="residual.jacobian_paths",
        kind="identity",
        render=_paths_display,
        source="veit2016residual",
        scope="L - l = 1..8 (paths); 2x2 symbolic maps, L - l = 1..3 (chain rule)",
        proof="checked",
        formula=rs.jacobian_product,
        symbolic=_paths_hold,
        wrong={
            "factors in reverse order": _reversed_product,
            "no identity (plain network)": lambda js, identity: functools.reduce(
                lambda acc, j: j * acc, js, identity
            ),
            "first order I + sum J_i": _first_order,
        },
        numeric=_numeric("paths"),
        compared=AUTOGRAD,
        note="Numerically on a Pre-LN layer: its two sub-layers' Jacobians from autograd.",
    ),
    Claim(
        custom="TODO: not yet an equation",
        id="residual.gradient_identity_term",
        kind="identity",
        render=_gradient_display,
        source="he2016identity",
        scope="L - l = 1..4 (scalar chain rule)",
        proof="checked",
        formula=rs.gradient_with_identity,
        symbolic=_gradient_holds,
        wrong={
            "identity term dropped": lambda top, branches, identity: top * branches,
            "top gradient only": lambda top, branches, identity: top,
        },
        numeric=_numeric("gradient"),
        compared=ENCODER_TORCH,
        note="Numerically: zeroing the branches of a Pre-LN layer passes the gradient unchanged; "
        "a Post-LN layer does not.",
    ),
    Claim(
        custom="TODO: not yet an equation",
        id="postln.definition",
        kind="definition",
        render=_post_ln_display,
        source="vaswani2017attention",
        scope="expression tree; n = 3 (centered output); layer with d_model = 4",
        proof="checked",
        formula=rs.post_ln,
        symbolic=_post_ln_holds,
        wrong={
            "Pre-LN order": rs.pre_ln,
            "one LayerNorm at the end": _norm_once_at_end,
            "LayerNorm on the branches (no final norm)": _norm_on_branches,
        },
        numeric=_numeric("composition", False),
        compared=ENCODER_TORCH,
        reader=_layer_reader(norm_first=False),
        note="Vaswani et al.: the output of each sub-layer is LayerNorm(x + Sublayer(x)). The "
        "two-sub-layer form is checked to be that sub-layer applied twice, and composed from "
        "the layer's own submodules it equals TransformerEncoderLayer(norm_first=False).",
    ),
    Claim(
        custom="TODO: not yet an equation",
        id="preln.definition",
        kind="definition",
        render=_pre_ln_display,
        source="wang2019learning",
        builds_on=("radford2019language", XIONG),
        scope="expression tree; n = 3 (identity path); layer with d_model = 4",
        proof="checked",
        formula=rs.pre_ln,
        symbolic=_pre_ln_holds,
        wrong={
            "Post-LN order": rs.post_ln,
            "residual stream normalized too": _normalized_stream,
            "only the first LayerNorm": _only_first_norm,
        },
        numeric=_numeric("composition", True),
        compared=ENCODER_TORCH,
        reader=_layer_reader(norm_first=True),
        note="Used by Wang et al. (2019) and GPT-2 (Radford et al. 2019) before Xiong et al. "
        "(2020) analysed it. Checked to be the sub-layer x + F(LN(x)) applied twice, and "
        "compared with TransformerEncoderLayer(norm_first=True).",
    ),
    Claim(
        custom="TODO: not yet an equation",
        id="preln.identity_path",
        kind="identity",
        render=_sublayer_jacobian_display(rs.pre_ln_sublayer),
        source=XIONG,
        origin="derived",
        builds_on=("veit2016residual",),
        scope="non-commuting J_l, N_l, L = 1..4; 2x2 linear maps, L = 1..3 (chain rule); "
        "two layers, d_model = 4",
        proof="checked",
        formula=rs.pre_ln_sublayer_jacobian,
        symbolic=_identity_path_holds,
        wrong={
            "Post-LN form N (I + J)": rs.post_ln_sublayer_jacobian,
            "factors swapped I + N J": lambda j, m, e: e + m * j,
            "no identity J N": lambda j, m, e: j * m,
        },
        numeric=_numeric("stack", True),
        compared=AUTOGRAD,
        note="Derived here (the path expansion of Veit et al. applied to the Pre-LN sub-layer "
        "that Xiong et al. analyse). J_F is taken at LN(x), N_LN at x. Numerically: two Pre-LN "
        "layers' Jacobian is the product of their four sub-layer Jacobians; with out_proj and "
        "linear2 zeroed it is exactly I.",
    ),
    Claim(
        custom="TODO: not yet an equation",
        id="postln.no_identity_path",
        kind="identity",
        render=_sublayer_jacobian_display(rs.post_ln_sublayer),
        source=XIONG,
        origin="derived",
        builds_on=("veit2016residual",),
        scope="non-commuting J_l, N_l, L = 1..4; 2x2 linear maps, L = 1..3 (chain rule); "
        "two layers, d_model = 4",
        proof="checked",
        formula=rs.post_ln_sublayer_jacobian,
        symbolic=_no_identity_path_holds,
        wrong={
            "Pre-LN form I + J N": rs.pre_ln_sublayer_jacobian,
            "norm Jacobian on the right (I + J) N": lambda j, m, e: (e + j) * m,
            "LayerNorm Jacobian left out I + J": lambda j, m, e: e + j,
        },
        numeric=_numeric("stack", False),
        compared=AUTOGRAD,
        note="Derived here. J_F is taken at x, N_LN at x + F(x). Numerically: two Post-LN "
        "layers; with the branches zeroed their Jacobian is the product of the LayerNorm "
        "Jacobians, not I.",
    ),
    Claim(
        custom="TODO: not yet an equation",
        id="residual.scaled_init",
        kind="identity",
        render=_scaled_init_display,
        source="radford2019language",
        origin="derived",
        scope="symbolic N; numerically N = 1, 2, 12, 48",
        formula=rs.residual_scale,
        symbolic=_scaled_init_holds,
        wrong={
            "1/N scaling": lambda count: 1 / count,
            "no scaling": lambda count: sp.Integer(1),
        },
        numeric=_numeric("scaled_init"),
        reader=_SCALE_READER,
        note="GPT-2 states the 1/sqrt(N) factor; the variance argument for it is derived here. "
        "The numeric check uses exactly uncorrelated samples, no layer. The variants give too "
        "small (1/N) and too large (1) a variance.",
    ),
    Claim(
        custom="TODO: not yet an equation",
        id="admin.residual",
        kind="identity",
        render=_admin_display,
        source="liu2020understanding",
        scope="n = 3, symbolic omega (entrywise); expression tree at omega = 1; d_model = 4",
        proof="checked",
        formula=rs.admin,
        symbolic=_admin_holds,
        wrong={
            "omega on the branch": lambda x, f, omega, norm: norm(x + rs.hadamard(omega, f(x))),
            "omega after the norm": lambda x, f, omega, norm: rs.hadamard(omega, norm(x + f(x))),
            "norm inside the branch (Pre-LN)": lambda x, f, omega, norm: (
                rs.hadamard(omega, x) + f(norm(x))
            ),
        },
        numeric=_numeric("admin"),
        compared=ENCODER_TORCH,
        note="Numerically with omega = 1: two Admin sub-layers are TransformerEncoderLayer("
        "norm_first=False). The profiling that sets omega is not checked.",
    ),
    Claim(
        custom="TODO: not yet an equation",
        id="deepnorm.residual",
        kind="identity",
        render=_deepnorm_display,
        source="wang2022deepnet",
        scope="expression tree; n = 3 (eps = 0)",
        proof="checked",
        formula=rs.deep_norm,
        symbolic=_deepnorm_holds,
        wrong={
            "alpha on the branch": lambda x, g, scale, norm: norm(x + scale * g(x)),
            "alpha after the norm": lambda x, g, scale, norm: _scaled(norm(x + g(x)), scale),
        },
        numeric=_numeric("deepnorm"),
        compared=("torch.nn.LayerNorm",),
        note="The sub-layer is Wang et al.'s; the equality (up-weighting the residual by alpha is "
        "down-weighting the branch by 1/alpha, LayerNorm being scale invariant at eps = 0) is "
        "derived here.",
    ),
    Claim(
        custom="TODO: not yet an equation",
        id="rezero.identity_at_init",
        kind="identity",
        render=_rezero_display,
        source="bachlechner2021rezero",
        scope="n = 1..8, F an undefined map of all n inputs",
        proof="checked",
        formula=rs.rezero,
        symbolic=_rezero_holds,
        wrong={
            "alpha = 1 (plain residual)": lambda x, f, scale: x + f(x),
            "alpha on the whole sum": lambda x, f, scale: scale * (x + f(x)),
            "gated shortcut (1 - alpha) x + alpha F(x)": lambda x, f, scale: (
                (1 - scale) * x + scale * f(x)
            ),
        },
        numeric=_numeric("rezero"),
        compared=AUTOGRAD,
        note="The gated variant is also the identity at alpha = 0; it is rejected because it is "
        "not x + alpha F(x) for other alpha.",
    ),
)


def _scaled(value: Any, scale: Any) -> Any:
    """``scale * value`` for a tensor or expression, or for LayerNorm parts ``(p, u)``."""
    if isinstance(value, list):
        return [(scale * p, u) for p, u in value]
    return scale * value
