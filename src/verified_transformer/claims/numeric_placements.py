"""The numeric checks of :mod:`verified_transformer.claims.placements`: float64, against our
``verified_transformer.nn`` and torch's, imported only when a check runs. References for the
placements and nGPT's step; custom, as no equation holds them: an enumeration (stream growth),
adversarial inputs (the bounds), module state (DyT's initial values, MixLN's layers), Table 1."""

from __future__ import annotations

from types import ModuleType

import sympy as sp
import torch
from torch.autograd.functional import jacobian as autograd_jacobian

from verified_transformer.claims import numeric as nu
from verified_transformer.claims import placements as cp
from verified_transformer.claims.numeric import DTYPE, Reference, close, randn
from verified_transformer.derive import placements as pl

D_MODEL, HEADS, D_FF, TOKENS = 4, 2, 8, 3  # the blocks of the numeric checks
Chains = tuple


def _causal(size: int) -> torch.Tensor:
    return torch.triu(torch.full((size, size), float("-inf"), dtype=DTYPE), diagonal=1)


def _block(placement: str, seed: int, norm: str = "rms") -> torch.nn.Module:
    from verified_transformer.nn.variants import Block

    block = Block(D_MODEL, HEADS, D_FF, placement=placement, norm=norm, dtype=DTYPE)
    return nu.randomize(block, seed)


def _torch_state(block: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Our block's weights under ``nn.TransformerEncoderLayer``'s names (q, k, v as in_proj)."""
    state = dict(block.state_dict())
    for kind in ("weight", "bias"):
        state[f"self_attn.in_proj_{kind}"] = torch.cat(
            [state.pop(f"self_attn.{p}_proj.{kind}") for p in "qkv"])
    return state


def _rms_module(nn: ModuleType, weight: torch.Tensor, eps: float = 1e-5) -> torch.nn.Module:
    module = nn.RMSNorm(weight.shape[0], eps=eps, dtype=DTYPE)
    module.load_state_dict({"weight": weight})
    return module


def block_placement(placement: str, norms: dict[str, str]) -> Reference:
    """Our ``Block(placement=...)`` (RMSNorm, float64, seeded weights, eval, explicit formulas) at
    x: its stream after the attention sub-layer (x_{l+1} and y) and its output (out), where the
    chains are evaluated with ``nn.MultiheadAttention`` (causal mask) and ``nn.RMSNorm`` loaded
    with the block's weights (``norms``: each displayed norm's attribute of the block; chain 0's
    F is SA), ours and torch's."""
    from verified_transformer.nn.fused import fused_kernels

    block, x = _block(placement, 90), randn(2, TOKENS, D_MODEL, seed=92)
    with fused_kernels(False):
        y, out = block._sublayer(x, block._attention, block.norm1, block.norm1_out), block(x)

    def operators(F: ModuleType, nn: ModuleType) -> dict:
        mha = nn.MultiheadAttention(D_MODEL, HEADS, batch_first=True, dtype=DTYPE).eval()
        mha.load_state_dict({k.removeprefix("self_attn."): v for k, v in
                             _torch_state(block).items() if k.startswith("self_attn.")})

        def sa(t: torch.Tensor) -> torch.Tensor:
            return mha(t, t, t, attn_mask=_causal(t.shape[1]), need_weights=False)[0]

        def ffn(t: torch.Tensor) -> torch.Tensor:
            return block.linear2(torch.nn.functional.gelu(block.linear1(t)))

        return {cp.F: sa, cp.SA: sa, cp.FFN: ffn} | {
            sp.Function(name): _rms_module(nn, getattr(block, attr).weight.detach())
            for name, attr in norms.items()}

    inputs = {cp.XS[cp.ell]: x, cp.XS[cp.ell + 1]: y, cp.X: x, cp.Y: y, cp.OUT: out}
    return Reference(inputs=inputs, scalars={}, operators=operators)


def stream_growth(chains: Chains) -> bool:
    """Exact enumeration: x_0 = +-1/2 and f_l = e_l RMSNorm(x_{l-1}) with gain 3/2 (width 1,
    eps = 0, so f_l = +-3/2 whatever the stream's scale, and E[f_l f_m] = 0 for l != m), e_l = +-1;
    all 2^(L+1) sign patterns equally likely, L = 1..10. The variance of x_L over the patterns is
    the right side at s^2 = 1/4, v = 9/4, with our and torch's nn.RMSNorm."""

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        norm = _rms_module(nn, torch.tensor([1.5], dtype=DTYPE), eps=0.0)
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

    return nu.for_each_implementation(holds)


def increment_bound(chains: Chains) -> bool:
    """Our and torch's nn.RMSNorm (n = 6, seeded gains of both signs, eps = 1e-5) on adversarial
    inputs: 10^8 randn, 10^12 e_k at the largest |g_k| (where RMS(N(y)) reaches max |g|), a
    constant 10^6 and a tiny 10^-9 randn: RMS of the output <= the bound of chain 0. Then three
    Block(placement="peri") with out_proj and linear2 scaled by 10^6: every token's RMS(x_L) <=
    chain 1's bound (L = 6, two sub-layers a block), while the same Pre-LN blocks exceed it."""
    width, gain = 6, randn(6, seed=93)
    bound, stream = chains[0][0].rhs, chains[1][0].rhs
    limit = float(bound.xreplace({pl.G: sp.Float(float(gain.abs().max()), 30), pl.n: width}))
    spike = 1e12 * torch.nn.functional.one_hot(gain.abs().argmax(), width).to(DTYPE)
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
        at = {pl.G: sp.Float(peak, 30), pl.n: D_MODEL, pl.L: 6, pl.RMS(cp.X0): 0}
        return rms(h0) + float(stream.xreplace(at))

    def holds(F: ModuleType, nn: ModuleType) -> bool:
        with torch.no_grad():
            if not bool((rms(_rms_module(nn, gain)(inputs)) <= limit * (1 + 1e-12)).all()):
                return False
            h0, h, peak = stack("peri")
            pre0, pre, _ = stack("pre")
        within = bool((rms(h) <= reach(h0, peak) * (1 + 1e-12)).all())
        return within and bool((rms(pre) > reach(pre0, peak)).all())

    return nu.for_each_implementation(holds)


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
        nu.randomize(QKNormSelfAttention(dim, HEADS, qk_norm=on, bias=False), seed=seed)
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

    return nu.for_each_implementation(holds)


def _dyt(width: int, value: float = 0.5, **loaded: torch.Tensor) -> torch.nn.Module:
    """Our DynamicTanh (float64, alpha at ``value``), its parameters ``loaded`` (none: fresh)."""
    from verified_transformer.nn.variants import DynamicTanh

    module = DynamicTanh(width, alpha_init=value, dtype=DTYPE)
    module.load_state_dict(loaded, strict=False)
    return module


def dyt_definition(chains: Chains) -> bool:
    """Both chains at alpha = 0.7, seeded rows, gain and bias (numeric.chains_agree), DyT by our
    DynamicTanh and by gamma torch.tanh(alpha x) + beta, its derivative by autograd; our
    DynamicTanh's Jacobian is exactly diagonal, and a fresh one starts at alpha = 0.5 (the
    official code's alpha_init_value), gamma = 1, beta = 0 (module state: no equation)."""
    width, value = 6, 0.7
    rows, gain, bias = randn(3, width, seed=104) * 2, randn(width, seed=105), randn(width, seed=106)
    module, fresh = _dyt(width, value, weight=gain, bias=bias), _dyt(width)
    reference = Reference(
        inputs={pl.x: rows, pl.gamma: gain, pl.beta: bias}, scalars={pl.alpha: value},
        index=(pl.i, pl.j), size=pl.n, operators=lambda F, nn: {pl.DyT: (
            (lambda v, a: gain * torch.tanh(a * v) + bias) if nn is torch.nn
            else (lambda v, a: module(v)))})
    starts = fresh.alpha.item() == 0.5 and bool((fresh.weight == 1).all()) and not fresh.bias.any()
    jac = autograd_jacobian(module, rows[0])
    return (starts and torch.equal(jac, torch.diag(torch.diagonal(jac)))
            and nu.chains_agree(chains, (), reference))


def dyt_row(row: tuple[bool, ...]) -> bool:
    """The six entries in float64 (numeric.invariances): our DynamicTanh (alpha = 0.5, seeded
    gain and bias) and gamma torch.tanh(alpha a) + beta of the summed inputs a = x W^T."""
    gain, bias = randn(5, seed=107), randn(5, seed=108)
    ours = _dyt(5, weight=gain, bias=bias)
    return all(nu.invariances(lambda a, _, f=f: f(a)) == tuple(row)
               for f in (ours, lambda a: gain * torch.tanh(0.5 * a) + bias))


def ngpt_update() -> Reference:
    """Float64, d = 8, 5 tokens: the official code's two steps (NVIDIA/ngpt model.py
    Block.forward, justnorm as torch.nn.functional.normalize: res = A + alpha (B - A),
    h = justnorm(res)) with seeded branches tanh(h W) and per-coordinate alpha; the chains are
    evaluated at h, its steps and their normalized branch outputs (Norm by normalize, chain 4
    against x / ||x||_2 summed explicitly, at a seeded x)."""

    def justnorm(t: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.normalize(t, p=2.0, dim=-1)

    weights = (randn(8, 8, seed=s) for s in (110, 112))
    attn, mlp = (lambda t, w=w: torch.tanh(t @ w) for w in weights)
    rate_a, rate_m = (randn(8, seed=s).abs() / 4 for s in (111, 113))
    h = justnorm(randn(5, 8, seed=109))
    h_a = justnorm(attn(h))
    h1 = justnorm(h + rate_a * (h_a - h))
    h_m = justnorm(mlp(h1))
    values = {cp.H: h, cp.HA: h_a, cp.RATE_A: rate_a, cp.H1: h1, cp.HM: h_m, cp.RATE_M: rate_m,
              cp.H2: justnorm(h1 + rate_m * (h_m - h1)), cp.X: 3 * randn(5, 8, seed=114)}
    return Reference(inputs=values, scalars={}, operators=lambda F, nn: {
        cp.NORM: justnorm, cp.ATTN: attn, cp.MLP: mlp, pl.Hadamard: torch.mul,
        pl.L2: lambda t: t.pow(2).sum(-1, keepdim=True).sqrt()})


def mixln_layout(chains: Chains) -> bool:
    """L = 10 of our Blocks (alpha = 1/4, LayerNorm, seeded, float64) built from the rule of
    chain 0: the first 2 (alpha L = 2.5) have placement "post", the rest "pre"; each equals
    nn.TransformerEncoderLayer(norm_first=(placement == "pre"), activation="gelu", causal mask)
    loaded with its weights, ours and torch's, and so does the stack."""
    rule = cp.mixln_layers(chains, 10, sp.Rational(1, 4))
    wanted = ["post" if p == cp.POST else "pre" for p in rule]
    blocks = [_block(p, 112 + t, norm="layer") for t, p in enumerate(wanted)]
    x, mask = randn(2, TOKENS, D_MODEL, seed=120), _causal(TOKENS)

    def layer_of(nn: ModuleType, block: torch.nn.Module) -> torch.nn.Module:
        layer = nn.TransformerEncoderLayer(
            D_MODEL, HEADS, D_FF, dropout=0.0, activation="gelu", batch_first=True,
            norm_first=block.placement == "pre", dtype=DTYPE).eval()
        layer.load_state_dict(_torch_state(block))
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

    return nu.for_each_implementation(holds)
