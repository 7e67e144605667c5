"""The explicit softmax autograd function: forward, hand-written backward, masked rows."""

from __future__ import annotations

import pytest
import torch

from verified_transformer.nn.explicit import Softmax


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_forward_and_backward_match_torch_softmax(dim):
    x = torch.randn(3, 4, 5, dtype=torch.float64) * 5
    mine, theirs = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_mine, out_theirs = Softmax.apply(mine, dim, False), torch.softmax(theirs, dim)
    torch.testing.assert_close(out_mine, out_theirs, atol=1e-14, rtol=1e-13)
    upstream = torch.randn_like(x)
    out_mine.backward(upstream)
    out_theirs.backward(upstream)
    torch.testing.assert_close(mine.grad, theirs.grad, atol=1e-14, rtol=1e-13)


def test_backward_formula_and_its_derivative_pass_gradcheck():
    x = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: Softmax.apply(t, -1, True), (x,))
    assert torch.autograd.gradgradcheck(lambda t: Softmax.apply(t, 1, False), (x,))


def test_backward_is_the_jacobian_diag_y_minus_y_y_transpose():
    x = torch.randn(5, dtype=torch.float64, requires_grad=True)
    y = Softmax.apply(x, 0, False)
    jacobian = torch.stack([torch.autograd.grad(y[i], x, retain_graph=True)[0] for i in range(5)])
    torch.testing.assert_close(jacobian, torch.diag(y) - torch.outer(y, y), atol=1e-15, rtol=0)


def test_all_minus_inf_rows_give_nan_unless_masked_rows_are_zeroed():
    x = torch.tensor([[0.0, float("-inf")], [float("-inf"), float("-inf")]], requires_grad=True)
    assert Softmax.apply(x, -1, False)[1].isnan().all()
    zeroed = Softmax.apply(x, -1, True)
    torch.testing.assert_close(zeroed.detach(), torch.tensor([[1.0, 0.0], [0.0, 0.0]]))
    zeroed.sum().backward()
    assert x.grad.isfinite().all()


def test_large_scores_do_not_overflow():
    x = torch.tensor([1000.0, 1001.0, 999.0])
    torch.testing.assert_close(Softmax.apply(x, 0, False), torch.softmax(x, 0))


def test_overwrite_input_reuses_the_scores_tensor_and_keeps_gradients():
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    scores = x * 2.0  # a fresh tensor, as attention's scores are
    output = Softmax.apply(scores, -1, True, True)
    assert output.data_ptr() == scores.data_ptr()
    output.backward(torch.ones_like(output) * torch.arange(4.0, dtype=torch.float64))
    expected = torch.autograd.grad(
        torch.softmax(x * 2.0, -1), x, torch.ones(3, 4, dtype=torch.float64) * torch.arange(4.0)
    )[0]
    torch.testing.assert_close(x.grad, expected)
