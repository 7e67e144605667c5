"""LayerNorm and RMSNorm against torch.nn: arguments, state_dict, values, gradients and errors."""

from __future__ import annotations

import math

import nn_helpers
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from nn_helpers import assert_same_outputs_and_grads
from tolerances import PATH

from verified_transformer.nn import LayerNorm, RMSNorm, fused_kernels

SETTINGS = settings(max_examples=15, deadline=None, derandomize=True)
PAIRS = [(LayerNorm, torch.nn.LayerNorm), (RMSNorm, torch.nn.RMSNorm)]


def randomize(module: torch.nn.Module) -> None:
    nn_helpers.randomize(module, std=1.0)


def assert_same_forward_and_grads(ours, theirs, x, dtype):
    assert_same_outputs_and_grads(ours, theirs, (x,), dtype)


@PATH
@SETTINGS
@given(
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple),
    count=st.integers(1, 2),
    as_int=st.booleans(),
    affine=st.booleans(),
    bias=st.booleans(),
    eps=st.sampled_from([1e-5, 1e-3, 0.5]),
    dtype=st.sampled_from([torch.float64, torch.float32]),
)
def test_layer_norm_module_matches_torch(fused, shape, count, as_int, affine, bias, eps, dtype):
    normalized = shape[max(0, len(shape) - count) :]
    if as_int:
        normalized = normalized[-1]
        shape = (*shape[:-1], normalized)
    # with one or two normalized elements the input gradient is 0 in exact arithmetic and
    # rounding noise times 1/sqrt(eps) in torch's kernel
    assume(math.prod(shape[len(shape) - count :] if not as_int else shape[-1:]) > 2)
    options = {"eps": eps, "elementwise_affine": affine, "bias": bias, "dtype": dtype}
    theirs = torch.nn.LayerNorm(normalized, **options)
    randomize(theirs)
    ours = LayerNorm(normalized, **options)
    ours.load_state_dict(theirs.state_dict())
    with fused_kernels(fused):
        assert_same_forward_and_grads(ours, theirs, torch.randn(shape, dtype=dtype) * 2, dtype)


@PATH
@SETTINGS
@given(
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple),
    count=st.integers(1, 2),
    affine=st.booleans(),
    eps=st.sampled_from([None, 1e-6, 0.5]),
    dtype=st.sampled_from([torch.float64, torch.float32]),
)
def test_rms_norm_module_matches_torch(fused, shape, count, affine, eps, dtype):
    normalized = shape[max(0, len(shape) - count) :]
    options = {"eps": eps, "elementwise_affine": affine, "dtype": dtype}
    theirs = torch.nn.RMSNorm(normalized, **options)
    randomize(theirs)
    ours = RMSNorm(normalized, **options)
    ours.load_state_dict(theirs.state_dict())
    with fused_kernels(fused):
        assert_same_forward_and_grads(ours, theirs, torch.randn(shape, dtype=dtype) * 2, dtype)


@pytest.mark.parametrize(
    ("ours", "theirs", "options"),
    [(*pair, options) for pair in PAIRS for options in ({}, {"elementwise_affine": False})]
    + [(LayerNorm, torch.nn.LayerNorm, {"bias": False})],
)
def test_state_dict_round_trip_torch_to_ours_to_torch(ours, theirs, options):
    reference = theirs((2, 3), **options)
    randomize(reference)
    mine = ours((2, 3), **options)
    assert list(mine.state_dict()) == list(reference.state_dict())
    assert [p.shape for p in mine.parameters()] == [p.shape for p in reference.parameters()]
    mine.load_state_dict(reference.state_dict())
    back = theirs((2, 3), **options)
    back.load_state_dict(mine.state_dict())
    for name, value in reference.state_dict().items():
        assert torch.equal(back.state_dict()[name], value)
    x = torch.randn(4, 2, 3)
    torch.testing.assert_close(mine(x), reference(x))


@pytest.mark.parametrize(("ours", "theirs"), PAIRS)
def test_initial_parameters_and_attributes_match_torch(ours, theirs):
    mine, reference = ours([3, 2], eps=1e-3), theirs([3, 2], eps=1e-3)
    assert mine.normalized_shape == reference.normalized_shape == (3, 2)
    assert mine.eps == reference.eps
    for name, value in reference.state_dict().items():
        assert torch.equal(mine.state_dict()[name], value)
    assert repr(mine) == repr(reference)


BAD = [
    (lambda: LayerNorm(0), ValueError, "normalized_shape must be a positive int, got 0"),
    (lambda: LayerNorm(-3), ValueError, "normalized_shape must be a positive int"),
    (lambda: LayerNorm(()), ValueError, "normalized_shape must have at least one dimension"),
    (lambda: LayerNorm("8"), TypeError, "normalized_shape must be an int or a sequence"),
    (lambda: LayerNorm(4, eps=-1e-5), ValueError, "eps must be >= 0"),
    (lambda: RMSNorm(0), ValueError, "normalized_shape must be a positive int"),
    (lambda: RMSNorm(4, eps=-1.0), ValueError, "eps must be >= 0"),
    (lambda: LayerNorm(4)(torch.ones(2, 5)), ValueError, r"normalized_shape=\[4\], got input of"),
    (lambda: RMSNorm((2, 4))(torch.ones(4, 2)), ValueError, r"normalized_shape=\[2, 4\]"),
    (lambda: LayerNorm(2)(torch.ones(2, 2, dtype=torch.long)), TypeError, "floating-point dtype"),
]


@PATH
@pytest.mark.parametrize(("call", "error", "message"), BAD)
def test_bad_arguments_are_rejected_with_a_message_naming_them(fused, call, error, message):
    with fused_kernels(fused), pytest.raises(error, match=message):
        call()
