"""Claims about where the normalization went after 2020: Peri-LN and OLMo 2's output norm, the
growth of the Pre-LN stream, the bounds an output norm and QK-norm give, DyT, nGPT and Mix-LN.

The Pre-LN stream's variance and DyT are equations. The placements, nGPT and Mix-LN are compared,
not proved: numerically with our ``nn.variants`` modules and PyTorch's kernels, and symbolically by
properties that tell them apart, each failed by a different wrong variant. The bounds are proved
(:mod:`verified_transformer.derive.placements`) and shown attained: a bound below them is violated
by an explicit input.
"""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp

from verified_transformer.claims import ledger
from verified_transformer.claims.ledger import Claim, chains_hold, printed, variant
from verified_transformer.derive import layernorm as ln
from verified_transformer.derive import placements as pl
from verified_transformer.derive.exact import equal, matrices_equal
from verified_transformer.derive.operators import vector
from verified_transformer.derive.residual import hadamard

KIM, OLMO, XIONG = "kim2025peri", "olmo2024furious", "xiong2020layer"
alpha, eps, i, j, n, x, G, L, ell = pl.alpha, pl.eps, pl.i, pl.j, pl.n, pl.x, pl.G, pl.L, pl.ell
_numeric, _reference = (f("numeric_placements") for f in (ledger.numeric_check,
                                                          ledger.numeric_reference))
_CHARACTERIZED = "a definition's characterization: properties that tell the placements apart"
_BOUND = "a bound (an inequality): proved in derive.placements and shown attained"

# --- Peri-LN and the output norm: x_{l+1} from x_l, and the layer (attention, then FFN) ----------

F, SA, FFN, N_IN, N_OUT, N, N_1, N_1OUT, N_2, N_2OUT = (sp.Function(s) for s in (
    "F", "SA", "FFN", "N_in", "N_out", "N", "N_1", "N_1out", "N_2", "N_2out"))
XS, X, Y, OUT, X0 = sp.IndexedBase("x"), *sp.symbols(r"x y \mathrm{out} x_0")
XL = XS[ell]


def _layer(sublayer: Callable, out: type, norms: tuple) -> tuple:
    return ((XS[ell + 1], sublayer(XL, F, N_IN, out)), (Y, sublayer(X, SA, *norms[:2])),
            (OUT, sublayer(Y, FFN, *norms[2:])))


_V = sp.Matrix(sp.symbols("v1:4", real=True))  # the stream, n = 3
_A = sp.Matrix(3, 3, sp.symbols("a1:10", real=True))  # a linear sub-layer F(t) = A t
_SCALE = sp.Symbol("a", positive=True)


def _rms(epsilon: sp.Expr) -> Callable[[sp.Matrix], sp.Matrix]:
    return lambda t: sp.Matrix(pl.rms_vector(list(t), epsilon))


def _same(t: sp.Matrix) -> sp.Matrix:
    return t


def _placement(degree: int) -> Callable[[tuple], bool]:
    """The sub-layer x_{l+1} (n = 3, symbolic stream, linear F and eps): with F = 0 and RMSNorms
    (eps > 0) it returns its input (an identity path: RMSNorm(0) = 0); with N_in the identity,
    F(t) = A t and N_out an RMSNorm the increment has mean square M/(M+eps), M that of A x (a
    bounded increment); with N_in an RMSNorm (eps = 0) and N_out the identity, the increment at
    a x is a^degree times the one at x (degree 0: F reads a normalized stream)."""

    def holds(chains: tuple) -> bool:
        def sub(t: sp.Matrix, f: Callable, n_in: Callable, n_out: Callable) -> sp.Matrix:
            names = {"F": f, "N_in": n_in, "N_out": n_out, "N": n_out}
            return pl.call(chains[0][-1], {XL: t}, names)

        def increment(t: sp.Matrix) -> sp.Matrix:
            return sub(t, _A.__mul__, _rms(0), _same) - t

        rise = sub(_V, _A.__mul__, _same, _rms(eps)) - _V
        square = pl.rms_ratio(sum(e**2 for e in _A * _V) / 3)
        return (matrices_equal(sub(_V, lambda t: 0 * t, _rms(eps), _rms(eps)), _V, sp.cancel)
                and equal(sum(e**2 for e in rise) / 3, square, sp.cancel)
                and matrices_equal(increment(_SCALE * _V), _SCALE**degree * increment(_V),
                                   sp.cancel))

    return holds


_PERI, _OUTPUT = (N_1, N_1OUT, N_2, N_2OUT), (N_1, N_1, N_2, N_2)

# --- the Pre-LN stream's variance, its increment bound, the QK-norm logit bound ------------------

F_ = sp.IndexedBase("f")
_GROWTH_WHERE = (
    (XS[L], X0 + sp.Sum(F_[ell], (ell, 1, L))), (pl.Var(X0), pl.s2), (pl.Cov(X0, F_[ell]), 0),
    (pl.Cov(F_[ell], F_[pl.m]), pl.v * sp.KroneckerDelta(ell, pl.m)),
)


def _increment(bound: sp.Expr) -> dict[int, tuple]:
    return {0: (sp.Le(pl.RMS(N_OUT(Y)), bound),),
            1: (sp.Le(pl.RMS(XS[L]), pl.RMS(X0) + L * bound),)}


_INCREMENT = (*_increment(G).values(),
              (pl.Entry(N_OUT(Y), i), pl.g[i] * pl.y[i] / sp.sqrt(pl.M + eps)),
              (pl.RMS(Y / sp.sqrt(pl.M + eps)) ** 2, sp.Lt(pl.rms_ratio(), 1, evaluate=False)))
_BIG, _TINY = sp.Integer(10) ** 6, sp.Rational(1, 10**5)  # a large input: eps / M negligible


def _increment_holds(chains: tuple) -> bool:
    """The proof (:func:`~verified_transformer.derive.placements.rms_output_bounded`); the
    stream's bound is RMS(x_0) + L times the bound; the bound is never below what an explicit
    input reaches: for n = 1..8, equal gains g_k = 1 and y = 10^6 (1, ..., 1), eps = 10^-5,
    RMS(N(y))^2 = M/(M+eps) < 1 exactly (rationals) and bound(1, n)^2 >= it; and not above the
    proved one (bound <= max|g|, symbolic)."""
    bound = chains[0][0].rhs
    if chains[1][0].rhs != pl.RMS(X0) + L * bound or not pl.rms_output_bounded():
        return False
    for size in range(1, 9):
        square = sum(e**2 for e in pl.rms_vector([_BIG] * size, _TINY)) / size
        if not (square < 1 and sp.nsimplify(bound.xreplace({G: 1, n: size})) ** 2 >= square):
            return False
    return bool(sp.simplify(G - bound).is_nonnegative)


QK, QHAT, KHAT, Q, K, GQ, GK = sp.symbols(r"\hat{q}\cdot\hat{k} \hat{q} \hat{k} q k g_q g_k")
RMSNORM = sp.Function("RMSNorm")


def _logit(bound: sp.Expr) -> tuple:
    return (sp.Le(sp.Abs(QK) / sp.sqrt(pl.d), bound),)


_QK_CHAINS = (_logit(pl.G_q * pl.G_k * sp.sqrt(pl.d)),
              (QHAT, pl.Hadamard(GQ, RMSNORM(Q))), (KHAT, pl.Hadamard(GK, RMSNORM(K))),
              (pl.L2(RMSNORM(Q)) ** 2, sp.Le(sp.Mul(pl.d, pl.rms_ratio(), evaluate=False), pl.d,
                                              evaluate=False)))


def _logit_holds(chains: tuple) -> bool:
    """The proved bound (:func:`~verified_transformer.derive.placements.proved_logit_bound`);
    aligned q = k = 10^6 e_1 with equal gains 3/2 (eps = 10^-5) attain it up to eps (d = 1, 2,
    4, 16, 64) and never exceed the claimed bound, which is not above the proved one (symbolic
    gains and d)."""
    bound, proved, gain = chains[0][0].rhs, pl.proved_logit_bound(), sp.Rational(3, 2)
    if proved is None:
        return False
    for size in (1, 2, 4, 16, 64):
        normed = pl.rms_vector([_BIG] + [sp.Integer(0)] * (size - 1), _TINY)
        logit = gain**2 * sum(e**2 for e in normed) / sp.sqrt(size)
        at = {pl.G_q: gain, pl.G_k: gain, pl.d: size}
        top = proved.xreplace(at)
        if not (logit <= top and logit / top > 1 - sp.Rational(1, 10**9)
                and bound.xreplace(at) >= logit):
            return False
    return bool(sp.simplify(proved - bound).is_nonnegative)


# --- DyT ------------------------------------------------------------------------------------------

DYT = pl.DyT(vector(x), i)
A_ = sp.IndexedBase("a")
_ROW_ENTRY = ((pl.DyT(vector(A_), i), pl.gamma[i] * sp.tanh(alpha * A_[i]) + pl.beta[i]),)
_SUMMED = sp.MatrixSymbol("x", 3, 2) * sp.MatrixSymbol("W", 3, 2).T  # N x D times D x H
_ROW_WHERE = ((sp.MatrixSymbol("a", 3, 3), _SUMMED), (alpha, pl.HALF))


def _row_display(row: tuple[bool, ...]) -> tuple[str, ...]:
    cells = [rf"\text{{{t}}} & " + (r"\checkmark" if r else "-")
             for t, r in zip(ln.TRANSFORMATIONS, row, strict=True)]
    table = r"\begin{array}{l|c}" + r" \\ ".join([r" & \text{DyT}", *cells]) + r"\end{array}"
    return (table, *printed(_ROW_ENTRY, _ROW_WHERE))


# --- nGPT ----------------------------------------------------------------------------------------

H, H1, H2, HA, HM, RATE_A, RATE_M = sp.symbols("h h' h'' h_A h_M alpha_A alpha_M")
NORM, ATTN, MLP = sp.Function("Norm"), sp.Function("Attn"), sp.Function("MLP")


def _ngpt(step: Callable) -> dict[int, tuple]:
    return {0: (H1, step(H, HA, RATE_A)), 2: (H2, step(H1, HM, RATE_M))}


def _step(h: sp.Expr, target: sp.Expr, rate: sp.Expr) -> sp.Expr:
    return NORM(h + pl.Hadamard(rate, target - h))


_NGPT = (_ngpt(_step)[0], (HA, NORM(ATTN(H))), _ngpt(_step)[2], (HM, NORM(MLP(H1))),
         (NORM(X), X / pl.L2(X)))
_W = sp.Matrix(sp.symbols("w1:4", real=True))  # what the branch returns, any vector
_RATES = sp.Matrix(sp.symbols("alpha1:4", positive=True))


def _l2(t: sp.Matrix) -> sp.Expr:
    return sp.sqrt(sp.cancel(sum(e**2 for e in t)))


def _ngpt_holds(chains: tuple) -> bool:
    """The MLP's step is the attention's renamed; n = 3, h = v/||v|| (symbolic v), the branch
    returning any w (symbolic), Norm = x/||x|| of chain 4: the output has unit norm (symbolic
    alpha); alpha = 0 gives h, alpha = 1 gives h_B = Norm(w); alpha = 1/2 bisects the angle
    (equal dot products with h and h_B); with Norm left out, dy_i/dalpha_j = delta_ij (w - h)_i
    (alpha acts per coordinate)."""
    h, target, rate = _V / _l2(_V), _W / _l2(_W), sp.Symbol("alpha", positive=True)
    step = chains[0][-1].xreplace({HA: chains[1][-1]})

    def at(value: sp.Expr, norm: Callable | None = None) -> sp.Matrix:
        norm = norm or (lambda t: pl.call(chains[4][-1], {X: t}, {"L2": _l2}))
        functions = {"Attn": lambda _: _W, "Norm": norm, "Hadamard": hadamard}
        return sp.Matrix(pl.call(step, {H: h, RATE_A: value}, functions))

    linear = at(_RATES, _same)
    renamed = {H: H1, HA: HM, RATE_A: RATE_M}  # the MLP's step: the attention's, renamed
    return (chains[2][-1] == chains[0][-1].xreplace(renamed)
            and chains[3][-1] == chains[1][-1].replace(ATTN, MLP).xreplace(renamed)
            and equal(sum(e**2 for e in at(rate)), sp.Integer(1), sp.cancel)
            and matrices_equal(at(sp.Integer(0)), h, sp.cancel)
            and matrices_equal(at(sp.Integer(1)), target, sp.cancel)
            and equal(at(pl.HALF).dot(h), at(pl.HALF).dot(target), sp.cancel)
            and matrices_equal(linear.jacobian(_RATES), sp.diag(*(_W - h)), sp.cancel))


# --- Mix-LN --------------------------------------------------------------------------------------

POST, PRE = sp.Symbol(r"\text{Post-LN}"), sp.Symbol(r"\text{Pre-LN}")
LAYER = pl.printed_function("Layer", r"\mathrm{{layer}}_{{{0}}}")
_SHARES = (sp.Rational(1, 4), sp.Rational(1, 3), sp.Rational(1, 2), sp.Rational(3, 4))
# The official runs (pixeli99/MixLN README and configs): POST_NUM Post-LN layers of L.
_OFFICIAL_RUNS = ((12, 3), (24, 6))


def _mixln(count: sp.Expr, first: sp.Symbol = POST, rest: sp.Symbol = PRE) -> tuple:
    return ((LAYER(ell), sp.Piecewise((first, ell <= count), (rest, True))),)


def mixln_layers(chains: tuple, depth: int, share: sp.Expr) -> list[sp.Expr]:
    """The placement of layers l = 1..L by the rule of chain 0."""
    return pl.layer_placements(chains[0][-1], ell, {L: depth, alpha: share}, depth)


def _mixln_holds(chains: tuple) -> bool:
    """For L = 1..64 and alpha in {1/4, 1/3, 1/2, 3/4}: the Post-LN layers come first (a
    prefix), their number m is the largest whose share of the layers does not exceed alpha
    (m <= alpha L < m + 1), and the layout is the official code's rule (pixeli99/MixLN
    modeling_llama.py, norm_type "post_pre": a layer whose 0-based index is below POST_NUM is
    Post-LN) with POST_NUM = m; at alpha = 1/4 the official runs' counts (3 of 12, 6 of 24)
    come out."""
    for share in _SHARES:
        for depth in range(1, 65):
            got = mixln_layers(chains, depth, share)
            count = got.count(POST)
            if not count <= share * depth < count + 1:
                return False
            if got != [POST if t < count else PRE for t in range(depth)]:
                return False
    quarter = sp.Rational(1, 4)
    return all(mixln_layers(chains, depth, quarter).count(POST) == post
               for depth, post in _OFFICIAL_RUNS)


CLAIMS = (
    Claim(
        id="periln.definition", kind="definition", custom=_CHARACTERIZED, source=KIM,
        scope="n = 3 (RMSNorms, linear F, symbolic entries); layer with d_model = 4",
        proof="checked", formula=_layer(pl.peri_ln_sublayer, N_OUT, _PERI), symbolic=_placement(0),
        wrong={
            "Pre-LN (no output norm)": _layer(lambda x, f, a, b: x + f(a(x)), N_OUT, _PERI),
            "Post-LN": _layer(lambda x, f, a, b: b(x + f(x)), N_OUT, _PERI),
            "output norm after the addition": _layer(
                lambda x, f, a, b: b(x + f(a(x))), N_OUT, _PERI),
            "output norm only (OLMo 2)": _layer(pl.output_norm_sublayer, N_OUT, _PERI),
        },
        numeric=_reference("block_placement", "peri", {
            "N_in": "norm1", "N_out": "norm1_out", "N_1": "norm1", "N_1out": "norm1_out",
            "N_2": "norm2", "N_2out": "norm2_out"}),
        compared=("torch.nn.MultiheadAttention", "torch.nn.RMSNorm"),
        note="Gemma 2 and 3 wrap every sub-layer in an input and an output RMSNorm this way, and "
        "the Sandwich-LN of CogView ({cite:t}`ding2021cogview`) has the same placement with "
        "LayerNorm. The three properties (identity path, increment of mean square M/(M+eps), "
        "a sub-layer that reads a normalized stream) are failed by Post-LN and the norm after "
        "the addition, by Pre-LN, and by the output norm alone, in that order. Numerically: our "
        'Block(placement="peri") against the formula written with nn.MultiheadAttention and '
        "nn.RMSNorm loaded with its weights.",
    ),
    Claim(
        id="outputnorm.definition", kind="definition", custom=_CHARACTERIZED, source=OLMO,
        scope="n = 3 (RMSNorms, linear F, symbolic entries); layer with d_model = 4",
        proof="checked", formula=_layer(pl.output_norm_sublayer, N, _OUTPUT),
        symbolic=_placement(1),
        wrong={
            "Pre-LN (norm on the input)": _layer(lambda x, f, a, b: x + f(a(x)), N, _OUTPUT),
            "Post-LN (norm after the addition)": _layer(lambda x, f, a, b: b(x + f(x)), N, _OUTPUT),
            "Peri-LN (input norm too)": _layer(pl.peri_ln_sublayer, N, _OUTPUT),
        },
        numeric=_reference("block_placement", "output", {  # one norm a sub-layer, wherever drawn
            "N": "norm1_out", "N_in": "norm1_out", "N_1": "norm1_out", "N_2": "norm2_out"}),
        compared=("torch.nn.MultiheadAttention", "torch.nn.RMSNorm"),
        note="OLMo 2's reordered norm: the output half of Peri-LN, without the input norm; Swin "
        "Transformer V2's res-post-norm is the same placement. Checked as Peri-LN is, except "
        "that the sub-layer reads the stream itself (its increment scales with the stream "
        'before the norm). Numerically: our Block(placement="output").',
    ),
    Claim(
        id="preln.stream_variance_growth", kind="identity", source=KIM, origin="derived",
        builds_on=(XIONG,), scope="symbolic L, s^2 and v; exact enumeration for L = 1..10",
        formula=((pl.Var(XS[L]), pl.s2 + L * pl.v),), where=_GROWTH_WHERE,
        wrong={
            "s^2 + L^2 v (fully correlated increments)": (pl.Var(XS[L]), pl.s2 + L**2 * pl.v),
            "s^2 (no growth)": (pl.Var(XS[L]), pl.s2),
            "s^2 v^L": (pl.Var(XS[L]), pl.s2 * pl.v**L),
        },
        numeric=_numeric("stream_growth"), compared=("torch.nn.RMSNorm",),
        note="A Pre-LN branch ends in a sub-layer after a norm, so its scale does not follow the "
        "stream's and the variances add up: the stream grows like L. Numerically each increment "
        "is a sign times an RMSNorm of the stream (uncorrelated, not independent of it). Post-LN "
        "instead renormalizes the stream after every sub-layer: each token then has mean 0 and "
        "mean square sigma^2/(sigma^2+eps) < 1 ({ref}`layernorm.moments "
        "<claim-layernorm-moments>`).",
    ),
    Claim(
        id="periln.increment_bound", kind="bound", custom=_BOUND, source=KIM, origin="derived",
        scope="symbolic n, M >= 0 and eps > 0; attained for n = 1..8", formula=_INCREMENT,
        symbolic=_increment_holds,
        wrong={
            "max|g| / sqrt(n)": variant(_INCREMENT, _increment(G / sp.sqrt(n))),
            "max|g| / 2": variant(_INCREMENT, _increment(G / 2)),
        },
        numeric=_numeric("increment_bound"), compared=("torch.nn.RMSNorm",),
        note="Whatever a sub-layer outputs, RMSNorm scales it to mean square M/(M+eps) < 1, so "
        "with an output norm each increment has RMS at most max|g| and the stream grows at most "
        "linearly (triangle inequality for the RMS). Both variants fail on an input of equal "
        "entries 10^6 (and on a large one-hot input numerically); Pre-LN blocks with the same "
        "adversarial weights exceed the stream bound.",
    ),
    Claim(
        id="qknorm.logit_bound", kind="bound", custom=_BOUND, source="henry2020query",
        origin="derived", builds_on=("dehghani2023scaling", "wortsman2024small"),
        scope="symbolic d; attained for d = 1, 2, 4, 16, 64", formula=_QK_CHAINS,
        symbolic=_logit_holds,
        wrong={
            "max|g_q| max|g_k| (without sqrt(d))": variant(_QK_CHAINS, _logit(pl.G_q * pl.G_k)),
            "max|g_q| max|g_k| / sqrt(d)": variant(
                _QK_CHAINS, _logit(pl.G_q * pl.G_k / sp.sqrt(pl.d))),
        },
        numeric=_numeric("qknorm_logit_bound"), compared=("torch.nn.functional.rms_norm",),
        note="Per-head RMSNorm of queries and keys with gains, as in Qwen3 and Gemma 3 (OLMo 2 "
        "normalizes all heads together). Aligned q = k with equal gains attain the bound up to "
        "eps, which rejects both variants. Without QK-norm the largest logit of t x is t^2 times "
        "that of x, so no bound independent of the input holds.",
    ),
    Claim(
        id="dyt.definition", kind="definition", source="zhu2025transformers",
        scope="symbolic n", proof="checked",
        formula=((DYT, pl.dyt_entry()), (sp.Derivative(DYT, x[j]), alpha * pl.gamma[i] * (
            1 - sp.tanh(alpha * x[i]) ** 2) * sp.KroneckerDelta(i, j))),
        wrong={
            "tanh(x) without alpha": (DYT, pl.dyt_entry(i, 1)),
            "gain inside: tanh(alpha gamma_i x_i) + beta_i": (
                DYT, sp.tanh(alpha * pl.gamma[i] * x[i]) + pl.beta[i]),
            "alpha per feature": (DYT, pl.dyt_entry(i, sp.IndexedBase("alpha")[i])),
            "centered: tanh(alpha (x_i - mu))": (
                DYT, pl.gamma[i] * sp.tanh(alpha * (x[i] - ln.mean())) + pl.beta[i]),
        },
        numeric=_numeric("dyt_definition"), compared=("torch.tanh",),
        note="alpha is one learnable scalar per layer, 0.5 at initialization in the official "
        "code (alpha_init_value, used for the non-LLM tasks; its LLaMA runs set other values). "
        "DyT computes no statistic over the features: each entry is squashed on its own, so "
        "its Jacobian is diagonal, unlike LayerNorm's.",
    ),
    Claim(
        id="dyt.invariance_row", kind="identity",
        custom="Ba et al.'s Table 1: a row of invariances, each proved or refuted in derive",
        render=_row_display, source="zhu2025transformers", origin="derived",
        builds_on=("ba2016layer",),
        scope="N = 3 cases, H = 3 units, D = 2 inputs; symbolic entries, alpha = 1/2",
        formula=(False,) * 6,
        symbolic=lambda row: tuple(row) == pl.dyt_invariance_row() and chains_hold(_ROW_ENTRY),
        wrong={
            "the LayerNorm row": ln.PUBLISHED_TABLE_1["layer norm"],
            "the RMSNorm row": (True, False, False, True, False, True),  # layernorm's table
            "invariant to dataset re-scaling": tuple(
                t == "dataset re-scaling" for t in ln.TRANSFORMATIONS),
        },
        numeric=_numeric("dyt_row"), compared=("torch.tanh",),
        note="Computed, not assumed: each transformation changes the summed inputs (a nonzero "
        "polynomial), and exact rationals are found where the tanh values differ. With no "
        "statistic to divide by, DyT keeps none of the invariances LayerNorm has; re-scaling "
        "its input by delta acts as multiplying alpha by delta, which training can adjust.",
    ),
    Claim(
        id="ngpt.update", kind="definition", source="loshchilov2025ngpt",
        custom="a definition's characterization: properties of a step on the sphere",
        scope="n = 3 (symbolic h on the unit sphere, branch output and alpha); d = 8 numerically",
        proof="checked", formula=_NGPT, symbolic=_ngpt_holds,
        wrong={
            "no outer Norm": variant(_NGPT, _ngpt(
                lambda h, target, rate: h + pl.Hadamard(rate, target - h))),
            "Norm(h + alpha h_A)": variant(_NGPT, _ngpt(
                lambda h, target, rate: NORM(h + pl.Hadamard(rate, target)))),
            "branch output not normalized": variant(_NGPT, {1: (HA, ATTN(H)), 3: (HM, MLP(H1))}),
        },
        numeric=_reference("ngpt_update"), compared=("torch.nn.functional.normalize",), ours=False,
        note="nGPT has no LayerNorm: hidden states stay on the unit sphere and each sub-layer "
        "moves them towards its normalized output by per-coordinate rates alpha (0.05 at "
        "initialization in the official code). We have no nGPT module: the numeric check "
        "transcribes the official code's step.",
    ),
    Claim(
        id="mixln.layout", kind="definition",
        custom="a layout of integer depths, checked layer by layer against the official code",
        source="li2025mixln", scope="L = 1..64, alpha = 1/4, 1/3, 1/2, 3/4; L = 10 blocks",
        proof="checked", formula=_mixln(sp.floor(alpha * L)), symbolic=_mixln_holds,
        wrong={
            "ceil(alpha L) Post-LN layers": _mixln(sp.ceiling(alpha * L)),
            "Pre-LN first": _mixln(sp.floor(alpha * L), PRE, POST),
        },
        numeric=_numeric("mixln_layout"), compared=("torch.nn.TransformerEncoderLayer",),
        note="Checked against the official code (pixeli99/MixLN, norm_type post_pre: the layers "
        "with 0-based index below POST_NUM are Post-LN). The code takes the number of Post-LN "
        "layers, not alpha; alpha = 0.25 is inferred from the README's runs (3 of 12 layers, "
        "6 of 24), not read in the paper, and floor(alpha L) is our reading for other L.",
    ),
)
