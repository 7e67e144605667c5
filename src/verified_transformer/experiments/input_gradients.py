r"""The gradient that reaches the input of a deep stack at initialization (chapter 2).

A stack of feed-forward blocks :math:`F(x) = W_2\,\mathrm{ReLU}(W_1 x + b_1) + b_2` (width
:math:`w` to :math:`4w` and back, the shape of a Transformer's feed-forward sub-layer), either
plain, :math:`x \leftarrow F(x)`, or residual, :math:`x \leftarrow x + F(x)`, whose input
gradient keeps the identity term of He et al. (2016b).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from verified_transformer.experiments._seed import check_positive_int, seeded

STACKS = ("plain, default init", "plain, He init", "residual")


def feed_forward_block(width: int) -> torch.nn.Sequential:
    """``Linear(width, 4 width)``, ``ReLU``, ``Linear(4 width, width)``, PyTorch's default init."""
    check_positive_int("width", width)
    return torch.nn.Sequential(
        torch.nn.Linear(width, 4 * width), torch.nn.ReLU(), torch.nn.Linear(4 * width, width)
    )


def input_gradient_norms(
    depths: Sequence[int], stack: str, *, width: int = 32, seed: int = 0
) -> list[float]:
    r""":math:`\lVert \partial (\sum \text{outputs after } d \text{ blocks}) / \partial x \rVert`
    at initialization, for each :math:`d` in ``depths``, on a batch of 8 standard normal inputs.

    ``stack`` is one of :data:`STACKS`: ``"plain, default init"`` (PyTorch's default
    initialization), ``"plain, He init"`` (Kaiming-normal weights, He et al. 2015, a
    variance-preserving initialization) or ``"residual"`` (default init, :math:`x + F(x)`).
    The blocks and inputs are drawn on their own stream seeded with ``seed``, in float64.
    """
    if stack not in STACKS:
        raise ValueError(f"stack must be one of {STACKS}, got {stack!r}")
    check_positive_int("width", width)
    if len(depths) == 0:
        raise ValueError("depths must hold at least one depth")
    for depth in depths:
        check_positive_int("every entry of depths", depth)
    with seeded(seed, float64=True):
        blocks = [feed_forward_block(width) for _ in range(max(depths))]
        if stack == "plain, He init":
            for b in blocks:
                torch.nn.init.kaiming_normal_(b[0].weight, nonlinearity="relu")
                torch.nn.init.kaiming_normal_(b[2].weight, nonlinearity="linear")
        inputs = torch.randn(8, width, requires_grad=True)
        outputs, out = [], inputs
        for b in blocks:
            out = out + b(out) if stack == "residual" else b(out)
            outputs.append(out)
        return [
            torch.autograd.grad(outputs[d - 1].sum(), inputs, retain_graph=True)[0].norm().item()
            for d in depths
        ]
