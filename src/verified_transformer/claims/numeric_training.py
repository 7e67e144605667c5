"""The numeric checks of :mod:`verified_transformer.claims.training`: float64, against our
``verified_transformer.nn`` and torch's, imported only when a check runs."""

from __future__ import annotations

import sympy as sp
import torch

from verified_transformer.claims.numeric import DTYPE, close, randn
from verified_transformer.claims.training import (
    Schedule,
    Target,
)
from verified_transformer.derive import training as tr


def smoothing(candidate: Target) -> bool:
    """torch's ``cross_entropy(label_smoothing=0.1)`` (what the translator trains with) against
    the cross-entropy with the candidate's soft targets, K = 13 classes, float64."""
    classes, weight = 13, 0.1
    logits = randn(8, classes, seed=90) * 2
    labels = torch.arange(8) % classes
    soft = torch.tensor(
        [[float(candidate(sp.Integer(c), sp.Integer(int(t) + 1), sp.Integer(classes))
                .subs(tr.epsilon, weight)) for c in range(1, classes + 1)] for t in labels],
        dtype=DTYPE,
    )
    expected = -(soft * logits.log_softmax(-1)).sum(-1).mean()
    theirs = torch.nn.functional.cross_entropy(logits, labels, label_smoothing=weight)
    return close(theirs, expected)


def schedule(schedule: Schedule) -> bool:
    """The candidate at d = 64, w = 200, steps 1..1000 against the learning rate that
    :func:`verified_transformer.experiments.translation.noam_learning_rate` feeds the optimizer."""
    from verified_transformer.experiments.translation import noam_learning_rate

    at_values = {tr.d_model: 64, tr.w: 200}
    rate = sp.lambdify(tr.s, schedule(tr.s).subs(at_values), "math")
    candidate = torch.tensor([float(rate(step)) for step in range(1, 1001)], dtype=DTYPE)
    ours = torch.tensor([noam_learning_rate(step, 64, 200) for step in range(1, 1001)],
                        dtype=DTYPE)
    return close(candidate, ours)
