"""TransformerEncoderLayer and TransformerEncoder against torch.nn: options, masks, errors."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st
from nn_helpers import assert_same_outputs_and_grads, attention_masks, twins
from tolerances import PATH, TOLERANCE

from verified_transformer.nn import (
    LayerNorm,
    TransformerEncoder,
    TransformerEncoderLayer,
    fused_kernels,
)

ACTIVATIONS = ["relu", "gelu", TF.relu, TF.gelu, torch.tanh, torch.nn.GELU(approximate="tanh")]


def twin_layers(dtype=torch.float64, device="cpu", **options):
    """torch's TransformerEncoderLayer with random parameters, and ours with the same state_dict."""
    return twins(TransformerEncoderLayer, torch.nn.TransformerEncoderLayer, dtype=dtype,
                 device=device, **options)  # fmt: skip


def masks(kind, padded, batched, batch, length, heads, dtype):
    """``src_mask`` of ``kind`` and an optional padding mask; no query loses every key."""
    return attention_masks(kind, padded, batched, batch, length, length, heads, dtype)


@st.composite
def layer_case(draw):
    heads = draw(st.sampled_from([1, 2, 4]))
    options = {
        "d_model": heads * draw(st.integers(2, 3)),  # LayerNorm over one feature is degenerate
        "nhead": heads,
        "dim_feedforward": draw(st.integers(1, 8)),
        "dropout": 0.0,
        "activation": draw(st.sampled_from(ACTIVATIONS)),
        "layer_norm_eps": draw(st.sampled_from([1e-5, 1e-6, 1e-12])),
        "batch_first": draw(st.booleans()),
        "norm_first": draw(st.booleans()),
        "bias": draw(st.booleans()),
    }
    return {
        "options": options,
        "batched": draw(st.booleans()),
        "batch": draw(st.integers(1, 3)),
        "length": draw(st.integers(1, 4)),
        "mask_kind": draw(st.sampled_from(["none", "bool", "bool_3d", "float", "causal"])),
        "padded": draw(st.booleans()),
        "training": draw(st.booleans()),
    }


def layer_inputs(case, dtype):
    options, batch, length = case["options"], case["batch"], case["length"]
    d_model = options["d_model"]
    if not case["batched"]:
        shape = (length, d_model)
    else:
        shape = (batch, length, d_model) if options["batch_first"] else (length, batch, d_model)
    src = torch.randn(shape, dtype=dtype)
    mask_kind = case["mask_kind"]
    src_mask, padding = masks(
        mask_kind, case["padded"], case["batched"], batch, length, options["nhead"], dtype
    )
    call_options = {
        "src_mask": src_mask,
        "src_key_padding_mask": padding,
        "is_causal": mask_kind == "causal",
    }
    return src, call_options


@PATH
@settings(max_examples=30, deadline=None, derandomize=True)
@given(case=layer_case(), dtype=st.sampled_from([torch.float64, torch.float32]))
def test_encoder_layer_matches_torch(fused, case, dtype):
    ours, theirs = twin_layers(dtype, **case["options"])
    ours.train(case["training"]), theirs.train(case["training"])
    src, call_options = layer_inputs(case, dtype)
    with fused_kernels(fused), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns about its own nested-tensor heuristics
        assert_same_outputs_and_grads(ours, theirs, (src,), dtype, call_options)
        if not case["training"]:  # against torch's fused inference path too
            with torch.no_grad():
                torch.testing.assert_close(
                    ours(src, **call_options), theirs(src, **call_options), **TOLERANCE[dtype]
                )


@st.composite
def encoder_case(draw):
    case = draw(layer_case())
    case["num_layers"] = draw(st.integers(1, 3))
    case["final_norm"] = draw(st.booleans())
    case["enable_nested_tensor"] = draw(st.booleans())
    case["mask_check"] = draw(st.booleans())
    return case


def twin_encoders(case, dtype):
    ours_layer, theirs_layer = twin_layers(dtype, **case["options"])
    d_model, eps = case["options"]["d_model"], case["options"].get("layer_norm_eps", 1e-5)
    stack = {
        "num_layers": case["num_layers"],
        "enable_nested_tensor": case["enable_nested_tensor"],
        "mask_check": case["mask_check"],
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = torch.nn.TransformerEncoder(
            theirs_layer,
            norm=torch.nn.LayerNorm(d_model, eps, dtype=dtype) if case["final_norm"] else None,
            **stack,
        )
        ours = TransformerEncoder(
            ours_layer,
            norm=LayerNorm(d_model, eps, dtype=dtype) if case["final_norm"] else None,
            **stack,
        )
    with torch.no_grad():
        for parameter in theirs.parameters():
            parameter.normal_(0.0, 0.3)
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


@PATH
@settings(max_examples=20, deadline=None, derandomize=True)
@given(case=encoder_case(), dtype=st.sampled_from([torch.float64, torch.float32]))
def test_encoder_matches_torch_in_training_and_inference(fused, case, dtype):
    ours, theirs = twin_encoders(case, dtype)
    ours.train(case["training"]), theirs.train(case["training"])
    src, call_options = layer_inputs(case, dtype)
    call_options["mask"] = call_options.pop("src_mask")
    call_options["is_causal"] = None  # detected from the mask, as in torch
    with fused_kernels(fused), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert_same_outputs_and_grads(ours, theirs, (src,), dtype, call_options)
        if not case["training"]:
            with torch.no_grad():  # torch may take its nested-tensor path here
                torch.testing.assert_close(
                    ours(src, **call_options), theirs(src, **call_options), **TOLERANCE[dtype]
                )


@PATH
@pytest.mark.parametrize("aligned", [True, False], ids=["padding-at-end", "padding-inside"])
def test_encoder_zeroes_padded_positions_exactly_when_torch_nested_path_does(fused, aligned):
    case = {
        "options": {"d_model": 8, "nhead": 2, "dim_feedforward": 16, "batch_first": True},
        "num_layers": 2,
        "final_norm": True,
        "enable_nested_tensor": True,
        "mask_check": True,
    }
    ours, theirs = twin_encoders(case, torch.float64)
    ours.eval(), theirs.eval()
    src = torch.randn(3, 5, 8, dtype=torch.float64)
    padding = torch.zeros(3, 5, dtype=torch.bool)
    padding[0, 3:] = True
    padding[2, 1:] = True
    if not aligned:
        padding[1, 2] = True
    with fused_kernels(fused), torch.no_grad():
        mine, reference = ours(src, src_key_padding_mask=padding), theirs(src, None, padding)
    torch.testing.assert_close(mine, reference)
    final_bias = ours.norm.bias.expand(8)
    assert torch.equal(mine[0, 3], final_bias) == aligned  # norm(0) = bias where torch pads
    with fused_kernels(fused):  # with autograd, every position is computed, as in torch
        torch.testing.assert_close(ours(src, None, padding), theirs(src, None, padding))


@PATH
def test_fully_padded_sequence_stays_finite_and_matches_torch_training_path(fused):
    ours, theirs = twin_layers(d_model=4, nhead=2, dim_feedforward=8, dropout=0.0)
    src = torch.randn(3, 2, 4, dtype=torch.float64)
    padding = torch.tensor([[False, False, True], [True, True, True]])
    with fused_kernels(fused):
        assert_same_outputs_and_grads(
            ours, theirs, (src,), torch.float64, {"src_key_padding_mask": padding}
        )
        assert ours(src, src_key_padding_mask=padding).isfinite().all()


@pytest.mark.parametrize(
    "config",
    [
        # BERT-base: post-norm, GELU, eps 1e-12; ViT-B/16: pre-norm, GELU, eps 1e-6
        {"d_model": 768, "nhead": 12, "dim_feedforward": 3072, "activation": "gelu",
         "layer_norm_eps": 1e-12, "batch_first": True},
        {"d_model": 768, "nhead": 12, "dim_feedforward": 3072, "activation": "gelu",
         "layer_norm_eps": 1e-6, "batch_first": True, "norm_first": True},
    ],
    ids=["bert-base", "vit-base"],
)  # fmt: skip
@PATH
def test_large_published_configurations_loaded_through_state_dict(fused, config):
    torch.manual_seed(0)
    theirs = torch.nn.TransformerEncoderLayer(**config).eval()
    ours = TransformerEncoderLayer(**config).eval()
    ours.load_state_dict(theirs.state_dict())
    src = torch.randn(2, 9, 768)
    padding = torch.zeros(2, 9, dtype=torch.bool)
    padding[1, 6:] = True
    with fused_kernels(fused), torch.no_grad():
        torch.testing.assert_close(
            ours(src, src_key_padding_mask=padding),
            theirs(src, src_key_padding_mask=padding),
            atol=1e-5,
            rtol=1e-5,
        )


def test_state_dict_round_trip_and_same_seed_initialization():
    options = {"d_model": 8, "nhead": 2, "dim_feedforward": 16, "bias": True}
    torch.manual_seed(5)
    reference = torch.nn.TransformerEncoder(
        torch.nn.TransformerEncoderLayer(**options), 2, norm=torch.nn.LayerNorm(8),
        enable_nested_tensor=False,
    )  # fmt: skip
    torch.manual_seed(5)
    mine = TransformerEncoder(
        TransformerEncoderLayer(**options), 2, norm=LayerNorm(8), enable_nested_tensor=False
    )
    assert list(mine.state_dict()) == list(reference.state_dict())
    for name, value in reference.state_dict().items():
        assert torch.equal(mine.state_dict()[name], value), name
    with torch.no_grad():
        for parameter in reference.parameters():
            parameter.normal_()
    mine.load_state_dict(reference.state_dict())
    back = torch.nn.TransformerEncoder(
        torch.nn.TransformerEncoderLayer(**options), 2, norm=torch.nn.LayerNorm(8),
        enable_nested_tensor=False,
    )  # fmt: skip
    back.load_state_dict(mine.state_dict())
    for name, value in reference.state_dict().items():
        assert torch.equal(back.state_dict()[name], value)
    # the stack holds independent deep copies, as in torch
    assert mine.layers[0].linear1.weight is not mine.layers[1].linear1.weight


def test_attributes_and_nested_tensor_warning_match_torch():
    for options in ({"batch_first": False}, {"batch_first": True, "norm_first": True}, {}):
        with warnings.catch_warnings(record=True) as caught_torch:
            warnings.simplefilter("always")
            torch_layer = torch.nn.TransformerEncoderLayer(8, 2, **options)
            reference = torch.nn.TransformerEncoder(torch_layer, 1)
        with warnings.catch_warnings(record=True) as caught_ours:
            warnings.simplefilter("always")
            mine = TransformerEncoder(TransformerEncoderLayer(8, 2, **options), 1)
        assert [str(w.message) for w in caught_ours] == [str(w.message) for w in caught_torch]
        assert mine.use_nested_tensor == reference.use_nested_tensor
        layer, torch_layer = mine.layers[0], reference.layers[0]
        assert layer.activation_relu_or_gelu == torch_layer.activation_relu_or_gelu
        assert layer.norm_first == torch_layer.norm_first


def bad_calls():
    layer = TransformerEncoderLayer(4, 2, 8)
    src = torch.randn(3, 2, 4)
    unknown = 'activation must be "relu", "gelu" or a callable, got \'tanh\''
    return [
        (lambda: TransformerEncoderLayer(0, 1), ValueError, "d_model must be a positive int"),
        (lambda: TransformerEncoderLayer(4, 0), ValueError, "nhead must be a positive int"),
        (lambda: TransformerEncoderLayer(6, 4), ValueError, "d_model must be divisible by nhead"),
        (lambda: TransformerEncoderLayer(4, 2, 0), ValueError, "dim_feedforward must be a posi"),
        (lambda: TransformerEncoderLayer(4, 2, dropout=2.0), ValueError, "dropout must be a prob"),
        (lambda: TransformerEncoderLayer(4, 2, activation="tanh"), ValueError, unknown),
        (lambda: TransformerEncoderLayer(4, 2, activation=3), TypeError, "activation must be"),
        (
            lambda: TransformerEncoderLayer(4, 2, layer_norm_eps=-1.0),
            ValueError,
            "layer_norm_eps must be >= 0",
        ),
        (
            lambda: layer(torch.randn(3, 2, 5)),
            ValueError,
            r"src must have shape .* d_model=4, got \[3, 2, 5\]",
        ),
        (lambda: layer(torch.randn(4)), ValueError, "src must have shape"),
        (lambda: layer(src.long()), TypeError, "src must have a floating-point dtype"),
        (
            lambda: layer(src, src_mask=torch.zeros(2, 2) > 0),
            ValueError,
            r"src_mask must have shape \(L, S\) = \[3, 3\]",
        ),
        (
            lambda: layer(src, src_key_padding_mask=torch.zeros(3, 2) > 0),
            ValueError,
            r"src_key_padding_mask must have shape \(N, S\) = \[2, 3\]",
        ),
        (lambda: layer(src, is_causal=True), ValueError, "src_mask must be given"),
        (lambda: TransformerEncoder(layer, 0), ValueError, "num_layers must be a positive int"),
        (lambda: TransformerEncoder("layer", 2), TypeError, "encoder_layer must be an nn.Module"),
        (
            lambda: TransformerEncoder(layer, 2)(src, is_causal=True),
            ValueError,
            "src_mask must be given",
        ),
    ]


@PATH
@pytest.mark.parametrize("index", range(len(bad_calls())))
def test_bad_input_is_rejected_with_a_message_naming_it(fused, index):
    call, error, message = bad_calls()[index]
    with fused_kernels(fused), pytest.raises(error, match=message), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        call()


def test_nested_tensor_input_is_refused_by_name():
    nested = torch.nested.nested_tensor([torch.randn(2, 4), torch.randn(3, 4)])
    layer = TransformerEncoderLayer(4, 2, 8, batch_first=True).eval()
    with pytest.raises(NotImplementedError, match="src is a nested tensor"), torch.no_grad():
        layer(nested)
