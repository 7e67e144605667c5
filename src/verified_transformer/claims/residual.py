"""Claims about residual connections, Post-LN / Pre-LN layers, scaled initialization, Admin,
DeepNorm and ReZero."""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import sympy as sp
import torch
from torch.autograd.functional import jacobian as autograd_jacobian

from verified_transformer.claims.ledger import Claim
from verified_transformer.claims.numeric import (
    DTYPE,
    close,
    for_each_implementation,
    randn,
    randomize,
    to_sympy,
    to_tensor,
    twin,
)
from verified_transformer.derive import layernorm as ln
from verified_transformer.derive import residual as rs
from verified_transformer.derive.exact import equal, is_zero, matrices_equal, sqrt_ratios_equal

D_MODEL, HEADS, D_FF, TOKENS = 4, 2, 8, 3


def encoder_layer(
    nn: ModuleType, norm_first: bool, seed: int, bias: bool = True
) -> torch.nn.Module:
    """``nn.TransformerEncoderLayer`` (batch_first, eval mode) with torch's seeded weights."""
    kwargs = {"dim_feedforward": D_FF, "batch_first": True, "norm_first": norm_first, "bias": bias}
    reference = randomize(torch.nn.TransformerEncoderLayer(D_MODEL, HEADS, **kwargs), seed)
    return twin(reference, nn.TransformerEncoderLayer(D_MODEL, HEADS, **kwargs))


def sublayers(layer: torch.nn.Module) -> tuple[Callable, Callable]:
    """``SA(t) = self_attn(t, t, t)`` and ``FFN(t) = linear2(activation(linear1(t)))`` (eval)."""

    def sa(t: torch.Tensor) -> torch.Tensor:
        return layer.self_attn(t, t, t, need_weights=False)[0]

    def ffn(t: torch.Tensor) -> torch.Tensor:
        return layer.linear2(layer.activation(layer.linear1(t)))

    return sa, ffn


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


def _unrolled_numeric(candidate: Unrolled) -> bool:
    """A 2-layer Pre-LN TransformerEncoder equals x plus its four branch outputs."""
    x = randn(2, TOKENS, D_MODEL, seed=60)

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        kwargs = {"dim_feedforward": D_FF, "batch_first": True, "norm_first": True}
        reference = randomize(
            torch.nn.TransformerEncoder(
                torch.nn.TransformerEncoderLayer(D_MODEL, HEADS, **kwargs),
                2,
                enable_nested_tensor=False,
            ),
            seed=61,
        )
        encoder = twin(
            reference,
            nn.TransformerEncoder(
                nn.TransformerEncoderLayer(D_MODEL, HEADS, **kwargs), 2, enable_nested_tensor=False
            ),
        )
        h, increments = x, []
        for layer in encoder.layers:
            sa, ffn = sublayers(layer)
            for branch in (
                lambda t, sa=sa, layer=layer: sa(layer.norm1(t)),
                lambda t, ffn=ffn, layer=layer: ffn(layer.norm2(t)),
            ):
                increments.append(branch(h))
                h = h + increments[-1]
        return close(candidate(x, increments), encoder(x))

    return for_each_implementation(holds)


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


def _paths_numeric(product: Product) -> bool:
    """Jacobian of a Pre-LN layer (autograd) = product of (I + J_i) of its two sub-layers."""
    x = randn(2, D_MODEL, seed=62)
    size = x.numel()
    eye = sp.eye(size)

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        layer = encoder_layer(nn, True, seed=63)
        sa, ffn = sublayers(layer)
        f1 = lambda t: sa(layer.norm1(t[None]))[0]  # noqa: E731
        f2 = lambda t: ffn(layer.norm2(t))  # noqa: E731
        h1 = x + f1(x)
        j1 = autograd_jacobian(f1, x).reshape(size, size)
        j2 = autograd_jacobian(f2, h1).reshape(size, size)
        total = autograd_jacobian(lambda t: layer(t[None])[0], x).reshape(size, size)
        got = product([to_sympy(j1), to_sympy(j2)], eye)
        return close(torch.tensor(sp.Matrix(got).tolist(), dtype=DTYPE), total)

    return for_each_implementation(holds)


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


def _gradient_numeric(candidate: Gradient) -> bool:
    """Pre-LN layer: autograd gradient = candidate(g, J_branches, I); with the branch outputs
    zeroed it is g itself, while a zeroed Post-LN layer still multiplies g by LN's Jacobian."""
    x, g = randn(2, D_MODEL, seed=64), randn(2 * D_MODEL, seed=65)
    size = x.numel()

    def gradient(layer: torch.nn.Module) -> torch.Tensor:
        v = x.clone().requires_grad_(True)
        (layer(v[None])[0].reshape(-1) @ g).backward()
        return v.grad.reshape(-1)

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        layer = encoder_layer(nn, True, seed=66)
        branches = autograd_jacobian(lambda t: layer(t[None])[0] - t, x).reshape(size, size)
        expected = candidate(to_sympy(g).T, to_sympy(branches), sp.eye(size))
        ok = close(gradient(layer), torch.tensor(sp.Matrix(expected).tolist(), dtype=DTYPE)[0])
        for norm_first in (True, False):
            layer = encoder_layer(nn, norm_first, seed=67)
            with torch.no_grad():
                for p in (
                    layer.self_attn.out_proj.weight,
                    layer.self_attn.out_proj.bias,
                    layer.linear2.weight,
                    layer.linear2.bias,
                ):
                    p.zero_()
            identity = close(gradient(layer), g)
            ok = ok and identity == norm_first
        return ok

    return for_each_implementation(holds)


# --- Post-LN and Pre-LN --------------------------------------------------------------------------

SA, FFN, LN1, LN2 = (sp.Function(name) for name in ("SA", "FFN", "LN_1", "LN_2"))
_x = sp.Symbol("x")
_y_post = LN1(_x + SA(_x))
POST_LN_REFERENCE = LN2(_y_post + FFN(_y_post))  # Xiong et al. (2020), Figure 1 / Table 1
_y_pre = _x + SA(LN1(_x))
PRE_LN_REFERENCE = _y_pre + FFN(LN2(_y_pre))

Composition = Callable[..., object]  # (x, sa, ffn, ln1, ln2) -> output


def _explicit_vector(size: int = 3) -> sp.Matrix:
    return sp.Matrix(sp.symbols(f"v1:{size + 1}", real=True))


def _layer_norm_matrix(v: sp.Matrix) -> sp.Matrix:
    return ln.layer_norm(list(v), ln.eps)


def _post_ln_holds(compose: Composition) -> bool:
    """Same expression tree as Post-LN, and its output has mean 0 whatever the branches are
    (symbolic linear branches, n = 3)."""
    if compose(_x, SA, FFN, LN1, LN2) != POST_LN_REFERENCE:
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
    """Same expression tree as Pre-LN, and with both branches zero the layer is the identity
    (explicit LayerNorms, n = 3)."""
    if compose(_x, SA, FFN, LN1, LN2) != PRE_LN_REFERENCE:
        return False
    v = _explicit_vector()
    zero = lambda t: sp.zeros(*t.shape)  # noqa: E731
    out = compose(v, zero, zero, _layer_norm_matrix, _layer_norm_matrix)
    return matrices_equal(out, v, sp.cancel)


def _composition_numeric(norm_first: bool) -> Callable[[Composition], bool]:
    """The composition of the layer's own submodules equals the layer (eval mode), ours and
    torch's."""

    def numeric(compose: Composition) -> bool:
        x = randn(2, TOKENS, D_MODEL, seed=68)

        def holds(F: ModuleType, nn: ModuleType) -> bool:
            layer = encoder_layer(nn, norm_first, seed=69)
            sa, ffn = sublayers(layer)
            return close(compose(x, sa, ffn, layer.norm1, layer.norm2), layer(x))

        return for_each_implementation(holds)

    return numeric


def _norm_once_at_end(x: Any, sa: Callable, ffn: Callable, ln1: Callable, ln2: Callable) -> Any:
    y = x + sa(x)
    return ln2(y + ffn(y))


def _normalized_stream(x: Any, sa: Callable, ffn: Callable, ln1: Callable, ln2: Callable) -> Any:
    y = ln1(x) + sa(ln1(x))
    return y + ffn(ln2(y))


# --- identity path through Pre-LN, none through Post-LN -----------------------------------------

Sublayer = Callable[[Any, Any, Any], Any]  # (J_F, N_LN, I) -> Jacobian of one sub-layer
Step = Callable[[sp.Matrix, sp.Matrix, sp.Matrix], sp.Matrix]  # (state, A, B) -> next state


def _path_terms(sublayer: Sublayer, depth: int) -> tuple[tuple[sp.Expr, ...], list[sp.Symbol]]:
    """Terms of the expanded product over ``depth`` sub-layers (non-commuting J_l, N_l)."""
    js, ns = rs.noncommutative_jacobians(depth), rs.noncommutative_norm_jacobians(depth)
    product = rs.stack_jacobian(sublayer, js, ns, sp.Integer(1))
    return sp.Add.make_args(sp.expand(product)), ns


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
        terms, ns = _path_terms(sublayer, depth)
        js = rs.noncommutative_jacobians(depth)
        paths = rs.path_products([j * m for j, m in zip(js, ns, strict=True)])
        if len(terms) != 2**depth or set(terms) != paths:
            return False
    return _chain_rule_holds(sublayer, lambda t, a_map, b_map: t + a_map * (b_map * t))


def _no_identity_path_holds(sublayer: Sublayer) -> bool:
    """L = 1..4: 2^L terms, none is 1 and every one contains every N_l; chain rule of
    ``B(x + Ax)``."""
    for depth in range(1, 5):
        terms, ns = _path_terms(sublayer, depth)
        if len(terms) != 2**depth or any(t == 1 or not all(t.has(m) for m in ns) for t in terms):
            return False
    return _chain_rule_holds(sublayer, lambda t, a_map, b_map: b_map * (t + a_map * t))


def _stack_numeric(norm_first: bool) -> Callable[[Sublayer], bool]:
    """Two encoder layers (d_model = 4, 2 tokens), ours and torch's: the candidate's product of
    the four sub-layers' Jacobians (J_F, N_LN from autograd) is autograd's Jacobian of the stack,
    with seeded weights and with every branch output zeroed (out_proj, linear2). Zeroed, the
    Pre-LN stack's Jacobian is exactly I; the Post-LN one is the product of LayerNorm Jacobians,
    not I."""

    def numeric(sublayer: Sublayer) -> bool:
        x = randn(1, 2, D_MODEL, seed=77)
        eye = torch.eye(x.numel(), dtype=DTYPE)

        def holds(F: ModuleType, nn: ModuleType) -> bool:
            ok = True
            for zeroed in (False, True):
                layers = [encoder_layer(nn, norm_first, seed=s) for s in (78, 79)]
                if zeroed:
                    _zero_branches(layers)
                branches, norms, total = _sublayer_jacobians(layers, norm_first, x)
                product = rs.stack_jacobian(
                    sublayer,
                    [to_sympy(j) for j in branches],
                    [to_sympy(m) for m in norms],
                    sp.eye(x.numel()),
                )
                ok = ok and close(to_tensor(product), total)
                if zeroed:
                    ok = ok and (torch.equal(total, eye) if norm_first else not close(total, eye))
            return ok

        return for_each_implementation(holds)

    return numeric


def _sublayer_jacobians(
    layers: Sequence[torch.nn.Module], norm_first: bool, x: torch.Tensor
) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
    """Autograd Jacobians J_F and N_LN of every sub-layer along the forward pass, and of the
    whole stack (flattened: ``numel x numel``)."""
    size = x.numel()

    def jac(f: Callable, at: torch.Tensor) -> torch.Tensor:
        return autograd_jacobian(f, at).reshape(size, size)

    def stack(t: torch.Tensor) -> torch.Tensor:
        for layer in layers:
            t = layer(t)
        return t

    branches, norms, h = [], [], x
    for layer in layers:
        sa, ffn = sublayers(layer)
        for f, norm in ((sa, layer.norm1), (ffn, layer.norm2)):
            if norm_first:  # h + F(LN(h))
                branches.append(jac(f, norm(h)))
                norms.append(jac(norm, h))
                h = h + f(norm(h))
            else:  # LN(h + F(h))
                branches.append(jac(f, h))
                norms.append(jac(norm, h + f(h)))
                h = norm(h + f(h))
    if not close(h, stack(x)):
        raise RuntimeError("layers: the sub-layers do not compose to the layers")
    return branches, norms, jac(stack, x)


def _zero_branches(layers: Sequence[torch.nn.Module]) -> None:
    """Zero out_proj and linear2 (weights and biases): every branch then outputs 0."""
    with torch.no_grad():
        for layer in layers:
            for p in (
                layer.self_attn.out_proj.weight,
                layer.self_attn.out_proj.bias,
                layer.linear2.weight,
                layer.linear2.bias,
            ):
                p.zero_()


# --- scaled initialization (GPT-2) --------------------------------------------------------------

Scale = Callable[[Any], Any]  # N -> factor on each branch


def _scaled_init_holds(scale: Scale) -> bool:
    """``Var(sum_i B_i) = N`` and ``Var(sum_i scale(N) B_i) = 1`` (symbolic N)."""
    return equal(rs.sum_variance(sp.Integer(1)), rs.N) and equal(
        rs.sum_variance(scale(rs.N)), sp.Integer(1)
    )


def _scaled_init_numeric(scale: Scale) -> bool:
    """N branch outputs made exactly uncorrelated, of mean 0 and variance 1 over 64 samples (QR of
    centered normals): their sum has variance N, the scaled sum 1 (N = 1, 2, 12, 48; torch only)."""
    samples, ok = 64, True
    for count in (1, 2, 12, 48):
        z = randn(samples, count, seed=76)
        q, _ = torch.linalg.qr(z - z.mean(0))
        outputs = q * samples**0.5  # orthogonal columns of mean 0 and mean square 1
        factor = float(scale(sp.Integer(count)))
        total, scaled = outputs.sum(1), (factor * outputs).sum(1)
        ok = (
            ok
            and close(total.var(unbiased=False), torch.tensor(float(count), dtype=DTYPE))
            and close(scaled.var(unbiased=False), torch.tensor(1.0, dtype=DTYPE))
        )
    return ok


# --- Admin -------------------------------------------------------------------------------------

AdminFn = Callable[[object, Callable, object, Callable], object]  # (x, f, omega, LN) -> output


def _admin_holds(candidate: AdminFn) -> bool:
    """Entrywise omega on the shortcut (n = 3: symbolic omega, symbolic branch output g, LN with
    eps); at omega = 1 the expression tree is the first sub-layer of ``postln.definition``."""
    v, g = _explicit_vector(), sp.Matrix(sp.symbols("g1:4", real=True))
    omega = sp.Matrix(sp.symbols("omega1:4", positive=True))
    norm = lambda t: ln.layer_norm(list(t), ln.eps)  # noqa: E731
    expected = norm(omega.multiply_elementwise(v) + g)
    if not matrices_equal(candidate(v, lambda _: g, omega, norm), expected, sp.cancel):
        return False
    post_ln_sublayer = rs.post_ln(_x, SA, lambda t: 0, LN1, lambda t: t)  # LN_1(x + SA(x))
    return candidate(_x, SA, sp.Integer(1), LN1) == post_ln_sublayer


def _admin_numeric(candidate: AdminFn) -> bool:
    """With omega = 1 (a vector of ones), two Admin sub-layers built from a Post-LN layer's
    self-attention, feed-forward network and norms reproduce the layer, ours and torch's."""
    x = randn(2, TOKENS, D_MODEL, seed=72)
    ones = torch.ones(D_MODEL, dtype=DTYPE)

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        layer = encoder_layer(nn, False, seed=73)
        sa, ffn = sublayers(layer)
        y = candidate(x, sa, ones, layer.norm1)
        return close(candidate(y, ffn, ones, layer.norm2), layer(x))

    return for_each_implementation(holds)


# --- DeepNorm ----------------------------------------------------------------------------------

G, LN = sp.Function("G"), sp.Function("LN")
DeepNormFn = Callable[[object, Callable, object, Callable], object]


def _deepnorm_holds(candidate: DeepNormFn) -> bool:
    """Tree ``LN(alpha x + G(x))``; at eps = 0 it equals ``LN(x + G(x)/alpha)`` (n = 3)."""
    if candidate(_x, G, rs.alpha, LN) != LN(rs.alpha * _x + G(_x)):
        return False
    v, g = _explicit_vector(), sp.Matrix(sp.symbols("g1:4", real=True))
    got = candidate(v, lambda _: g, rs.alpha, lambda t: ln.layer_norm_parts(list(t)))
    expected = ln.layer_norm_parts(list(v + g / rs.alpha))
    return all(sqrt_ratios_equal(p, q) for p, q in zip(got, expected, strict=True))


def _deepnorm_numeric(candidate: DeepNormFn) -> bool:
    """With our and torch's LayerNorm (eps = 0) and alpha = (2N)^(1/4), N = 6 (DeepNet's
    encoder constant): LN(alpha x + G(x)) = LN(x + G(x)/alpha); G is a self-attention layer."""
    x = randn(2, TOKENS, D_MODEL, seed=70)
    alpha = (2 * 6) ** 0.25

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        norm = nn.LayerNorm(D_MODEL, eps=0.0, dtype=DTYPE)
        sa, _ = sublayers(encoder_layer(nn, False, seed=71))
        return close(candidate(x, sa, alpha, norm), norm(x + sa(x) / alpha))

    return for_each_implementation(holds)


# --- ReZero ------------------------------------------------------------------------------------

ReZeroFn = Callable[[object, Callable, object], object]  # (x, F, alpha) -> output


def _rezero_holds(candidate: ReZeroFn) -> bool:
    """n = 1..8, F any map (output r an undefined function F_r of all n inputs): the candidate is
    x + alpha F(x) for symbolic alpha; at alpha = 0 it returns x, and its Jacobian (taken at
    symbolic alpha, then alpha = 0) is I. Symbols carry no assumptions (faster derivatives)."""
    scale = sp.Symbol("alpha")
    for size in range(1, 9):
        v = sp.Matrix(sp.symbols(f"v1:{size + 1}"))
        outputs = [sp.Function(f"F_{r}") for r in range(1, size + 1)]
        branch = lambda h, fs=outputs: sp.Matrix([f(*h) for f in fs])  # noqa: E731
        general = candidate(v, branch, scale)
        if not matrices_equal(general, v + scale * branch(v), sp.expand):
            return False
        at_init = candidate(v, branch, sp.Integer(0))
        if at_init != v or general.jacobian(v).xreplace({scale: 0}) != sp.eye(size):
            return False
    return True


def _rezero_numeric(candidate: ReZeroFn) -> bool:
    """F = a Pre-LN layer's feed-forward branch after its attention branch: with alpha = 0 the
    output is x and autograd's Jacobian is I; with alpha = 0.5 it is x + F(x)/2 (ours, torch's)."""
    x = randn(TOKENS, D_MODEL, seed=74)
    size = x.numel()
    eye = torch.eye(size, dtype=DTYPE)

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        sa, ffn = sublayers(encoder_layer(nn, True, seed=75))
        branch = lambda t: ffn(sa(t[None])[0])  # noqa: E731
        jac = autograd_jacobian(lambda t: candidate(t, branch, 0.0), x).reshape(size, size)
        return (
            close(candidate(x, branch, 0.0), x)
            and close(jac, eye)
            and close(candidate(x, branch, 0.5), x + 0.5 * branch(x))
        )

    return for_each_implementation(holds)


XIONG = "xiong2020layer"

CLAIMS = (
    Claim(
        id="residual.unrolled_sum",
        statement=r"H^{i+1} = H^i + F_i(H^i) \implies H^L = H^l + \sum_{i=l}^{L-1} F_i(H^i)",
        source="he2016identity",
        scope="symbolic l, L (telescoping); L - l = 1..8 written out",
        formula=rs.unrolled_sum,
        symbolic=_unrolled_holds,
        wrong={
            "identity term dropped": lambda start, incs: functools.reduce(operator.add, incs),
            "only the last branch": lambda start, incs: start + incs[-1],
        },
        numeric=_unrolled_numeric,
        note="Numerically: a 2-layer Pre-LN encoder is x plus its four branch outputs.",
    ),
    Claim(
        id="residual.jacobian_paths",
        statement=r"\frac{\partial H^L}{\partial H^l} = \prod_{i=L-1}^{l}(I + J_i) = "
        r"\sum_{S\subseteq\{l,\dots,L-1\}} \prod_{i\in S}^{\leftarrow} J_i,\ "
        r"2^{L-l} \text{ paths, one of them } I",
        source="veit2016residual",
        scope="L - l = 1..8 (paths); 2x2 symbolic maps, L - l = 1..3 (chain rule)",
        formula=rs.jacobian_product,
        symbolic=_paths_hold,
        wrong={
            "factors in reverse order": _reversed_product,
            "no identity (plain network)": lambda js, identity: functools.reduce(
                lambda acc, j: j * acc, js, identity
            ),
            "first order I + sum J_i": _first_order,
        },
        numeric=_paths_numeric,
        note="Numerically on a Pre-LN layer: its two sub-layers' Jacobians from autograd.",
    ),
    Claim(
        id="residual.gradient_identity_term",
        statement=r"\frac{\partial E}{\partial H^l} = \frac{\partial E}{\partial H^L}\left(I + "
        r"\frac{\partial}{\partial H^l}\sum_{i=l}^{L-1} F_i(H^i)\right)",
        source="he2016identity",
        scope="L - l = 1..4 (scalar chain rule)",
        formula=rs.gradient_with_identity,
        symbolic=_gradient_holds,
        wrong={
            "identity term dropped": lambda top, branches, identity: top * branches,
            "top gradient only": lambda top, branches, identity: top,
        },
        numeric=_gradient_numeric,
        note="Numerically: zeroing the branches of a Pre-LN layer passes the gradient unchanged; "
        "a Post-LN layer does not.",
    ),
    Claim(
        id="postln.definition",
        statement=r"y = \mathrm{LN}_1(x + \mathrm{SA}(x)),\quad "
        r"\mathrm{out} = \mathrm{LN}_2(y + \mathrm{FFN}(y))",
        source=XIONG,
        scope="expression tree; n = 3 (centered output); layer with d_model = 4",
        formula=rs.post_ln,
        symbolic=_post_ln_holds,
        wrong={"Pre-LN order": rs.pre_ln, "one LayerNorm at the end": _norm_once_at_end},
        numeric=_composition_numeric(norm_first=False),
        note="Executable: composed from the layer's self_attn, linear1, activation, linear2, "
        "norm1, norm2 and compared with TransformerEncoderLayer(norm_first=False).",
    ),
    Claim(
        id="preln.definition",
        statement=r"y = x + \mathrm{SA}(\mathrm{LN}_1(x)),\quad "
        r"\mathrm{out} = y + \mathrm{FFN}(\mathrm{LN}_2(y))",
        source=XIONG,
        scope="expression tree; n = 3 (identity path); layer with d_model = 4",
        formula=rs.pre_ln,
        symbolic=_pre_ln_holds,
        wrong={"Post-LN order": rs.post_ln, "residual stream normalized too": _normalized_stream},
        numeric=_composition_numeric(norm_first=True),
        note="Executable: compared with TransformerEncoderLayer(norm_first=True).",
    ),
    Claim(
        id="preln.identity_path",
        statement=r"\frac{\partial}{\partial x}\big(x + F(\mathrm{LN}(x))\big) = "
        r"I + J_F N_{\mathrm{LN}},\ \prod_{l=L}^{1}(I + J_l N_l) = I + \dots:"
        r"\ 2^L \text{ paths, exactly one of them } I",
        source=XIONG,
        scope="non-commuting J_l, N_l, L = 1..4; 2x2 linear maps, L = 1..3 (chain rule); "
        "two layers, d_model = 4",
        formula=rs.pre_ln_sublayer_jacobian,
        symbolic=_identity_path_holds,
        wrong={
            "Post-LN form N (I + J)": rs.post_ln_sublayer_jacobian,
            "factors swapped I + N J": lambda j, m, e: e + m * j,
            "no identity J N": lambda j, m, e: j * m,
        },
        numeric=_stack_numeric(norm_first=True),
        note="J_F is taken at LN(x), N_LN at x. Numerically: two Pre-LN layers' Jacobian is the "
        "product of their four sub-layer Jacobians; with out_proj and linear2 zeroed it is "
        "exactly I.",
    ),
    Claim(
        id="postln.no_identity_path",
        statement=r"\frac{\partial}{\partial x}\mathrm{LN}(x + F(x)) = N_{\mathrm{LN}}(I + J_F),"
        r"\ \prod_{l=L}^{1} N_l(I + J_l):\ 2^L \text{ paths, each through every } N_l,"
        r"\ \text{none of them } I",
        source=XIONG,
        scope="non-commuting J_l, N_l, L = 1..4; 2x2 linear maps, L = 1..3 (chain rule); "
        "two layers, d_model = 4",
        formula=rs.post_ln_sublayer_jacobian,
        symbolic=_no_identity_path_holds,
        wrong={
            "Pre-LN form I + J N": rs.pre_ln_sublayer_jacobian,
            "norm Jacobian on the right (I + J) N": lambda j, m, e: (e + j) * m,
            "LayerNorm Jacobian left out I + J": lambda j, m, e: e + j,
        },
        numeric=_stack_numeric(norm_first=False),
        note="J_F is taken at x, N_LN at x + F(x). Numerically: two Post-LN layers; with the "
        "branches zeroed their Jacobian is the product of the LayerNorm Jacobians, not I.",
    ),
    Claim(
        id="residual.scaled_init",
        statement=r"\mathrm{Var}\Big(\sum_{i=1}^{N} B_i\Big) = N,\quad "
        r"\mathrm{Var}\Big(\sum_{i=1}^{N} \tfrac{1}{\sqrt N} B_i\Big) = 1\ "
        r"(B_i \text{ independent, mean } 0, \text{ variance } 1)",
        source="radford2019language",
        scope="symbolic N; numerically N = 1, 2, 12, 48",
        formula=rs.residual_scale,
        symbolic=_scaled_init_holds,
        wrong={
            "1/N scaling": lambda count: 1 / count,
            "no scaling": lambda count: sp.Integer(1),
        },
        numeric=_scaled_init_numeric,
        note="GPT-2 states the 1/sqrt(N) factor; the variance argument for it is ours. The "
        "numeric check uses exactly uncorrelated samples, no layer.",
    ),
    Claim(
        id="admin.residual",
        statement=r"x_i = \mathrm{LN}\big(\omega_i \odot x_{i-1} + f_i(x_{i-1})\big),\quad "
        r"\omega_i = \mathbf{1} \implies x_i = \mathrm{LN}\big(x_{i-1} + f_i(x_{i-1})\big)"
        r"\ \text{(Post-LN)}",
        source="liu2020understanding",
        scope="n = 3, symbolic omega (entrywise); expression tree at omega = 1; d_model = 4",
        formula=rs.admin,
        symbolic=_admin_holds,
        wrong={
            "omega on the branch": lambda x, f, omega, norm: norm(x + rs.hadamard(omega, f(x))),
            "omega after the norm": lambda x, f, omega, norm: rs.hadamard(omega, norm(x + f(x))),
            "norm inside the branch (Pre-LN)": lambda x, f, omega, norm: (
                rs.hadamard(omega, x) + f(norm(x))
            ),
        },
        numeric=_admin_numeric,
        note="Numerically with omega = 1: two Admin sub-layers are TransformerEncoderLayer("
        "norm_first=False). The profiling that sets omega is not checked.",
    ),
    Claim(
        id="deepnorm.residual",
        statement=r"x_{l+1} = \mathrm{LN}(\alpha x_l + G(x_l)) = "
        r"\mathrm{LN}\!\left(x_l + \tfrac{1}{\alpha}G(x_l)\right)\ (\epsilon = 0,\ \alpha > 0)",
        source="wang2022deepnet",
        scope="expression tree; n = 3 (eps = 0)",
        formula=rs.deep_norm,
        symbolic=_deepnorm_holds,
        wrong={
            "alpha on the branch": lambda x, g, scale, norm: norm(x + scale * g(x)),
            "alpha after the norm": lambda x, g, scale, norm: _scaled(norm(x + g(x)), scale),
        },
        numeric=_deepnorm_numeric,
        note="Up-weighting the residual by alpha is down-weighting the branch by 1/alpha.",
    ),
    Claim(
        id="rezero.identity_at_init",
        statement=r"x_{l+1} = x_l + \alpha_l F_l(x_l),\quad \alpha_l = 0 \implies "
        r"x_{l+1} = x_l,\ \frac{\partial x_{l+1}}{\partial x_l} = I",
        source="bachlechner2021rezero",
        scope="n = 1..8, F an undefined map of all n inputs",
        formula=rs.rezero,
        symbolic=_rezero_holds,
        wrong={
            "alpha = 1 (plain residual)": lambda x, f, scale: x + f(x),
            "alpha on the whole sum": lambda x, f, scale: scale * (x + f(x)),
            "gated shortcut (1 - alpha) x + alpha F(x)": lambda x, f, scale: (
                (1 - scale) * x + scale * f(x)
            ),
        },
        numeric=_rezero_numeric,
        note="The gated variant is also the identity at alpha = 0; it is rejected because it is "
        "not x + alpha F(x) for other alpha.",
    ),
)


def _scaled(value: Any, scale: Any) -> Any:
    """``scale * value`` for a tensor or expression, or for LayerNorm parts ``(p, u)``."""
    if isinstance(value, list):
        return [(scale * p, u) for p, u in value]
    return scale * value
