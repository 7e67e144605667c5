"""verified_transformer.notebook.setup: what every chapter notebook's first cell relies on."""

import random

import matplotlib
import torch

from verified_transformer.notebook import FIGSIZE, setup


def test_setup_makes_random_draws_repeat_and_kernels_deterministic() -> None:
    previous = torch.are_deterministic_algorithms_enabled()
    try:
        setup(seed=3)
        first = (torch.randn(4), random.random())
        torch.randn(100)  # move the generators on
        setup(seed=3)
        second = (torch.randn(4), random.random())
        assert torch.equal(first[0], second[0]) and first[1] == second[1]
        setup(seed=4)
        assert not torch.equal(torch.randn(4), first[0])
        assert torch.are_deterministic_algorithms_enabled()
        assert tuple(matplotlib.rcParams["figure.figsize"]) == FIGSIZE
    finally:
        torch.use_deterministic_algorithms(previous)
