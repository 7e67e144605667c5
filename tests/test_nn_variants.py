"""DynamicTanh, make_norm, QK-norm attention, Block placements and BlockStack: formulas,
hand-written references, the QK-norm logit bound, gradients and argument errors."""

from __future__ import annotations

import math

import nn_helpers
import pytest
import torch
from tolerances import PATH, TOLERANCE

from verified_transformer.nn import LayerNorm, RMSNorm, fused_kernels
from verified_transformer.nn._checks import InputShapeError
from verified_transformer.nn.variants import (
    Block,
    BlockStack,
    DynamicTanh,
    QKNormSelfAttention,
    make_norm,
    max_attention_logit_bound,
)

DTYPES = [torch.float32, torch.float64]
PLACEMENTS = ["post", "pre", "peri", "output"]
NORMS = ["layer", "rms", "dyt", "none"]


def randomize(module: torch.nn.Module, std: float = 0.3, seed: int = 0) -> None:
    """Every parameter N(0, std^2), then 1 added to norm gains and DyT's alpha (kept near 1)."""
    nn_helpers.randomize(module, std=std, seed=seed)
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            leaf = name.rsplit(".", 1)[-1]
            owner = module.get_submodule(name.rsplit(".", 1)[0]) if "." in name else module
            if leaf == "alpha" or (
                leaf == "weight" and isinstance(owner, LayerNorm | RMSNorm | DynamicTanh)
            ):
                parameter.add_(1.0)


def gelu(x: torch.Tensor) -> torch.Tensor:
    """The exact GELU, x * Phi(x), written out."""
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


# ---------------------------------------------------------------------------------------------
# DynamicTanh


def test_dyt_equals_a_hand_computation_in_float64():
    dyt = DynamicTanh((2, 3), alpha_init=0.7, dtype=torch.float64)
    torch.manual_seed(1)
    with torch.no_grad():
        dyt.weight.normal_()
        dyt.bias.normal_()
    x = torch.randn(4, 2, 3, dtype=torch.float64) * 3
    y = dyt(x).detach()
    gamma, beta = dyt.weight.detach(), dyt.bias.detach()
    assert y.shape == x.shape and y.dtype == torch.float64
    for b in range(4):
        for i in range(2):
            for j in range(3):
                expected = gamma[i, j].item() * math.tanh(0.7 * x[b, i, j].item())
                expected += beta[i, j].item()
                assert abs(float(y[b, i, j]) - expected) < 1e-14


def test_dyt_parameters_initial_values_and_variants():
    dyt = DynamicTanh(5, alpha_init=0.25)
    assert [name for name, _ in dyt.named_parameters()] == ["alpha", "weight", "bias"]
    assert dyt.alpha.shape == () and dyt.alpha.item() == 0.25
    assert torch.equal(dyt.weight, torch.ones(5)) and torch.equal(dyt.bias, torch.zeros(5))
    assert [n for n, _ in DynamicTanh(5, bias=False).named_parameters()] == ["alpha", "weight"]
    plain = DynamicTanh(5, elementwise_affine=False, alpha_init=2.0)
    assert [n for n, _ in plain.named_parameters()] == ["alpha"]
    x = torch.randn(3, 5)
    torch.testing.assert_close(plain(x), torch.tanh(2.0 * x))
    assert DynamicTanh(5).state_dict().keys() == {"alpha", "weight", "bias"}


def test_dyt_alpha_is_learnable_and_gets_the_analytic_gradient():
    dyt = DynamicTanh(4, alpha_init=0.5, dtype=torch.float64)
    with torch.no_grad():
        dyt.weight.copy_(torch.tensor([1.0, -2.0, 0.5, 3.0]))
    x = torch.randn(6, 4, dtype=torch.float64)
    dyt(x).sum().backward()
    assert dyt.alpha.requires_grad
    # d/d alpha sum(gamma * tanh(alpha x) + beta) = sum(gamma * x * (1 - tanh(alpha x)^2))
    expected = (dyt.weight.detach() * x * (1 - torch.tanh(0.5 * x) ** 2)).sum()
    torch.testing.assert_close(dyt.alpha.grad, expected)
    optimizer = torch.optim.SGD(dyt.parameters(), lr=0.1)
    optimizer.step()
    assert dyt.alpha.item() != 0.5


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: DynamicTanh(4, alpha_init=0.0), ValueError, "alpha_init must be a finite"),
        (lambda: DynamicTanh(4, alpha_init=-1.0), ValueError, "alpha_init"),
        (lambda: DynamicTanh(4, alpha_init=math.inf), ValueError, "alpha_init"),
        (lambda: DynamicTanh(4, alpha_init=math.nan), ValueError, "alpha_init"),
        (lambda: DynamicTanh(4, alpha_init=True), TypeError, "alpha_init"),
        (lambda: DynamicTanh(4, alpha_init="0.5"), TypeError, "alpha_init"),
        (lambda: DynamicTanh(0), ValueError, "normalized_shape"),
        (lambda: DynamicTanh("4"), TypeError, "normalized_shape"),
        (lambda: DynamicTanh(4, bias=1), TypeError, "bias must be a bool"),
        (lambda: DynamicTanh(4)(torch.ones(2, 5)), ValueError, r"normalized_shape=\[4\]"),
        (lambda: DynamicTanh((2, 4))(torch.ones(4, 2)), ValueError, r"normalized_shape=\[2, 4\]"),
        (lambda: DynamicTanh(2)(torch.ones(2, 2, dtype=torch.long)), TypeError, "input"),
    ],
)
def test_dyt_bad_arguments_are_rejected_naming_them(call, error, message):
    with pytest.raises(error, match=message):
        call()


# ---------------------------------------------------------------------------------------------
# make_norm


def test_make_norm_kinds():
    x = torch.randn(3, 7, dtype=torch.float64) * 4 + 2
    layer = make_norm("layer", 7, eps=1e-3)
    assert isinstance(layer, LayerNorm) and layer.eps == 1e-3 and layer.normalized_shape == (7,)
    rms = make_norm("rms", 7, eps=1e-4)
    assert isinstance(rms, RMSNorm) and rms.eps == 1e-4 and rms.normalized_shape == (7,)
    dyt = make_norm("dyt", 7)
    assert isinstance(dyt, DynamicTanh) and dyt.normalized_shape == (7,)
    assert type(make_norm("none", 7)) is torch.nn.Identity
    x32 = x.float()
    torch.testing.assert_close(layer(x32), torch.nn.functional.layer_norm(x32, (7,), eps=1e-3))
    torch.testing.assert_close(rms(x32), torch.nn.functional.rms_norm(x32, (7,), eps=1e-4))
    torch.testing.assert_close(dyt(x32), torch.tanh(0.5 * x32))
    made = make_norm("rms", 7, dtype=torch.float64)
    assert made.weight.dtype == torch.float64


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: make_norm("batch", 4), ValueError, "kind must be one of 'layer', 'rms', 'dyt'"),
        (lambda: make_norm("Layer", 4), ValueError, "'none'"),
        (lambda: make_norm(None, 4), TypeError, "kind must be one of"),
        (lambda: make_norm("layer", 0), ValueError, "d_model"),
        (lambda: make_norm("none", 2.5), TypeError, "d_model"),
        (lambda: make_norm("rms", 4, eps=-1.0), ValueError, "eps"),
    ],
)
def test_make_norm_bad_arguments(call, error, message):
    with pytest.raises(error, match=message):
        call()


# ---------------------------------------------------------------------------------------------
# QKNormSelfAttention


def reference_attention(
    module: QKNormSelfAttention,
    x: torch.Tensor,
    causal: bool,
    blocked: torch.Tensor | None = None,
) -> tuple[torch.Tensor, float]:
    """The module's formula by hand, one batch element and one head at a time.

    Returns the output and the largest |logit| over all (unmasked and masked) pairs.
    """
    p = {name: value.detach() for name, value in module.named_parameters()}
    batch, length, width = x.shape
    heads, d = module.num_heads, module.head_dim
    q = x @ p["q_proj.weight"].T + p["q_proj.bias"]
    k = x @ p["k_proj.weight"].T + p["k_proj.bias"]
    v = x @ p["v_proj.weight"].T + p["v_proj.bias"]
    concat = torch.zeros(batch, length, width, dtype=x.dtype)
    largest = 0.0
    for n in range(batch):
        for h in range(heads):
            cols = slice(h * d, (h + 1) * d)
            qh, kh, vh = q[n, :, cols], k[n, :, cols], v[n, :, cols]
            if module.qk_norm:
                eps = module.qk_norm_eps
                qh = qh / torch.sqrt((qh**2).mean(-1, keepdim=True) + eps) * p["q_norm.weight"]
                kh = kh / torch.sqrt((kh**2).mean(-1, keepdim=True) + eps) * p["k_norm.weight"]
            logits = qh @ kh.T / math.sqrt(d)
            largest = max(largest, float(logits.abs().max()))
            for i in range(length):
                allowed = [
                    j
                    for j in range(length)
                    if not (causal and j > i) and not (blocked is not None and bool(blocked[i, j]))
                ]
                row = logits[i, allowed]
                weights = torch.exp(row - row.max())
                weights = weights / weights.sum()
                concat[n, i, cols] = weights @ vh[allowed]
    return concat @ p["out_proj.weight"].T + p["out_proj.bias"], largest


def attention(qk_norm: bool, dtype=torch.float64, embed_dim=8, heads=2, seed=0):
    torch.manual_seed(seed)
    module = QKNormSelfAttention(embed_dim, heads, qk_norm=qk_norm, dtype=dtype)
    randomize(module, seed=seed)
    return module


@PATH
@pytest.mark.parametrize("qk_norm", [False, True])
@pytest.mark.parametrize("causal", [False, True])
def test_attention_equals_the_hand_written_reference_in_float64(fused, qk_norm, causal):
    module = attention(qk_norm)
    x = torch.randn(2, 5, 8, dtype=torch.float64)
    expected, largest = reference_attention(module, x, causal)
    with fused_kernels(fused):
        y = module(x, is_causal=causal)
    assert y.shape == (2, 5, 8)
    torch.testing.assert_close(y, expected, **TOLERANCE[torch.float64])
    assert module.last_max_logit == pytest.approx(largest, rel=1e-12)


def test_attention_parameters_and_last_max_logit_before_a_call():
    plain = QKNormSelfAttention(12, 3)
    assert [n for n, _ in plain.named_parameters()] == [
        f"{p}_proj.{w}" for p in ("q", "k", "v", "out") for w in ("weight", "bias")
    ]
    assert plain.q_norm is None and plain.k_norm is None and plain.head_dim == 4
    normed = QKNormSelfAttention(12, 3, qk_norm=True, qk_norm_eps=1e-5)
    assert normed.q_norm.weight.shape == (4,) and normed.k_norm.weight.shape == (4,)
    assert isinstance(normed.q_norm, RMSNorm) and normed.q_norm.eps == 1e-5
    assert normed.last_max_logit is None
    normed(torch.randn(1, 3, 12))
    assert isinstance(normed.last_max_logit, float)
    assert QKNormSelfAttention(12, 3, bias=False).q_proj.bias is None


@pytest.mark.parametrize("qk_norm", [False, True])
def test_causal_attention_ignores_later_tokens_and_bidirectional_does_not(qk_norm):
    module = attention(qk_norm)
    x = torch.randn(2, 6, 8, dtype=torch.float64)
    changed = x.clone()
    changed[:, 3] += torch.randn(2, 8, dtype=torch.float64)
    before, after = module(x, is_causal=True), module(changed, is_causal=True)
    torch.testing.assert_close(before[:, :3], after[:, :3], rtol=0, atol=0)
    assert not torch.allclose(before[:, 3:], after[:, 3:])
    both_ways = module(x), module(changed)
    assert not torch.allclose(both_ways[0][:, :3], both_ways[1][:, :3])


def test_attention_mask_bool_and_float_agree_with_the_reference():
    module = attention(True)
    x = torch.randn(2, 5, 8, dtype=torch.float64)
    x[:, 2] *= 50  # key 2 has by far the largest logits, at (2, 2) above all
    blocked = torch.zeros(5, 5, dtype=torch.bool)
    blocked[:, 2] = True
    blocked[4, 0] = True
    expected, largest = reference_attention(module, x, causal=False, blocked=blocked)
    y_bool = module(x, attn_mask=blocked)
    torch.testing.assert_close(y_bool, expected, **TOLERANCE[torch.float64])
    # the recorded logit is over the raw scores: the blocked key 2 counts
    assert module.last_max_logit == pytest.approx(largest, rel=1e-12)
    unmasked_plain = attention(False)
    unmasked_plain(x, attn_mask=blocked)
    _, largest_plain = reference_attention(unmasked_plain, x, causal=False, blocked=blocked)
    assert unmasked_plain.last_max_logit == pytest.approx(largest_plain, rel=1e-12)
    float_mask = torch.zeros(5, 5, dtype=torch.float64).masked_fill(blocked, -math.inf)
    torch.testing.assert_close(module(x, attn_mask=float_mask), y_bool)
    both, _ = reference_attention(module, x, causal=True, blocked=blocked)
    torch.testing.assert_close(module(x, attn_mask=blocked, is_causal=True), both)


def test_last_max_logit_is_taken_before_the_causal_mask():
    module = attention(False)
    with torch.no_grad():  # coordinate 0 of x reaches the keys but not the queries
        module.q_proj.weight[:, 0] = 0.0
        module.q_proj.bias.zero_()
    x = torch.randn(1, 4, 8, dtype=torch.float64)
    x[:, 3] = 0.0
    x[:, 3, 0] = 100.0  # query 3 is 0; key 3 is huge, and seen only by the masked queries 0..2
    p = {name: value.detach() for name, value in module.named_parameters()}
    q = (x @ p["q_proj.weight"].T + p["q_proj.bias"]).view(1, 4, 2, 4).transpose(1, 2)
    k = (x @ p["k_proj.weight"].T + p["k_proj.bias"]).view(1, 4, 2, 4).transpose(1, 2)
    logits = (q @ k.transpose(-1, -2) / 2.0).abs()
    visible = logits.masked_fill(torch.ones(4, 4, dtype=torch.bool).triu(1), 0.0)
    assert float(logits.max()) > float(visible.max())  # the test can tell the two apart
    module(x, is_causal=True)
    assert module.last_max_logit == pytest.approx(float(logits.max()), rel=1e-12)


def test_qk_norm_gains_get_gradients_and_they_are_correct():
    module = attention(True)
    x = torch.randn(2, 4, 8, dtype=torch.float64)
    module(x, is_causal=True).square().sum().backward()
    for gain in (module.q_norm.weight, module.k_norm.weight):
        assert gain.grad is not None and gain.grad.abs().min() > 0
    gains = (module.q_norm.weight.detach().clone(), module.k_norm.weight.detach().clone())

    def output(q_gain, k_gain):
        parameters = {"q_norm.weight": q_gain, "k_norm.weight": k_gain}
        return torch.func.functional_call(module, parameters, (x,), {"is_causal": True})

    inputs = tuple(g.requires_grad_() for g in gains)
    assert torch.autograd.gradcheck(output, inputs)


def test_max_attention_logit_bound_formula_and_errors():
    q_gain = torch.tensor([1.0, -3.0, 2.0])
    k_gain = torch.tensor([0.5, 1.0, -2.0])
    assert max_attention_logit_bound(q_gain, k_gain, 3) == pytest.approx(3 * 2 * math.sqrt(3))
    assert max_attention_logit_bound(None, None, 16) == pytest.approx(4.0)
    assert max_attention_logit_bound(None, k_gain, 3) == pytest.approx(2 * math.sqrt(3))
    with pytest.raises(ValueError, match=r"q_gain must have shape \(head_dim,\) = \(4,\)"):
        max_attention_logit_bound(q_gain, k_gain, 4)
    with pytest.raises(ValueError, match="head_dim"):
        max_attention_logit_bound(None, None, 0)
    with pytest.raises(TypeError, match="k_gain"):
        max_attention_logit_bound(None, [1.0, 2.0], 2)
    with pytest.raises(ValueError, match="qk_norm=True"):
        attention(False).logit_bound()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("aligned", [False, True])
def test_qk_norm_logits_never_exceed_the_bound(dtype, aligned):
    module = attention(True, dtype=dtype, embed_dim=16, heads=2)
    with torch.no_grad():
        module.q_norm.weight.mul_(2.5)  # gains around 2.5 and 1, some entries > 3
        if aligned:  # q = k at every position: the diagonal logits are as large as they get
            module.k_proj.load_state_dict(module.q_proj.state_dict())
            module.k_norm.weight.fill_(1.7)
            module.q_norm.weight.fill_(-2.0)
    bound = module.logit_bound()
    slack = 1 + 10 * torch.finfo(dtype).eps  # rounding only
    generator = torch.Generator().manual_seed(0)
    for scale in (1e-3, 1.0, 1e2, 1e4, 1e6):
        x = torch.randn(3, 7, 16, generator=generator, dtype=dtype) * scale
        module(x, is_causal=True)
        assert module.last_max_logit <= bound * slack, (scale, module.last_max_logit, bound)
        if aligned and scale >= 1.0:  # uniform gains: |q.k|/sqrt(d) -> 2 * 1.7 * sqrt(8)
            assert module.last_max_logit >= 0.999 * bound


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_bound_is_attained_within_ten_percent_with_uneven_gains(dtype):
    module = QKNormSelfAttention(8, 2, qk_norm=True, dtype=dtype)
    with torch.no_grad():
        for projection in (module.q_proj, module.k_proj):
            projection.weight.copy_(torch.eye(8))
            projection.bias.zero_()
        module.q_norm.weight.copy_(torch.tensor([0.3, -4.0, 1.0, 2.0]))
        module.k_norm.weight.copy_(torch.tensor([-1.0, 3.0, 0.5, 2.5]))
    bound = module.logit_bound()
    assert bound == pytest.approx(4.0 * 3.0 * 2.0)
    x = torch.zeros(1, 3, 8, dtype=dtype)
    x[0, :, 1] = 5.0  # q = k = 5 e_1 in head 0: q_hat = k_hat = sqrt(4) e_1
    x[0, 1, 6] = 1.0
    module(x)
    assert 0.9 * bound <= module.last_max_logit <= bound * (1 + 10 * torch.finfo(dtype).eps)
    assert module.last_max_logit == pytest.approx(bound, rel=1e-4)


def test_without_qk_norm_the_logits_grow_with_the_square_of_the_input_scale():
    plain, normed = attention(False), attention(True)
    for module in (plain, normed):
        with torch.no_grad():
            module.q_proj.bias.zero_()
            module.k_proj.bias.zero_()
    x = torch.randn(2, 5, 8, dtype=torch.float64)
    logits_plain, logits_normed = [], []
    for scale in (1.0, 10.0, 1e4):
        plain(x * scale, is_causal=True)
        normed(x * scale, is_causal=True)
        logits_plain.append(plain.last_max_logit)
        logits_normed.append(normed.last_max_logit)
    assert logits_plain[1] == pytest.approx(100 * logits_plain[0], rel=1e-10)
    assert logits_plain[2] == pytest.approx(1e8 * logits_plain[0], rel=1e-10)
    assert logits_plain[2] > 1e3 * normed.logit_bound()
    assert logits_normed[2] == pytest.approx(logits_normed[1], rel=1e-6)
    assert max(logits_normed) <= normed.logit_bound()


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: QKNormSelfAttention(10, 3), ValueError, "embed_dim must be divisible by num"),
        (lambda: QKNormSelfAttention(0, 1), ValueError, "embed_dim"),
        (lambda: QKNormSelfAttention(8, 0), ValueError, "num_heads"),
        (lambda: QKNormSelfAttention(8, 2, qk_norm=1), TypeError, "qk_norm must be a bool"),
        (lambda: QKNormSelfAttention(8, 2, qk_norm_eps=-1.0), ValueError, "qk_norm_eps"),
        (lambda: QKNormSelfAttention(8, 2)(torch.ones(2, 3, 6)), InputShapeError, r"\(N, S, 8\)"),
        (lambda: QKNormSelfAttention(8, 2)(torch.ones(3, 8)), InputShapeError, "x must have"),
        (
            lambda: QKNormSelfAttention(8, 2)(torch.ones(1, 3, 8, dtype=torch.float64)),
            TypeError,
            "x must have the parameters' dtype torch.float32",
        ),
        (lambda: QKNormSelfAttention(8, 2)(torch.ones(1, 3, 8).long()), TypeError, "x must"),
        (lambda: QKNormSelfAttention(8, 2)([1.0]), TypeError, "x must be a torch.Tensor"),
        (
            lambda: QKNormSelfAttention(8, 2)(torch.ones(1, 3, 8), attn_mask=torch.ones(3, 4) > 0),
            InputShapeError,
            "attn_mask must have shape",
        ),
        (
            lambda: QKNormSelfAttention(8, 2)(
                torch.ones(1, 3, 8), attn_mask=torch.ones(3, 3).double()
            ),
            TypeError,
            "attn_mask must be bool",
        ),
        (
            lambda: QKNormSelfAttention(8, 2)(
                torch.ones(1, 3, 8), attn_mask=torch.eye(3, dtype=torch.bool), is_causal=True
            ),
            ValueError,
            "blocks every key",
        ),
        (
            lambda: QKNormSelfAttention(8, 2)(torch.ones(1, 3, 8), is_causal=1),
            TypeError,
            "is_causal",
        ),
    ],
)
def test_attention_bad_arguments(call, error, message):
    with pytest.raises(error, match=message):
        call()


# ---------------------------------------------------------------------------------------------
# Block


def make_block(placement, norm="layer", residual=True, qk_norm=False, dtype=torch.float64):
    torch.manual_seed(0)
    block = Block(
        8,
        2,
        12,
        placement=placement,
        norm=norm,
        qk_norm=qk_norm,
        residual=residual,
        dtype=dtype,
    )
    randomize(block)
    return block


def block_formula(block: Block, x: torch.Tensor, placement: str, residual: bool) -> torch.Tensor:
    """The placement's two lines, written out with the block's sub-modules."""

    def sa(h):
        return block.self_attn(h, is_causal=True)

    def ff(h):
        return block.linear2(gelu(block.linear1(h)))

    skip = 1.0 if residual else 0.0
    if placement == "post":
        x = block.norm1(skip * x + sa(x))
        return block.norm2(skip * x + ff(x))
    if placement == "pre":
        x = skip * x + sa(block.norm1(x))
        return skip * x + ff(block.norm2(x))
    if placement == "peri":
        x = skip * x + block.norm1_out(sa(block.norm1(x)))
        return skip * x + block.norm2_out(ff(block.norm2(x)))
    assert placement == "output"
    x = skip * x + block.norm1_out(sa(x))
    return skip * x + block.norm2_out(ff(x))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("residual", [True, False])
@pytest.mark.parametrize("placement", PLACEMENTS)
def test_block_equals_its_placement_formula(placement, residual, norm, dtype):
    block = make_block(placement, norm=norm, residual=residual, dtype=dtype)
    x = torch.randn(2, 5, 8, dtype=dtype) * 2
    y = block(x)
    assert y.shape == x.shape and y.dtype == dtype
    torch.testing.assert_close(y, block_formula(block, x, placement, residual), **TOLERANCE[dtype])


def test_the_four_placements_give_four_different_blocks():
    blocks = {placement: make_block(placement) for placement in PLACEMENTS}
    shared = blocks["peri"].state_dict()  # peri has every norm: load the same weights into all
    for block in blocks.values():
        block.load_state_dict({k: v for k, v in shared.items() if k in block.state_dict()})
    x = torch.randn(2, 5, 8, dtype=torch.float64)
    outputs = {placement: block(x) for placement, block in blocks.items()}
    for i, first in enumerate(PLACEMENTS):
        for second in PLACEMENTS[i + 1 :]:
            assert not torch.allclose(outputs[first], outputs[second], atol=1e-3), (first, second)


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_block_without_residual_drops_the_skip(placement):
    with_skip = make_block(placement, residual=True)
    without = make_block(placement, residual=False)
    without.load_state_dict(with_skip.state_dict())
    x = torch.randn(2, 5, 8, dtype=torch.float64)
    assert not torch.allclose(with_skip(x), without(x), atol=1e-3)
    torch.testing.assert_close(without(x), block_formula(without, x, placement, False))
    torch.testing.assert_close(with_skip(x), block_formula(with_skip, x, placement, True))


@pytest.mark.parametrize(
    ("placement", "inner", "outer"),
    [("post", True, False), ("pre", True, False), ("peri", True, True), ("output", False, True)],
)
@pytest.mark.parametrize(("norm", "kind"), [("layer", LayerNorm), ("rms", RMSNorm)])
def test_block_has_the_norms_of_its_placement(placement, inner, outer, norm, kind):
    block = Block(8, 2, 16, placement=placement, norm=norm)
    for name in ("norm1", "norm2"):
        assert isinstance(getattr(block, name), kind) if inner else getattr(block, name) is None
    for name in ("norm1_out", "norm2_out"):
        assert isinstance(getattr(block, name), kind) if outer else getattr(block, name) is None
    assert block.linear1.weight.shape == (16, 8) and block.linear2.weight.shape == (8, 16)
    assert isinstance(block.self_attn, QKNormSelfAttention) and not block.self_attn.qk_norm
    assert Block(8, 2, 16, norm="dyt", qk_norm=True).self_attn.qk_norm
    assert isinstance(Block(8, 2, 16, norm="dyt").norm1, DynamicTanh)
    plain = Block(8, 2, 16, placement=placement, norm="none")
    present = [getattr(plain, n) for n in ("norm1", "norm2", "norm1_out", "norm2_out")]
    assert all(type(m) is torch.nn.Identity for m in present if m is not None)
    assert not [name for name, _ in plain.named_parameters() if name.startswith("norm")]


def test_pre_layer_norm_block_equals_a_hand_written_pre_ln_block():
    block = make_block("pre", norm="layer")
    p = {name: value.detach() for name, value in block.named_parameters()}
    x = torch.randn(2, 6, 8, dtype=torch.float64)

    def layer_norm(h, prefix):
        mean = h.mean(-1, keepdim=True)
        variance = ((h - mean) ** 2).mean(-1, keepdim=True)
        return (h - mean) / torch.sqrt(variance + 1e-5) * p[f"{prefix}.weight"] + p[
            f"{prefix}.bias"
        ]

    def causal_attention(h):
        n, s, e = h.shape
        q, k, v = (
            (h @ p[f"self_attn.{name}_proj.weight"].T + p[f"self_attn.{name}_proj.bias"])
            .view(n, s, 2, 4)
            .transpose(1, 2)
            for name in "qkv"
        )
        logits = q @ k.transpose(-1, -2) / 2.0
        logits = logits.masked_fill(torch.ones(s, s, dtype=torch.bool).triu(1), -math.inf)
        weights = torch.exp(logits - logits.amax(-1, keepdim=True))
        weights = weights / weights.sum(-1, keepdim=True)
        heads = (weights @ v).transpose(1, 2).reshape(n, s, e)
        return heads @ p["self_attn.out_proj.weight"].T + p["self_attn.out_proj.bias"]

    h = x + causal_attention(layer_norm(x, "norm1"))
    hidden = gelu(layer_norm(h, "norm2") @ p["linear1.weight"].T + p["linear1.bias"])
    expected = h + hidden @ p["linear2.weight"].T + p["linear2.bias"]
    for fused in (True, False):
        with fused_kernels(fused):
            torch.testing.assert_close(block(x), expected, **TOLERANCE[torch.float64])


@pytest.mark.parametrize("qk_norm", [False, True])
@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("placement", PLACEMENTS)
def test_gradients_reach_every_block_parameter(placement, norm, qk_norm):
    block = make_block(placement, norm=norm, qk_norm=qk_norm)
    x = torch.randn(2, 5, 8, dtype=torch.float64, requires_grad=True)
    block(x).square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for name, parameter in block.named_parameters():
        assert parameter.grad is not None, name
        if name == "self_attn.k_proj.bias" and not qk_norm:
            # adds the same q.b_k to every logit of a query: softmax ignores it
            assert parameter.grad.abs().max() < 1e-10
        else:
            assert parameter.grad.abs().sum() > 1e-8, name


def test_block_dropout_only_in_training():
    torch.manual_seed(0)
    block = Block(8, 2, 12, placement="peri", norm="rms", dropout=0.5, dtype=torch.float64)
    reference = Block(8, 2, 12, placement="peri", norm="rms", dtype=torch.float64)
    reference.load_state_dict(block.state_dict())
    x = torch.randn(2, 5, 8, dtype=torch.float64)
    assert not torch.allclose(block(x), reference(x))
    block.eval()
    torch.testing.assert_close(block(x), reference(x), rtol=0, atol=0)


def test_block_float32_matches_float64():
    block64 = make_block("peri", norm="dyt", qk_norm=True)
    block32 = make_block("peri", norm="dyt", qk_norm=True, dtype=torch.float32)
    block32.load_state_dict(block64.state_dict())
    assert all(p.dtype == torch.float32 for p in block32.parameters())
    x = torch.randn(2, 5, 8, dtype=torch.float64)
    torch.testing.assert_close(block32(x.float()), block64(x).float(), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda: Block(8, 2, 16, placement="middle"),
            ValueError,
            "placement must be one of 'post', 'pre', 'peri', 'output', got 'middle'",
        ),
        (lambda: Block(8, 2, 16, placement=None), TypeError, "placement"),
        (lambda: Block(8, 2, 16, norm="batch"), ValueError, "norm must be one of 'layer'"),
        (lambda: Block(8, 2, 16, qk_norm="yes"), TypeError, "qk_norm must be a bool"),
        (lambda: Block(8, 2, 16, residual=0), TypeError, "residual must be a bool"),
        (lambda: Block(8, 3, 16), ValueError, "d_model must be divisible by nhead"),
        (lambda: Block(8, 2, 0), ValueError, "dim_feedforward"),
        (lambda: Block(8, 2, 16, dropout=1.5), ValueError, "dropout"),
        (lambda: Block(8, 2, 16, norm_eps=-1.0), ValueError, "norm_eps"),
        (lambda: Block(8, 2, 16)(torch.ones(5, 8)), InputShapeError, r"x must have shape \(N"),
        (lambda: Block(8, 2, 16)(torch.ones(1, 5, 4)), InputShapeError, "x must have shape"),
        (lambda: Block(8, 2, 16)(torch.ones(1, 5, 8).double()), TypeError, "x must have the"),
    ],
)
def test_block_bad_arguments(call, error, message):
    with pytest.raises(error, match=message):
        call()


# ---------------------------------------------------------------------------------------------
# BlockStack


def make_stack(placement="pre", norm="layer", dtype=torch.float64, **options):
    torch.manual_seed(0)
    stack = BlockStack(11, 9, 8, 2, 16, 3, placement=placement, norm=norm, dtype=dtype, **options)
    randomize(stack)
    return stack


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("placement", PLACEMENTS)
def test_block_stack_shapes_and_stream(placement, dtype):
    stack = make_stack(placement, norm="rms", dtype=dtype, qk_norm=True)
    tokens = torch.randint(0, 11, (2, 7))
    logits = stack(tokens)
    assert logits.shape == (2, 7, 11) and logits.dtype == dtype
    logits_again, stream = stack.forward_with_stream(tokens)
    torch.testing.assert_close(logits_again, logits, rtol=0, atol=0)
    assert len(stream) == 3 + 1 and all(h.shape == (2, 7, 8) for h in stream)
    embedded = stack.token_embedding.weight[tokens] + stack.position_embedding.weight[:7]
    torch.testing.assert_close(stream[0], embedded)
    for layer, before, after in zip(stack.layers, stream[:-1], stream[1:], strict=True):
        torch.testing.assert_close(layer(before), after)
    expected = stack.readout(stack.final_norm(stream[-1]))
    torch.testing.assert_close(logits, expected, **TOLERANCE[dtype])


@pytest.mark.parametrize(
    ("placement", "norm", "final_norm", "kind", "expected_type"),
    [
        ("post", "layer", None, "none", torch.nn.Identity),
        ("pre", "layer", None, "layer", LayerNorm),
        ("peri", "rms", None, "rms", RMSNorm),
        ("output", "dyt", None, "dyt", DynamicTanh),
        ("pre", "none", None, "none", torch.nn.Identity),
        ("post", "layer", "rms", "rms", RMSNorm),
        ("pre", "layer", "none", "none", torch.nn.Identity),
    ],
)
def test_block_stack_final_norm_defaults(placement, norm, final_norm, kind, expected_type):
    stack = BlockStack(11, 9, 8, 2, 16, 2, placement=placement, norm=norm, final_norm=final_norm)
    assert stack.final_norm_kind == kind
    assert type(stack.final_norm) is expected_type
    assert len(stack.layers) == 2
    assert all(layer.placement == placement and layer.norm == norm for layer in stack.layers)


def test_block_stack_is_causal():
    stack = make_stack("peri", norm="dyt", qk_norm=True)
    tokens = torch.randint(0, 11, (2, 8))
    changed = tokens.clone()
    changed[:, 5] = (changed[:, 5] + 1) % 11
    before, after = stack(tokens), stack(changed)
    torch.testing.assert_close(before[:, :5], after[:, :5], rtol=0, atol=0)
    assert not torch.allclose(before[:, 5:], after[:, 5:])


@pytest.mark.parametrize("placement", PLACEMENTS)
@pytest.mark.parametrize("norm", ["layer", "dyt"])
def test_gradients_reach_every_block_stack_parameter(placement, norm):
    stack = make_stack(placement, norm=norm, qk_norm=True)
    tokens = torch.randint(0, 11, (3, 9))
    torch.nn.functional.cross_entropy(stack(tokens).flatten(0, 1), tokens.flatten()).backward()
    for name, parameter in stack.named_parameters():
        assert parameter.grad is not None, name
        assert parameter.grad.abs().sum() > 1e-8, name


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda s: s(torch.zeros(2, 3)), TypeError, "tokens must have dtype torch.int64"),
        (lambda s: s([[1, 2]]), TypeError, "tokens must be a torch.Tensor"),
        (lambda s: s(torch.zeros(2, 10, dtype=torch.long)), InputShapeError, "max_len=9"),
        (lambda s: s(torch.zeros(6, dtype=torch.long)), InputShapeError, r"tokens must have"),
        (lambda s: s(torch.full((1, 3), 11)), ValueError, r"tokens must be in \[0, vocab_size"),
        (lambda s: s(torch.full((1, 3), -1)), ValueError, "vocab_size=11"),
    ],
)
def test_block_stack_bad_tokens(call, error, message):
    stack = BlockStack(11, 9, 8, 2, 16, 1, placement="pre", norm="layer")
    with pytest.raises(error, match=message):
        call(stack)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"placement": "sandwich", "norm": "layer"}, ValueError, "placement must be one of"),
        ({"placement": "pre", "norm": "group"}, ValueError, "norm must be one of"),
        ({"placement": "pre", "norm": "layer", "final_norm": "x"}, ValueError, "final_norm"),
        ({"placement": "pre", "norm": "layer", "residual": None}, TypeError, "residual"),
    ],
)
def test_block_stack_bad_arguments(options, error, message):
    with pytest.raises(error, match=message):
        BlockStack(11, 9, 8, 2, 16, 2, **options)


def test_block_stack_needs_layers_and_a_placement():
    with pytest.raises(ValueError, match="num_layers"):
        BlockStack(11, 9, 8, 2, 16, 0, placement="pre", norm="layer")
    with pytest.raises(TypeError, match="placement"):
        BlockStack(11, 9, 8, 2, 16, 1, norm="layer")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("placement", PLACEMENTS)
def test_block_stack_on_cuda_matches_cpu(placement):
    stack = make_stack(placement, norm="rms", dtype=torch.float32, qk_norm=True)
    tokens = torch.randint(0, 11, (2, 9))
    expected = stack(tokens)
    logits = stack.to("cuda")(tokens.to("cuda"))
    torch.testing.assert_close(logits.cpu(), expected, atol=1e-4, rtol=1e-4)
    assert isinstance(stack.layers[0].self_attn.last_max_logit, float)
