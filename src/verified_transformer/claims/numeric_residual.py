"""The numeric checks of :mod:`verified_transformer.claims.residual`, imported when they run: a
claim's chains realized (``derive.residual.realize``, by
:func:`~verified_transformer.claims.numeric.chains_agree`) in float64 with the maps of seeded
encoder layers, ours and torch's, and autograd's Jacobians; every two neighbours must agree.
Custom: a layer's composition of its own submodules, zeroed branches (module state), exactly
uncorrelated samples (no implementation)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from types import ModuleType

import sympy as sp
import torch
from torch.autograd.functional import jacobian as autograd_jacobian

from verified_transformer.claims.fixtures import D_FF, D_MODEL, HEADS, TOKENS
from verified_transformer.claims.formula import CandidateError
from verified_transformer.claims.numeric import (
    DTYPE,
    Reference,
    chains_agree,
    close,
    encoder_layer,
    for_each_implementation,
    randn,
    randomize,
    realized,
    sublayers,
    twin,
)
from verified_transformer.derive import layernorm as ln
from verified_transformer.derive import residual as rs
from verified_transformer.derive.residual import H, I, L
from verified_transformer.i18n import tr

LAYERS = sp.Function("layers")  # the implementation's own layers, as one map


def _maps(x: torch.Tensor, values_of: Callable[[ModuleType], dict]) -> Reference:
    """The chains realized with ``values_of(nn)`` (vectors of the size of x), for our
    ``verified_transformer.nn`` and for ``torch.nn``."""
    return Reference(inputs={I: torch.eye(x.numel(), dtype=DTYPE)}, scalars={}, realize=True,
                     operators=lambda F, nn: values_of(nn))


def _stack(layers: Sequence[torch.nn.Module], norm_first: bool | None, x: torch.Tensor) -> dict:
    """The sub-layers of ``layers`` as F_k, LN_k (norm_first None: F_k is the whole branch
    F(LN(.)) of a Pre-LN layer), H^0 = x, and the last H^k the layers' own forward."""
    maps = {}
    for m, layer in enumerate(layers):
        sa, ffn = sublayers(layer)
        for k, f, norm in ((2 * m, sa, layer.norm1), (2 * m + 1, ffn, layer.norm2)):
            branch = (lambda t, f=f, norm=norm: f(norm(t))) if norm_first is None else f
            maps |= {sp.Function(f"F_{k}"): branch, sp.Function(f"LN_{k}"): norm}
    run = lambda t: functools.reduce(lambda h, layer: layer(h), layers, t)  # noqa: E731
    depth = 2 * len(layers)
    return ({H[0]: x} | maps | rs.stack_definitions(norm_first, depth)
            | {H[depth]: LAYERS(H[0]), LAYERS: run})


def _zero_branches(layers: Sequence[torch.nn.Module]) -> Sequence[torch.nn.Module]:
    """Zero out_proj and linear2 (weights and biases): every branch then outputs 0."""
    with torch.no_grad():
        for layer in layers:
            for p in (*layer.self_attn.out_proj.parameters(), *layer.linear2.parameters()):
                p.zero_()
    return layers


def block() -> Reference:
    """F = a Pre-LN layer's feed-forward branch: autograd's Jacobian of the block is the claimed
    one built from autograd's Jacobian of F."""
    x = randn(TOKENS, D_MODEL, seed=86)
    return _maps(x, lambda nn: {rs.x: x, rs.y: rs.residual_block(rs.x, rs.F),
                                rs.F: sublayers(encoder_layer(nn, True, seed=87))[1]})

def rezero() -> Reference:
    """F = a Pre-LN layer's feed-forward branch after its attention branch, alpha = 0.5: the
    layer is x + F(x)/2; at alpha = 0 it is x and autograd's Jacobian is I."""
    x = randn(TOKENS, D_MODEL, seed=74)

    def values(nn: ModuleType) -> dict:
        sa, ffn = sublayers(encoder_layer(nn, True, seed=75))
        return {rs.x_l: x, rs.F_l: lambda t: ffn(sa(t[None])[0]), rs.alpha_l: 0.5,
                rs.x_next: rs.rezero(rs.x_l, rs.F_l, rs.alpha_l)}

    return _maps(x, values)

def unrolled() -> Reference:
    """A 2-layer Pre-LN TransformerEncoder: its output H^4 is x plus its four branch outputs."""
    x, kwargs = randn(2, TOKENS, D_MODEL, seed=60), {"dim_feedforward": D_FF, "batch_first": True,
                                                     "norm_first": True}
    build = lambda nn: nn.TransformerEncoder(  # noqa: E731
        nn.TransformerEncoderLayer(D_MODEL, HEADS, **kwargs), 2, enable_nested_tensor=False)

    def values(nn: ModuleType) -> dict:
        encoder = twin(randomize(build(torch.nn), seed=61), build(nn))
        return _stack(encoder.layers, None, x) | {LAYERS: encoder}

    return _maps(x, values)

def paths() -> Reference:
    """A Pre-LN layer: autograd's Jacobian of the layer is the product of (I + J_i) over its two
    sub-layers, J_i autograd's Jacobian of branch i at its input."""
    x = randn(1, 2, D_MODEL, seed=62)
    return _maps(x, lambda nn: _stack([encoder_layer(nn, True, seed=63)], None, x))

def gradient(chains: tuple) -> bool:
    """A Pre-LN layer, E = g . H^L: autograd's gradient is the claimed one. With the branch
    outputs zeroed it is g itself, while a zeroed Post-LN layer still multiplies g by LN's
    Jacobian."""
    x, g = randn(1, 2, D_MODEL, seed=64), randn(2 * D_MODEL, seed=65)
    loss = lambda t: t.reshape(-1) @ g  # noqa: E731

    def identity(F: ModuleType, nn: ModuleType) -> bool:
        pre, post = (autograd_jacobian(lambda t, layer=layer: loss(layer(t)), x).reshape(-1)
                     for layer in _zero_branches([encoder_layer(nn, norm_first, seed=67)
                                                  for norm_first in (True, False)]))
        return close(pre, g) and not close(post, g)

    return chains_agree(chains, (), _maps(x, lambda nn: _stack(
        [encoder_layer(nn, True, seed=66)], None, x) | {rs.E: rs.LOSS(H[2]), rs.LOSS: loss})
    ) and for_each_implementation(identity)


def stack(norm_first: bool) -> Callable[[tuple], bool]:
    """Two encoder layers (d_model = 4, 2 tokens), seeded and with every branch output zeroed
    (out_proj, linear2): one sub-layer's Jacobian and the stack's are the claimed products of
    J_F, N_LN from autograd. Zeroed, the Pre-LN stack's Jacobian is exactly I; the Post-LN one
    is the product of LayerNorm Jacobians, not I."""
    x = randn(1, 2, D_MODEL, seed=77)

    def values(nn: ModuleType, zeroed: bool) -> dict:
        layers = [encoder_layer(nn, norm_first, seed=s) for s in (78, 79)]
        layers = _zero_branches(layers) if zeroed else layers
        return (_stack(layers, norm_first, x) | rs.sublayer_jacobians(norm_first)
                | {rs.x: x, rs.F: sublayers(layers[0])[0], rs.LN: layers[0].norm1})

    def identity(F: ModuleType, nn: ModuleType) -> bool:
        total = realized(rs.Jac(H[L], H[0]), values(nn, True))
        eye = torch.eye(x.numel(), dtype=DTYPE)
        return torch.equal(total, eye) if norm_first else not close(total, eye)

    return lambda chains: chains_agree(chains, (), [
        _maps(x, lambda nn, zeroed=zeroed: values(nn, zeroed)) for zeroed in (False, True)]
    ) and for_each_implementation(identity)


def composition(norm_first: bool, seed: int = 69) -> Callable[[Callable], bool]:
    """The composition of the layer's own submodules equals the layer (eval mode)."""
    x = randn(2, TOKENS, D_MODEL, seed=seed - 1)

    def holds(compose: Callable, nn: ModuleType) -> bool:
        layer = encoder_layer(nn, norm_first, seed=seed)
        return close(compose(x, *sublayers(layer), layer.norm1, layer.norm2), layer(x))

    return lambda compose: for_each_implementation(lambda F, nn: holds(compose, nn))


def admin(chains: tuple) -> bool:
    """With omega = 1, two Admin sub-layers (the first chain's right side) built from a Post-LN
    layer's self-attention, feed-forward network and norms reproduce the layer."""
    ones = torch.ones(D_MODEL, dtype=DTYPE)
    step = lambda h, f, norm: realized(chains[0][-1], {rs.x_prev: h, rs.omega: ones,  # noqa: E731
                                                       rs.f_i: f, rs.LN: norm})
    return composition(False, seed=73)(
        lambda x, sa, ffn, ln1, ln2: step(step(x, sa, ln1), ffn, ln2))


def deepnorm() -> Reference:
    """With our and torch's LayerNorm (eps = 0) and alpha = (2N)^(1/4), N = 6 (DeepNet's encoder
    constant): the second chain's entries, at seeded x and G(x)."""
    return Reference(
        inputs={rs.XL: randn(2, TOKENS, D_MODEL, seed=70),
                rs.GX: randn(2, TOKENS, D_MODEL, seed=71)},
        scalars={rs.alpha: (2 * 6) ** 0.25, ln.eps: 0.0}, index=ln.i, size=ln.n, chains=(1, None),
        operators=lambda F, nn: {ln.LN: lambda v, e: nn.LayerNorm(D_MODEL, eps=e, dtype=DTYPE)(v)})


def scaled_init(chains: tuple) -> bool:
    """N branch outputs made exactly uncorrelated, of mean 0 and variance 1 over 64 samples (QR of
    centered normals): both chains hold for N = 1, 2, 12, 48 (torch only)."""
    ok = True
    for count in (1, 2, 12, 48):
        z = randn(64, count, seed=76)
        q = torch.linalg.qr(z - z.mean(0))[0] * 64**0.5  # orthogonal columns of mean square 1
        values = {rs.N: count} | {rs.B[k + 1]: q[:, k] for k in range(count)}
        ok = ok and all(close(realized(a, values), realized(b, values)) for a, b in chains)
    return ok


def layer_gap(a: Callable, b: Callable, norm_first: bool) -> float:
    """The largest gap between the outputs of ``a`` and ``b`` on a seeded
    TransformerEncoderLayer (ours, d_model = 4): the number in the layer readers' witness."""
    import verified_transformer.nn as ours

    x = randn(1, TOKENS, D_MODEL, seed=88)
    layer = encoder_layer(ours, norm_first, seed=89)
    sa, ffn = sublayers(layer)
    try:
        got = torch.as_tensor(a(x, sa, ffn, layer.norm1, layer.norm2))
    except Exception as exc:
        raise CandidateError(tr("the formula cannot run on tensors ({error})",
                                error=str(exc))) from None
    want = b(x, sa, ffn, layer.norm1, layer.norm2)
    return (got - want).abs().max().item() if got.shape == want.shape else float("inf")
