r"""Named mistakes in LayerNorm and RMSNorm, each defined once, as the output entry it computes.

A mistake is the formula of :math:`y_i` that a slip produces (``mu`` and ``sigma^2`` abbreviated,
as in :func:`~verified_transformer.derive.layernorm.layer_norm_abbreviated`). The same definition is
a claim's wrong variant (the ledger shows that its check rejects it), the phrase with which
``check_formula`` recognizes a reader's formula, and, compiled to tensors by
:func:`verified_transformer.claims.numeric.entry_function`, the running implementation with which an
exercise checker recognizes a reader's code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp

from verified_transformer.derive.layernorm import (
    beta,
    eps,
    gamma,
    k,
    mu,
    n,
    sigma2,
    unabbreviate,
    unbiased_normalized,
    x,
)

Entry = Callable[..., sp.Expr]  # (index, epsilon) -> y_index


@dataclass(frozen=True)
class Mistake:
    """``name``: the wrong variant's key in the ledger; ``noun``: what the reader is told it is
    ("the LayerNorm with epsilon outside the square root"); ``entry(index, epsilon)``: its y_i."""

    name: str
    noun: str
    entry: Entry


def _xhat(index: sp.Expr, epsilon: sp.Expr) -> sp.Expr:
    return (x[index] - mu) / sp.sqrt(sigma2 + epsilon)


def _unbiased_variance() -> sp.Expr:
    return sp.Sum((x[k] - mu) ** 2, (k, 1, n)) / (n - 1)


def _mean_square() -> sp.Expr:
    return sp.Sum(x[k] ** 2, (k, 1, n)) / n


# --- LayerNorm: y_i = gamma_i (x_i - mu) / sqrt(sigma^2 + eps) + beta_i ---------------------------

UNBIASED = Mistake(
    "unbiased variance 1/(n-1)",
    "the unbiased-variance LayerNorm (divisor n - 1, what x.std() computes)",
    lambda t, e=eps: gamma[t] * unbiased_normalized(t, e) + beta[t],
)
EPS_OUTSIDE = Mistake(
    "epsilon outside the square root",
    "the LayerNorm with epsilon outside the square root, (x_i - mu) / (sigma + epsilon)",
    lambda t, e=eps: gamma[t] * (x[t] - mu) / (sp.sqrt(sigma2) + e) + beta[t],
)
ANNOTATED = Mistake(
    "unbiased variance and epsilon outside",
    "the LayerNorm of The Annotated Transformer: unbiased variance and epsilon outside the "
    "square root",
    lambda t, e=eps: gamma[t] * (x[t] - mu) / (sp.sqrt(_unbiased_variance()) + e) + beta[t],
)
SIGN_FLIPPED = Mistake(
    "sign flipped",
    "the LayerNorm with its sign flipped (mu - x_i)",
    lambda t, e=eps: gamma[t] * (mu - x[t]) / sp.sqrt(sigma2 + e) + beta[t],
)
NOT_CENTERED = Mistake(
    "not centered",
    "the LayerNorm without centering (x_i instead of x_i - mu)",
    lambda t, e=eps: gamma[t] * x[t] / sp.sqrt(sigma2 + e) + beta[t],
)
NO_MEAN = Mistake(
    "no mean at all",
    "the LayerNorm that never subtracts the mean (RMSNorm with a bias)",
    lambda t, e=eps: gamma[t] * x[t] / sp.sqrt(_mean_square() + e) + beta[t],
)
GAIN_ON_BIAS = Mistake(
    "gain applied to the bias too",
    "the LayerNorm that multiplies the bias by the gain, (xhat_i + beta_i) gamma_i",
    lambda t, e=eps: gamma[t] * (_xhat(t, e) + beta[t]),
)
NO_AFFINE = Mistake(
    "gain and bias ignored",
    "the LayerNorm without its gain and bias",
    lambda t, e=eps: _xhat(t, e),
)
SWAPPED = Mistake(
    "gain and bias swapped",
    "the LayerNorm with gain and bias swapped, beta_i xhat_i + gamma_i",
    lambda t, e=eps: beta[t] * _xhat(t, e) + gamma[t],
)


def without_affine(mistake: Mistake) -> Entry:
    """The mistake's normalized part: its y_i at gamma_i = 1, beta_i = 0."""

    def entry(index: sp.Expr, epsilon: sp.Expr = eps) -> sp.Expr:
        return mistake.entry(index, epsilon).xreplace({gamma[index]: 1, beta[index]: 0})

    return entry


# --- RMSNorm: y_i = gamma_i x_i / sqrt((1/n) sum_k x_k^2 + eps) -----------------------------------

RMS_EPS_OUTSIDE = Mistake(
    "epsilon outside the square root",
    "the RMSNorm with epsilon outside the square root",
    lambda t, e=eps: gamma[t] * x[t] / (sp.sqrt(_mean_square()) + e),
)
RMS_SUM = Mistake(
    "sum instead of mean",
    "the RMSNorm with a sum of squares instead of their mean (an unscaled norm)",
    lambda t, e=eps: gamma[t] * x[t] / sp.sqrt(sp.Sum(x[k] ** 2, (k, 1, n)) + e),
)
RMS_SIGN_FLIPPED = Mistake(
    "sign flipped",
    "the RMSNorm with its sign flipped",
    lambda t, e=eps: -gamma[t] * x[t] / sp.sqrt(_mean_square() + e),
)
RMS_CENTERED = Mistake(
    "centered (LayerNorm without bias)",
    "LayerNorm without a bias (it subtracts the mean), not RMSNorm",
    lambda t, e=eps: unabbreviate(gamma[t] * _xhat(t, e)),
)
RMS_NO_GAIN = Mistake(
    "gain ignored",
    "the RMSNorm without its gain",
    lambda t, e=eps: x[t] / sp.sqrt(_mean_square() + e),
)
