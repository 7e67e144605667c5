"""verified_transformer.experiments.paths and .input_gradients: the small studies of chapters 2
and 4.2."""

import math

import pytest

from verified_transformer.experiments import (
    input_gradient_norms,
    path_length_counts,
    stack_jacobian_gains,
)


def test_path_length_counts_are_the_binomial_row() -> None:
    counts = path_length_counts(12)
    assert len(counts) == 13 and sum(counts) == 2**12
    assert counts[0] == counts[-1] == 1 and max(counts) == counts[6] == 924
    assert path_length_counts(3) == [1, 3, 3, 1]


def test_stack_jacobian_vanishes_plain_and_not_residual() -> None:
    depths = [1, 8, 24]
    plain = stack_jacobian_gains(depths, residual=False)
    residual = stack_jacobian_gains(depths, residual=True)
    assert plain[-1] < 0.05 < plain[0]
    assert min(residual) > 1
    assert stack_jacobian_gains(depths, residual=True, seed=0) == residual  # deterministic
    assert stack_jacobian_gains(depths, residual=True, seed=1) != residual


def test_one_layer_jacobian_matches_its_closed_form() -> None:
    import torch

    width, seed = 4, 3
    generator = torch.Generator().manual_seed(seed)
    w = torch.randn(width, width, generator=generator, dtype=torch.float64) / width**0.5
    h0 = torch.randn(width, generator=generator, dtype=torch.float64)
    # d tanh(h W) / dh = W^T diag(1 - tanh^2) read as (out, in): diag(1 - t^2) W^T
    t = torch.tanh(h0 @ w)
    jac = torch.diag(1 - t**2) @ w.T
    for residual, expected in ((False, jac), (True, torch.eye(width) + jac)):
        gain = stack_jacobian_gains([1], residual=residual, width=width, seed=seed)[0]
        assert math.isclose(gain, (torch.linalg.matrix_norm(expected) / 2).item(), rel_tol=1e-12)


def test_input_gradient_norms_vanish_only_for_the_plain_default_stack() -> None:
    depths = [1, 16, 32]
    plain = input_gradient_norms(depths, "plain, default init")
    he = input_gradient_norms(depths, "plain, He init")
    residual = input_gradient_norms(depths, "residual")
    assert plain[-1] < 1e-10 * plain[0]
    assert min(he) > 0.1 * he[0]
    assert min(residual) > 0.5 * residual[0]
    assert input_gradient_norms(depths, "residual") == residual


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: path_length_counts(0), "num_branches"),
        (lambda: stack_jacobian_gains([], residual=True), "depths"),
        (lambda: stack_jacobian_gains([2], residual=1), "residual"),
        (lambda: stack_jacobian_gains([0], residual=True), "depths"),
        (lambda: input_gradient_norms([2], "deep"), "stack"),
        (lambda: input_gradient_norms([2], "residual", width=0), "width"),
    ],
)
def test_bad_arguments_are_named(call, message: str) -> None:
    with pytest.raises((TypeError, ValueError), match=message):
        call()
