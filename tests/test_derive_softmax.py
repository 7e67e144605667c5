"""Softmax derivations, spot-checked against torch at sizes the ledger does not use."""

from __future__ import annotations

import pytest
import sympy as sp
import torch
from torch.autograd.functional import jacobian

from verified_transformer.derive import softmax as sm
from verified_transformer.derive.exact import matrices_equal, unroll_sums


def test_explicit_softmax_and_jacobian() -> None:
    zs = sp.symbols("z1:5", real=True)
    p = sm.softmax(zs)
    assert sp.simplify(sum(p)) == 1
    assert matrices_equal(sm.jacobian(zs), sm.jacobian_matrix_form(p), sp.cancel)
    with pytest.raises(ValueError, match="logits"):
        sm.softmax([])


def test_symbolic_n_jacobian_at_n_7_against_autograd() -> None:
    z = torch.linspace(-2.0, 3.0, 7, dtype=torch.float64) ** 2
    expected = jacobian(lambda v: torch.softmax(v, 0), z)
    entry = unroll_sums(sm.jacobian_entry().subs(sm.n, 7))
    values = {sm.z[t + 1]: v for t, v in enumerate(z.tolist())}
    got = torch.tensor(
        [
            [float(entry.subs({sm.i: r, sm.j: c}).xreplace(values)) for c in range(1, 8)]
            for r in range(1, 8)
        ],
        dtype=torch.float64,
    )
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-14)


def test_substitute_logits_shifts_every_logit() -> None:
    shifted = sm.substitute_logits(sm.softmax_entry(), lambda t: t + sm.c)
    assert shifted.has(sm.z[sm.i] + sm.c) and shifted.has(sm.z[sm.k] + sm.c)
