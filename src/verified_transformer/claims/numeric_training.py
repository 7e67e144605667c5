"""The numeric checks of :mod:`verified_transformer.claims.training`: float64, against torch's
label-smoothed cross-entropy (custom: torch gives the loss, not the targets) and the learning
rate our translator trains with (numeric_positions.agree on a grid of steps)."""

from __future__ import annotations

import numpy as np
import sympy as sp
import torch

from verified_transformer.claims.numeric import close, randn, to_tensor
from verified_transformer.claims.numeric_positions import agree
from verified_transformer.derive import training as tr


def smoothing(formula: tuple) -> bool:
    """torch's ``cross_entropy(label_smoothing=0.1)`` (what the translator trains with) against
    the cross-entropy with the soft targets q'(k) of the formula, K = 13 classes."""
    logits, labels, target = randn(8, 13, seed=90) * 2, torch.arange(8), formula[0][-1]
    at = {tr.K: sp.Integer(13), tr.epsilon: sp.Float(0.1, 30)}
    soft = to_tensor([[target.xreplace(at | {tr.k: c, tr.y: int(t) + 1}) for c in range(1, 14)]
                      for t in labels])
    theirs = torch.nn.functional.cross_entropy(logits, labels, label_smoothing=0.1)
    return close(theirs, -(soft * logits.log_softmax(-1)).sum(-1).mean())


def schedule(chains: tuple) -> bool:
    """The chain at d = 64, w = 200, steps 1..1000, eta(s) by the learning rate that
    :func:`verified_transformer.experiments.translation.noam_learning_rate` feeds the optimizer."""
    from verified_transformer.experiments.translation import noam_learning_rate

    def rate(_: object, steps: np.ndarray) -> np.ndarray:
        return np.array([noam_learning_rate(int(t), 64, 200) for t in steps])

    grid = {tr.s: np.arange(1.0, 1001.0)}
    return agree(chains, grid, {tr.Eta: rate}, {tr.d_model: 64, tr.w: 200})
