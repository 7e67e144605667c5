"""The numeric checks of :mod:`verified_transformer.claims.placements`: float64, against our
``verified_transformer.nn`` and torch's, imported only when a check runs."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import sympy as sp
import torch
from torch.autograd.functional import jacobian as autograd_jacobian

from verified_transformer.claims.numeric import (
    DTYPE,
    Reference,
    chains_agree,
    close,
    entry_function,
    for_each_implementation,
    randn,
    randomize,
    table_1_moves,
)
from verified_transformer.claims.placements import POST, X0, X, Y, mixln_layers, ngpt_step
from verified_transformer.derive import layernorm as ln
from verified_transformer.derive import placements as pl

D_MODEL, HEADS, D_FF, TOKENS = 4, 2, 8, 3  # the blocks of the numeric checks
Chains = tuple


def _causal(size: int) -> torch.Tensor:
    return torch.triu(torch.full((size, size), float("-inf"), dtype=DTYPE), diagonal=1)


def _block(placement: str, seed: int, norm: str = "rms") -> torch.nn.Module:
    from verified_transformer.nn.variants import Block

    return randomize(Block(D_MODEL, HEADS, D_FF, placement=placement, norm=norm, dtype=DTYPE), seed)


def _in_proj(attn: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """Our attention's q, k, v projections as ``nn.MultiheadAttention``'s in_proj weight, bias."""
    return (torch.cat([attn.q_proj.weight, attn.k_proj.weight, attn.v_proj.weight]),
            torch.cat([attn.q_proj.bias, attn.k_proj.bias, attn.v_proj.bias]))


def _torch_sublayers(block: torch.nn.Module, nn: ModuleType) -> dict[str, Callable]:
    """The block's causal self-attention as ``nn.MultiheadAttention`` (its weights loaded) and its
    feed-forward network ``linear2(gelu(linear1(t)))``."""
    attn = block.self_attn
    mha = nn.MultiheadAttention(D_MODEL, HEADS, batch_first=True, dtype=DTYPE).eval()
    with torch.no_grad():
        mha.in_proj_weight.copy_(_in_proj(attn)[0])
        mha.in_proj_bias.copy_(_in_proj(attn)[1])
        mha.out_proj.weight.copy_(attn.out_proj.weight)
        mha.out_proj.bias.copy_(attn.out_proj.bias)
    return {"SA": lambda t: mha(t, t, t, attn_mask=_causal(t.shape[1]), need_weights=False)[0],
            "FFN": lambda t: block.linear2(torch.nn.functional.gelu(block.linear1(t)))}


def _rms_module(nn: ModuleType, weight: torch.Tensor, width: int = D_MODEL, eps: float = 1e-5
                ) -> torch.nn.Module:
    module = nn.RMSNorm(width, eps=eps, dtype=DTYPE)
    with torch.no_grad():
        module.weight.copy_(weight)
    return module


def block_placement(placement: str, norms: dict[str, str]) -> Callable[[Chains], bool]:
    """Our ``Block(placement=...)`` (RMSNorm, float64, seeded weights, eval) equals the layer of
    chains 1 and 2 (y, then out), written with ``nn.MultiheadAttention`` (causal mask) and
    ``nn.RMSNorm`` loaded with the block's weights (``norms``: each displayed norm's attribute of
    the block), ours and torch's."""

    def numeric(chains: Chains) -> bool:
        block, x = _block(placement, 90), randn(2, TOKENS, D_MODEL, seed=92)

        def holds(F: ModuleType, nn: ModuleType) -> bool:
            functions = _torch_sublayers(block, nn) | {
                name: _rms_module(nn, getattr(block, attr).weight.detach())
                for name, attr in norms.items()}
            y = pl.call(chains[1][-1], {X: x}, functions)
            return close(pl.call(chains[2][-1], {Y: y}, functions), block(x))

        return for_each_implementation(holds)

    return numeric


def stream_growth(chains: Chains) -> bool:
    """Exact enumeration: x_0 = +-1/2 and f_l = e_l RMSNorm(x_{l-1}) with gain 3/2 (width 1,
    eps = 0, so f_l = +-3/2 whatever the stream's scale, and E[f_l f_m] = 0 for l != m), e_l = +-1;
    all 2^(L+1) sign patterns equally likely, L = 1..10. The variance of x_L over the patterns is
    the right side at s^2 = 1/4, v = 9/4, with our and torch's nn.RMSNorm."""

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        norm = _rms_module(nn, torch.tensor([1.5], dtype=DTYPE), 1, 0.0)
        for depth in range(1, 11):
            bits = (torch.arange(2 ** (depth + 1))[:, None] >> torch.arange(depth + 1)) & 1
            signs = (2 * bits - 1).to(DTYPE)  # every pattern once
            stream = 0.5 * signs[:, :1]
            for layer in range(1, depth + 1):
                stream = stream + signs[:, layer : layer + 1] * norm(stream)
            variance = (stream**2).mean() - stream.mean() ** 2
            at = {pl.s2: sp.Rational(1, 4), pl.v: sp.Rational(9, 4), pl.L: depth}
            if not close(variance, torch.tensor(float(chains[0][-1].xreplace(at)), dtype=DTYPE)):
                return False
        return True

    return for_each_implementation(holds)


def increment_bound(chains: Chains) -> bool:
    """Our and torch's nn.RMSNorm (n = 6, seeded gains of both signs, eps = 1e-5) on adversarial
    inputs: 10^8 randn, 10^12 e_k at the largest |g_k| (where RMS(N(y)) reaches max |g|), a
    constant 10^6 and a tiny 10^-9 randn: RMS of the output <= the bound of chain 0. Then three
    Block(placement="peri") with out_proj and linear2 scaled by 10^6: every token's RMS(x_L) <=
    chain 1's bound (L = 6, two sub-layers a block), while the same Pre-LN blocks exceed it."""
    width, gain = 6, randn(6, seed=93)
    bound, stream = chains[0][0].rhs, chains[1][0].rhs
    limit = float(bound.xreplace({pl.G: sp.Float(float(gain.abs().max()), 30), pl.n: width}))
    spike = torch.zeros(width, dtype=DTYPE)
    spike[int(gain.abs().argmax())] = 1e12
    inputs = torch.stack([randn(width, seed=94) * 1e8, spike,
                          torch.full((width,), 1e6, dtype=DTYPE), randn(width, seed=95) * 1e-9])

    def rms(t: torch.Tensor) -> torch.Tensor:
        return t.pow(2).mean(-1).sqrt()

    def stack(placement: str) -> tuple[torch.Tensor, torch.Tensor, float]:
        blocks = [_block(placement, s) for s in (96, 97, 98)]
        with torch.no_grad():
            for b in blocks:
                b.self_attn.out_proj.weight.mul_(1e6)
                b.linear2.weight.mul_(1e6)
        h0 = h = randn(2, TOKENS, D_MODEL, seed=99)
        for b in blocks:
            h = b(h)
        gains = [m.weight for b in blocks for m in (b.norm1_out, b.norm2_out) if m is not None]
        return h0, h, max([float(w.detach().abs().max()) for w in gains], default=0.0)

    def reach(h0: torch.Tensor, peak: float) -> torch.Tensor:
        at = {pl.G: sp.Float(peak, 30), pl.n: D_MODEL, pl.L: 6, pl.RMS(X0): 0}
        return rms(h0) + float(stream.xreplace(at))

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        with torch.no_grad():
            if not bool((rms(_rms_module(nn, gain, width)(inputs)) <= limit * (1 + 1e-12)).all()):
                return False
            h0, h, peak = stack("peri")
            pre0, pre, _ = stack("pre")
        within = bool((rms(h) <= reach(h0, peak) * (1 + 1e-12)).all())
        return within and bool((rms(pre) > reach(pre0, peak)).all())

    return for_each_implementation(holds)


def qknorm_logit_bound(chains: Chains) -> bool:
    """QKNormSelfAttention(qk_norm=True) (d = 4, 2 heads, seeded weights and gains of both
    signs): last_max_logit <= the bound = max_attention_logit_bound, on random x and on 10^4 x,
    and equal to the logits recomputed with F.rms_norm (ours and torch's); with k_proj = q_proj
    and equal gains 3/2 the logit of 10^4 x reaches the bound within 10^-6. Without QK-norm (no
    biases) the largest logit of t x is t^2 times that of x (t = 10, 100): no bound holds."""
    from verified_transformer.nn.variants import QKNormSelfAttention

    dim, x0, bound = 8, randn(2, 5, 8, seed=100), chains[0][0].rhs
    head = dim // HEADS
    module, aligned, plain = (
        randomize(QKNormSelfAttention(dim, HEADS, qk_norm=on, bias=False), seed=seed)
        for on, seed in ((True, 101), (True, 102), (False, 103)))
    with torch.no_grad():
        aligned.k_proj.weight.copy_(aligned.q_proj.weight)
        aligned.q_norm.weight.fill_(1.5)
        aligned.k_norm.weight.fill_(1.5)

    def limit(m: torch.nn.Module) -> float:
        gq, gk = (sp.Float(float(w.abs().max()), 30) for w in (m.q_norm.weight, m.k_norm.weight))
        return float(bound.xreplace({pl.G_q: gq, pl.G_k: gk, pl.d: head}))

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
            ok = ok and limit(aligned) >= top >= limit(aligned) * (1 - 1e-6)
            base = logit(plain, x0)
            for t in (10.0, 100.0):
                ok = ok and abs(logit(plain, t * x0) / base - t**2) <= 1e-9 * t**2
        return ok

    return for_each_implementation(holds)


def _dyt(width: int, gain: torch.Tensor | None, bias: torch.Tensor | None, value: float = 0.5
         ) -> torch.nn.Module:
    """Our DynamicTanh (float64), its gain and bias loaded unless None (a fresh one)."""
    from verified_transformer.nn.variants import DynamicTanh

    module = DynamicTanh(width, alpha_init=value, dtype=DTYPE)
    with torch.no_grad():
        for parameter, loaded in ((module.weight, gain), (module.bias, bias)):
            if loaded is not None:
                parameter.copy_(loaded)
    return module


def dyt_definition(chains: Chains) -> bool:
    """Chain 0 at alpha = 0.7, seeded rows, gain and bias (numeric.chains_agree), DyT by our
    DynamicTanh and by gamma torch.tanh(alpha x) + beta; chain 1's right side (i = j) is the
    diagonal of autograd's Jacobian of DynamicTanh, which is diagonal; a fresh DynamicTanh starts
    at alpha = 0.5 (the official code's alpha_init_value), gamma = 1, beta = 0."""
    width, value = 6, 0.7
    rows, gain, bias = randn(3, width, seed=104) * 2, randn(width, seed=105), randn(width, seed=106)
    module = _dyt(width, gain, bias, value)
    reference = Reference(
        inputs={pl.x: rows, pl.gamma: gain, pl.beta: bias}, scalars={pl.alpha: value},
        index=pl.i, size=pl.n, operators=lambda F, nn: {pl.DyT: (
            (lambda v, a: gain * torch.tanh(a * v) + bias) if nn is torch.nn
            else (lambda v, a: module(v).detach()))})
    fresh = _dyt(width, None, None)
    starts = float(fresh.alpha.detach()) == 0.5 and bool((fresh.weight == 1).all())
    starts = starts and not fresh.bias.any()
    jac = autograd_jacobian(module, rows[0])
    slope = entry_function(chains[1][-1].xreplace({pl.j: pl.i}), pl.i, pl.n,
                           [pl.x, pl.gamma], [pl.alpha])(rows[0], gain, value)
    diagonal = torch.equal(jac, torch.diag(torch.diagonal(jac))) and close(jac.diagonal(), slope)
    return chains_agree(chains[:1], (), reference) and starts and diagonal


def dyt_row(row: tuple[bool, ...]) -> bool:
    """The six entries in float64 (6 cases, 5 units, 4 inputs, as layernorm.invariance_table):
    our DynamicTanh (alpha = 0.5, seeded gain and bias) and gamma torch.tanh(alpha a) + beta of
    the summed inputs a = x W^T, before and after each transformation."""
    xs, w, moves = table_1_moves()
    gain, bias = randn(w.shape[0], seed=107), randn(w.shape[0], seed=108)
    functions = (_dyt(w.shape[0], gain, bias), lambda a: gain * torch.tanh(0.5 * a) + bias)
    with torch.no_grad():
        return all(
            tuple(close(f(x2 @ w2.T), f(xs @ w.T), atol=1e-9)
                  for x2, w2 in (moves[t] for t in ln.TRANSFORMATIONS)) == tuple(row)
            for f in functions)


def ngpt_update(chains: Chains) -> bool:
    """Float64, d = 8, 5 tokens: the official code's step (NVIDIA/ngpt model.py Block.forward,
    justnorm as torch.nn.functional.normalize: res = A + alpha (B - A), h = justnorm(res)) with a
    seeded branch tanh(h W) and per-coordinate alpha, against chains 0, 1 and 4 (Norm = x/||x||);
    the outputs have unit norm."""
    h = torch.nn.functional.normalize(randn(5, 8, seed=109), dim=-1)
    weight, rates = randn(8, 8, seed=110), randn(8, seed=111).abs() / 4

    def branch(t: torch.Tensor) -> torch.Tensor:
        return torch.tanh(t @ weight)

    def justnorm(t: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.normalize(t, p=2.0, dim=-1)

    a_norm, b_norm = justnorm(h), justnorm(branch(h))
    official = justnorm(a_norm + rates * (b_norm - a_norm))
    got = ngpt_step(chains, lambda t: t.pow(2).sum(-1, keepdim=True).sqrt(),
                      torch.mul)(h, branch, rates)
    return close(got, official) and close(got.pow(2).sum(-1), torch.ones(5, dtype=DTYPE))


def mixln_layout(chains: Chains) -> bool:
    """L = 10 of our Blocks (alpha = 1/4, LayerNorm, seeded, float64) built from the rule of
    chain 0: the first 2 (alpha L = 2.5) have placement "post", the rest "pre"; each equals
    nn.TransformerEncoderLayer(norm_first=(placement == "pre"), activation="gelu", causal mask)
    loaded with its weights, ours and torch's, and so does the stack."""
    wanted = ["post" if p == POST else "pre" for p in mixln_layers(chains, 10, sp.Rational(1, 4))]
    blocks = [_block(p, 112 + t, norm="layer") for t, p in enumerate(wanted)]
    x, mask = randn(2, TOKENS, D_MODEL, seed=120), _causal(TOKENS)

    def layer_of(nn: ModuleType, block: torch.nn.Module) -> torch.nn.Module:
        layer = nn.TransformerEncoderLayer(
            D_MODEL, HEADS, D_FF, dropout=0.0, activation="gelu", batch_first=True,
            norm_first=block.placement == "pre", dtype=DTYPE).eval()
        with torch.no_grad():
            layer.self_attn.in_proj_weight.copy_(_in_proj(block.self_attn)[0])
            layer.self_attn.in_proj_bias.copy_(_in_proj(block.self_attn)[1])
            for name in ("out_proj.weight", "out_proj.bias"):
                layer.self_attn.get_parameter(name).copy_(block.self_attn.get_parameter(name))
            for name in ("linear1", "linear2", "norm1", "norm2"):
                for p, q in zip(getattr(layer, name).parameters(),
                                getattr(block, name).parameters(), strict=True):
                    p.copy_(q)
        return layer

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        if [b.placement for b in blocks] != ["post"] * 2 + ["pre"] * 8:
            return False
        ours, theirs, ok = x, x, True
        for block in blocks:
            layer = layer_of(nn, block)
            ok = ok and close(block(ours), layer(ours, src_mask=mask, is_causal=True))
            ours, theirs = block(ours), layer(theirs, src_mask=mask, is_causal=True)
        return ok and close(ours, theirs)

    return for_each_implementation(holds)
