"""The numeric checks of :mod:`verified_transformer.claims.residual`: float64, against our
``verified_transformer.nn`` and torch's, imported only when a check runs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import ModuleType

import sympy as sp
import torch
from torch.autograd.functional import jacobian as autograd_jacobian

from verified_transformer.claims.fixtures import D_FF, D_MODEL, HEADS, TOKENS
from verified_transformer.claims.formula import CandidateError
from verified_transformer.claims.numeric import (
    DTYPE,
    close,
    encoder_layer,
    for_each_implementation,
    randn,
    randomize,
    sublayers,
    to_sympy,
    to_tensor,
    twin,
)
from verified_transformer.claims.residual import (
    AdminFn,
    Block,
    Composition,
    DeepNormFn,
    Gradient,
    Product,
    ReZeroFn,
    Scale,
    Sublayer,
    Unrolled,
)
from verified_transformer.derive import residual as rs


def unrolled(candidate: Unrolled) -> bool:
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


def paths(product: Product) -> bool:
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


def gradient(candidate: Gradient) -> bool:
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
            _zero_branches([layer])
            identity = close(gradient(layer), g)
            ok = ok and identity == norm_first
        return ok

    return for_each_implementation(holds)


def composition(norm_first: bool) -> Callable[[Composition], bool]:
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


def stack(norm_first: bool) -> Callable[[Sublayer], bool]:
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


def scaled_init(scale: Scale) -> bool:
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


def admin(candidate: AdminFn) -> bool:
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


def deepnorm(candidate: DeepNormFn) -> bool:
    """With our and torch's LayerNorm (eps = 0) and alpha = (2N)^(1/4), N = 6 (DeepNet's
    encoder constant): LN(alpha x + G(x)) = LN(x + G(x)/alpha); G is a self-attention layer."""
    x = randn(2, TOKENS, D_MODEL, seed=70)
    alpha = (2 * 6) ** 0.25

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        norm = nn.LayerNorm(D_MODEL, eps=0.0, dtype=DTYPE)
        sa, _ = sublayers(encoder_layer(nn, False, seed=71))
        return close(candidate(x, sa, alpha, norm), rs.deep_norm_rescaled(x, sa, alpha, norm))

    return for_each_implementation(holds)


def rezero(candidate: ReZeroFn) -> bool:
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


def block(block: Block) -> bool:
    """F = a Pre-LN layer's feed-forward branch (ours, torch's): autograd's Jacobian of the block
    is the claimed one built from autograd's Jacobian of F."""
    forward, jacobian = block
    x = randn(TOKENS, D_MODEL, seed=86)
    size = x.numel()

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        _, ffn = sublayers(encoder_layer(nn, True, seed=87))
        whole = autograd_jacobian(lambda t: forward(t, ffn), x).reshape(size, size)
        branch = autograd_jacobian(ffn, x).reshape(size, size)
        return close(whole, jacobian(torch.eye(size, dtype=DTYPE), branch))

    return for_each_implementation(holds)


def layer_gap(a: Composition, b: Composition, norm_first: bool) -> float:
    """The largest gap between the outputs of ``a`` and ``b`` on a seeded
    TransformerEncoderLayer (ours, d_model = 4): the number in the layer readers' witness."""
    import verified_transformer.nn as ours

    x = randn(1, TOKENS, D_MODEL, seed=88)
    layer = encoder_layer(ours, norm_first, seed=89)
    sa, ffn = sublayers(layer)
    try:
        got = torch.as_tensor(a(x, sa, ffn, layer.norm1, layer.norm2))
    except Exception as exc:
        raise CandidateError(f"the formula cannot run on tensors ({exc})") from None
    want = b(x, sa, ffn, layer.norm1, layer.norm2)
    return (got - want).abs().max().item() if got.shape == want.shape else float("inf")
