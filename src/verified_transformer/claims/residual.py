"""Claims about residual connections, Post-LN / Pre-LN layers, scaled initialization, Admin,
DeepNorm and ReZero. A chain about layers and Jacobians is checked realized with explicit
vectors, maps and ``Matrix.jacobian`` at each size or depth of its scope (``rs.each``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sympy as sp

from verified_transformer.claims.fixtures import D_MODEL
from verified_transformer.claims.formula import Blank, Program, format_number
from verified_transformer.claims.latex import latex
from verified_transformer.claims.ledger import Claim, numeric_check, numeric_reference, substitute
from verified_transformer.derive import layernorm as ln
from verified_transformer.derive import residual as rs
from verified_transformer.derive.exact import is_zero, matrices_equal
from verified_transformer.derive.operators import vector
from verified_transformer.derive.residual import Jac, On, Ordered, Paths
from verified_transformer.i18n import tr

H, I, J, NJ, L, ell, i = rs.H, rs.I, rs.J, rs.NJ, rs.L, rs.ell, rs.i  # noqa: E741
x, y, B, E, F, LN, J_F, N_LN, XL, GX = (rs.x, rs.y, rs.B, rs.E, rs.F, rs.LN, rs.J_F, rs.N_LN,
                                        rs.XL, rs.GX)

_numeric, _reference = numeric_check("numeric_residual"), numeric_reference("numeric_residual")
AUTOGRAD, XIONG = ("torch.autograd.functional.jacobian",), "xiong2020layer"
ENCODER_TORCH = ("torch.nn.TransformerEncoderLayer",)
_BRANCHES = sp.Sum(rs.branch(i), (i, ell, L - 1))  # sum_{i=l}^{L-1} F_i(H^i)

_BLOCK_READER = Program(
    takes="the block's output y in LaTeX, in x and F (e.g. 'y = x + F(x)'), or a Python function "
    "(x, F) -> y; only its forward map is compared", operands={"x": x, "F": F},
    names={"plain layer y = F(x)": "a plain layer without the shortcut",
           "doubled shortcut 2x + F(x)": "a block with a doubled shortcut"})

# --- Post-LN and Pre-LN layers: two sub-layers, composed -----------------------------------------

Composition = Callable[..., Any]  # (x, sa, ffn, ln1, ln2) -> output
X, Y = sp.Symbol("x"), sp.Symbol("y")
SA, FFN, LN1, LN2 = (sp.Function(name) for name in ("SA", "FFN", "LN_1", "LN_2"))
_MAPS = (X, SA, FFN, LN1, LN2)  # a composition applied to these: its expression tree
_POST, _PRE = (lambda h, f, n: n(h + f(h))), (lambda h, f, n: h + f(n(h)))
_ON_BRANCH, _BARE = (lambda h, f, n: h + n(f(h))), (lambda h, f, n: h + f(h))


def _layer(inner: Callable, outer: Callable) -> Composition:
    """``y = inner(x, SA, LN_1)``, output ``outer(y, FFN, LN_2)``."""
    compose = lambda x, sa, ffn, ln1, ln2: outer(inner(x, sa, ln1), ffn, ln2)  # noqa: E731
    compose.display = lambda: (latex(inner(X, SA, LN1)), latex(outer(Y, FFN, LN2)))
    return compose


def _layer_holds(compose: Composition, norm_first: bool) -> bool:
    """The generic sub-layer applied twice (SA with LN_1, then FFN with LN_2), for undefined
    maps; n = 3: Post-LN's output has mean 0 whatever the (linear) branches are (LN_2's
    numerators average to 0), Pre-LN with both branches zero is the identity."""
    if compose(*_MAPS) != rs.sublayer(norm_first, rs.sublayer(norm_first, X, SA, LN1), FFN, LN2):
        return False
    v, a, b = rs.vector_of("v", 3), *(sp.Matrix(3, 3, sp.symbols(f"{s}1:10")) for s in "ab")
    if norm_first:
        zero, norm = lambda t: sp.zeros(3, 1), lambda t: ln.layer_norm_of_vector(list(t), ln.eps)
        return matrices_equal(compose(v, zero, zero, norm, norm), v, sp.cancel)
    centered = compose(v, lambda t: a * t, lambda t: b * t, lambda t: t,
                       lambda t: t - sp.ones(3, 1) * sum(t) / 3)
    return is_zero(sum(centered), sp.expand)


def _measured(norm_first: bool) -> Callable[[Composition, Composition], str]:
    """How far apart two compositions are on a seeded TransformerEncoderLayer (nothing without
    torch: the symbolic difference alone), as a clause of the witness sentence."""

    def evidence(a: Composition, b: Composition) -> str:
        try:
            from verified_transformer.claims.numeric_residual import layer_gap
        except ModuleNotFoundError as exc:
            if (exc.name or "").partition(".")[0] != "torch":
                raise
            return ""
        return tr("on a seeded TransformerEncoderLayer(norm_first={norm_first}) with d_model = "
                  "{d_model} the outputs differ by up to {gap}", norm_first=repr(norm_first),
                  d_model=D_MODEL, gap=format_number(layer_gap(a, b, norm_first)))

    return evidence


_LAYER_NAMES = {
    "Pre-LN order": "the Pre-LN layer, not the Post-LN one",
    "Post-LN order": "the Post-LN layer, not the Pre-LN one",
    "one LayerNorm at the end": "a layer with a single LayerNorm at its end",
    "residual stream normalized too": "a layer that normalizes the residual stream too",
    "LayerNorm on the branches (no final norm)": "a layer with LayerNorm after each branch, "
    "before the addition"}


def _layer_claim(norm_first: bool, **fields: Any) -> Claim:
    return Claim(
        kind="definition", proof="checked", compared=ENCODER_TORCH,
        custom="a layer composition: its display is a program (y, then out), checked as the "
        "sub-layer applied twice and against TransformerEncoderLayer",
        formula=_layer(_PRE, _PRE) if norm_first else _layer(_POST, _POST),
        symbolic=lambda compose: _layer_holds(compose, norm_first),
        render=lambda compose: (f"x_{{l+1}} = {latex(rs.sublayer(norm_first, rs.x_l, F, LN))}",
                                r"y = {},\quad \mathrm{{out}} = {}".format(*compose.display())),
        numeric=_numeric("composition", norm_first), reader=Program(
            takes="LaTeX equations in x, SA, FFN, LN_1, LN_2 (\\mathrm{...} names, e.g. "
            "'y = x + \\mathrm{SA}(\\mathrm{LN}_1(x)),\\ \\mathrm{out} = ...'; the last one is "
            "the output), or a Python function (x, sa, ffn, ln1, ln2) -> output",
            operands=dict(zip(("x", "SA", "FFN", "LN_1", "LN_2"), _MAPS, strict=True)),
            names=_LAYER_NAMES, evidence=_measured(norm_first)), **fields)


# --- the Jacobian of a Pre-LN / Post-LN sub-layer, and of a stack of them ------------------------


def _sublayer_claim(norm_first: bool, wrong: dict, **fields: Any) -> Claim:
    one = I + J_F * N_LN if norm_first else N_LN * (I + J_F)
    body = I + J[ell] * NJ[ell] if norm_first else NJ[ell] * (I + J[ell])
    on = On(J[ell] * NJ[ell], ell) if norm_first else NJ[ell] * On(J[ell], ell)
    first, product = Jac(rs.sublayer(norm_first, x, F, LN), x), Ordered(body, ell, L - 1, 0)

    def meaning(chain: tuple) -> Callable:
        if chain[0] == first:  # one sub-layer of 2x2 linear maps
            return rs.each((2,), lambda n: rs.explicit(n, (x,), (F, LN), True)
                           | rs.sublayer_jacobians(norm_first))
        if isinstance(chain[0], Jac):  # the chain rule, L = 1..3 such sub-layers
            return rs.each(range(1, 4), lambda d: rs.stack_values(norm_first, d))
        return rs.each(range(1, 5), rs.expanded)

    return Claim(
        kind="identity", source=XIONG, origin="derived", builds_on=("veit2016residual",),
        scope="non-commuting J_l, N_l, L = 1..4; 2x2 linear maps, L = 1..3 (chain rule); "
        "two layers, d_model = 4", proof="checked", meaning=meaning, compared=AUTOGRAD,
        formula=((first, one), (Jac(H[L], H[0]), product), (product, Paths(on, ell, L - 1, 0))),
        wrong={name: (first, rhs) for name, rhs in wrong.items()},
        numeric=_numeric("stack", norm_first), **fields)


# --- scaled initialization, DeepNorm --------------------------------------------------------------

_INDEPENDENT = ((rs.Cov(B[i], B[rs.j]), sp.KroneckerDelta(i, rs.j)),)
_scaled = lambda c: (rs.Var(sp.Sum(c * B[i], (i, 1, rs.N))), 1)  # noqa: E731
_SCALE_READER = Blank(
    takes="the factor on each of N residual branches, as a SymPy expression or LaTeX in N",
    part=lambda chains: chains[0][0].args[0].function.coeff(B[i]), output=tr("the factor"),
    points=[{rs.N: count} for count in (1, 4, 12)],
    names={"1/N scaling": "the factor 1/N (too small)", "no scaling": "no scaling (factor 1)"})


def _deep(shortcut: sp.Expr, branch: sp.Expr, after: sp.Expr = 1) -> tuple:
    """DeepNorm's sub-layer ``after * LN(shortcut x + branch G(x))``, then its entry i equal to
    the entry of ``LN(x + G(x) / alpha)``."""
    entry = ln.LN(vector(lambda t: shortcut * XL[t] + branch * GX[t]), ln.i)
    return ((rs.x_next, after * LN(shortcut * rs.x_l + branch * rs.G(rs.x_l))),
            (after * entry, ln.LN(vector(lambda t: XL[t] + GX[t] / rs.alpha), ln.i)))


def _rezero(alpha: sp.Expr, shortcut: sp.Expr = 1) -> tuple:
    return (rs.x_next, shortcut * rs.x_l + alpha * rs.F_l(rs.x_l))


CLAIMS = (
    Claim(
        id="residual.block", kind="identity", source="he2016deep", origin="derived",
        scope="n = 1..4, F an undefined map of all n inputs", proof="checked",
        formula=((y, x + F(x)), (Jac(y, x), I + Jac(F(x), x))),
        meaning=lambda chain: rs.each(range(1, 5), lambda n: rs.explicit(n, (x,), (F,))
                                      | {y: rs.residual_block(x, F)}),
        wrong={"plain layer y = F(x)": {0: (y, F(x)), 1: (Jac(y, x), Jac(F(x), x))},
               "Jacobian without I": {1: (Jac(y, x), Jac(F(x), x))},
               "doubled shortcut 2x + F(x)": (y, 2 * x + F(x))},
        numeric=_reference("block"), compared=AUTOGRAD, reader=_BLOCK_READER,
        note="The block is He et al.'s; its Jacobian is derived here. The identity term is what "
        "lets a gradient pass a block unchanged.",
    ),
    Claim(
        id="residual.unrolled_sum", kind="identity", source="he2016identity",
        scope="symbolic l, L (telescoping)",
        formula=((H[L], H[ell] + _BRANCHES),), where=((rs.branch(i), H[i + 1] - H[i]),),
        wrong={"identity term dropped": (H[L], _BRANCHES),
               "only the last branch": (H[L], H[ell] + rs.branch(L - 1)),
               "start counted twice": (H[L], 2 * H[ell] + _BRANCHES)},
        numeric=_reference("unrolled"), compared=("torch.nn.TransformerEncoder",),
        note="Numerically: a 2-layer Pre-LN encoder is x plus its four branch outputs.",
    ),
    Claim(
        id="residual.jacobian_paths", kind="identity", source="veit2016residual",
        scope="L - l = 1..8 (paths); 2x2 symbolic maps, L - l = 1..3 (chain rule)",
        proof="checked",
        formula=((Jac(H[L], H[ell]), Ordered(I + J[i], i, L - 1, ell)),
                 (Ordered(I + J[i], i, L - 1, ell), Paths(On(J[i], i), i, L - 1, ell))),
        meaning=lambda chain: rs.each(range(1, 4), lambda d: rs.stack_values(None, d))
        if isinstance(chain[0], Jac) else rs.each(range(1, 9), rs.expanded),
        wrong={"factors in reverse order": (Jac(H[L], H[ell]), Ordered(I + J[i], i, ell, L - 1)),
               "no identity (plain network)": (Jac(H[L], H[ell]), Ordered(J[i], i, L - 1, ell)),
               "first order I + sum J_i": (Jac(H[L], H[ell]), I + sp.Sum(J[i], (i, ell, L - 1)))},
        numeric=_reference("paths"), compared=AUTOGRAD,
        note="Numerically on a Pre-LN layer: its two sub-layers' Jacobians from autograd.",
    ),
    Claim(
        id="residual.gradient_identity_term", kind="identity", source="he2016identity",
        scope="L - l = 1..4 (scalar chain rule)", proof="checked",
        formula=((Jac(E, H[ell]), Jac(E, H[L]) * (I + Jac(_BRANCHES, H[ell]))),),
        meaning=lambda chain: rs.each(range(1, 5), lambda d: rs.stack_values(None, d, 1, False)
                                      | {E: rs.LOSS(H[d]), rs.LOSS: rs.any_map("e", 1)}),
        wrong={"identity term dropped": (Jac(E, H[ell]), Jac(E, H[L]) * Jac(_BRANCHES, H[ell])),
               "top gradient only": (Jac(E, H[ell]), Jac(E, H[L]))},
        numeric=_numeric("gradient"), compared=ENCODER_TORCH,
        note="Numerically: zeroing the branches of a Pre-LN layer passes the gradient unchanged; "
        "a Post-LN layer does not.",
    ),
    _layer_claim(
        False, id="postln.definition", source="vaswani2017attention",
        scope="expression tree; n = 3 (centered output); layer with d_model = 4",
        wrong={"Pre-LN order": _layer(_PRE, _PRE), "one LayerNorm at the end": _layer(_BARE, _POST),
               "LayerNorm on the branches (no final norm)": _layer(_ON_BRANCH, _ON_BRANCH)},
        note="Vaswani et al.: the output of each sub-layer is LayerNorm(x + Sublayer(x)). The "
        "two-sub-layer form is checked to be that sub-layer applied twice, and composed from "
        "the layer's own submodules it equals TransformerEncoderLayer(norm_first=False).",
    ),
    _layer_claim(
        True, id="preln.definition", source="wang2019learning",
        builds_on=("radford2019language", XIONG),
        scope="expression tree; n = 3 (identity path); layer with d_model = 4",
        wrong={"Post-LN order": _layer(_POST, _POST),
               "residual stream normalized too": _layer(lambda h, f, n: n(h) + f(n(h)), _PRE),
               "only the first LayerNorm": _layer(_PRE, _BARE)},
        note="Used by Wang et al. (2019) and GPT-2 (Radford et al. 2019) before Xiong et al. "
        "(2020) analysed it. Checked to be the sub-layer x + F(LN(x)) applied twice, and "
        "compared with TransformerEncoderLayer(norm_first=True).",
    ),
    _sublayer_claim(
        True, id="preln.identity_path",
        wrong={"Post-LN form N (I + J)": N_LN * (I + J_F),
               "factors swapped I + N J": I + N_LN * J_F, "no identity J N": J_F * N_LN},
        note="Derived here (the path expansion of Veit et al. applied to the Pre-LN sub-layer "
        "that Xiong et al. analyse). J_F is taken at LN(x), N_LN at x. Numerically: two Pre-LN "
        "layers' Jacobian is the product of their four sub-layer Jacobians; with out_proj and "
        "linear2 zeroed it is exactly I.",
    ),
    _sublayer_claim(
        False, id="postln.no_identity_path",
        wrong={"Pre-LN form I + J N": I + J_F * N_LN,
               "norm Jacobian on the right (I + J) N": (I + J_F) * N_LN,
               "LayerNorm Jacobian left out I + J": I + J_F},
        note="Derived here. J_F is taken at x, N_LN at x + F(x). Numerically: two Post-LN "
        "layers; with the branches zeroed their Jacobian is the product of the LayerNorm "
        "Jacobians, not I.",
    ),
    Claim(
        id="residual.scaled_init", kind="identity", source="radford2019language",
        origin="derived", scope="symbolic N; numerically N = 1, 2, 12, 48",
        formula=(_scaled(1 / sp.sqrt(rs.N)), (rs.Var(sp.Sum(B[i], (i, 1, rs.N))), rs.N)),
        where=_INDEPENDENT,
        meaning=lambda chain: lambda e: rs.summed(substitute(_INDEPENDENT, e.doit())),
        wrong={"1/N scaling": _scaled(1 / rs.N), "no scaling": _scaled(sp.Integer(1))},
        numeric=_numeric("scaled_init"), reader=_SCALE_READER,
        note="GPT-2 states the 1/sqrt(N) factor; the variance argument for it is derived here. "
        "The numeric check uses exactly uncorrelated samples, no layer. The variants give too "
        "small (1/N) and too large (1) a variance.",
    ),
    Claim(
        id="admin.residual", kind="definition", source="liu2020understanding",
        scope="n = 3, symbolic omega (entrywise); expression tree at omega = 1; d_model = 4",
        proof="checked",
        formula=((rs.x_i, LN(rs.Hadamard(rs.omega, rs.x_prev) + rs.f_i(rs.x_prev))),
                 (sp.Subs(rs.x_i, rs.omega, rs.ONES), LN(rs.x_prev + rs.f_i(rs.x_prev)))),
        meaning=lambda chain: rs.each((3,), lambda n: rs.explicit(
            n, (rs.x_prev, rs.omega), (rs.f_i, LN)) | {rs.ONES: sp.ones(n, 1), rs.x_i: rs.admin(
                rs.x_prev, rs.f_i, rs.omega, LN)}),
        wrong={"omega on the branch": (rs.x_i, LN(rs.x_prev + rs.Hadamard(rs.omega, rs.f_i(
                   rs.x_prev)))),
               "omega after the norm": (rs.x_i, rs.Hadamard(rs.omega, LN(rs.x_prev + rs.f_i(
                   rs.x_prev)))),
               "norm inside the branch (Pre-LN)": (rs.x_i, rs.Hadamard(rs.omega, rs.x_prev)
                                                   + rs.f_i(LN(rs.x_prev)))},
        numeric=_numeric("admin"), compared=ENCODER_TORCH,
        note="Numerically with omega = 1: two Admin sub-layers are TransformerEncoderLayer("
        "norm_first=False). The profiling that sets omega is not checked.",
    ),
    Claim(
        id="deepnorm.residual", kind="definition", source="wang2022deepnet",
        scope="expression tree; n = 3 (eps = 0)", proof="checked",
        formula=_deep(rs.alpha, 1), where=((ln.eps, 0),), simplify=rs.scale_free,
        meaning=lambda chain: lambda e: rs.rescaled(e.xreplace(
            {rs.x_next: rs.deep_norm(rs.x_l, rs.G, rs.alpha, LN)})),
        wrong={"alpha on the branch": dict(enumerate(_deep(1, rs.alpha))),
               "alpha after the norm": dict(enumerate(_deep(1, 1, rs.alpha)))},
        numeric=_reference("deepnorm"), compared=("torch.nn.LayerNorm",),
        note="The sub-layer is Wang et al.'s; the equality (up-weighting the residual by alpha is "
        "down-weighting the branch by 1/alpha, LayerNorm being scale invariant at eps = 0) is "
        "derived here.",
    ),
    Claim(
        id="rezero.identity_at_init", kind="identity", source="bachlechner2021rezero",
        scope="n = 1..8, F an undefined map of all n inputs", proof="checked",
        formula=(_rezero(rs.alpha_l), (sp.Subs(rs.x_next, rs.alpha_l, 0), rs.x_l),
                 (sp.Subs(Jac(rs.x_next, rs.x_l), rs.alpha_l, 0), I)),
        meaning=lambda chain: rs.each(range(1, 9), lambda n: rs.explicit(n, (rs.x_l,), (rs.F_l,))
                                      | {rs.x_next: rs.rezero(rs.x_l, rs.F_l, rs.alpha_l)}),
        wrong={"alpha = 1 (plain residual)": _rezero(1),
               "alpha on the whole sum": (rs.x_next, rs.alpha_l * _rezero(1)[1]),
               "gated shortcut (1 - alpha) x + alpha F(x)": _rezero(rs.alpha_l, 1 - rs.alpha_l)},
        numeric=_reference("rezero"), compared=AUTOGRAD,
        note="The gated variant is also the identity at alpha = 0; it is rejected because it is "
        "not x + alpha F(x) for other alpha.",
    ),
)
