r"""Residual paths (chapter 4.2): how many paths of each length, and how big the Jacobian is.

Multiplying out :math:`\partial H^L / \partial H^0 = \prod_i (I + J_i)` gives one term per subset
of the :math:`L` branches, so :math:`\binom{L}{k}` paths pass through exactly :math:`k` of them
(Veit et al. 2016). :func:`stack_jacobian_gains` measures the whole Jacobian of a random stack
:math:`F_i(h) = \tanh(h W_i)` with and without the identity path.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from verified_transformer.experiments._seed import check_bool, check_positive_int, check_seed


def path_length_counts(num_branches: int) -> list[int]:
    r"""Number of paths through exactly :math:`k` of ``num_branches`` residual branches, for
    :math:`k = 0, \dots, L`: :math:`\binom{L}{k}`, which sum to :math:`2^L`."""
    check_positive_int("num_branches", num_branches)
    return [math.comb(num_branches, k) for k in range(num_branches + 1)]


def stack_jacobian_gains(
    depths: Sequence[int], *, residual: bool, width: int = 16, seed: int = 0
) -> list[float]:
    r"""Root-mean-square singular value :math:`\lVert \partial H^L / \partial H^0 \rVert_F /
    \sqrt{w}` of a stack of :math:`L` layers on :math:`w` = ``width`` features, for each
    :math:`L` in ``depths``.

    Layer :math:`i` is :math:`H^{i+1} = F_i(H^i)` (plain) or :math:`H^{i+1} = H^i + F_i(H^i)`
    (``residual``), with :math:`F_i(h) = \tanh(h W_i)` and :math:`W_i` of i.i.d. entries of
    variance :math:`1/w`, in float64. The weights and :math:`H^0` come from a generator seeded with
    ``seed`` (weights first), so plain and residual stacks share them. The Jacobian is autograd's.
    """
    check_bool("residual", residual)
    check_positive_int("width", width)
    check_seed(seed)
    if len(depths) == 0:
        raise ValueError("depths must hold at least one depth")
    for depth in depths:
        check_positive_int("every entry of depths", depth)
    generator = torch.Generator().manual_seed(seed)
    weights = [
        torch.randn(width, width, generator=generator, dtype=torch.float64) / width**0.5
        for _ in range(max(depths))
    ]
    h0 = torch.randn(width, generator=generator, dtype=torch.float64)

    def stack(h: torch.Tensor, depth: int) -> torch.Tensor:
        for w in weights[:depth]:
            branch = torch.tanh(h @ w)
            h = h + branch if residual else branch
        return h

    gains = []
    for depth in depths:
        jac = torch.autograd.functional.jacobian(lambda h, depth=depth: stack(h, depth), h0)
        gains.append((torch.linalg.matrix_norm(jac) / width**0.5).item())
    return gains
