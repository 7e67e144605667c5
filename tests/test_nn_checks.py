"""The shared argument checks: what they accept, and the messages that name what they refuse."""

from __future__ import annotations

import pytest
import torch

from verified_transformer.nn._checks import (
    additive_mask,
    check_eps,
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
            lambda: additive_mask(torch.zeros(2, dtype=torch.int32), "mask", torch.float32),
            TypeError,
            "mask must be bool or have the input's dtype torch.float32, got torch.int32",
        ),
        (lambda: additive_mask([True], "mask", torch.float32), TypeError, "mask must be a torch"),
    ],
)
def test_refused_values_are_named_in_the_message(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_additive_mask_turns_true_into_minus_infinity_and_keeps_float_masks():
    mask = additive_mask(torch.tensor([True, False]), "mask", torch.float64)
    assert mask.dtype == torch.float64
    assert mask.tolist() == [float("-inf"), 0.0]
    floats = torch.tensor([0.5, -1.0])
    assert additive_mask(floats, "mask", torch.float32) is floats
    assert additive_mask(None, "mask", torch.float32) is None
