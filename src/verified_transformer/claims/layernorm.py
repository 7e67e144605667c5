"""Claims about LayerNorm and RMSNorm, and Table 1 of Ba, Kiros & Hinton (2016).

The identities are equations over the operators ``LN`` and ``RMSNorm`` and the abbreviations of
:mod:`verified_transformer.derive.layernorm` (mu, sigma^2, xhat, sigma_eps, J: where pairs). The
two definitions are compared, not proved: numerically with PyTorch's kernels and our code, and
symbolically by properties derived another way that together determine the formula (the moments
of the output and its covariance with the input: Cauchy-Schwarz then forces the normalized output
to be the centered input over ``sqrt(sigma^2 + epsilon)``). Table 1 is data.
"""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp

from verified_transformer.claims.formula import Blank
from verified_transformer.claims.ledger import Claim, numeric_check, numeric_reference, substitute
from verified_transformer.derive import layernorm as ln
from verified_transformer.derive import mistakes
from verified_transformer.derive.exact import equal, expand_sums, is_zero
from verified_transformer.derive.operators import vector
from verified_transformer.i18n import tr

BA, ZHANG = "ba2016layer", "zhang2019root"
i, j, k, n, x, eps, a, c, g = ln.i, ln.j, ln.k, ln.n, ln.x, ln.eps, ln.a, ln.c, ln.g
mu, sigma2, gamma, beta = ln.mu, ln.sigma2, ln.gamma, ln.beta
ONE, ZERO = sp.Integer(1), sp.Integer(0)
LN, RMS, XHAT, J, SIGMA_EPS = ln.LN, ln.RMSNorm, ln.XHAT, ln.J, ln.SIGMA_EPS
V = sp.IndexedBase("v")  # a direction orthogonal to 1 and to xhat
_numeric, _reference = numeric_check("numeric_layernorm"), numeric_reference("numeric_layernorm")
_m = sp.Symbol("m", integer=True, positive=True)


def _scale_free(expr: sp.Expr) -> sp.Expr:
    """Pull common factors out of every sum (so ``sqrt(a^2 u) = a sqrt(u)``), then cancel."""
    return sp.cancel(sp.factor_terms(expr))


def _at_least_two(expr: sp.Expr) -> sp.Expr:
    """With ``n = m + 1``, m >= 1 (the scope n >= 2, so ``n - 1 > 0``), every root's argument
    factored (positive factors leave the root), then cancelled."""
    root = lambda e: e.is_Pow and e.exp.is_Rational and not e.exp.is_integer  # noqa: E731
    factored = expr.xreplace({n: _m + 1}).replace(root, lambda e: sp.factor(e.base) ** e.exp)
    return sp.cancel(factored)


# meaning: sums split before doit (deltas summed out, the free index in 1..n), so doit has nothing
# left to sum and the conditions on sum v_k meet them
_sums = lambda chain: expand_sums  # noqa: E731


def _sum(e: sp.Expr) -> sp.Expr:
    return sp.Sum(e, (k, 1, n))


# --- the where pairs and the chains, as functions of what the wrong variants change ---------------

DEFINITION = ((mu, ln.mean()), (sigma2, ln.variance_abbreviated()))  # mu first, as displayed
STATS = DEFINITION[::-1]  # sigma^2 (written with mu), then mu: one pass writes both out
NORMALIZED = ((SIGMA_EPS, sp.sqrt(sigma2 + eps)), (XHAT[i], ln.normalized_abbreviated(i, eps)),
              *STATS)
JacobianFormula = Callable[[sp.Expr, sp.Expr, sp.Expr, sp.Expr, sp.Expr], sp.Expr]


def _entry(formula: JacobianFormula, row: sp.Expr = i, col: sp.Expr = j) -> sp.Expr:
    return formula(sp.KroneckerDelta(row, col), XHAT[row], XHAT[col], SIGMA_EPS, n)


JACOBIAN = ((J[i, j], sp.Derivative(XHAT[i], x[j])), *NORMALIZED)
CLOSED_J = ((J[i, j], _entry(ln.jacobian_closed_form)), *NORMALIZED)
ORTHOGONAL = ((_sum(V[k]), ZERO), (_sum(x[k] * V[k]), ZERO))  # v orthogonal to 1 and x (so xhat)
_WITHOUT_OUTER = lambda d, xi, xj, s, size: (d - 1 / size) / s  # noqa: E731
_WITHOUT_MEAN = lambda d, xi, xj, s, size: (d - xi * xj / size) / s  # noqa: E731


def _moved(norm: type, moved: Callable[[sp.Expr], sp.Expr]) -> tuple:
    return (norm(vector(moved), i), norm(vector(x), i))


def _defined(norm: type, entry: sp.Expr) -> tuple:
    return ((norm(vector(x), i), entry),)


def _unbiased(ratio: sp.Expr) -> tuple:
    return ((x[i] - mu) / sp.sqrt(ln.s2 + eps), sp.Mul(ratio, LN(vector(x), i), evaluate=False))


def _moments(xhat: Callable[[sp.Expr], sp.Expr]) -> dict:
    first, second = ln.normalized_moments(eps)
    return {0: (_sum(xhat(k)) / n, first), 1: (_sum(xhat(k) ** 2) / n, second)}


def _scaled(effective: sp.Expr) -> tuple:
    return (LN(vector(lambda t: a * x[t]), i), LN(vector(x), i, effective))


def _jacobian(formula: JacobianFormula) -> dict:
    entry = _entry(formula)
    return {0: (sp.Derivative(XHAT[i], x[j]), entry),
            1: (ln.MatrixOf(J[i, j], i, j), ln.MatrixOf(entry, i, j))}


def _nullspace(entry: Callable[[sp.Expr, sp.Expr], sp.Expr]) -> dict:
    return {0: (_sum(entry(i, k)), ZERO), 1: (sp.Subs(_sum(entry(i, k) * XHAT[k]), eps, 0), ZERO)}


def _spectrum(on_ones: sp.Expr, on_xhat: sp.Expr, elsewhere: sp.Expr) -> dict:
    """``sigma_eps J`` on 1, on xhat, on v (orthogonal to both), and its trace (so that the last
    eigenvalue has multiplicity n - 2)."""
    return {0: (SIGMA_EPS * _sum(J[i, k]), on_ones),
            1: (SIGMA_EPS * _sum(J[i, k] * XHAT[k]), on_xhat * XHAT[i]),
            2: (SIGMA_EPS * _sum(J[i, k] * V[k]), elsewhere * V[i]),
            3: (SIGMA_EPS * _sum(J[k, k]), on_ones + on_xhat + (n - 2) * elsewhere)}


def _centered(center: sp.Expr) -> tuple:
    moved = vector(lambda t: x[t] - center)
    return (LN(moved, i), RMS(moved, i))


def _scale_norm(gain: sp.Expr) -> tuple:
    return (ln.scale_norm_entry(i), sp.Mul(gain, RMS(vector(x), i), evaluate=False))


# --- the definitions: characterized, not proved ---------------------------------------------------

LN_MISTAKES = (mistakes.UNBIASED, mistakes.EPS_OUTSIDE, mistakes.SIGN_FLIPPED,
               mistakes.NOT_CENTERED, mistakes.GAIN_ON_BIAS)
RMS_MISTAKES = (mistakes.RMS_EPS_OUTSIDE, mistakes.RMS_SUM, mistakes.RMS_SIGN_FLIPPED,
                mistakes.RMS_CENTERED)
# Moments of the data computed another way than the definition under test: the second moment
# minus the squared mean (not the mean of squared deviations).
_MEAN = _sum(x[k]) / n
_VARIANCE_OTHER_WAY = _sum(x[k] ** 2) / n - _MEAN**2


def _over_gain(y: sp.Expr) -> Callable[[sp.Expr], sp.Expr] | None:
    """``t -> z_t`` where ``y_i = gamma_i z_i`` with z free of gain and bias; else None."""
    z_i = sp.diff(y, gamma[i])
    ok = equal(y, gamma[i] * z_i, sp.cancel, sums=True) and not z_i.has(gamma, beta)
    return (lambda t: z_i.xreplace({i: t})) if ok else None


def _normalized_properties(z: Callable[[sp.Expr], sp.Expr], center: sp.Expr, var: sp.Expr) -> bool:
    """With ``m = center`` and ``V = var``: mean of z^2 is ``V/(V+eps)`` and mean of (x - m) z is
    ``V/sqrt(V+eps)``. By Cauchy-Schwarz the two force ``z_k = (x_k - m)/sqrt(V+eps)``."""
    square, covariance = _sum(z(k) ** 2) / n, _sum((x[k] - center) * z(k)) / n
    return equal(square, var / (var + eps), sp.cancel, sums=True) and equal(
        covariance, var / sp.sqrt(var + eps), sp.cancel, sums=True)


def _definition_holds(chains: tuple) -> bool:
    """The right side, mu and sigma^2 written out (the where pairs): affine in gain and bias
    (``dy_i/dbeta_i = 1``, ``y_i - beta_i`` proportional to ``gamma_i``), and the normalized part
    has mean 0, mean square ``V/(V+eps)`` and covariance ``V/sqrt(V+eps)`` with x,
    V = E[x^2] - E[x]^2 (symbolic n)."""
    y = substitute(STATS, chains[0][-1])
    z = _over_gain(y.xreplace({beta[i]: 0})) if equal(sp.diff(y, beta[i]), ONE) else None
    return z is not None and is_zero(_sum(z(k)) / n, sp.cancel, sums=True) and (
        _normalized_properties(z, _MEAN, _VARIANCE_OTHER_WAY))


def _rms_definition_holds(chains: tuple) -> bool:
    """Proportional to ``gamma_i`` with no bias, and ``z = y / gamma`` has mean square
    ``M/(M+eps)`` and ``(1/n) sum x_k z_k = M/sqrt(M+eps)``, with the mean square computed
    another way, ``M = E[(x - mu)^2] + mu^2`` (symbolic n); by Cauchy-Schwarz these force
    ``z = x / sqrt(M + eps)``."""
    z = _over_gain(chains[0][-1])
    return z is not None and _normalized_properties(z, 0, _sum((x[k] - _MEAN) ** 2) / n + _MEAN**2)


# --- Table 1: data --------------------------------------------------------------------------------

RMS_ROW = (True, False, False, True, False, True)  # Zhang & Sennrich (2019), their invariance table
_SHORT = {"batch norm": "BN", "weight norm": "WN", "layer norm": "LN", "RMS norm": "RMS"}


def _flipped(method: str, transformation: str) -> dict[str, tuple[bool, ...]]:
    table = dict(ln.PUBLISHED_TABLE_1) | {"RMS norm": RMS_ROW}
    row = list(table[method])
    row[ln.TRANSFORMATIONS.index(transformation)] ^= True
    return table | {method: tuple(row)}


def _table_display(table: dict[str, tuple[bool, ...]]) -> tuple[str, ...]:
    """Table 1 transposed (a row per transformation, a column per method) so that it fits the
    text column; a check mark marks an invariance."""
    methods = list(table)
    head = " & ".join(rf"\text{{{_SHORT.get(m, m)}}}" for m in methods)
    rows = [rf"\text{{{t}}} & " + " & ".join(r"\checkmark" if table[m][r] else "-" for m in methods)
            for r, t in enumerate(ln.TRANSFORMATIONS)]
    body = r" \\ ".join([" & " + head] + rows)
    legend = r",\ ".join(rf"\text{{{_SHORT.get(m, m)} = {m}}}" for m in methods)
    return (r"\begin{array}{l|" + "c" * len(methods) + "}" + body + r"\end{array}", legend)


# --- what check_formula accepts: the entry (its points also run a Python function) --------------


def _point(xs: list, gains: list, biases: list | None, epsilon: sp.Rational) -> dict:
    return {n: len(xs), x: xs, gamma: gains} | ({beta: biases} if biases else {}) | {eps: epsilon}


_POINTS = (([1, 2, 4], [1, 1, 1], [0, 0, 0], sp.Rational(1, 2)),
           ([-1, 0.5, 3, 2], [2, -1, 0.5, 3], [1, 0, -2, 0.25], sp.Rational(1, 10)),
           ([0.01, -0.02, 0.03, 0.0], [1, 1, 1, 1], [0, 0, 0, 0], sp.Rational(1, 100000)))
_LN_READER = Blank(
    takes="y_i, the i-th output: a SymPy expression or LaTeX in x_i, sums over x_k (k = 1..n), "
    "n, mu, sigma, epsilon, gamma_i, beta_i; or a Python function f(x, gamma, beta, eps) of "
    "1-D float64 tensors", output="y", write=ln.unabbreviate, simplify=sp.cancel,
    points=[_point(*p) for p in _POINTS], names={m.name: m.noun for m in LN_MISTAKES})
_RMS_READER = Blank(
    takes="the i-th output: a SymPy expression or LaTeX in x_i, sums over x_k (k = 1..n), n, "
    "epsilon, gamma_i; or a Python function f(x, gamma, eps) of 1-D float64 tensors",
    output="y", simplify=sp.cancel, points=[_point(xs, g, None, e) for xs, g, _, e in _POINTS],
    names={m.name: m.noun for m in RMS_MISTAKES})
_EIGEN_READER = Blank(
    takes="the eigenvalue of sigma_eps J along xhat, as a SymPy expression or LaTeX in sigma "
    "(or sigma^2) and epsilon", part=lambda chains: chains[1][-1] / XHAT[i],
    points=[{sigma2: 1, eps: sp.Rational(1, 2)}, {sigma2: 3, eps: sp.Rational(1, 10)}],
    output=tr("the eigenvalue along xhat"),
    names={
        "eigenvalue 1 along xhat": "eigenvalue 1 along xhat (as if xhat were just another "
        "direction)",
        "eigenvalue 0 along xhat (eps factor missing)": "eigenvalue 0 along xhat (exact only at "
        "epsilon = 0)",
        "eigenvalue sigma^2/(sigma^2+eps) along xhat": "sigma^2/(sigma^2 + epsilon), the "
        "complement of the right eigenvalue",
    },
)
LN_TORCH = ("torch.nn.functional.layer_norm", "torch.nn.LayerNorm")
JACOBIAN_TORCH = ("torch.autograd.functional.jacobian of torch.nn.functional.layer_norm",)
RMS_TORCH = ("torch.nn.functional.rms_norm", "torch.nn.RMSNorm")
_CHARACTERIZED = ("a definition: compared with torch, and characterized by properties that force "
                  "it (Cauchy-Schwarz), since an equation would only restate it")
_DERIVED = {"source": BA, "origin": "derived"}

CLAIMS = (
    Claim(
        id="layernorm.definition", kind="definition", source=BA, scope="symbolic n",
        proof="checked", custom=_CHARACTERIZED, symbolic=_definition_holds,
        formula=_defined(LN, ln.layer_norm_abbreviated(i, eps)), where=DEFINITION,
        wrong={m.name: _defined(LN, m.entry(i, eps)) for m in LN_MISTAKES},
        numeric=_reference("definition"), compared=LN_TORCH, reader=_LN_READER,
        note="Biased variance, epsilon inside the root, as nn.LayerNorm computes it (Ba et al. "
        "write no epsilon). The properties (mean 0, mean square V/(V+eps), covariance "
        "V/sqrt(V+eps) with x, V = E[x^2] - E[x]^2) determine the normalized part; the variants "
        "fail different ones: the mean (not centered), the mean square (unbiased, epsilon "
        "outside), the covariance only (sign flipped), the affine part (gain on the bias).",
    ),
    Claim(
        id="layernorm.unbiased_ratio", kind="identity", **_DERIVED,
        scope="symbolic n >= 2, eps = 0", formula=(_unbiased(ln.unbiased_ratio(n)),),
        where=((eps, 0), (gamma[i], ONE), (beta[i], ZERO),
               (ln.s2, ln.unbiased_variance_abbreviated()), (mu, ln.mean())),
        simplify=_at_least_two,
        wrong={"inverted sqrt(n/(n-1))": _unbiased(sp.sqrt(n / (n - 1))),
               "no square root (n-1)/n": _unbiased((n - 1) / n)},
        numeric=_reference("rows", 55, 2.0, 1.0), compared=LN_TORCH,
        note="A home-made LayerNorm on x.std() (unbiased) is nn.LayerNorm times sqrt((n-1)/n) "
        "(numerically at n = 6, eps = 0); Ba et al. define the biased one. The two variants err "
        "on both sides of the ratio (too large, too small).",
    ),
    Claim(
        id="layernorm.moments", kind="identity", **_DERIVED, scope="symbolic n",
        formula=tuple(_moments(lambda t: XHAT[t]).values()), where=NORMALIZED[1:], meaning=_sums,
        wrong={m.name: _moments(lambda t, m=m: mistakes.without_affine(m)(t, eps))
               for m in (mistakes.UNBIASED, mistakes.EPS_OUTSIDE, mistakes.NOT_CENTERED)},
        numeric=_reference("moments"),
        compared=("torch.nn.functional.layer_norm",),
        note="The output variance is slightly below 1 for eps > 0 (numerically at eps = 0.5).",
    ),
    Claim(
        id="layernorm.shift_invariance", kind="identity", source=BA, scope="symbolic n",
        formula=(_moved(LN, lambda t: x[t] + c),),
        wrong={"scaling x -> c x (eps > 0)": _moved(LN, lambda t: c * x[t]),
               "shifting only x_1": _moved(LN, lambda t: x[t] + c * sp.KroneckerDelta(t, 1))},
        numeric=_reference("norms"), compared=("torch.nn.functional.layer_norm",),
    ),
    Claim(
        id="layernorm.scale_invariance", kind="identity", source=BA, scope="symbolic n, eps = 0",
        formula=(_moved(LN, lambda t: a * x[t]),), where=((eps, 0),), simplify=_scale_free,
        wrong={"negative scale x -> -a x": _moved(LN, lambda t: -a * x[t]),
               "scaling only x_1": _moved(LN, lambda t: x[t] * a ** sp.KroneckerDelta(t, 1))},
        numeric=_reference("norms"), compared=("torch.nn.functional.layer_norm",),
        note="Exact only at eps = 0; with eps > 0 small inputs are not scale invariant.",
    ),
    Claim(
        id="layernorm.scale_with_eps", kind="identity", **_DERIVED,
        scope="symbolic n, symbolic a > 0 and eps > 0",
        formula=(_scaled(ln.scaled_epsilon(a, eps)),), simplify=_scale_free,
        wrong={"eps / a": _scaled(eps / a), "eps unchanged (exact invariance)": _scaled(eps),
               "eps a^2": _scaled(eps * a**2)},
        numeric=_reference("rows", 57, 1.0, 1.0, 58, 59, {a: 0.01}), compared=LN_TORCH,
        note="Scaling the input by a acts like dividing eps by a^2: a tiny input is normalized as "
        "if eps were large (numerically at a = 0.01, eps = 1e-5, with gain and bias).",
    ),
    Claim(
        id="layernorm.jacobian", kind="identity", **_DERIVED, scope="symbolic n",
        formula=tuple(_jacobian(ln.jacobian_closed_form).values()), where=JACOBIAN,
        wrong={"missing -xhat xhat^T / n": _jacobian(_WITHOUT_OUTER),
               "missing -1 1^T / n": _jacobian(_WITHOUT_MEAN),
               "+xhat xhat^T / n (sign flipped)": _jacobian(
                   lambda d, xi, xj, s, size: (d - 1 / size + xi * xj / size) / s)},
        numeric=_reference("jacobian", 1e-5, 46, 0.3), compared=JACOBIAN_TORCH,
        note="Derived here: sympy.diff of the LayerNorm of Ba et al. through the sums (they "
        "give no Jacobian); numerically against torch.autograd.functional.jacobian.",
    ),
    Claim(
        id="layernorm.jacobian_nullspace", kind="identity", **_DERIVED, scope="symbolic n",
        formula=tuple(_nullspace(lambda r, q: J[r, q]).values()), where=CLOSED_J, meaning=_sums,
        wrong={name: _nullspace(lambda r, q, f=f: _entry(f, r, q)) for name, f in (
            ("missing -xhat xhat^T / n", _WITHOUT_OUTER), ("missing -1 1^T / n", _WITHOUT_MEAN))},
        numeric=_reference("jacobian", 0.0, 47), compared=JACOBIAN_TORCH,
        note="Shifting x along 1, or scaling it along xhat, does not change LN(x) to first order.",
    ),
    Claim(
        id="layernorm.jacobian_spectrum", kind="identity", **_DERIVED,
        scope="symbolic n (from the closed form of layernorm.jacobian); numerically n = 6",
        formula=tuple(_spectrum(*ln.jacobian_eigenvalues(sigma2, eps)).values()),
        where=CLOSED_J + ORTHOGONAL, meaning=_sums,
        wrong={
            "eigenvalue 1 along xhat": _spectrum(ZERO, ONE, ONE),
            "eigenvalue 0 along xhat (eps factor missing)": _spectrum(ZERO, ZERO, ONE),
            "eigenvalue sigma^2/(sigma^2+eps) along xhat": _spectrum(ZERO, sigma2 / (sigma2 + eps),
                                                                     ONE),
            "eigenvalue 1 along 1": _spectrum(ONE, eps / (sigma2 + eps), ONE),
            "eigenvalue 1/2 elsewhere": _spectrum(ZERO, eps / (sigma2 + eps), sp.Rational(1, 2)),
        },
        numeric=_reference("jacobian", 0.5, 55), compared=JACOBIAN_TORCH,
        reader=_EIGEN_READER,
        note="Derived here (Ba et al. give no Jacobian). J is symmetric; 1 and xhat are "
        "orthogonal, so the rest is n - 2 dimensional (the trace confirms the count).",
    ),
    Claim(
        id="layernorm.invariance_table", kind="identity", source=BA, builds_on=(ZHANG,),
        scope="N = 3 cases, H = 3 units, D = 2 inputs; symbolic entries",
        custom="Ba et al.'s Table 1 is data (a published table of invariances), compared entry by "
        "entry with the recomputed one",
        render=_table_display, symbolic=lambda table: table == ln.invariance_table(),
        formula=dict(ln.PUBLISHED_TABLE_1) | {"RMS norm": RMS_ROW},
        wrong={
            "layer norm invariant to dataset re-centering": _flipped(
                "layer norm", "dataset re-centering"),
            "batch norm invariant to single-case re-scaling": _flipped(
                "batch norm", "single training case re-scaling"),
            "RMSNorm invariant to weight matrix re-centering": _flipped(
                "RMS norm", "weight matrix re-centering"),
            "layer norm not invariant to weight matrix re-scaling": _flipped(
                "layer norm", "weight matrix re-scaling"),
            "weight norm not invariant to weight vector re-scaling": _flipped(
                "weight norm", "weight vector re-scaling"),
        },
        numeric=_numeric("table"),
        compared=("torch.nn.functional.layer_norm", "torch.nn.functional.rms_norm"),
        note="The published tables are typed in as data and compared entry by entry with the "
        "recomputed one: Ba et al.'s Table 1 for batch, weight and layer norm, Zhang and "
        "Sennrich's RMSNorm row (the invariance table of their paper, the same six "
        "transformations). Variants flip entries both ways.",
    ),
    Claim(
        id="rmsnorm.definition", kind="definition", source=ZHANG, scope="symbolic n",
        proof="checked", custom=_CHARACTERIZED, symbolic=_rms_definition_holds,
        formula=_defined(RMS, ln.rms_norm_entry(i, eps)),
        wrong={m.name: _defined(RMS, m.entry(i, eps)) for m in RMS_MISTAKES},
        numeric=_reference("rms_definition"), compared=RMS_TORCH, reader=_RMS_READER,
        note="PyTorch's default eps=None means torch.finfo(dtype).eps. The properties (mean "
        "square M/(M+eps), covariance M/sqrt(M+eps) with x, M = E[(x-mu)^2] + mu^2) determine "
        "the formula.",
    ),
    Claim(
        id="rmsnorm.scale_invariance", kind="identity", source=ZHANG, scope="symbolic n, eps = 0",
        formula=(_moved(RMS, lambda t: a * x[t]),), where=((eps, 0),), simplify=_scale_free,
        wrong={"shift x -> x + c": _moved(RMS, lambda t: x[t] + c),
               "negative scale x -> -a x": _moved(RMS, lambda t: -a * x[t])},
        numeric=_reference("norms"), compared=("torch.nn.functional.rms_norm",),
        note="RMSNorm is not shift invariant (the first wrong variant).",
    ),
    Claim(
        id="rmsnorm.equals_layernorm_when_centered", kind="identity", source=ZHANG,
        scope="symbolic n", formula=(_centered(mu),), where=((beta[i], ZERO), (mu, ln.mean())),
        wrong={"no centering": _centered(ZERO),
               "subtracting x_1 instead of the mean": _centered(x[1])},
        numeric=_reference("rows", 53, 1.0, 3.0, 54),
        compared=("torch.nn.functional.layer_norm", "torch.nn.functional.rms_norm"),
    ),
    Claim(
        id="scalenorm.is_scaled_rmsnorm", kind="identity", source="nguyen2019transformers",
        origin="derived", builds_on=(ZHANG,), scope="symbolic n, eps = 0",
        formula=(_scale_norm(ln.scale_norm_gain(g, n)),), where=((gamma[i], ONE), (eps, 0)),
        simplify=_scale_free,
        wrong={"gamma_i = g (missing 1/sqrt(n))": _scale_norm(g),
               "gamma_i = g sqrt(n)": _scale_norm(g * sp.sqrt(n)),
               "gamma_i = g / n": _scale_norm(g / n)},
        numeric=_reference("rows", 56, 1.0, 0.0, None, None, {g: 1.7}), compared=RMS_TORCH,
        note="ScaleNorm's single gain g is RMSNorm's per-feature gain with all n entries equal "
        "to g/sqrt(n) (numerically at n = 6, g = 1.7).",
    ),
)
