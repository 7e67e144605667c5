"""Run an experiment on its own seeded random stream and one CPU thread, then restore both.

One thread makes the floats independent of the machine's core count (the order of a parallel
reduction changes the last bits) and is faster for tensors this small.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator
from contextlib import contextmanager

import torch


def check_seed(seed: int) -> None:
    """Raise TypeError unless ``seed`` is a non-negative int (bools are rejected)."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")


def check_positive_int(name: str, value: int) -> None:
    """Raise TypeError/ValueError unless ``value`` is an int >= 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")


def check_bool(name: str, value: bool) -> None:
    """Raise TypeError unless ``value`` is a bool."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Inside the block torch's CPU generator starts from ``seed`` and torch uses one thread;
    afterwards the generator's state and the thread count are restored."""
    check_seed(seed)
    threads = torch.get_num_threads()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(threads)
