"""Claims about where the normalization went after 2020: Peri-LN and OLMo 2's output norm, the
growth of the Pre-LN stream, the bounds an output norm and QK-norm give, DyT, nGPT and Mix-LN.

The definitions are compared, not proved: numerically with our ``nn.variants`` modules and PyTorch's
kernels, and symbolically by properties that tell the placements apart (an identity path, a
bounded increment, a normalized input), each failed by a different wrong variant. The bounds are
proved (each step an exact SymPy identity or a sign SymPy decides) and shown attained: a bound
below them is violated by an explicit input.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import sympy as sp
import torch
from torch.autograd.functional import jacobian as autograd_jacobian

from verified_transformer.claims.latex import latex
from verified_transformer.claims.ledger import Claim
from verified_transformer.claims.numeric import (
    DTYPE,
    close,
    evaluate,
    for_each_implementation,
    randn,
    randomize,
    table_1_moves,
)
from verified_transformer.derive import layernorm as ln
from verified_transformer.derive import placements as pl
from verified_transformer.derive.exact import equal, is_zero, matrices_equal

KIM, OLMO, XIONG = "kim2025peri", "olmo2024furious", "xiong2020layer"
D_MODEL, HEADS, D_FF, TOKENS = 4, 2, 8, 3  # the blocks of the numeric checks
eps, i, j, k, n, x = pl.eps, pl.i, pl.j, pl.k, pl.n, pl.x

# --- Peri-LN and the output norm: the sub-layer (x, F, N_in, N_out) -> next stream ----------------

Sublayer = Callable[[Any, Callable, Callable, Callable], Any]

_V = sp.Matrix(sp.symbols("v1:4", real=True))  # the stream, n = 3
_A = sp.Matrix(3, 3, sp.symbols("a1:10", real=True))  # a linear sub-layer F(t) = A t
_SCALE = sp.Symbol("a", positive=True)


def _rms(epsilon: sp.Expr) -> Callable[[sp.Matrix], sp.Matrix]:
    return lambda t: sp.Matrix(pl.rms_vector(list(t), epsilon))


def _same(t: Any) -> Any:
    return t


def _linear(t: sp.Matrix) -> sp.Matrix:
    return _A * t


def _zero(t: sp.Matrix) -> sp.Matrix:
    return sp.zeros(*t.shape)


def _identity_path(sublayer: Sublayer) -> bool:
    """With F = 0 and RMSNorms (eps > 0) for both norms, the sub-layer returns its input: the
    residual stream passes unnormalized (RMSNorm(0) = 0)."""
    return matrices_equal(sublayer(_V, _zero, _rms(eps), _rms(eps)), _V, sp.cancel)


def _bounded_increment(sublayer: Sublayer) -> bool:
    """With N_in the identity, F(t) = A t and N_out an RMSNorm, the increment (output minus input)
    has mean square ``M/(M+eps)``, M the mean square of A x: it is N_out's output."""
    increment = sublayer(_V, _linear, _same, _rms(eps)) - _V
    target = _A * _V
    mean_sq = sum(e**2 for e in target) / 3
    return equal(sum(e**2 for e in increment) / 3, pl.rms_ratio(mean_sq, eps), sp.cancel)


def _homogeneous(degree: int) -> Callable[[Sublayer], bool]:
    """With N_in an RMSNorm (eps = 0), F(t) = A t and N_out the identity, the increment at
    ``a x`` is ``a^degree`` times the one at x: degree 0 when F reads a normalized stream,
    degree 1 when it reads the stream itself."""

    def check(sublayer: Sublayer) -> bool:
        def increment(t: sp.Matrix) -> sp.Matrix:
            return sublayer(t, _linear, _rms(0), _same) - t

        return matrices_equal(increment(_SCALE * _V), _SCALE**degree * increment(_V), sp.cancel)

    return check


def _peri_holds(sublayer: Sublayer) -> bool:
    """Identity path, a bounded increment and a sub-layer that reads a normalized stream (n = 3,
    symbolic stream, linear F and eps): Peri-LN's three properties."""
    return _identity_path(sublayer) and _bounded_increment(sublayer) and _homogeneous(0)(sublayer)


def _output_holds(sublayer: Sublayer) -> bool:
    """Identity path, a bounded increment and a sub-layer that reads the stream itself."""
    return _identity_path(sublayer) and _bounded_increment(sublayer) and _homogeneous(1)(sublayer)


def _pre_ln(x: Any, f: Callable, n_in: Callable, n_out: Callable) -> Any:
    return x + f(n_in(x))


def _post_ln(x: Any, f: Callable, n_in: Callable, n_out: Callable) -> Any:
    return n_out(x + f(x))


def _norm_after_addition(x: Any, f: Callable, n_in: Callable, n_out: Callable) -> Any:
    return n_out(x + f(n_in(x)))


def _causal(size: int) -> torch.Tensor:
    return torch.triu(torch.full((size, size), float("-inf"), dtype=DTYPE), diagonal=1)


def _torch_sublayers(block: torch.nn.Module, nn: ModuleType) -> tuple[Callable, Callable]:
    """The block's causal self-attention as ``nn.MultiheadAttention`` (its weights loaded) and its
    feed-forward network ``linear2(gelu(linear1(t)))``."""
    attn = block.self_attn
    mha = nn.MultiheadAttention(D_MODEL, HEADS, batch_first=True, dtype=DTYPE).eval()
    with torch.no_grad():
        mha.in_proj_weight.copy_(
            torch.cat([attn.q_proj.weight, attn.k_proj.weight, attn.v_proj.weight])
        )
        mha.in_proj_bias.copy_(torch.cat([attn.q_proj.bias, attn.k_proj.bias, attn.v_proj.bias]))
        mha.out_proj.weight.copy_(attn.out_proj.weight)
        mha.out_proj.bias.copy_(attn.out_proj.bias)

    def sa(t: torch.Tensor) -> torch.Tensor:
        return mha(t, t, t, attn_mask=_causal(t.shape[1]), need_weights=False)[0]

    def ffn(t: torch.Tensor) -> torch.Tensor:
        return block.linear2(torch.nn.functional.gelu(block.linear1(t)))

    return sa, ffn


def _rms_module(nn: ModuleType, weight: torch.Tensor) -> torch.nn.Module:
    module = nn.RMSNorm(D_MODEL, eps=1e-5, dtype=DTYPE)
    with torch.no_grad():
        module.weight.copy_(weight)
    return module


def _block_numeric(placement: str) -> Callable[[Sublayer], bool]:
    """Our ``Block(placement=...)`` (RMSNorm, float64, seeded weights, eval) equals the sub-layer
    applied to the attention and then to the feed-forward network, written with
    ``nn.MultiheadAttention`` (causal mask) and ``nn.RMSNorm`` loaded with the block's weights,
    ours and torch's. The output placement has no input norm: a seeded extra RMSNorm is passed as
    N_in, which the formula must not use."""

    def numeric(sublayer: Sublayer) -> bool:
        from verified_transformer.nn.variants import Block

        block = randomize(
            Block(D_MODEL, HEADS, D_FF, placement=placement, norm="rms", dtype=DTYPE), seed=90
        )
        extra = randn(D_MODEL, seed=91)
        x = randn(2, TOKENS, D_MODEL, seed=92)

        def holds(F: ModuleType, nn: ModuleType) -> bool:
            sa, ffn = _torch_sublayers(block, nn)
            norms = [
                _rms_module(nn, extra if m is None else m.weight.detach())
                for m in (block.norm1, block.norm1_out, block.norm2, block.norm2_out)
            ]
            return close(pl.two_sublayers(sublayer, x, sa, ffn, norms), block(x))

        return for_each_implementation(holds)

    return numeric


# --- the Pre-LN stream's variance ----------------------------------------------------------------

Growth = Callable[[Any, Any, Any], Any]  # (s^2, v, L) -> Var(x_L)


def _growth_holds(growth: Growth) -> bool:
    """Equal to :func:`derive.placements.stream_variance` (the covariance double sum) for a
    symbolic L, s^2 and v."""
    return equal(growth(pl.s2, pl.v, pl.L), pl.stream_variance(), sp.expand)


def _growth_numeric(growth: Growth) -> bool:
    """Exact enumeration: x_0 = +-1/2 and f_l = e_l RMSNorm(x_{l-1}) with gain 3/2 (width 1,
    eps = 0, so f_l = +-3/2 whatever the stream's scale, and E[f_l f_m] = 0 for l != m), e_l = +-1;
    all 2^(L+1) sign patterns equally likely, L = 1..10. The variance of x_L over the patterns is
    growth(1/4, 9/4, L), with our and torch's nn.RMSNorm."""
    gain = 1.5

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        norm = nn.RMSNorm(1, eps=0.0, dtype=DTYPE)
        with torch.no_grad():
            norm.weight.fill_(gain)
        for depth in range(1, 11):
            count = 2 ** (depth + 1)
            bits = (torch.arange(count)[:, None] >> torch.arange(depth + 1)) & 1
            signs = (2 * bits - 1).to(DTYPE)  # every pattern once
            stream = 0.5 * signs[:, :1]
            for layer in range(1, depth + 1):
                stream = stream + signs[:, layer : layer + 1] * norm(stream)
            variance = (stream**2).mean() - stream.mean() ** 2
            expected = float(growth(sp.Rational(1, 4), sp.Rational(9, 4), sp.Integer(depth)))
            if not close(variance, torch.tensor(expected, dtype=DTYPE)):
                return False
        return True

    return for_each_implementation(holds)


# --- Peri-LN's increment bound --------------------------------------------------------------------

Bound = Callable[[Any, Any], Any]  # (max |g|, n) -> bound on RMS(N_out(y))
_WITNESS_SCALE = sp.Integer(10) ** 6  # a large input: eps / M is negligible
_WITNESS_EPS = sp.Rational(1, 10**5)
_M_POSITIVE = sp.Symbol("M", positive=True)  # a nonzero input, for the supremum


def _rms_output_bounded() -> bool:
    """The proof, for a symbolic width n, gain g with max |g_k| = G (g_k^2 = G^2 - delta_k,
    delta_k >= 0), M >= 0 and eps > 0:
    (1) 1 - M/(M+eps) = eps/(M+eps) > 0;
    (2) G^2 M/(M+eps) - mean_k (g_k y_k / sqrt(M+eps))^2 = mean_k delta_k y_k^2 / (M+eps), a mean
    of terms >= 0; so RMS(N(y))^2 <= G^2 M/(M+eps) < G^2."""
    gap = sp.cancel(1 - pl.rms_ratio())
    if not (equal(gap, eps / (pl.M + eps), sp.cancel) and gap.is_positive):
        return False
    mean_sq = pl.mean_square()
    ratio = pl.rms_ratio(mean_sq)
    output = pl.rms_output_mean_square().replace(
        lambda e: isinstance(e, sp.Pow) and e.base in {pl.g[k]} and e.exp == 2,
        lambda e: pl.G**2 - pl.slack[k],
    )
    if output.has(pl.g):
        return False
    term = pl.slack[k] * pl.y[k] ** 2
    difference = sp.Sum(term, (k, 1, n)) / n / (mean_sq + eps)
    return bool(
        equal(pl.G**2 * ratio - output, difference, sp.cancel, sums=True) and term.is_nonnegative
    )


def _increment_attained(bound: Bound) -> bool:
    """The bound is never below what an explicit input reaches: for n = 1..8, equal gains
    g_k = 1 and y = 10^6 (1, ..., 1), eps = 10^-5, RMS(N(y))^2 = M/(M+eps) exactly (rationals)
    and bound(1, n)^2 >= it; the supremum is 1 (the limit M -> oo, taken by SymPy)."""
    if sp.limit(pl.rms_ratio(_M_POSITIVE * _SCALE**2), _SCALE, sp.oo) != 1:
        return False
    for size in range(1, 9):
        values = [_WITNESS_SCALE] * size
        square = sum(e**2 for e in pl.rms_vector(values, _WITNESS_EPS)) / size
        claimed = sp.nsimplify(bound(sp.Integer(1), sp.Integer(size)))
        if not sp.Rational(square) < 1 or not bool(claimed**2 >= square):
            return False
    return True


def _increment_bound_holds(bound: Bound) -> bool:
    """The proof (:func:`_rms_output_bounded`), the bound attained (:func:`_increment_attained`)
    and not above the proved one (bound(G, n) <= G, symbolic)."""
    return (
        _rms_output_bounded()
        and _increment_attained(bound)
        and bool(sp.simplify(pl.G - bound(pl.G, n)).is_nonnegative)
    )


def _increment_numeric(bound: Bound) -> bool:
    """Our and torch's nn.RMSNorm (n = 6, seeded gains of both signs, eps = 1e-5) on adversarial
    inputs: 10^8 randn, 10^12 e_k at the largest |g_k| (where RMS(N(y)) reaches max |g|), a
    constant 10^6 and a tiny 10^-9 randn: RMS of the output <= bound(max |g|, 6). Then three
    Block(placement="peri") with out_proj and linear2 scaled by 10^6: every token's RMS(x_L) <=
    RMS(x_0) + 6 bound (two sub-layers a block), while the same Pre-LN blocks exceed it."""
    from verified_transformer.nn.variants import Block

    width, gain = 6, randn(6, seed=93)
    gain_max = float(gain.abs().max())
    limit = float(bound(sp.Float(gain_max, 30), sp.Integer(width)))
    spike = torch.zeros(width, dtype=DTYPE)
    spike[int(gain.abs().argmax())] = 1e12
    inputs = torch.stack(
        [
            randn(width, seed=94) * 1e8,
            spike,
            torch.full((width,), 1e6, dtype=DTYPE),
            randn(width, seed=95) * 1e-9,
        ]
    )

    def rms(t: torch.Tensor) -> torch.Tensor:
        return t.pow(2).mean(-1).sqrt()

    def stack(placement: str) -> tuple[torch.Tensor, torch.Tensor, float]:
        blocks = [
            randomize(Block(D_MODEL, HEADS, D_FF, placement=placement, norm="rms", dtype=DTYPE), s)
            for s in (96, 97, 98)
        ]
        with torch.no_grad():
            for b in blocks:
                b.self_attn.out_proj.weight.mul_(1e6)
                b.linear2.weight.mul_(1e6)
        h0 = randn(2, TOKENS, D_MODEL, seed=99)
        h = h0
        for b in blocks:
            h = b(h)
        gains = [m.weight for b in blocks for m in (b.norm1_out, b.norm2_out) if m is not None]
        peak = max([float(w.detach().abs().max()) for w in gains], default=0.0)
        return h0, h, peak

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        norm = nn.RMSNorm(width, eps=1e-5, dtype=DTYPE)
        with torch.no_grad():
            norm.weight.copy_(gain)
        if not bool((rms(norm(inputs)) <= limit * (1 + 1e-12)).all()):
            return False
        h0, h, peak = stack("peri")
        step = 6 * float(bound(sp.Float(peak, 30), sp.Integer(D_MODEL)))
        pre0, pre, _ = stack("pre")
        within = bool((rms(h) <= (rms(h0) + step) * (1 + 1e-12)).all())
        return within and bool((rms(pre) > rms(pre0) + step).all())

    return for_each_implementation(holds)


# --- the QK-norm logit bound ---------------------------------------------------------------------

LogitBound = Callable[[Any, Any, Any], Any]  # (max |g_q|, max |g_k|, d) -> bound on the logit


def _proved_logit_bound() -> sp.Expr | None:
    """The chain, each step checked by SymPy; returns the bound it proves (None if a step fails):
    (1) ||RMSNorm(q)||^2 = d M/(M+eps) for a symbolic d, and its supremum (M -> oo) is d;
    (2) Cauchy-Schwarz |u . w| <= |u| |w| by Lagrange's identity, for a symbolic d;
    (3) |g_q,i g_k,i| <= G_q G_k: G_q G_k - |g_q||g_k| = (G_q - |g_q|) G_k + |g_q| (G_k - |g_k|);
    so, with |sum_i a_i| <= sum_i |a_i| and Cauchy-Schwarz on |RMSNorm(q)| and |RMSNorm(k)|,
    |q_hat . k_hat| / sqrt(d) <= G_q G_k |RMSNorm(q)| |RMSNorm(k)| / sqrt(d) <= G_q G_k d / sqrt(d)
    (the supremum of step 1 taken for both norms)."""
    size = pl.d
    square = sp.Sum((x[k] / sp.sqrt(pl.mean_square(x, size) + eps)) ** 2, (k, 1, size))
    if not equal(square, size * pl.rms_ratio(pl.mean_square(x, size)), sp.cancel, sums=True):
        return None
    sup = sp.limit(size * pl.rms_ratio(_M_POSITIVE * _SCALE**2), _SCALE, sp.oo)
    gap, square = pl.lagrange_identity(size)
    if gap != 0 or not square.is_nonnegative:
        return None
    aq, ak = sp.symbols("b_q b_k", nonnegative=True)  # |g_q,i|, |g_k,i|
    if sp.expand(pl.G_q * pl.G_k - aq * ak - ((pl.G_q - aq) * pl.G_k + aq * (pl.G_k - ak))) != 0:
        return None
    return sp.simplify(pl.G_q * pl.G_k * sp.sqrt(sup) * sp.sqrt(sup) / sp.sqrt(size))


def _aligned_logit(gain: sp.Expr, size: int) -> sp.Expr:
    """The logit of q = k = 10^6 e_1 with equal gains ``gain``, eps = 10^-5, exactly."""
    values = [_WITNESS_SCALE] + [sp.Integer(0)] * (size - 1)
    normed = pl.rms_vector(values, _WITNESS_EPS)
    return gain**2 * sum(e**2 for e in normed) / sp.sqrt(size)


def _logit_bound_holds(bound: LogitBound) -> bool:
    """The proved bound (:func:`_proved_logit_bound`); aligned q = k with equal gains 3/2 attain
    it up to eps (d = 1, 2, 4, 16, 64) and never exceed ``bound``; ``bound`` is not above the
    proved one (symbolic gains and d)."""
    proved = _proved_logit_bound()
    if proved is None:
        return False
    for size in (1, 2, 4, 16, 64):
        gain = sp.Rational(3, 2)
        logit = _aligned_logit(gain, size)
        at_size = proved.xreplace({pl.G_q: gain, pl.G_k: gain, pl.d: size})
        if not bool(logit <= at_size) or not bool(logit / at_size > 1 - sp.Rational(1, 10**9)):
            return False
        if not bool(bound(gain, gain, sp.Integer(size)) >= logit):
            return False
    return bool(sp.simplify(proved - bound(pl.G_q, pl.G_k, pl.d)).is_nonnegative)


def _logit_numeric(bound: LogitBound) -> bool:
    """QKNormSelfAttention(qk_norm=True) (d = 4, 2 heads, seeded weights and gains of both
    signs): last_max_logit <= bound = max_attention_logit_bound, on random x and on 10^4 x, and
    equal to the logits recomputed with F.rms_norm (ours and torch's); with k_proj = q_proj and
    equal gains 3/2 the logit of 10^4 x reaches the bound within 10^-6. Without QK-norm (no
    biases) the largest logit of t x is t^2 times that of x (t = 10, 100): no bound holds."""
    from verified_transformer.nn.variants import QKNormSelfAttention

    dim, x0 = 8, randn(2, 5, 8, seed=100)
    head = dim // HEADS
    module = randomize(QKNormSelfAttention(dim, HEADS, qk_norm=True, bias=False), seed=101)
    aligned = randomize(QKNormSelfAttention(dim, HEADS, qk_norm=True, bias=False), seed=102)
    plain = randomize(QKNormSelfAttention(dim, HEADS, qk_norm=False, bias=False), seed=103)
    with torch.no_grad():
        aligned.k_proj.weight.copy_(aligned.q_proj.weight)
        aligned.q_norm.weight.fill_(1.5)
        aligned.k_norm.weight.fill_(1.5)

    def limit(m: torch.nn.Module) -> float:
        gq, gk = (float(w.abs().max()) for w in (m.q_norm.weight, m.k_norm.weight))
        return float(bound(sp.Float(gq, 30), sp.Float(gk, 30), sp.Integer(head)))

    def recomputed(F: ModuleType, m: torch.nn.Module, t: torch.Tensor) -> float:
        q, kk = (p(t).unflatten(-1, (HEADS, head)).transpose(1, 2) for p in (m.q_proj, m.k_proj))
        q = F.rms_norm(q, (head,), m.q_norm.weight, m.qk_norm_eps)
        kk = F.rms_norm(kk, (head,), m.k_norm.weight, m.qk_norm_eps)
        return float((q @ kk.transpose(-2, -1)).abs().max()) / head**0.5

    def logit(m: torch.nn.Module, t: torch.Tensor) -> float:
        m(t)
        return m.last_max_logit

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        with torch.no_grad():
            ok = abs(limit(module) - module.logit_bound()) <= 1e-12 * limit(module)
            for t in (x0, 1e4 * x0):
                got = logit(module, t)
                ok = ok and got <= limit(module) and abs(got - recomputed(F, module, t)) <= 1e-9
            top = logit(aligned, 1e4 * x0)
            ok = ok and top <= limit(aligned) and top >= limit(aligned) * (1 - 1e-6)
            base = logit(plain, x0)
            for t in (10.0, 100.0):
                ok = ok and abs(logit(plain, t * x0) / base - t**2) <= 1e-9 * t**2
        return ok

    return for_each_implementation(holds)


# --- DyT -----------------------------------------------------------------------------------------

Entry = Callable[[sp.Expr, sp.Expr], sp.Expr]  # (index, alpha) -> output entry
_ALPHA_I = sp.IndexedBase("alpha")  # a per-feature alpha (wrong)


def _dyt_holds(entry: Entry) -> bool:
    """Affine in gain and bias (dy_i/dbeta_i = 1, y_i - beta_i = gamma_i z_i); z_i depends on x_i
    only (n = 4: dz_i/dx_j = 0 for j != i, a diagonal Jacobian; symbolic n through the sums);
    z_i = 0 at x_i = 0 and dz_i/dx_i = alpha (1 - z_i^2) with one scalar alpha. The last two
    determine z_i = tanh(alpha x_i) (the solution of that initial value problem is unique)."""
    y_i = entry(i, pl.alpha)
    if not equal(sp.diff(y_i, pl.beta[i]), sp.Integer(1)):
        return False
    unit = y_i.xreplace({pl.beta[i]: 0})
    z_i = sp.diff(unit, pl.gamma[i])
    if not equal(unit, pl.gamma[i] * z_i, sp.cancel) or z_i.has(pl.gamma, pl.beta):
        return False
    for row in range(1, 5):
        z_row = z_i.xreplace({i: row})
        for col in range(1, 5):
            if col != row and not is_zero(sp.diff(z_row, x[col]), sp.cancel, sums=True):
                return False
    if not is_zero(z_i.xreplace({x[i]: 0}), sp.cancel, sums=True):
        return False
    slope = sp.diff(z_i, x[i]) - pl.alpha * (1 - z_i**2)
    return is_zero(slope, sp.expand, sums=True)


def _dyt_numeric(entry: Entry) -> bool:
    """The entry formula (SymPy, 30 digits) against our DynamicTanh and gamma torch.tanh(alpha x)
    + beta at alpha = 0.7 with seeded gain and bias; DynamicTanh starts at alpha = 0.5 (the
    official code's alpha_init_value) with gamma = 1, beta = 0; autograd's Jacobian of
    DynamicTanh is diagonal."""
    from verified_transformer.nn.variants import DynamicTanh

    width, value = 6, 0.7
    rows, gain, bias = randn(3, width, seed=104) * 2, randn(width, seed=105), randn(width, seed=106)
    exprs = [entry(sp.Integer(t), pl.alpha) for t in range(1, width + 1)]
    expected = torch.stack(
        [
            evaluate(
                exprs,
                {n: width},
                {x: row.tolist(), pl.gamma: gain.tolist(), pl.beta: bias.tolist()},
                {pl.alpha: value},
            )
            for row in rows
        ]
    )
    module = DynamicTanh(width, alpha_init=value, dtype=DTYPE)
    with torch.no_grad():
        module.weight.copy_(gain)
        module.bias.copy_(bias)
        ours = module(rows)
    fresh = DynamicTanh(width, dtype=DTYPE)
    with torch.no_grad():
        starts = float(fresh.alpha) == 0.5 and bool((fresh.weight == 1).all())
        starts = starts and not bool(fresh.bias.any())
    jac = autograd_jacobian(module, rows[0])
    diagonal = torch.equal(jac, torch.diag(torch.diagonal(jac)))
    theirs = gain * torch.tanh(value * rows) + bias
    return close(ours, expected) and close(theirs, expected) and starts and diagonal


def _dyt_gain_inside(index: sp.Expr, scale: sp.Expr) -> sp.Expr:
    return sp.tanh(scale * pl.gamma[index] * x[index]) + pl.beta[index]


def _dyt_without_alpha(index: sp.Expr, scale: sp.Expr) -> sp.Expr:
    return pl.gamma[index] * sp.tanh(x[index]) + pl.beta[index]


def _dyt_alpha_per_feature(index: sp.Expr, scale: sp.Expr) -> sp.Expr:
    return pl.gamma[index] * sp.tanh(_ALPHA_I[index] * x[index]) + pl.beta[index]


def _dyt_centered(index: sp.Expr, scale: sp.Expr) -> sp.Expr:
    return pl.gamma[index] * sp.tanh(scale * (x[index] - ln.mean())) + pl.beta[index]


# --- DyT's row of Table 1 ------------------------------------------------------------------------

Row = tuple[bool, ...]


def _row_holds(row: Row) -> bool:
    """Equal to :func:`derive.placements.dyt_invariance_row` (alpha = 1/2): each entry proved by a
    zero polynomial or refuted by exact rationals where the tanh values differ."""
    return tuple(row) == pl.dyt_invariance_row()


def _row_numeric(row: Row) -> bool:
    """The six entries in float64 (6 cases, 5 units, 4 inputs, as layernorm.invariance_table):
    our DynamicTanh (alpha = 0.5, seeded gain and bias) and gamma torch.tanh(alpha a) + beta of
    the summed inputs a = x W^T, before and after each transformation."""
    from verified_transformer.nn.variants import DynamicTanh

    xs, w, moves = table_1_moves()
    units = w.shape[0]
    module = DynamicTanh(units, dtype=DTYPE)
    gain, bias = randn(units, seed=107), randn(units, seed=108)
    with torch.no_grad():
        module.weight.copy_(gain)
        module.bias.copy_(bias)
    functions = (module, lambda a: gain * torch.tanh(0.5 * a) + bias)
    with torch.no_grad():
        for f in functions:
            base = f(xs @ w.T)
            got = tuple(
                close(f(x2 @ w2.T), base, atol=1e-9)
                for x2, w2 in (moves[t] for t in ln.TRANSFORMATIONS)
            )
            if got != tuple(row):
                return False
    return True


def _flipped_row(transformation: str) -> Row:
    entries = list(pl.dyt_invariance_row())
    at = ln.TRANSFORMATIONS.index(transformation)
    entries[at] = not entries[at]
    return tuple(entries)


_LN_ROW = ln.PUBLISHED_TABLE_1["layer norm"]
_RMS_ROW = (True, False, False, True, False, True)  # recomputed in layernorm.invariance_table

# --- nGPT ----------------------------------------------------------------------------------------

Update = Callable[[Any, Callable, Any, Callable], Any]  # (h, branch, alpha, Norm) -> new h
_W = sp.Matrix(sp.symbols("w1:4", real=True))  # what the branch returns, any vector
_H = pl.unit(_V)  # a point of the unit sphere
_RATES = sp.Matrix(sp.symbols("alpha1:4", positive=True))


def _ngpt_holds(update: Update) -> bool:
    """n = 3, h = v/||v|| (symbolic v), the branch returning any w (symbolic), Norm = x/||x||:
    the output has unit norm (symbolic alpha); alpha = 0 gives h, alpha = 1 gives h_B =
    Norm(w); alpha = 1/2 bisects the angle (equal dot products with h and h_B); with Norm left
    out, dy_i/dalpha_j = delta_ij (w - h)_i (alpha acts per coordinate)."""

    def branch(_: Any) -> sp.Matrix:
        return _W

    rate = sp.Symbol("alpha", positive=True)
    out = update(_H, branch, rate, pl.unit)
    if not equal(sum(e**2 for e in out), sp.Integer(1), sp.cancel):
        return False
    target = pl.unit(_W)
    if not matrices_equal(update(_H, branch, sp.Integer(0), pl.unit), _H, sp.cancel):
        return False
    if not matrices_equal(update(_H, branch, sp.Integer(1), pl.unit), target, sp.cancel):
        return False
    half = update(_H, branch, sp.Rational(1, 2), pl.unit)
    if not equal(half.dot(_H), half.dot(target), sp.cancel):
        return False
    linear = sp.Matrix(update(_H, branch, _RATES, _same))
    expected = sp.diag(*(_W - _H))
    return matrices_equal(linear.jacobian(_RATES), expected, sp.cancel)


def _ngpt_numeric(update: Update) -> bool:
    """Float64, d = 8, 5 tokens: the official code's step (NVIDIA/ngpt model.py Block.forward,
    justnorm as torch.nn.functional.normalize: res = A + alpha (B - A), h = justnorm(res)) with a
    seeded branch tanh(h W) and per-coordinate alpha, against the candidate with Norm = x/||x||;
    the outputs have unit norm."""
    width = 8
    h = torch.nn.functional.normalize(randn(5, width, seed=109), dim=-1)
    weight = randn(width, width, seed=110)
    rates = randn(width, seed=111).abs() / 4

    def branch(t: torch.Tensor) -> torch.Tensor:
        return torch.tanh(t @ weight)

    def norm(t: torch.Tensor) -> torch.Tensor:
        return t / t.pow(2).sum(-1, keepdim=True).sqrt()

    def justnorm(t: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.normalize(t, p=2.0, dim=-1)

    a_norm, b_norm = justnorm(h), justnorm(branch(h))
    official = justnorm(a_norm + rates * (b_norm - a_norm))
    got = update(h, branch, rates, norm)
    ones = torch.ones(5, dtype=DTYPE)
    return close(got, official) and close(got.pow(2).sum(-1), ones)


def _ngpt_no_outer_norm(h: Any, branch: Callable, rate: Any, norm: Callable) -> Any:
    return h + pl.hadamard(rate, norm(branch(h)) - h)


def _ngpt_added(h: Any, branch: Callable, rate: Any, norm: Callable) -> Any:
    return norm(h + pl.hadamard(rate, norm(branch(h))))


def _ngpt_unnormalized_branch(h: Any, branch: Callable, rate: Any, norm: Callable) -> Any:
    return norm(h + pl.hadamard(rate, branch(h) - h))


# --- Mix-LN --------------------------------------------------------------------------------------

_SHARES = (sp.Rational(1, 4), sp.Rational(1, 3), sp.Rational(1, 2), sp.Rational(3, 4))
# The official runs (pixeli99/MixLN README and configs): POST_NUM Post-LN layers of L.
_OFFICIAL_RUNS = ((12, 3), (24, 6))


def _official_rule(layer_index: int, post_num: int) -> str:
    """pixeli99/MixLN modeling_llama.py, norm_type "post_pre": a layer whose 0-based index is
    below POST_NUM is Post-LN, the others Pre-LN."""
    return pl.POST if layer_index < post_num else pl.PRE


def _mixln_holds(layout: pl.Layout) -> bool:
    """For L = 1..64 and alpha in {1/4, 1/3, 1/2, 3/4}: the Post-LN layers come first (a
    prefix), their number m is the largest whose share of the layers does not exceed alpha
    (m <= alpha L < m + 1), and the layout is the official code's rule with POST_NUM = m; at
    alpha = 1/4 the official runs' counts (3 of 12, 6 of 24) come out."""
    for share in _SHARES:
        for depth in range(1, 65):
            got = pl.placements(layout, depth, share)
            count = got.count(pl.POST)
            if got != [pl.POST] * count + [pl.PRE] * (depth - count):
                return False
            if not count <= share * depth < count + 1:
                return False
            if got != [_official_rule(t, count) for t in range(depth)]:
                return False
    quarter = sp.Rational(1, 4)
    return all(
        pl.placements(layout, depth, quarter).count(pl.POST) == post
        for depth, post in _OFFICIAL_RUNS
    )


def _mixln_numeric(layout: pl.Layout) -> bool:
    """L = 10 of our Blocks (alpha = 1/4, LayerNorm, seeded, float64) built from the layout: the
    first 2 (alpha L = 2.5) have placement "post", the rest "pre"; each equals
    nn.TransformerEncoderLayer(norm_first=(placement == "pre"), activation="gelu", causal mask)
    loaded with its weights, ours and torch's, and so does the stack."""
    from verified_transformer.nn.variants import Block

    depth, names = 10, {pl.POST: "post", pl.PRE: "pre"}
    wanted = [names[p] for p in pl.placements(layout, depth, sp.Rational(1, 4))]
    blocks = [
        randomize(Block(D_MODEL, HEADS, D_FF, placement=p, norm="layer", dtype=DTYPE), 112 + t)
        for t, p in enumerate(wanted)
    ]
    x = randn(2, TOKENS, D_MODEL, seed=120)
    mask = _causal(TOKENS)
    expected = ["post"] * 2 + ["pre"] * 8

    def layer_of(nn: ModuleType, block: torch.nn.Module) -> torch.nn.Module:
        layer = nn.TransformerEncoderLayer(
            D_MODEL,
            HEADS,
            D_FF,
            dropout=0.0,
            activation="gelu",
            batch_first=True,
            norm_first=block.placement == "pre",
            dtype=DTYPE,
        ).eval()
        attn = block.self_attn
        with torch.no_grad():
            layer.self_attn.in_proj_weight.copy_(
                torch.cat([attn.q_proj.weight, attn.k_proj.weight, attn.v_proj.weight])
            )
            layer.self_attn.in_proj_bias.copy_(
                torch.cat([attn.q_proj.bias, attn.k_proj.bias, attn.v_proj.bias])
            )
            for name in ("out_proj.weight", "out_proj.bias"):
                layer.self_attn.get_parameter(name).copy_(attn.get_parameter(name))
            for name in ("linear1", "linear2", "norm1", "norm2"):
                for p, q in zip(
                    getattr(layer, name).parameters(),
                    getattr(block, name).parameters(),
                    strict=True,
                ):
                    p.copy_(q)
        return layer

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        if [b.placement for b in blocks] != expected:
            return False
        ours, theirs, ok = x, x, True
        for block in blocks:
            layer = layer_of(nn, block)
            ok = ok and close(block(ours), layer(ours, src_mask=mask, is_causal=True))
            ours, theirs = block(ours), layer(theirs, src_mask=mask, is_causal=True)
        return ok and close(ours, theirs)

    return for_each_implementation(holds)


# --- displays: generated from the formulas the checks consume -------------------------------------

_XL, _XNEXT, _Y, _X = sp.Symbol("x_l"), sp.Symbol("x_{l+1}"), sp.Symbol("y"), sp.Symbol("x")
F_, SA, FFN = sp.Function("F"), sp.Function("SA"), sp.Function("FFN")
N_IN, N_OUT, N_ = sp.Function("N_in"), sp.Function("N_out"), sp.Function("N")
N_1, N_1OUT, N_2, N_2OUT = (sp.Function(s) for s in ("N_1", "N_1out", "N_2", "N_2out"))


def _placement_display(
    out_name: sp.Function, norms: tuple[sp.Function, ...]
) -> Callable[[Sublayer], tuple[str, ...]]:
    def render(sublayer: Sublayer) -> tuple[str, ...]:
        first = sublayer(_X, SA, norms[0], norms[1])
        out = sublayer(_Y, FFN, norms[2], norms[3])
        return (
            rf"x_{{l+1}} = {latex(sublayer(_XL, F_, N_IN, out_name))}",
            rf"y = {latex(first)},\quad \mathrm{{out}} = {latex(out)}",
        )

    return render


def _growth_display(growth: Growth) -> tuple[str, ...]:
    f = sp.IndexedBase("f")
    return (
        rf"x_L = x_0 + {latex(sp.Sum(f[pl.ell], (pl.ell, 1, pl.L)))},\quad "
        rf"\operatorname{{Var}}(x_L) = {latex(growth(pl.s2, pl.v, pl.L))}",
        r"\operatorname{Var}(x_0) = s^2,\ \operatorname{Var}(f_l) = v,\ "
        r"x_0, f_1, \dots, f_L\ \text{pairwise uncorrelated, mean } 0",
    )


_GMAX = sp.Symbol(r"\max_i |g_i|")
_RMS0 = sp.Symbol(r"\mathrm{RMS}(x_0)")


def _increment_display(bound: Bound) -> tuple[str, ...]:
    limit = bound(_GMAX, n)
    entry = pl.g[i] * pl.y[i] / sp.sqrt(pl.M + eps)
    return (
        rf"\mathrm{{RMS}}\left(N_{{\mathrm{{out}}}}(y)\right) \le {latex(limit)}"
        r"\quad\text{for every } y",
        rf"\mathrm{{RMS}}(x_L) \le {latex(_RMS0 + pl.L * limit)}",
        rf"N_{{\mathrm{{out}}}}(y)_i = {latex(entry)},\quad "
        rf"\mathrm{{RMS}}\left(\frac{{y}}{{\sqrt{{M + \epsilon}}}}\right)^2 = "
        rf"{latex(pl.rms_ratio())} < 1",
    )


_D_TIMES_RATIO = sp.Mul(pl.d, pl.rms_ratio(), evaluate=False)
_GQ, _GK = sp.Symbol(r"\max_i |g_{q,i}|"), sp.Symbol(r"\max_j |g_{k,j}|")


def _logit_display(bound: LogitBound) -> tuple[str, ...]:
    return (
        rf"\frac{{|\hat q \cdot \hat k|}}{{\sqrt{{d}}}} \le {latex(bound(_GQ, _GK, pl.d))}",
        r"\hat q = g_q \odot \mathrm{RMSNorm}(q),\quad \hat k = g_k \odot \mathrm{RMSNorm}(k)",
        rf"\lVert \mathrm{{RMSNorm}}(q)\rVert_2^2 = {latex(_D_TIMES_RATIO)} \le d",
    )


def _dyt_display(entry: Entry) -> tuple[str, ...]:
    return (
        rf"\mathrm{{DyT}}(x)_i = {latex(entry(i, pl.alpha))}",
        rf"\frac{{\partial\, \mathrm{{DyT}}(x)_i}}{{\partial x_j}} = "
        rf"{latex(sp.diff(entry(i, pl.alpha), x[j]))}",
    )


def _row_display(row: Row) -> tuple[str, ...]:
    rows = [
        rf"\text{{{t}}} & " + (r"\checkmark" if row[r] else "-")
        for r, t in enumerate(ln.TRANSFORMATIONS)
    ]
    body = r" \\ ".join([r" & \text{DyT}", *rows])
    return (
        r"\begin{array}{l|c}" + body + r"\end{array}",
        rf"\mathrm{{DyT}}(a)_i = {latex(pl.dyt_entry(i).xreplace({x[i]: sp.IndexedBase('a')[i]}))}"
        r",\ \alpha\ \text{fixed},\ a = x W^\top",
    )


_NORM_OF_X = sp.Symbol(r"\lVert x \rVert_2")


def _ngpt_display(update: Update) -> tuple[str, ...]:
    h, rate_a, rate_m = sp.Symbol("h"), sp.Symbol(r"\alpha_A \odot"), sp.Symbol(r"\alpha_M \odot")
    norm, attn, mlp = sp.Function("Norm"), sp.Function("Attn"), sp.Function("MLP")
    h_a, h_m = sp.Symbol("h_A"), sp.Symbol("h_M")
    shown_a = update(h, attn, rate_a, norm).xreplace({norm(attn(h)): h_a})
    shown_m = update(h, mlp, rate_m, norm).xreplace({norm(mlp(h)): h_m})
    return (
        rf"h \leftarrow {latex(shown_a)},\quad h_A = {latex(norm(attn(h)))}",
        rf"h \leftarrow {latex(shown_m)},\quad h_M = {latex(norm(mlp(h)))}",
        rf"\mathrm{{Norm}}(x) = {latex(_X / _NORM_OF_X)}",
    )


def _mixln_display(layout: pl.Layout) -> tuple[str, ...]:
    count, (first, rest) = layout
    cut = latex(count(sp.Symbol("L"), sp.Symbol("alpha")))
    return (
        rf"l \le {cut}:\ \text{{{first}}},\qquad l > {cut}:\ \text{{{rest}}}"
        r"\qquad (l = 1, \dots, L)",
    )


CLAIMS = (
    Claim(
        id="periln.definition",
        kind="definition",
        render=_placement_display(N_OUT, (N_1, N_1OUT, N_2, N_2OUT)),
        source=KIM,
        scope="n = 3 (RMSNorms, linear F, symbolic entries); layer with d_model = 4",
        proof="checked",
        formula=pl.peri_ln_sublayer,
        symbolic=_peri_holds,
        wrong={
            "Pre-LN (no output norm)": _pre_ln,
            "Post-LN": _post_ln,
            "output norm after the addition": _norm_after_addition,
            "output norm only (OLMo 2)": pl.output_norm_sublayer,
        },
        numeric=_block_numeric("peri"),
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
        id="outputnorm.definition",
        kind="definition",
        render=_placement_display(N_, (N_1, N_1, N_2, N_2)),
        source=OLMO,
        scope="n = 3 (RMSNorms, linear F, symbolic entries); layer with d_model = 4",
        proof="checked",
        formula=pl.output_norm_sublayer,
        symbolic=_output_holds,
        wrong={
            "Pre-LN (norm on the input)": _pre_ln,
            "Post-LN (norm after the addition)": _post_ln,
            "Peri-LN (input norm too)": pl.peri_ln_sublayer,
        },
        numeric=_block_numeric("output"),
        compared=("torch.nn.MultiheadAttention", "torch.nn.RMSNorm"),
        note="OLMo 2's reordered norm: the output half of Peri-LN, without the input norm; Swin "
        "Transformer V2's res-post-norm is the same placement. Checked as Peri-LN is, except "
        "that the sub-layer reads the stream itself (its increment scales with the stream "
        'before the norm). Numerically: our Block(placement="output").',
    ),
    Claim(
        id="preln.stream_variance_growth",
        kind="identity",
        render=_growth_display,
        source=KIM,
        origin="derived",
        builds_on=(XIONG,),
        scope="symbolic L, s^2 and v; exact enumeration for L = 1..10",
        formula=pl.stream_variance_growth,
        symbolic=_growth_holds,
        wrong={
            "s^2 + L^2 v (fully correlated increments)": lambda s, var, depth: s + depth**2 * var,
            "s^2 (no growth)": lambda s, var, depth: s,
            "s^2 v^L": lambda s, var, depth: s * var**depth,
        },
        numeric=_growth_numeric,
        compared=("torch.nn.RMSNorm",),
        note="A Pre-LN branch ends in a sub-layer after a norm, so its scale does not follow the "
        "stream's and the variances add up: the stream grows like L. Numerically each increment "
        "is a sign times an RMSNorm of the stream (uncorrelated, not independent of it). Post-LN "
        "instead renormalizes the stream after every sub-layer: each token then has mean 0 and "
        "mean square sigma^2/(sigma^2+eps) < 1 ({ref}`layernorm.moments "
        "<claim-layernorm-moments>`).",
    ),
    Claim(
        id="periln.increment_bound",
        kind="bound",
        render=_increment_display,
        source=KIM,
        origin="derived",
        scope="symbolic n, M >= 0 and eps > 0; attained for n = 1..8",
        formula=pl.rms_increment_bound,
        symbolic=_increment_bound_holds,
        wrong={
            "max|g| / sqrt(n)": lambda gain, size: gain / sp.sqrt(size),
            "max|g| / 2": lambda gain, size: gain / 2,
        },
        numeric=_increment_numeric,
        compared=("torch.nn.RMSNorm",),
        note="Whatever a sub-layer outputs, RMSNorm scales it to mean square M/(M+eps) < 1, so "
        "with an output norm each increment has RMS at most max|g| and the stream grows at most "
        "linearly (triangle inequality for the RMS). Both variants fail on an input of equal "
        "entries 10^6 (and on a large one-hot input numerically); Pre-LN blocks with the same "
        "adversarial weights exceed the stream bound.",
    ),
    Claim(
        id="qknorm.logit_bound",
        kind="bound",
        render=_logit_display,
        source="henry2020query",
        origin="derived",
        builds_on=("dehghani2023scaling", "wortsman2024small"),
        scope="symbolic d; attained for d = 1, 2, 4, 16, 64",
        formula=pl.qk_logit_bound,
        symbolic=_logit_bound_holds,
        wrong={
            "max|g_q| max|g_k| (without sqrt(d))": lambda gq, gk, size: gq * gk,
            "max|g_q| max|g_k| / sqrt(d)": lambda gq, gk, size: gq * gk / sp.sqrt(size),
        },
        numeric=_logit_numeric,
        compared=("torch.nn.functional.rms_norm",),
        note="Per-head RMSNorm of queries and keys with gains, as in Qwen3 and Gemma 3 (OLMo 2 "
        "normalizes all heads together). Aligned q = k with equal gains attain the bound up to "
        "eps, which rejects both variants. Without QK-norm the largest logit of t x is t^2 times "
        "that of x, so no bound independent of the input holds.",
    ),
    Claim(
        id="dyt.definition",
        kind="definition",
        render=_dyt_display,
        source="zhu2025transformers",
        scope="symbolic n (diagonal Jacobian checked at n = 4)",
        proof="checked",
        formula=pl.dyt_entry,
        symbolic=_dyt_holds,
        wrong={
            "tanh(x) without alpha": _dyt_without_alpha,
            "gain inside: tanh(alpha gamma_i x_i) + beta_i": _dyt_gain_inside,
            "alpha per feature": _dyt_alpha_per_feature,
            "centered: tanh(alpha (x_i - mu))": _dyt_centered,
        },
        numeric=_dyt_numeric,
        compared=("torch.tanh",),
        note="alpha is one learnable scalar per layer, 0.5 at initialization in the official "
        "code (alpha_init_value, used for the non-LLM tasks; its LLaMA runs set other values). "
        "DyT computes no statistic over the features: each entry is squashed on its own, so "
        "its Jacobian is diagonal, unlike LayerNorm's.",
    ),
    Claim(
        id="dyt.invariance_row",
        kind="identity",
        render=_row_display,
        source="zhu2025transformers",
        origin="derived",
        builds_on=("ba2016layer",),
        scope="N = 3 cases, H = 3 units, D = 2 inputs; symbolic entries, alpha = 1/2",
        formula=(False,) * 6,
        symbolic=_row_holds,
        wrong={
            "the LayerNorm row": _LN_ROW,
            "the RMSNorm row": _RMS_ROW,
            "invariant to dataset re-scaling": _flipped_row("dataset re-scaling"),
        },
        numeric=_row_numeric,
        compared=("torch.tanh",),
        note="Computed, not assumed: each transformation changes the summed inputs (a nonzero "
        "polynomial), and exact rationals are found where the tanh values differ. With no "
        "statistic to divide by, DyT keeps none of the invariances LayerNorm has; re-scaling "
        "its input by delta acts as multiplying alpha by delta, which training can adjust.",
    ),
    Claim(
        id="ngpt.update",
        kind="definition",
        render=_ngpt_display,
        source="loshchilov2025ngpt",
        scope="n = 3 (symbolic h on the unit sphere, branch output and alpha); d = 8 numerically",
        proof="checked",
        formula=pl.ngpt_update,
        symbolic=_ngpt_holds,
        wrong={
            "no outer Norm": _ngpt_no_outer_norm,
            "Norm(h + alpha h_A)": _ngpt_added,
            "branch output not normalized": _ngpt_unnormalized_branch,
        },
        numeric=_ngpt_numeric,
        compared=("torch.nn.functional.normalize",),
        ours=False,
        note="nGPT has no LayerNorm: hidden states stay on the unit sphere and each sub-layer "
        "moves them towards its normalized output by per-coordinate rates alpha (0.05 at "
        "initialization in the official code). We have no nGPT module: the numeric check "
        "transcribes the official code's step.",
    ),
    Claim(
        id="mixln.layout",
        kind="definition",
        render=_mixln_display,
        source="li2025mixln",
        scope="L = 1..64, alpha = 1/4, 1/3, 1/2, 3/4; L = 10 blocks",
        proof="checked",
        formula=pl.MIXLN_LAYOUT,
        symbolic=_mixln_holds,
        wrong={
            "ceil(alpha L) Post-LN layers": (
                lambda depth, share: sp.ceiling(share * depth),
                pl.MIXLN_ORDER,
            ),
            "Pre-LN first": (pl.mixln_post_count, (pl.PRE, pl.POST)),
        },
        numeric=_mixln_numeric,
        compared=("torch.nn.TransformerEncoderLayer",),
        note="Checked against the official code (pixeli99/MixLN, norm_type post_pre: the layers "
        "with 0-based index below POST_NUM are Post-LN). The code takes the number of Post-LN "
        "layers, not alpha; alpha = 0.25 is inferred from the README's runs (3 of 12 layers, "
        "6 of 24), not read in the paper, and floor(alpha L) is our reading for other L.",
    ),
)
