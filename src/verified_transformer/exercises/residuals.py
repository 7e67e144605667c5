r"""Checker for the residual-scaling exercise: the factor that keeps a sum of branches at
variance one.

With :math:`N` residual branches :math:`B_1, \dots, B_N` added to the stream, independent, mean
0 and variance 1, :math:`\operatorname{Var}(c \sum_i B_i) = c^2 N`, which is 1 for
:math:`c = 1/\sqrt N`: the scaled initialization of GPT-2-style models, checked in the ledger
as ``residual.scaled_init``. The reference computes the variance of the scaled sum exactly, by
enumerating :math:`\pm 1` branches, and finds the factor from it.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from verified_transformer.exercises._engine import Case, compare
from verified_transformer.i18n import Message, tr


def branch_scale_cases() -> list[Case]:
    """Numbers of branches N = 1..8 and 12."""
    return [Case(f"N={n}", (n,), atol=1e-12, rtol=1e-12) for n in (1, 2, 3, 4, 6, 8, 12)]


def sum_variance(num_branches: int) -> float:
    r""":math:`\operatorname{Var}(\sum_i B_i)` exactly, over every sign pattern of :math:`N`
    branches uniform on :math:`\{-1, +1\}` (mean 0, variance 1)."""
    signs = torch.tensor([-1.0, 1.0], dtype=torch.float64)
    patterns = torch.cartesian_prod(*([signs] * num_branches)).reshape(-1, num_branches)
    sums = patterns.sum(-1)
    return float((sums**2).mean() - sums.mean() ** 2)


def branch_scale_reference(num_branches: int) -> float:
    r"""The :math:`c > 0` with :math:`\operatorname{Var}(c \sum_i B_i) = c^2 \operatorname{Var}
    (\sum_i B_i) = 1`, from the exactly enumerated variance."""
    return 1.0 / math.sqrt(sum_variance(num_branches))


BRANCH_SCALE_MISTAKES = {
    tr("scales by 1/N: that makes the variance 1/N, so the branches fade as N grows"):
        lambda n: 1.0 / n,
    tr("does not scale (c = 1): the variance grows to N"): lambda n: 1.0,
    tr("scales by 1/N^2"): lambda n: 1.0 / n**2,
}


def check_branch_scale(candidate: Any) -> Message:
    """Verdict on ``branch_scale(N) -> float``."""
    return compare(
        "branch_scale", candidate, branch_scale_cases(), branch_scale_reference,
        BRANCH_SCALE_MISTAKES,
        tr("gives variance 1 to the scaled sum of N unit-variance branches (variance "
           "enumerated exactly)"),
    )
