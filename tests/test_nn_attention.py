"""MultiheadAttention against torch.nn.MultiheadAttention: options, masks, values, grads, errors."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from nn_helpers import assert_same_outputs_and_grads, twins
from tolerances import PATH, TOLERANCE

from verified_transformer.nn import MultiheadAttention, fused_kernels


def twin_modules(dtype=torch.float64, device="cpu", **options):
    """A torch MultiheadAttention with random parameters and ours loaded from its state_dict."""
    return twins(MultiheadAttention, torch.nn.MultiheadAttention, std=0.5, dtype=dtype,
                 device=device, **options)  # fmt: skip


@st.composite
def attention_case(draw):
    heads, head_dim = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    embed = heads * head_dim
    options = {
        "embed_dim": embed,
        "num_heads": heads,
        "bias": draw(st.booleans()),
        "add_bias_kv": draw(st.booleans()),
        "add_zero_attn": draw(st.booleans()),
        "kdim": draw(st.sampled_from([None, 2, 5])),
        "vdim": draw(st.sampled_from([None, 3])),
        "batch_first": draw(st.booleans()),
    }
    batched, batch = draw(st.booleans()), draw(st.integers(1, 3))
    target, source = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    same_dims = options["kdim"] in (None, embed) and options["vdim"] in (None, embed)
    self_attention = same_dims and draw(st.booleans())
    if self_attention:
        source = target
    mask_kind = draw(st.sampled_from(["none", "bool", "float", "float_inf", "causal"]))
    if mask_kind == "causal":
        source = target
    return {
        "options": options,
        "batched": batched,
        "batch": batch,
        "lengths": (target, source),
        "self_attention": self_attention,
        "mask_kind": mask_kind,
        "mask_3d": draw(st.booleans()),
        "padding_kind": draw(st.sampled_from(["none", "same"])),
        "need_weights": draw(st.booleans()),
        "average": draw(st.booleans()),
        "training": draw(st.booleans()),
    }


def build_inputs(case, dtype):
    """Inputs, masks and call options for a case; every query keeps key 0, so no row is dead."""
    options = case["options"]
    embed, heads = options["embed_dim"], options["num_heads"]
    kdim, vdim = options["kdim"] or embed, options["vdim"] or embed
    batch, (target, source) = case["batch"], case["lengths"]

    def shaped(length, features):
        if not case["batched"]:
            return (length, features)
        return (batch, length, features) if options["batch_first"] else (length, batch, features)

    if case["self_attention"]:
        inputs = {"x": torch.randn(shaped(target, embed), dtype=dtype)}
    else:
        inputs = {
            "query": torch.randn(shaped(target, embed), dtype=dtype),
            "key": torch.randn(shaped(source, kdim), dtype=dtype),
            "value": torch.randn(shaped(source, vdim), dtype=dtype),
        }
    kind = case["mask_kind"]
    mask_batch = (batch if case["batched"] else 1) * heads
    mask_shape = (mask_batch, target, source) if case["mask_3d"] else (target, source)
    use_float = kind.startswith("float")
    attn_mask = None
    if kind == "causal":
        attn_mask = torch.ones(target, source, dtype=torch.bool).triu(1)
    elif kind == "bool":
        attn_mask = torch.rand(mask_shape) < 0.4
        attn_mask[..., 0] = False
    elif use_float:
        attn_mask = torch.randn(mask_shape, dtype=dtype)
        if kind == "float_inf":
            attn_mask = attn_mask.masked_fill(torch.rand(mask_shape) < 0.4, float("-inf"))
        attn_mask[..., 0] = 0.0
    padding = None
    if case["padding_kind"] == "same":
        padding_shape = (batch, source) if case["batched"] else (source,)
        padding = torch.rand(padding_shape) < 0.4
        padding[..., 0] = False
        if use_float:
            padding = torch.zeros(padding_shape, dtype=dtype).masked_fill(padding, float("-inf"))
    call_options = {
        "key_padding_mask": padding,
        "need_weights": case["need_weights"],
        "attn_mask": attn_mask,
        "average_attn_weights": case["average"],
        # with extra keys (bias_kv, zero_attn) torch's hinted kernel masks them too: a wrong hint
        "is_causal": kind == "causal" and not (options["add_bias_kv"] or options["add_zero_attn"]),
    }
    return inputs, call_options


@PATH
@settings(max_examples=30, deadline=None, derandomize=True)
@given(case=attention_case(), dtype=st.sampled_from([torch.float64, torch.float32]))
def test_multihead_attention_matches_torch(fused, case, dtype):
    ours, theirs = twin_modules(dtype, **case["options"])
    ours.train(case["training"]), theirs.train(case["training"])
    inputs, call_options = build_inputs(case, dtype)
    if "x" in inputs:  # self-attention: query, key and value are one tensor
        args = (inputs["x"],) * 3
    else:
        args = (inputs["query"], inputs["key"], inputs["value"])
    with fused_kernels(fused):
        assert_same_outputs_and_grads(ours, theirs, args, dtype, call_options)
        if not case["training"]:  # torch's inference fast path (no autograd) too
            with torch.no_grad():
                mine, reference = ours(*args, **call_options), theirs(*args, **call_options)
            torch.testing.assert_close(mine, reference, **TOLERANCE[dtype])


@PATH
@pytest.mark.parametrize("kind", ["bool", "float"])
def test_fully_masked_query_rows_return_the_output_bias_and_zero_weights(fused, kind):
    ours, theirs = twin_modules(embed_dim=4, num_heads=2, batch_first=True)
    x = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    padding = torch.zeros(2, 3, dtype=torch.bool)
    padding[1] = True  # every key of sequence 1 is padding
    if kind == "float":
        padding = torch.zeros(2, 3, dtype=torch.float64).masked_fill(padding, float("-inf"))
    with fused_kernels(fused):
        output, weights = ours(x, x, x, key_padding_mask=padding)
        output.sum().backward()
    torch.testing.assert_close(output[1], ours.out_proj.bias.expand(3, 4))
    assert (weights[1] == 0).all()
    assert x.grad.isfinite().all()
    assert all(p.grad.isfinite().all() for p in ours.parameters())
    # torch agrees on its need_weights=False path and gives NaN with need_weights=True
    torch.testing.assert_close(output, theirs(x, x, x, padding, need_weights=False)[0])
    assert theirs(x, x, x, padding)[0][1].isnan().all()


@PATH
def test_is_causal_is_a_hint_that_needs_the_causal_mask(fused):
    ours, theirs = twin_modules(embed_dim=4, num_heads=2)
    x = torch.randn(5, 2, 4, dtype=torch.float64)
    causal = torch.nn.Transformer.generate_square_subsequent_mask(5, dtype=torch.float64)
    with fused_kernels(fused):
        hinted = ours(x, x, x, attn_mask=causal, is_causal=True, need_weights=False)[0]
        plain = ours(x, x, x, attn_mask=causal)[0]
        with pytest.raises(ValueError, match="is_causal=True is a hint .* attn_mask must be given"):
            ours(x, x, x, is_causal=True)
    torch.testing.assert_close(hinted, plain)
    expected = theirs(x, x, x, attn_mask=causal, is_causal=True, need_weights=False)[0]
    torch.testing.assert_close(hinted, expected)


@PATH
def test_attention_dropout_draws_the_same_mask_as_torch_under_the_same_seed(fused):
    ours, theirs = twin_modules(embed_dim=6, num_heads=3, dropout=0.5)
    query, key = (
        torch.randn(4, 2, 6, dtype=torch.float64),
        torch.randn(5, 2, 6, dtype=torch.float64),
    )
    with fused_kernels(fused):
        torch.manual_seed(7)
        mine = ours(query, key, key, average_attn_weights=False)
    torch.manual_seed(7)
    reference = theirs(query, key, key, average_attn_weights=False)
    torch.testing.assert_close(mine, reference)
    assert (mine[1] == 0).any()  # dropout did act on the returned weights


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"bias": False},
        {"add_bias_kv": True, "add_zero_attn": True},
        {"kdim": 3, "vdim": 5},
        {"batch_first": True, "dropout": 0.2},
    ],
)
def test_state_dict_round_trip_and_same_seed_initialization(options):
    torch.manual_seed(3)
    reference = torch.nn.MultiheadAttention(8, 4, **options)
    torch.manual_seed(3)
    mine = MultiheadAttention(8, 4, **options)
    assert list(mine.state_dict()) == list(reference.state_dict())
    for name, value in reference.state_dict().items():
        assert torch.equal(mine.state_dict()[name], value), name  # same seed, same weights
    with torch.no_grad():
        for parameter in reference.parameters():
            parameter.normal_()
    mine.load_state_dict(reference.state_dict())
    back = torch.nn.MultiheadAttention(8, 4, **options)
    back.load_state_dict(mine.state_dict())
    for name, value in reference.state_dict().items():
        assert torch.equal(back.state_dict()[name], value)
    for attribute in ("embed_dim", "kdim", "vdim", "num_heads", "head_dim", "dropout"):
        assert getattr(mine, attribute) == getattr(reference, attribute)
    assert mine.batch_first == reference.batch_first
    assert mine._qkv_same_embed_dim == reference._qkv_same_embed_dim


def bad_calls():
    module = MultiheadAttention(4, 2)
    x = torch.randn(3, 2, 4)
    return [
        (lambda: MultiheadAttention(6, 4), ValueError, "embed_dim must be divisible by num_heads"),
        (lambda: MultiheadAttention(0, 1), ValueError, "embed_dim must be a positive int"),
        (lambda: MultiheadAttention(4, -2), ValueError, "num_heads must be a positive int"),
        (lambda: MultiheadAttention(4.0, 2), TypeError, "embed_dim must be an int"),
        (lambda: MultiheadAttention(4, 2, kdim=0), ValueError, "kdim must be a positive int"),
        (lambda: MultiheadAttention(4, 2, vdim=-1), ValueError, "vdim must be a positive int"),
        (lambda: MultiheadAttention(4, 2, dropout=1.5), ValueError, r"dropout must be .* \[0, 1\]"),
        (lambda: MultiheadAttention(4, 2, dropout=-0.1), ValueError, "dropout must be a prob"),
        (lambda: module(torch.randn(3, 2, 5), x, x), ValueError, "query must have last dim.*=4"),
        (lambda: module(x, torch.randn(3, 2, 3), x), ValueError, "key must have last dimension"),
        (lambda: module(x, x, torch.randn(3, 2, 6)), ValueError, "value must have last dim"),
        (lambda: module(x, x[:2], x), ValueError, "key and value must have the same sequence"),
        (
            lambda: module(x, x[:, :1], x[:, :1]),
            ValueError,
            "query and key must have the same batch",
        ),
        (lambda: module(x[0, 0], x[0, 0], x[0, 0]), ValueError, "query must be 3-D .* or 2-D"),
        (lambda: module(x, x[0], x[0]), ValueError, "key and value must be 3-D like query"),
        (lambda: module(x.double(), x, x), TypeError, "must have the parameters' dtype"),
        (lambda: module(x.long(), x, x), TypeError, "query must have a floating-point dtype"),
        (
            lambda: module(x, x, x, attn_mask=torch.zeros(3, 4, dtype=torch.bool)),
            ValueError,
            r"attn_mask must have shape \(L, S\) = \[3, 3\] or \(N\*num_heads, L, S\) = "
            r"\[4, 3, 3\]",
        ),
        (
            lambda: module(x, x, x, attn_mask=torch.zeros(2, 3, 3, dtype=torch.bool)),
            ValueError,
            "attn_mask must have shape",
        ),
        (
            lambda: module(x, x, x, key_padding_mask=torch.zeros(3, 2, dtype=torch.bool)),
            ValueError,
            r"key_padding_mask must have shape \(N, S\) = \[2, 3\]",
        ),
        (
            lambda: module(x[:, 0], x[:, 0], x[:, 0], key_padding_mask=torch.zeros(1, 3) > 0),
            ValueError,
            r"key_padding_mask must have shape \(S,\) = \[3\]",
        ),
        (lambda: module(x, x, x, attn_mask=[[0.0]]), TypeError, "attn_mask must be a torch.Tensor"),
    ]


@PATH
@pytest.mark.parametrize("index", range(len(bad_calls())))
def test_bad_input_is_rejected_with_a_message_naming_it(fused, index):
    call, error, message = bad_calls()[index]
    with fused_kernels(fused), pytest.raises(error, match=message):
        call()
