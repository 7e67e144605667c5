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
    close,
    evaluate,
    for_each_implementation,
    randn,
    randomize,
    table_1_moves,
)
from verified_transformer.claims.placements import (
    Bound,
    Entry,
    Growth,
    LogitBound,
    Row,
    Sublayer,
    Update,
    n,
    x,
)
from verified_transformer.derive import layernorm as ln
from verified_transformer.derive import placements as pl

D_MODEL, HEADS, D_FF, TOKENS = 4, 2, 8, 3  # the blocks of the numeric checks


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


def block_placement(placement: str) -> Callable[[Sublayer], bool]:
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


def stream_growth(growth: Growth) -> bool:
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


def increment_bound(bound: Bound) -> bool:
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


def qknorm_logit_bound(bound: LogitBound) -> bool:
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


def dyt_definition(entry: Entry) -> bool:
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


def dyt_row(row: Row) -> bool:
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


def ngpt_update(update: Update) -> bool:
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


def mixln_layout(layout: pl.Layout) -> bool:
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
