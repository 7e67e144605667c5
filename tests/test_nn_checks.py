"""The shared argument checks: what they accept, the messages that name what they refuse, and that
every mask argument of every function and module goes through them once per call."""

from __future__ import annotations

import pytest
import torch

import verified_transformer.nn._checks as checks
from verified_transformer.nn import (
    MultiheadAttention,
    Transformer,
    TransformerDecoderLayer,
    TransformerEncoderLayer,
)
from verified_transformer.nn import functional as F
from verified_transformer.nn._checks import (
    InputShapeError,
    additive_mask,
    check_eps,
    check_mask_type,
    check_positive_int,
    check_probability,
    normalized_shape_tuple,
)


def test_accepted_values_pass_through():
    assert check_positive_int("n", 3) == 3
    assert check_probability("p", 0) == 0.0 and check_probability("p", 1) == 1.0
    assert check_eps("eps", 0) == 0.0
    assert normalized_shape_tuple(4) == (4,)
    assert normalized_shape_tuple([2, 3]) == (2, 3)
    assert normalized_shape_tuple(torch.Size([5])) == (5,)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: check_positive_int("heads", True), TypeError, "heads must be an int, got bool"),
        (lambda: check_positive_int("heads", 2.0), TypeError, "heads must be an int, got float"),
        (lambda: check_positive_int("heads", 0), ValueError, "heads must be a positive int, got 0"),
        (lambda: check_probability("p", "0.1"), TypeError, r"p must be a float in \[0, 1\]"),
        (lambda: check_probability("p", float("nan")), ValueError, "p must be a probability"),
        (lambda: check_eps("eps", float("nan")), ValueError, "eps must be >= 0, got nan"),
        (lambda: normalized_shape_tuple((3, 0)), ValueError, "size in normalized_shape must be"),
        (lambda: normalized_shape_tuple(None), TypeError, "normalized_shape must be an int or"),
        (
            lambda: check_mask_type("mask", torch.zeros(2, dtype=torch.int32), torch.float32),
            TypeError,
            "mask must be bool or have the input's dtype torch.float32, got torch.int32",
        ),
        (lambda: check_mask_type("mask", [True], torch.float32), TypeError, "mask must be a torch"),
    ],
)
def test_refused_values_are_named_in_the_message(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_additive_mask_turns_true_into_minus_infinity_and_keeps_float_masks():
    mask = additive_mask(torch.tensor([True, False]), torch.float64)
    assert mask.dtype == torch.float64
    assert mask.tolist() == [float("-inf"), 0.0]
    floats = torch.tensor([0.5, -1.0])
    assert additive_mask(floats, torch.float32) is floats
    assert additive_mask(None, torch.float32) is None


def test_shape_errors_are_value_errors_and_runtime_errors_like_torchs():
    assert issubclass(InputShapeError, ValueError) and issubclass(InputShapeError, RuntimeError)


# Every mask argument: (function or module call taking {name: mask}, name, mask shape, owner).
# Sizes: batch 2, target length 3, source length 4, d_model 4, 2 heads, sequence-first.
TGT, SRC = torch.randn(3, 2, 4), torch.randn(4, 2, 4)
Q, K = TGT.transpose(0, 1), SRC.transpose(0, 1)  # (N, L, E) and (N, S, E) for the function
pytestmark = pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")  # torch's too
MASK_ARGUMENTS = [
    (lambda m: F.scaled_dot_product_attention(Q, K, K, **m), "attn_mask", (2, 3, 4), "query"),
    (lambda m: MultiheadAttention(4, 2)(TGT, SRC, SRC, **m), "attn_mask", (3, 4), "input"),
    (lambda m: MultiheadAttention(4, 2)(TGT, SRC, SRC, **m), "key_padding_mask", (2, 4), "input"),
    (lambda m: TransformerEncoderLayer(4, 2, 8)(SRC, **m), "src_mask", (4, 4), "input"),
    (lambda m: TransformerEncoderLayer(4, 2, 8)(SRC, **m), "src_key_padding_mask", (2, 4), "input"),
    *[
        (lambda m: TransformerDecoderLayer(4, 2, 8)(TGT, SRC, **m), name, shape, "input")
        for name, shape in [
            ("tgt_mask", (3, 3)),
            ("tgt_key_padding_mask", (2, 3)),
            ("memory_mask", (3, 4)),
            ("memory_key_padding_mask", (2, 4)),
        ]
    ],
    *[
        (lambda m: Transformer(4, 2, 1, 1, 8)(SRC, TGT, **m), name, shape, "input")
        for name, shape in [
            ("src_mask", (4, 4)),
            ("src_key_padding_mask", (2, 4)),
            ("tgt_mask", (3, 3)),
            ("tgt_key_padding_mask", (2, 3)),
            ("memory_mask", (3, 4)),
            ("memory_key_padding_mask", (2, 4)),
        ]
    ],
]
MASK_IDS = [f"{index}-{name}" for index, (_, name, _, _) in enumerate(MASK_ARGUMENTS)]


@pytest.mark.parametrize(("call", "name", "shape", "owner"), MASK_ARGUMENTS, ids=MASK_IDS)
@pytest.mark.parametrize("dtype", [torch.int64, torch.float64], ids=["integer", "other-float"])
def test_every_mask_of_a_wrong_dtype_is_refused_by_name(call, name, shape, owner, dtype):
    expected = f"{name} must be bool or have the {owner}'s dtype torch.float32, got {dtype}"
    with pytest.raises(TypeError, match=expected):
        call({name: torch.zeros(shape, dtype=dtype)})


@pytest.mark.parametrize(("call", "name", "shape", "owner"), MASK_ARGUMENTS, ids=MASK_IDS)
def test_every_mask_of_a_wrong_shape_is_refused_by_name(call, name, shape, owner):
    wrong = (*shape[:-1], shape[-1] + 1)
    with pytest.raises(ValueError, match=f"{name} must (have shape|be broadcastable)"):
        call({name: torch.zeros(wrong, dtype=torch.bool)})


def test_each_mask_of_a_layer_call_is_checked_once(monkeypatch):
    """A decoder layer (and an encoder layer) checks each mask once: not again inside attention."""
    seen = []
    original = checks.check_mask_type

    def counting(name, mask, dtype, owner="input"):
        seen.append(name)
        original(name, mask, dtype, owner)

    monkeypatch.setattr(checks, "check_mask_type", counting)
    masks = {
        "tgt_mask": torch.zeros(3, 3, dtype=torch.bool),
        "tgt_key_padding_mask": torch.zeros(2, 3, dtype=torch.bool),
        "memory_mask": torch.zeros(3, 4, dtype=torch.bool),
        "memory_key_padding_mask": torch.zeros(2, 4, dtype=torch.bool),
    }
    TransformerDecoderLayer(4, 2, 8)(TGT, SRC, **masks)
    assert sorted(seen) == sorted(masks)
    seen.clear()
    TransformerEncoderLayer(4, 2, 8)(SRC, torch.zeros(4, 4), torch.zeros(2, 4, dtype=torch.bool))
    assert sorted(seen) == ["src_key_padding_mask", "src_mask"]
    seen.clear()
    MultiheadAttention(4, 2)(TGT, SRC, SRC, torch.zeros(2, 4, dtype=torch.bool))
    assert seen == ["key_padding_mask"]
