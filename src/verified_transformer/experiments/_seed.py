"""Run an experiment on its own seeded random stream and one CPU thread, then restore both.

One thread makes the floats independent of the machine's core count (the order of a parallel
reduction changes the last bits) and is faster for tensors this small. Studies of an untrained
model also run in float64 (``seeded(seed, float64=True)``): CPUs differ in the last bits of
their kernels (vector width, BLAS code path), about 1e-7 of a float32 value but 1e-16 of a
float64 one, so a float64 result printed to four digits is the same on every machine.
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
def seeded(seed: int, *, float64: bool = False) -> Iterator[None]:
    """Inside the block torch's CPU generator starts from ``seed`` and torch uses one thread
    (and, with ``float64``, float64 as the default dtype, so that weights are drawn and computed
    in float64); afterwards the generator's state, the thread count and the dtype are restored."""
    check_seed(seed)
    check_bool("float64", float64)
    threads = torch.get_num_threads()
    dtype = torch.get_default_dtype()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.set_num_threads(1)
        if float64:
            torch.set_default_dtype(torch.float64)
        try:
            yield
        finally:
            torch.set_num_threads(threads)
            torch.set_default_dtype(dtype)
