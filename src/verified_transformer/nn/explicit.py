r"""Softmax as an autograd function whose backward formula is written out too.

The explicit path of :mod:`verified_transformer.nn.functional` uses it, so that both the forward
and the backward pass of softmax are visible formulas made of elementary tensor operations.
(Letting autograd differentiate the forward formula op by op gives the same numbers with several
more passes over the :math:`L \times S` scores.) The backward formula is itself differentiable,
so second derivatives work.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor


class Softmax(torch.autograd.Function):
    r"""Softmax along ``dim``, optionally with all-:math:`-\infty` slices mapped to zeros.

    Forward: :math:`y_i = e^{x_i - m} / \sum_j e^{x_j - m}` with :math:`m = \max_j x_j`.
    Backward: the Jacobian :math:`\partial y_i / \partial x_j = y_i(\delta_{ij} - y_j)` applied to
    the incoming gradient :math:`g` gives

    .. math:: \frac{\partial L}{\partial x_i} = y_i \Big(g_i - \sum_j g_j y_j\Big).

    With ``zero_masked_rows=True`` a slice that is all :math:`-\infty` (a query whose keys are all
    masked) gets :math:`m = 0`, so every :math:`e^{x_j}` is 0, and its sum 0 is replaced by 1: the
    output is all zeros (and so is its gradient) instead of NaN. ``overwrite_input=True`` writes
    the output into ``input`` (for a fresh scores tensor that nothing else reads).
    """

    @staticmethod
    def forward(
        ctx: Any, input: Tensor, dim: int, zero_masked_rows: bool, overwrite_input: bool = False
    ) -> Tensor:
        ctx.dim = dim
        if input.numel() == 0:  # nothing to normalize (amax is undefined on an empty slice)
            ctx.save_for_backward(input)
            return input.clone()
        shift = input.amax(dim, keepdim=True)
        if zero_masked_rows:
            shift.masked_fill_(shift == float("-inf"), 0.0)
        if overwrite_input:
            ctx.mark_dirty(input)
        output = (input.sub_(shift) if overwrite_input else torch.sub(input, shift)).exp_()
        total = output.sum(dim, keepdim=True)
        if zero_masked_rows:
            total.masked_fill_(total == 0.0, 1.0)
        output.div_(total)
        ctx.save_for_backward(output)
        return output

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None, None]:
        (output,) = ctx.saved_tensors
        weighted = grad * output
        total = weighted.sum(ctx.dim, keepdim=True)
        return torch.addcmul(weighted, output, total, value=-1.0), None, None, None
